#!/usr/bin/env bash
# examples/pg_api end to end on a throwaway PostgreSQL server
# (tests/support/pg_run.c): the routes and answers of rest_api, SQL in a
# title stored verbatim, 200 concurrent POSTs counted exactly, the database
# stopped (503 with Retry-After, fast) and started again (served again
# without restarting pg_api), then SIGTERM and a clean exit; a restart finds
# the data again.
set -euo pipefail
bin=$1
prog="$bin/examples/pg_api/pg_api"
pgrun="$bin/tests/fht_pg_run"
[ -x "$prog" ] || { echo "pg_api not built (no libpq): skipped"; exit 0; }
dir=$(mktemp -d)
log="$dir/log"
out="$dir/out"
hdr="$dir/hdr"
pgpid=""
trap '[ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; [ -n "$pgpid" ] && kill -TERM "$pgpid" 2>/dev/null && wait "$pgpid"; rm -rf "$dir"' EXIT

. "$(dirname "$0")/lib.bash"
# pg_wait WORD: waits (60 s at most) until fht_pg_run has printed WORD.
pg_wait() {
  for _ in $(seq 600); do
    grep -q "$1" "$dir/pg" && return 0
    kill -0 "$pgpid" 2>/dev/null || break
    sleep 0.1
  done
  echo "database: no '$1'"; cat "$dir/pg"; exit 1
}
"$pgrun" >"$dir/pg" 2>"$dir/pg.err" &
pgpid=$!
pg_wait host=
dburl=$(head -1 "$dir/pg")

start() { start_example pg_api env DATABASE_URL="$dburl" PORT=0 THREADS=2 HOST=127.0.0.1 "$prog"; }
stop() { stop_example pg_api; }
expect() { # name, expected, actual
  [ "$2" = "$3" ] || { echo "$1: expected '$2', got '$3'"; exit 1; }
}
request() {
  local args=(-s -m 30 -D "$hdr" -o "$out" -w '%{http_code} %{content_type}' -X "$1" "$url$2")
  if [ $# -ge 3 ]; then args+=(-H "Content-Type: ${4:-application/json}" --data-binary "$3"); fi
  curl "${args[@]}"
}
header() { grep -i "^$1:" "$hdr" | head -1 | sed 's/^[^:]*: *//' | tr -d '\r'; }
ids() { grep -o '"id":[0-9]*' "$out" | cut -d: -f2 | paste -sd' ' || true; }

# A database it cannot reach: refused at start, the URL not printed.
rc=0
DATABASE_URL="postgresql://u:hunter2@/nodb?host=$dir/none" PORT=0 timeout 20 "$prog" >"$dir/bad" 2>&1 || rc=$?
expect "unreachable database exit" 1 "$rc"
! grep -q hunter2 "$dir/bad" || { echo "the password was printed: $(cat "$dir/bad")"; exit 1; }

start
expect "empty list" "200 application/json" "$(request GET /todos)"
expect "empty body" '{"todos":[],"total":0,"limit":20,"offset":0}' "$(cat "$out")"
expect "create 1" "201 application/json" "$(request POST /todos '{"title":"buy milk"}')"
expect "create 1 body" '{"id":1,"title":"buy milk","done":false}' "$(cat "$out")"
expect "Location" "/todos/1" "$(header Location)"
expect "create ETag" '"1-1"' "$(header ETag)"
expect "create 2" "201 application/json" "$(request POST /todos '{"title":"write docs","done":true}')"
expect "create 3" "201 application/json" "$(request POST /todos '{"title":"ship"}')"
expect "create invalid" "422 application/problem+json" \
  "$(request POST /todos '{"title":"","done":"yes","due":1}')"
expect "create bad JSON" "400 application/problem+json" "$(request POST /todos '{"title":')"
expect "create form" "415 application/problem+json" "$(request POST /todos 'title=x' application/x-www-form-urlencoded)"

expect "list" "200 application/json" "$(request GET /todos)"
expect "list body" '{"todos":[{"id":1,"title":"buy milk","done":false},{"id":2,"title":"write docs","done":true},{"id":3,"title":"ship","done":false}],"total":3,"limit":20,"offset":0}' "$(cat "$out")"
expect "done=true" "200 application/json" "$(request GET '/todos?done=true')"
expect "done=true body" '{"todos":[{"id":2,"title":"write docs","done":true}],"total":1,"limit":20,"offset":0}' "$(cat "$out")"
expect "done=false ids" '1 3' "$(request GET '/todos?done=false' >/dev/null; ids)"
expect "page" "200 application/json" "$(request GET '/todos?limit=2&offset=1')"
expect "page ids" '2 3' "$(ids)"
expect "page numbers" '"total":3,"limit":2,"offset":1}' "$(grep -o '"total".*' "$out")"
expect "page past end" "200 application/json" "$(request GET '/todos?offset=10')"
expect "page past end body" '{"todos":[],"total":3,"limit":20,"offset":10}' "$(cat "$out")"
expect "bad done" "400 application/problem+json" "$(request GET '/todos?done=maybe')"
expect "limit too big" "400 application/problem+json" "$(request GET '/todos?limit=101')"
expect "bad offset" "400 application/problem+json" "$(request GET '/todos?offset=-1')"

expect "get" "200 application/json" "$(request GET /todos/1)"
expect "get body" '{"id":1,"title":"buy milk","done":false}' "$(cat "$out")"
etag=$(header ETag)
expect "get ETag" '"1-1"' "$etag"
expect "If-None-Match" "304" "$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$url/todos/1")"
expect "get missing" "404 application/problem+json" "$(request GET /todos/99)"
expect "get bad id" "404 application/problem+json" "$(request GET /todos/abc)"
expect "get id past bigint" "404 application/problem+json" "$(request GET /todos/99999999999999999999)"

expect "patch" "200 application/json" "$(request PATCH /todos/1 '{"done":true}')"
expect "patch body" '{"id":1,"title":"buy milk","done":true}' "$(cat "$out")"
expect "patch ETag" '"1-2"' "$(header ETag)"
expect "patch title" "200 application/json" "$(request PATCH /todos/1 '{"title":"buy oat milk"}')"
expect "patch title body" '{"id":1,"title":"buy oat milk","done":true}' "$(cat "$out")"
expect "patch empty" "422 application/problem+json" "$(request PATCH /todos/1 '{}')"
expect "patch missing" "404 application/problem+json" "$(request PATCH /todos/99 '{"done":true}')"
expect "delete" "204 " "$(request DELETE /todos/2)"
expect "deleted" "404 application/problem+json" "$(request GET /todos/2)"
expect "delete again" "404 application/problem+json" "$(request DELETE /todos/2)"
expect "405" "405 application/problem+json" "$(request PUT /todos/1 '{}')"
expect "404" "404 application/problem+json" "$(request GET /nothing)"

# SQL in a title is a title.
evil="x'); DROP TABLE todos; --"
expect "injection" "201 application/json" "$(request POST /todos "{\"title\":\"$evil\"}")"
expect "injection stored verbatim" "{\"id\":4,\"title\":\"$evil\",\"done\":false}" "$(cat "$out")"
expect "table still there" "200 application/json" "$(request GET /todos/4)"

# 200 POSTs, 16 at a time: every one stored, exactly.
total() { request GET '/todos?limit=1' >/dev/null; grep -o '"total":[0-9]*' "$out" | cut -d: -f2; }
before=$(total)
seq 200 | xargs -P 16 -I{} curl -s -m 30 -o /dev/null -w '%{http_code}\n' -X POST "$url/todos" \
  -H 'Content-Type: application/json' -d '{"title":"parallel {}"}' >"$dir/codes"
expect "parallel POSTs all 201" "200" "$(grep -c '^201$' "$dir/codes")"
expect "parallel POSTs stored" "$((before + 200))" "$(total)"

# The database stops: 503 problems with Retry-After, answered at once.
kill -USR1 "$pgpid"
pg_wait halted
code=""
for _ in $(seq 50); do
  code=$(request GET /todos/1)
  [ "$code" = "503 application/problem+json" ] && break
done
expect "database down" "503 application/problem+json" "$code"
expect "down Retry-After" "1" "$(header Retry-After)"
t0=$(date +%s%N)
for _ in $(seq 20); do expect "still down" "503 application/problem+json" "$(request POST /todos '{"title":"lost"}')"; done
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -lt 20000 ] || { echo "20 answers while down took $ms ms"; exit 1; }
# It comes back: served again by the same process.
kill -USR2 "$pgpid"
pg_wait resumed
code=""
for _ in $(seq 200); do
  code=$(request GET /todos/1)
  [ "$code" = "200 application/json" ] && break
  sleep 0.1
done
expect "database back" "200 application/json" "$code"
# Each of the 2 workers reconnects on its own backoff (up to 5 s), so the
# first 200 may come from one while the other still answers 503 with
# Retry-After: 1. A client that honours it gets its write through within
# the backoff's cap.
code=""
for _ in $(seq 100); do
  code=$(request POST /todos '{"title":"after"}')
  [ "$code" = "503 application/problem+json" ] || break
  sleep 0.1
done
expect "write after the outage" "201 application/json" "$code"
stop

start
expect "after restart" "200 application/json" "$(request GET /todos/1)"
expect "after restart body" '{"id":1,"title":"buy oat milk","done":true}' "$(cat "$out")"
stop
echo "pg_api: ok"
