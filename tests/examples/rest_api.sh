#!/usr/bin/env bash
# examples/rest_api end to end on a temporary database: every route, the
# filters and pagination, ETag / If-None-Match, problem documents for bad
# input, then SIGTERM and a clean exit; a restart finds the data again.
set -euo pipefail
bin=$1
prog="$bin/examples/rest_api/rest_api"
[ -x "$prog" ] || { echo "rest_api not built (no sqlite3): skipped"; exit 0; }
dir=$(mktemp -d)
log="$dir/log"
out="$dir/out"
hdr="$dir/hdr"
trap 'rm -rf "$dir"; [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null || true' EXIT

. "$(dirname "$0")/lib.bash"
start() { start_example rest_api env DB="$dir/todos.db" PORT=0 THREADS=2 HOST=127.0.0.1 "$prog"; }
stop() { stop_example rest_api; }
expect() { # name, expected, actual
  [ "$2" = "$3" ] || { echo "$1: expected '$2', got '$3'"; exit 1; }
}
# request METHOD PATH [BODY [CONTENT-TYPE]] -> "status content-type", body in
# $out, headers in $hdr
request() {
  local args=(-s -D "$hdr" -o "$out" -w '%{http_code} %{content_type}' -X "$1" "$url$2")
  if [ $# -ge 3 ]; then args+=(-H "Content-Type: ${4:-application/json}" --data-binary "$3"); fi
  curl "${args[@]}"
}
header() { grep -i "^$1:" "$hdr" | head -1 | sed 's/^[^:]*: *//' | tr -d '\r'; }
# The "id"s of a list answer, space-separated.
ids() { grep -o '"id":[0-9]*' "$out" | cut -d: -f2 | paste -sd' ' || true; }

start
[ -f "$dir/todos.db" ] || { echo "database not created"; exit 1; }
expect "empty list" "200 application/json" "$(request GET /todos)"
expect "empty body" '{"todos":[],"total":0,"limit":20,"offset":0}' "$(cat "$out")"

expect "create 1" "201 application/json" "$(request POST /todos '{"title":"buy milk"}')"
expect "create 1 body" '{"id":1,"title":"buy milk","done":false}' "$(cat "$out")"
expect "Location" "/todos/1" "$(header Location)"
expect "create ETag" '"1-1"' "$(header ETag)"
expect "create 2" "201 application/json" "$(request POST /todos '{"title":"write docs","done":true}')"
expect "create 3" "201 application/json" "$(request POST /todos '{"title":"ship"}')"
expect "Location 3" "/todos/3" "$(header Location)"

expect "create invalid" "422 application/problem+json" \
  "$(request POST /todos '{"title":"","done":"yes","due":1}')"
expect "422 pointers" '"#/title" "#/done" "#/due"' "$(grep -o '"pointer":"[^"]*"' "$out" | cut -d: -f2 | paste -sd' ')"
expect "create missing title" "422 application/problem+json" "$(request POST /todos '{}')"
expect "create bad JSON" "400 application/problem+json" "$(request POST /todos '{"title":')"
expect "create form" "415 application/problem+json" "$(request POST /todos 'title=x' application/x-www-form-urlencoded)"

expect "list" "200 application/json" "$(request GET /todos)"
expect "list body" '{"todos":[{"id":1,"title":"buy milk","done":false},{"id":2,"title":"write docs","done":true},{"id":3,"title":"ship","done":false}],"total":3,"limit":20,"offset":0}' "$(cat "$out")"
expect "done=true" "200 application/json" "$(request GET '/todos?done=true')"
expect "done=true body" '{"todos":[{"id":2,"title":"write docs","done":true}],"total":1,"limit":20,"offset":0}' "$(cat "$out")"
expect "done=false" "200 application/json" "$(request GET '/todos?done=false')"
expect "done=false ids" '1 3' "$(ids)"
expect "done=false total" '"total":2,' "$(grep -o '"total":[0-9]*,' "$out")"
expect "page" "200 application/json" "$(request GET '/todos?limit=2&offset=1')"
expect "page ids" '2 3' "$(ids)"
expect "page numbers" '"total":3,"limit":2,"offset":1}' "$(grep -o '"total".*' "$out")"
expect "page past end" "200 application/json" "$(request GET '/todos?offset=10')"
expect "page past end body" '{"todos":[],"total":3,"limit":20,"offset":10}' "$(cat "$out")"
expect "bad done" "400 application/problem+json" "$(request GET '/todos?done=maybe')"
expect "bad limit" "400 application/problem+json" "$(request GET '/todos?limit=0')"
expect "limit too big" "400 application/problem+json" "$(request GET '/todos?limit=101')"
expect "bad offset" "400 application/problem+json" "$(request GET '/todos?offset=-1')"
expect "bad offset names it" '"parameter":"offset","in":"query","reason":"out_of_range"' "$(grep -o '"parameter".*"out_of_range"' "$out")"
expect "limit escape" "400 application/problem+json" "$(request GET '/todos?limit=%zz')"
expect "limit escape is malformed" '"reason":"malformed"' "$(grep -o '"reason":"[a-z_]*"' "$out")"
expect "empty limit" "400 application/problem+json" "$(request GET '/todos?limit=')"
expect "done=1" "200 application/json" "$(request GET '/todos?done=1')"
expect "done=1 total" '"total":1,' "$(grep -o '"total":[0-9]*,' "$out")"

expect "get" "200 application/json" "$(request GET /todos/1)"
expect "get body" '{"id":1,"title":"buy milk","done":false}' "$(cat "$out")"
etag=$(header ETag)
expect "get ETag" '"1-1"' "$etag"
rm -f "$out"
expect "If-None-Match" "304" "$(curl -s -o "$out" -w '%{http_code}' -H "If-None-Match: $etag" "$url/todos/1")"
expect "304 body" "" "$(cat "$out" 2>/dev/null)"
expect "If-None-Match list" "304" "$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: \"x\", W/$etag" "$url/todos/1")"
expect "If-None-Match other" "200" "$(curl -s -o /dev/null -w '%{http_code}' -H 'If-None-Match: "1-0"' "$url/todos/1")"
expect "get missing" "404 application/problem+json" "$(request GET /todos/99)"
expect "get bad id" "404 application/problem+json" "$(request GET /todos/abc)"

expect "patch" "200 application/json" "$(request PATCH /todos/1 '{"done":true}')"
expect "patch body" '{"id":1,"title":"buy milk","done":true}' "$(cat "$out")"
expect "patch ETag" '"1-2"' "$(header ETag)"
expect "old ETag" "200" "$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$url/todos/1")"
expect "patch title" "200 application/json" "$(request PATCH /todos/1 '{"title":"buy oat milk"}')"
expect "patch title body" '{"id":1,"title":"buy oat milk","done":true}' "$(cat "$out")"
expect "patch empty" "422 application/problem+json" "$(request PATCH /todos/1 '{}')"
expect "patch invalid" "422 application/problem+json" "$(request PATCH /todos/1 '{"done":1}')"
expect "patch missing" "404 application/problem+json" "$(request PATCH /todos/99 '{"done":true}')"

expect "delete" "204 " "$(request DELETE /todos/2)"
expect "deleted" "404 application/problem+json" "$(request GET /todos/2)"
expect "delete again" "404 application/problem+json" "$(request DELETE /todos/2)"
expect "405" "405 application/problem+json" "$(request PUT /todos/1 '{}')"
expect "405 Allow" "DELETE, GET, HEAD, OPTIONS, PATCH" "$(header Allow | tr -d ' ' | tr ',' '\n' | sort | paste -sd, | sed 's/,/, /g')"
expect "404" "404 application/problem+json" "$(request GET /nothing)"
# Concurrent writers on the pool's connections: 200 POSTs, 16 at a time,
# every one stored (201), none refused as busy.
total() { request GET '/todos?limit=1' >/dev/null; grep -o '"total":[0-9]*' "$out" | cut -d: -f2; }
before=$(total)
seq 200 | xargs -P 16 -I{} curl -s -o /dev/null -w '%{http_code}\n' -X POST "$url/todos" \
  -H 'Content-Type: application/json' -d '{"title":"parallel {}"}' >"$dir/codes"
expect "parallel POSTs all 201" "200" "$(grep -c '^201$' "$dir/codes")"
expect "parallel POSTs stored" "$((before + 200))" "$(total)"

# Another process holds the write lock past the 5 s busy timeout: a write
# gets 503 with Retry-After, a read still 200 (WAL), and once the lock is
# gone writes go on on the same pooled connections.
python3 -c "import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute('BEGIN IMMEDIATE'); open(sys.argv[2], 'w').close(); time.sleep(8)" \
  "$dir/todos.db" "$dir/locked" &
locker=$!
for _ in $(seq 100); do [ -f "$dir/locked" ] && break; sleep 0.1; done
expect "read under a writer's lock" "200 application/json" "$(request GET /todos/1)"
expect "write under a lock past the busy timeout" "503 application/problem+json" \
  "$(request POST /todos '{"title":"blocked"}')"
expect "busy Retry-After" "1" "$(header Retry-After)"
grep -q 'busy' "$out" || { echo "busy problem: $(cat "$out")"; exit 1; }
wait "$locker"
expect "write after the lock" "201 application/json" "$(request POST /todos '{"title":"after"}')"
stop

# The data is in the file: a new process serves it.
start
expect "after restart" "200 application/json" "$(request GET /todos)"
expect "after restart first ids" '1 3' "$(ids | cut -d' ' -f1-2)"
stop
echo "rest_api: ok"
