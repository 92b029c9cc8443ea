#!/usr/bin/env bash
# examples/static end to end: serves a directory made here, with a secret
# file beside it. Checks the index, content types, a file over sendfile_min
# (sent with sendfile) byte for byte, HEAD, ETag and Last-Modified with 304,
# ranges (206, 416), a directory redirect, listings off then on (LIST=1),
# dot-files, 405, traversal attempts that must never reach the secret, and
# a clean exit on SIGTERM.
set -euo pipefail
bin=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"; [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null || true' EXIT
root="$dir/public"
mkdir -p "$root/docs" "$root/css"
printf '<h1>home</h1>\n' >"$root/index.html"
printf 'body { color: red }\n' >"$root/css/app.css"
printf 'notes\n' >"$root/docs/notes.txt"
printf 'hidden\n' >"$root/.env"
printf 'TOP SECRET\n' >"$dir/secret.txt"
head -c 3000000 /dev/urandom >"$root/big.bin"
fail() { echo "$1"; exit 1; }
log="$dir/log"
. "$(dirname "$0")/lib.bash"
start() { start_example static env PORT=0 THREADS=2 HOST=127.0.0.1 ROOT="$root" "$@" "$bin/examples/static/static"; }
stop() { stop_example static; }
code() { rm -f "$dir/body"; : >"$dir/body"; curl -s -o "$dir/body" -D "$dir/h" -w '%{http_code}' "$@"; }
header() { grep -i "^$1:" "$dir/h" | head -1 | cut -d' ' -f2- | tr -d '\r'; }

start

# The index and content types.
[ "$(code "$url/")" = 200 ] || fail "GET /: $(cat "$dir/h")"
[ "$(cat "$dir/body")" = "<h1>home</h1>" ] || fail "index body: $(cat "$dir/body")"
header content-type | grep -q '^text/html' || fail "index type: $(header content-type)"
[ "$(code "$url/css/app.css")" = 200 ] || fail "GET app.css"
header content-type | grep -q '^text/css' || fail "css type: $(header content-type)"

# A file over sendfile_min, byte for byte, and its HEAD.
[ "$(code "$url/big.bin")" = 200 ] || fail "GET big.bin"
cmp -s "$dir/body" "$root/big.bin" || fail "big.bin differs from the file"
[ "$(header content-length)" = 3000000 ] || fail "big.bin length: $(header content-length)"
[ "$(code -I "$url/big.bin")" = 200 ] || fail "HEAD big.bin"
[ "$(header content-length)" = 3000000 ] || fail "HEAD length: $(header content-length)"
# curl -I writes the head as its output: nothing else may follow it.
cmp -s "$dir/body" "$dir/h" || fail "HEAD carried more than its head"

# Validators: ETag and Last-Modified give 304; If-Match that fails gives 412.
code "$url/docs/notes.txt" >/dev/null
etag=$(header etag)
lastmod=$(header last-modified)
[ -n "$etag" ] && [ -n "$lastmod" ] || fail "no validators: $(cat "$dir/h")"
[ "$(code -H "If-None-Match: $etag" "$url/docs/notes.txt")" = 304 ] || fail "If-None-Match not 304"
[ ! -s "$dir/body" ] || fail "304 carried a body"
[ "$(code -H "If-Modified-Since: $lastmod" "$url/docs/notes.txt")" = 304 ] || fail "If-Modified-Since not 304"
[ "$(code -H 'If-None-Match: "other"' "$url/docs/notes.txt")" = 200 ] || fail "other ETag not 200"
[ "$(code -H 'If-Match: "other"' "$url/docs/notes.txt")" = 412 ] || fail "If-Match mismatch not 412"

# Ranges.
[ "$(code -H 'Range: bytes=1000-1999' "$url/big.bin")" = 206 ] || fail "range not 206"
[ "$(header content-range)" = "bytes 1000-1999/3000000" ] || fail "content-range: $(header content-range)"
cmp -s "$dir/body" <(tail -c +1001 "$root/big.bin" | head -c 1000) || fail "range bytes differ"
[ "$(code -H 'Range: bytes=-6' "$url/docs/notes.txt")" = 206 ] || fail "suffix range not 206"
[ "$(cat "$dir/body")" = "notes" ] || fail "suffix range body: $(cat "$dir/body")"
[ "$(code -H 'Range: bytes=5000000-' "$url/big.bin")" = 416 ] || fail "range past the end not 416"
[ "$(header content-range)" = "bytes */3000000" ] || fail "416 content-range: $(header content-range)"

# A directory without its slash is redirected; without an index it is 404
# while listings are off.
[ "$(code "$url/docs?x=1")" = 301 ] || fail "directory redirect"
[ "$(header location)" = "/docs/?x=1" ] || fail "redirect location: $(header location)"
[ "$(code "$url/docs/")" = 404 ] || fail "listing served while off"

# Dot-files, other methods, traversal: never the secret.
[ "$(code "$url/.env")" = 404 ] || fail ".env served"
[ "$(code -X POST "$url/index.html")" = 405 ] || fail "POST not 405"
header allow | grep -q 'GET, HEAD' || fail "405 Allow: $(header allow)"
for path in '/../secret.txt' '/%2e%2e/secret.txt' '/%2E%2E%2Fsecret.txt' '/docs/..%2f..%2fsecret.txt' \
            '/..%5csecret.txt' '/%252e%252e/secret.txt' '/index.html%00.txt' '//../secret.txt'; do
  c=$(code --path-as-is "$url$path")
  { [ "$c" = 400 ] || [ "$c" = 404 ]; } || fail "$path answered $c"
  ! grep -q 'TOP SECRET' "$dir/body" || fail "$path leaked the secret"
done
stop

# LIST=1: directories without an index are listed, dot-files left out.
start LIST=1
[ "$(code "$url/docs/")" = 200 ] || fail "listing not served with LIST=1"
grep -q 'notes.txt' "$dir/body" || fail "listing without notes.txt: $(cat "$dir/body")"
[ "$(code "$url/")" = 200 ] && grep -q '<h1>home</h1>' "$dir/body" || fail "index not preferred to a listing"
stop
echo "static: ok"
