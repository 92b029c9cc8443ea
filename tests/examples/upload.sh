#!/usr/bin/env bash
# examples/upload end to end with curl: PUT /files/:name with -T from a file
# (Content-Length) and from a pipe (chunked), 20 MiB and 1 byte, stored byte
# for byte under UPLOAD_DIR with the SHA-256 sha256sum computes; bad names
# (400); a declared size past --max-size (413 at once, nothing stored); a
# chunked body growing past it (413); 401 without the token before the body
# (no 100 Continue); a client killed mid-upload leaves no temporary file;
# the server's RSS stays flat over a 200 MiB upload; SIGTERM, clean exit.
set -euo pipefail
bin=$1/examples/upload/upload
work=$(mktemp -d)
log=$work/log
out=$work/out
hdr=$work/hdr
trap 'rm -rf "$work"; [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null || true' EXIT
. "$(dirname "$0")/lib.bash"

expect() { # name, expected, actual
  [ "$2" = "$3" ] || { echo "$1: expected '$2', got '$3'"; cat "$log"; exit 1; }
}
field() { python3 -c 'import json,sys; print(eval(sys.argv[2], {"j": json.load(open(sys.argv[1]))}))' "$out" "$1"; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }

mkdir "$work/up"
start_example upload env HOST=127.0.0.1 PORT=0 THREADS=2 UPLOAD_DIR="$work/up" UPLOAD_TOKEN=secret "$bin"
auth=(-H 'Authorization: Bearer secret')

head -c 20971520 /dev/urandom > "$work/big"
code=$(curl -s -o "$out" -w '%{http_code}' "${auth[@]}" -T "$work/big" "$url/files/big.bin")
expect "PUT -T file" 201 "$code"
sum=$(sha256sum "$work/big" | cut -d' ' -f1)
expect "sha256" "$sum" "$(field 'j["files"][0]["sha256"]')"
expect "size" 20971520 "$(field 'j["files"][0]["size"]')"
expect "name" big.bin "$(field 'j["files"][0]["name"]')"
cmp "$work/big" "$work/up/big.bin" || { echo "stored file differs"; exit 1; }

# From a pipe: chunked.
code=$(cat "$work/big" | curl -s -o "$out" -w '%{http_code}' "${auth[@]}" -H 'Transfer-Encoding: chunked' -T - "$url/files/piped.bin")
expect "PUT -T - (chunked)" 201 "$code"
expect "chunked sha256" "$sum" "$(field 'j["files"][0]["sha256"]')"
cmp "$work/big" "$work/up/piped.bin" || { echo "stored chunked file differs"; exit 1; }
printf x > "$work/one"
code=$(curl -s -o "$out" -w '%{http_code}' "${auth[@]}" -T "$work/one" "$url/files/one")
expect "one byte" 201 "$code"
expect "one byte sha256" "$(sha256sum "$work/one" | cut -d' ' -f1)" "$(field 'j["files"][0]["sha256"]')"

# Names that are not one plain segment.
for bad in .hidden 'a%2Fb' '%2e%2e' 'a%00b' 'sp%20ace'; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" -T "$work/one" "$url/files/$bad")
  expect "bad name $bad" 400 "$code"
done

# 401 before the body: curl sends Expect: 100-continue for a large body and
# gets the refusal instead of 100 Continue.
code=$(curl -s -o "$out" -w '%{http_code}' -T "$work/big" "$url/files/noauth.bin" -D "$hdr")
expect "no token" 401 "$code"
expect "no 100 Continue" 0 "$(grep -c '^HTTP/1.1 100' "$hdr" || true)"
expect "401 closes" 1 "$(grep -ci '^Connection: close' "$hdr" || true)"
[ ! -e "$work/up/noauth.bin" ] || { echo "refused upload stored"; exit 1; }

# A client killed mid-upload: no temporary file stays.
curl -s -o /dev/null "${auth[@]}" --limit-rate 1M -T "$work/big" "$url/files/killed.bin" &
cpid=$!
sleep 1
kill "$cpid" 2>/dev/null || true
wait "$cpid" 2>/dev/null || true
for _ in $(seq 200); do
  [ -z "$(ls -A "$work/up" | grep '^\.upload-' || true)" ] && break
  sleep 0.05
done
expect "no temporary file after abort" "" "$(ls -A "$work/up" | grep '^\.upload-' || true)"
[ ! -e "$work/up/killed.bin" ] || { echo "aborted upload stored"; exit 1; }

# Memory stays flat while 200 MiB stream through.
rss0=$(rss_kb)
head -c 209715200 /dev/zero | curl -s -o "$out" -w '%{http_code}' "${auth[@]}" -H 'Transfer-Encoding: chunked' -T - "$url/files/huge.bin" > "$work/code" &
cpid=$!
peak=$rss0
while kill -0 "$cpid" 2>/dev/null; do
  r=$(rss_kb); [ "$r" -gt "$peak" ] && peak=$r
  sleep 0.05
done
wait "$cpid" || true
expect "200 MiB upload" 201 "$(cat "$work/code")"
echo "upload: server RSS $rss0 KiB before, peak $peak KiB during a 200 MiB upload"
# A sanitizer's quarantine keeps freed memory resident: the bound holds for
# plain builds only.
if grep -q '^FH_SANITIZE:STRING=.\+' "$1/CMakeCache.txt" 2>/dev/null; then
  echo "upload: sanitized build, RSS bound not checked"
else
  [ $((peak - rss0)) -lt 16384 ] || { echo "RSS grew by $((peak - rss0)) KiB"; exit 1; }
fi
rm -f "$work/up/huge.bin"

stop_example upload

# Again with --max-size 32 MiB.
start_example upload env HOST=127.0.0.1 PORT=0 UPLOAD_DIR="$work/up" UPLOAD_TOKEN=secret "$bin" \
  --max-size 33554432
# Past --max-size (32 MiB): declared, 413 at once; chunked, 413 when it grows past.
head -c 33554433 /dev/zero > "$work/over"
code=$(curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" -T "$work/over" "$url/files/over.bin")
expect "declared past max" 413 "$code"
code=$(cat "$work/over" | curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" -H 'Transfer-Encoding: chunked' -T - "$url/files/over2.bin" || true)
expect "chunked past max" 413 "$code"
[ ! -e "$work/up/over.bin" ] && [ ! -e "$work/up/over2.bin" ] || { echo "oversized upload stored"; exit 1; }

stop_example upload
echo "upload: all checks passed"
