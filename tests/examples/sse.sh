#!/usr/bin/env bash
# examples/sse end to end: the HTML page, a stream read with curl -N for a
# bounded time (ticks numbered in order, one per TICK_MS), ?count= ending the
# stream, Last-Event-ID resuming, then SIGTERM with a stream still open and
# a clean exit.
set -euo pipefail
bin=$1
dir=$(mktemp -d)
log="$dir/log"
trap 'rm -rf "$dir"; [ -n "${cpid:-}" ] && kill "$cpid" 2>/dev/null; [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null || true' EXIT
. "$(dirname "$0")/lib.bash"
start_example sse env PORT=0 THREADS=2 HOST=127.0.0.1 TICK_MS=200 "$bin/examples/sse/sse"
fail() { echo "$1"; exit 1; }

# The page subscribes to /events.
curl -s -D "$dir/h" -o "$dir/page" "$url/"
grep -qi '^content-type: text/html' "$dir/h" || fail "page content type: $(cat "$dir/h")"
grep -q "new EventSource('/events')" "$dir/page" || fail "page does not subscribe"

# An open-ended stream read for 1.5 s (curl's --max-time ends it: exit 28).
rc=0
curl -s -N --max-time 1.5 -D "$dir/h" -o "$dir/stream" "$url/events" || rc=$?
[ "$rc" = 28 ] || fail "open stream: curl exited $rc, expected 28 (timeout)"
grep -qi '^content-type: text/event-stream' "$dir/h" || fail "stream content type: $(cat "$dir/h")"
grep -qi '^cache-control: no-cache' "$dir/h" || fail "no Cache-Control: no-cache"
head -1 "$dir/stream" | grep -q '^retry: 3000' || fail "no retry first: $(head -3 "$dir/stream")"
ids=$(grep '^id: ' "$dir/stream" | cut -c5- | tr -d '\r' | paste -sd' ')
n=$(grep -c '^event: tick' "$dir/stream" || true)
[ "$n" -ge 2 ] && [ "$n" -le 9 ] || fail "expected about 8 ticks in 1.5 s at 200 ms (at least 2), got $n: $ids"
expected=$(seq 1 "$n" | paste -sd' ')
[ "$ids" = "$expected" ] || fail "ids '$ids', expected '$expected'"
grep -q '^data: {"n":1,"time":"[0-9-]*T[0-9:]*Z"}' "$dir/stream" || fail "tick data: $(grep '^data' "$dir/stream" | head -1)"

# ?count=3 ends the stream by itself: three frames, curl exits 0.
curl -s -N --max-time 10 -o "$dir/stream" "$url/events?count=3" || fail "count=3: curl exited $?"
expect=$'retry: 3000\n\nevent: tick\nid: 1\ndata: {"n":1,\nevent: tick\nid: 2\ndata: {"n":2,\nevent: tick\nid: 3\ndata: {"n":3,'
got=$(tr -d '\r' <"$dir/stream" | sed 's/\("n":[0-9]*,\).*/\1/' | grep -v '^$' | sed '1s/$/\n/')
[ "$got" = "$expect" ] || fail "count=3 frames: '$got'"

# Last-Event-ID resumes after the last event the client saw.
curl -s -N --max-time 10 -H 'Last-Event-ID: 41' -o "$dir/stream" "$url/events?count=2" || fail "resume: curl exited $?"
ids=$(grep '^id: ' "$dir/stream" | cut -c5- | tr -d '\r' | paste -sd' ')
[ "$ids" = "42 43" ] || fail "resumed ids '$ids', expected '42 43'"

# SIGTERM while a client is subscribed: the server stops and exits 0.
curl -s -N --max-time 20 -o "$dir/open" "$url/events" &
cpid=$!
for _ in $(seq 100); do
  grep -q '^id: 1' "$dir/open" 2>/dev/null && break
  sleep 0.05
done
grep -q '^id: 1' "$dir/open" || fail "subscriber got nothing"
stop_example sse
wait "$cpid" || true
cpid=""
echo "sse: ok"
