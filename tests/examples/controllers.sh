#!/usr/bin/env bash
# examples/controllers end to end: the V example's routes and the 404, then
# the /api/users resource (create, 422 with its fields, read, pagination
# with Link and X-Total-Count, PUT, PATCH, DELETE, 404 problems), 404 and
# 405 problems under /api only, the server's own refusals (400, the
# README's curl with a space in the target included, 413, 431, 505) as
# problem documents in the access log, the request-id, CORS and access-log
# middleware, /healthz, /readyz and /metrics (checked by promtool), flags
# over the environment, and SIGTERM with a clean exit.
set -euo pipefail
bin=$1/examples/controllers/controllers
log=$(mktemp)
out=$(mktemp)
hdr=$(mktemp)
trap 'rm -f "$log" "$out" "$hdr"; [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null || true' EXIT

. "$(dirname "$0")/lib.bash"
start() { start_example controllers "$@"; } # env/args for the binary
stop() { stop_example controllers; }
expect() { # name, expected, actual
  [ "$2" = "$3" ] || { echo "$1: expected '$2', got '$3'"; exit 1; }
}
# request METHOD PATH [JSON-BODY] -> "status content-type"; body in $out,
# headers in $hdr
request() {
  local args=(-s -D "$hdr" -o "$out" -w '%{http_code} %{content_type}' -X "$1" "$url$2")
  if [ -n "${AUTH:-}" ]; then args+=(-H "Authorization: $AUTH"); fi
  if [ $# -ge 3 ]; then args+=(-H "Content-Type: application/json" --data-binary "$3"); fi
  curl "${args[@]}"
}
header() { # name -> value of that response header in $hdr
  grep -i "^$1:" "$hdr" | head -1 | cut -d' ' -f2- | tr -d '\r'
}
# raw BYTES (a Python bytes literal) sent as is on a new connection, read
# to EOF -> "status content-type connection"; body in $out, headers in $hdr
raw() {
  python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(eval(sys.argv[2]))
data = b""
while True:
    c = s.recv(65536)
    if not c:
        break
    data += c
head, _, body = data.partition(b"\r\n\r\n")
lines = head.decode("latin-1").split("\r\n")
open(sys.argv[4], "w").write("\n".join(lines[1:]) + "\n")
open(sys.argv[3], "wb").write(body)
h = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
print(lines[0].split(" ")[1], h.get("content-type", ""), h.get("connection", ""))
' "$port" "$1" "$out" "$hdr"
}
jq_() { # python expression over the JSON body as j
  python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$out" "$1"
}

# Every response of the users API is checked against its declaration
# (FH_CHECK_RESPONSES): one that drifts is a 500 and fails below.
start env HOST=127.0.0.1 PORT=0 THREADS=2 ADMIN_TOKEN=test-token FH_CHECK_RESPONSES=1 "$bin"
expect "threads from THREADS" 1 "$(grep -c 'with 2 threads' "$log")"

# The V example app.
expect "GET /" "200 text/plain; charset=utf-8" "$(request GET /)"
expect "GET / body" "Hello, World!" "$(cat "$out")"
expect "GET /user/42" "200 text/plain; charset=utf-8" "$(request GET /user/42)"
expect "GET /user/42 body" "User ID: 42" "$(cat "$out")"
expect "GET /user/a%20b body" "User ID: a b" "$(request GET /user/a%20b >/dev/null; cat "$out")"
expect "GET /user/42/posts" "200 text/plain; charset=utf-8" "$(request GET '/user/42/posts?page=3&drafts=true')"
expect "GET /user/42/posts body" "Posts of user 42, page 3, drafts yes" "$(cat "$out")"
expect "posts defaults" "Posts of user 7, page 1, drafts no" "$(request GET /user/7/posts >/dev/null; cat "$out")"
expect "posts bad id" "400 application/problem+json" "$(request GET /user/abc/posts)"
expect "posts bad id names it" '"parameter":"id","in":"path","reason":"malformed"' "$(grep -o '"parameter".*"malformed"' "$out")"
expect "posts page too big" "400 application/problem+json" "$(request GET '/user/1/posts?page=1001')"
expect "posts page escape" "400 application/problem+json" "$(request GET '/user/1/posts?page=%zz')"
expect "posts bad drafts" "400 application/problem+json" "$(request GET '/user/1/posts?drafts=maybe')"
expect "POST /user" "201 text/plain; charset=utf-8" "$(request POST /user)"
expect "POST /user body" "User created successfully" "$(cat "$out")"
expect "GET /missing" "404 text/plain; charset=utf-8" "$(request GET /missing)"
expect "404 body" "404 Not Found" "$(cat "$out")"
expect "GET /user" "405 text/plain; charset=utf-8" "$(request GET /user)"
expect "405 Allow" "POST, OPTIONS" "$(header Allow)"

# The JSON resource.
expect "empty list" "200 application/json" "$(request GET /api/users)"
expect "empty list body" '{"data":[],"page":1,"per_page":10,"total":0,"total_pages":0}' "$(cat "$out")"
expect "empty X-Total-Count" 0 "$(header X-Total-Count)"

expect "POST invalid" "422 application/problem+json" \
  "$(request POST /api/users '{"name":"","email":"nope","age":200,"admin":true}')"
expect "422 title" "Unprocessable Content 422 /api/users" "$(jq_ 'j["title"], j["status"], j["instance"]' | tr -d "(),'")"
expect "422 pointers" "#/name #/email #/age #/admin" "$(jq_ '" ".join(e["pointer"] for e in j["errors"])')"
expect "422 detail" "must be an email address" "$(jq_ '[e["detail"] for e in j["errors"] if e["field"]=="email"][0]')"
expect "POST missing fields" "422 application/problem+json" "$(request POST /api/users '{}')"
expect "required" "name:is required email:is required" \
  "$(jq_ '" ".join(e["field"]+":"+e["detail"] for e in j["errors"])')"
expect "POST not JSON" "400 application/problem+json" "$(request POST /api/users '{"name":')"

for i in 1 2 3 4 5; do
  expect "create $i" "201 application/json" \
    "$(request POST /api/users "{\"name\":\"User $i\",\"email\":\"u$i@example.com\",\"age\":$((20 + i))}")"
  expect "create $i body" "{\"id\":$i,\"name\":\"User $i\",\"email\":\"u$i@example.com\",\"age\":$((20 + i))}" "$(cat "$out")"
  expect "create $i Location" "/api/users/$i" "$(header Location)"
done
expect "GET one" "200 application/json" "$(request GET /api/users/3)"
expect "GET one body" '{"id":3,"name":"User 3","email":"u3@example.com","age":23}' "$(cat "$out")"

expect "page 2" "200 application/json" "$(request GET '/api/users?page=2&per_page=2')"
expect "page 2 ids" "[3 4] 2 2 5 3" "$(jq_ '[u["id"] for u in j["data"]], j["page"], j["per_page"], j["total"], j["total_pages"]' | tr -d "(),")"
expect "X-Total-Count" 5 "$(header X-Total-Count)"
expect "Link" '</api/users?page=1&per_page=2>; rel="first", </api/users?page=1&per_page=2>; rel="prev", </api/users?page=3&per_page=2>; rel="next", </api/users?page=3&per_page=2>; rel="last"' "$(header Link)"
expect "last page" "200 application/json" "$(request GET '/api/users?page=3&per_page=2')"
expect "last page ids" "[5]" "$(jq_ '[u["id"] for u in j["data"]]')"
expect "past the end" "200 application/json" "$(request GET '/api/users?page=9&per_page=2')"
expect "past the end ids" "[] 5" "$(jq_ '[u["id"] for u in j["data"]], j["total"]' | tr -d "(),")"
# Past the end, prev is the last page (page 8 does not exist either), and
# there is no next.
expect "past the end Link" '</api/users?page=1&per_page=2>; rel="first", </api/users?page=3&per_page=2>; rel="prev", </api/users?page=3&per_page=2>; rel="last"' "$(header Link)"
request GET '/api/users?page=4&per_page=2' >/dev/null
expect "just past the end Link" '</api/users?page=1&per_page=2>; rel="first", </api/users?page=3&per_page=2>; rel="prev", </api/users?page=3&per_page=2>; rel="last"' "$(header Link)"
expect "bad page" "400 application/problem+json" "$(request GET '/api/users?page=0')"
expect "bad page param" "page" "$(jq_ '" ".join(e["parameter"] for e in j["errors"])')"
expect "bad page detail" "query must be at least 1" "$(jq_ '" ".join(e["in"] + " " + e["detail"] for e in j["errors"])')"
expect "two bad params" "400 application/problem+json" "$(request GET '/api/users?page=x&per_page=0')"
expect "two bad params list" "page:must be an integer per_page:must be at least 1" \
  "$(jq_ '" ".join(e["parameter"] + ":" + e["detail"] for e in j["errors"])')"
expect "bad per_page" "400 application/problem+json" "$(request GET '/api/users?per_page=101')"
expect "bad per_page param" "per_page" "$(jq_ '" ".join(e["parameter"] for e in j["errors"])')"

expect "PUT" "200 application/json" "$(request PUT /api/users/2 '{"name":"Ada","email":"ada@example.com"}')"
expect "PUT body (age gone)" '{"id":2,"name":"Ada","email":"ada@example.com"}' "$(cat "$out")"
expect "PUT invalid" "422 application/problem+json" "$(request PUT /api/users/2 '{"name":"Ada"}')"
expect "PUT invalid field" "email" "$(jq_ '" ".join(e["field"] for e in j["errors"])')"
expect "PATCH" "200 application/json" "$(request PATCH /api/users/2 '{"age":36}')"
expect "PATCH body" '{"id":2,"name":"Ada","email":"ada@example.com","age":36}' "$(cat "$out")"
expect "PATCH null" "200 application/json" "$(request PATCH /api/users/2 '{"age":null,"name":"Ada L."}')"
expect "PATCH null body" '{"id":2,"name":"Ada L.","email":"ada@example.com"}' "$(cat "$out")"
expect "PATCH invalid" "422 application/problem+json" "$(request PATCH /api/users/2 '{"email":"no-at"}')"
expect "after PATCH invalid" '{"id":2,"name":"Ada L.","email":"ada@example.com"}' "$(request GET /api/users/2 >/dev/null; cat "$out")"

expect "DELETE without token" "401 text/plain; charset=utf-8" "$(request DELETE /api/users/2)"
expect "401 challenge" 'Bearer realm="users"' "$(header WWW-Authenticate)"
expect "DELETE wrong token" "401 text/plain; charset=utf-8" "$(AUTH="Bearer wrong" request DELETE /api/users/2)"
expect "DELETE" "204 " "$(AUTH="Bearer test-token" request DELETE /api/users/2)"
expect "DELETE body" "" "$(cat "$out")"
expect "GET deleted" "404 application/problem+json" "$(request GET /api/users/2)"
expect "404 problem" 'Not Found 404 /api/users/2 no user with id "2"' \
  "$(jq_ '" ".join(str(j[k]) for k in ("title","status","instance","detail"))')"
expect "DELETE again" "404 application/problem+json" "$(AUTH="Bearer test-token" request DELETE /api/users/2)"
expect "PUT deleted" "404 application/problem+json" "$(request PUT /api/users/2 '{"name":"X","email":"x@y.z"}')"
expect "PATCH bad id" "400 application/problem+json" "$(request PATCH /api/users/abc '{}')"
expect "PATCH bad id param" "id path must be an integer" \
  "$(jq_ '" ".join(e["parameter"] + " " + e["in"] + " " + e["detail"] for e in j["errors"])')"
expect "PATCH unknown" "404 application/problem+json" "$(request PATCH /api/users/99 '{}')"
expect "GET id 0" "400 application/problem+json" "$(request GET /api/users/0)"
expect "GET id 0 detail" "must be at least 1" "$(jq_ 'j["errors"][0]["detail"]')"
expect "GET id overflow" "400 application/problem+json" "$(request GET /api/users/99999999999999999999)"
expect "list after delete" "[1 3 4 5] 4" "$(request GET /api/users >/dev/null; jq_ '[u["id"] for u in j["data"]], j["total"]' | tr -d "(),")"
expect "unknown API path" "404 application/problem+json" "$(request GET /api/nothing)"
expect "unknown API path problem" "about:blank Not Found 404 /api/nothing" \
  "$(jq_ '" ".join(str(j[k]) for k in ("type","title","status","instance"))')"
expect "API root" "404 application/problem+json" "$(request GET /api)"
expect "API 405" "405 application/problem+json" "$(request DELETE /api/users)"
expect "API 405 Allow" "GET, HEAD, POST, OPTIONS" "$(header Allow)"
expect "API 405 problem" "Method Not Allowed 405 /api/users" \
  "$(jq_ '" ".join(str(j[k]) for k in ("title","status","instance"))')"
expect "API 405 on an item" "405 application/problem+json" "$(request POST /api/users/1)"
expect "API 405 item Allow" "GET, HEAD, PUT, DELETE, PATCH, OPTIONS" "$(header Allow)"
# Outside the mount the site's errors stay text, /apis included.
expect "not under /api" "404 text/plain; charset=utf-8" "$(request GET /apis/users)"

# The OpenAPI document and its page (tests/openapi/ lints it and loads the
# page in a browser).
expect "openapi.json" "200 application/json" "$(request GET /openapi.json)"
expect "openapi version" "3.1.0" "$(jq_ 'j["openapi"]')"
expect "openapi users ops" "listUsers createUser" "$(jq_ 'j["paths"]["/api/users"]["get"]["operationId"] + " " + j["paths"]["/api/users"]["post"]["operationId"]')"
expect "openapi delete security" "[{'bearerAuth': []}]" "$(jq_ 'j["paths"]["/api/users/{id}"]["delete"]["security"]')"
expect "docs page" "200 text/html; charset=utf-8" "$(request GET /docs)"
expect "docs page script" 1 "$(grep -c '<script src="/docs/swagger-ui-bundle.js"></script>' "$out")"
expect "docs bundle" "200 text/javascript; charset=utf-8" "$(request GET /docs/swagger-ui-bundle.js)"
expect "docs css" "200 text/css; charset=utf-8" "$(request GET /docs/swagger-ui.css)"
expect "docs other file" "404 text/plain; charset=utf-8" "$(request GET /docs/package.json)"
expect "no response check failed" 0 "$(grep -c 'response check' "$log" || true)"

# Requests the server refuses itself: problem documents, Connection: close,
# a request id, and a line in the access log (checked below).
expect "garbage" "400 application/problem+json close" "$(raw 'b"\x16\x03\x01garbage\r\n\r\n"')"
expect "garbage problem" "Bad Request 400 True" \
  "$(jq_ '" ".join(str(x) for x in (j["title"], j["status"], "instance" not in j))')"
expect "garbage request id" 1 "$(header X-Request-ID | grep -c '^[0-9a-f]\{16\}-[0-9a-f]\{12\}$')"
# The README's command for it: curl with a space in the request target.
expect "README's bad request" "400 application/problem+json" \
  "$(curl -s -D "$hdr" -o "$out" -w '%{http_code} %{content_type}' --request-target '/a b' "$url/")"
expect "README's bad request id" 1 "$(header X-Request-ID | grep -c '^[0-9a-f]\{16\}-[0-9a-f]\{12\}$')"
expect "HTTP/2.0" "505 application/problem+json close" "$(raw 'b"GET /api/users/2 HTTP/2.0\r\nHost: a\r\n\r\n"')"
expect "body over the limit" "413 application/problem+json close" \
  "$(raw 'b"POST /api/users HTTP/1.1\r\nHost: a\r\nX-Request-ID: big-body\r\nContent-Type: application/json\r\nContent-Length: 99999999999\r\n\r\n"')"
expect "413 problem" "413 /api/users big-body" \
  "$(jq_ '" ".join(str(j[k]) for k in ("status","instance","request_id"))')"
expect "header too large" "431 application/problem+json close" \
  "$(raw 'b"GET /api/users HTTP/1.1\r\nHost: a\r\nX-Big: " + b"x" * 40000 + b"\r\n\r\n"')"
expect "HTTP/3.0" "505 application/problem+json close" "$(raw 'b"GET /api/users HTTP/3.0\r\nHost: a\r\n\r\n"')"

# Middleware: request ids (kept or generated, in problems too), CORS, and
# the access log on stdout.
expect "client id" "404 application/problem+json" \
  "$(curl -s -D "$hdr" -o "$out" -w '%{http_code} %{content_type}' -H 'X-Request-ID: test-id-1' "$url/api/users/77")"
expect "X-Request-ID kept" "test-id-1" "$(header X-Request-ID)"
expect "problem request_id" "test-id-1" "$(jq_ 'j["request_id"]')"
request GET / >/dev/null
expect "generated id" 1 "$(header X-Request-ID | grep -c '^[0-9a-f]\{16\}-[0-9a-f]\{12\}$')"
expect "CORS" "200 *" "$(curl -s -D "$hdr" -o "$out" -w '%{http_code}' -H 'Origin: http://app.example' "$url/api/users") $(header Access-Control-Allow-Origin)"
expect "CORS expose" "Location, Link, X-Total-Count, X-Request-ID" "$(header Access-Control-Expose-Headers)"
expect "preflight" "204" "$(curl -s -D "$hdr" -o "$out" -w '%{http_code}' -X OPTIONS -H 'Origin: http://app.example' \
  -H 'Access-Control-Request-Method: DELETE' "$url/api/users/1")"
expect "preflight methods" "GET, HEAD, PUT, DELETE, PATCH" "$(header Access-Control-Allow-Methods)"
expect "preflight, collection" "204 GET, HEAD, POST" "$(curl -s -D "$hdr" -o "$out" -w '%{http_code}' -X OPTIONS -H 'Origin: http://app.example' \
  -H 'Access-Control-Request-Method: POST' "$url/api/users") $(header Access-Control-Allow-Methods)"
expect "preflight, no route" "404 application/problem+json" "$(curl -s -D "$hdr" -o "$out" -w '%{http_code} %{content_type}' -X OPTIONS -H 'Origin: http://app.example' \
  -H 'Access-Control-Request-Method: GET' "$url/api/nothing")"
# Operations: liveness, readiness and the metrics of the requests above,
# by route pattern (never the raw path), valid for promtool.
expect "GET /healthz" "200 text/plain; charset=utf-8 ok" "$(request GET /healthz) $(cat "$out")"
expect "GET /readyz" "200 text/plain; charset=utf-8 ready" "$(request GET /readyz) $(cat "$out")"
expect "GET /metrics" "200 text/plain; version=0.0.4; charset=utf-8" "$(request GET /metrics)"
promtool check metrics <"$out" >"$hdr" 2>&1 || { echo "promtool:"; cat "$hdr"; exit 1; }
expect "metrics: GET /user/:id" 'fasthttp_requests_total{route="/user/:id",method="GET",code="2xx"} 2' \
  "$(grep '^fasthttp_requests_total{route="/user/:id",method="GET",code="2xx"}' "$out")"
expect "metrics: no raw path" 0 "$(grep -c '/user/42' "$out" || true)"
expect "metrics: core 400s" 1 "$(grep -c '^fasthttp_core_errors_total{code="400"} [1-9]' "$out")"
expect "metrics: threads" "fasthttp_worker_threads 2" "$(grep '^fasthttp_worker_threads' "$out")"
stop
expect "access log line" 1 \
  "$(grep -c '^127\.0\.0\.1 - - \[[^]]*\] "GET /api/users/77 HTTP/1\.1" 404 [0-9]* [0-9]* "test-id-1"$' "$log")"
expect "access log lines" 1 "$(grep -c '"POST /api/users HTTP/1.1" 201 ' "$log" | awk '{print ($1 == 5)}')"
expect "log: garbage" 1 "$(grep -c '^127\.0\.0\.1 - - \[[^]]*\] "-" 400 [0-9]* [0-9]* "[0-9a-f-]*"$' "$log")"
expect "log: README's bad request" 1 "$(grep -c '^127\.0\.0\.1 - - \[[^]]*\] "GET /a -" 400 [0-9]* [0-9]* "[0-9a-f-]*"$' "$log")"
expect "log: 413" 1 "$(grep -c '"POST /api/users HTTP/1\.1" 413 [0-9]* [0-9]* "big-body"$' "$log")"
expect "log: 431" 1 "$(grep -c '"GET /api/users -" 431 ' "$log")"
expect "log: 505" 1 "$(grep -c '"GET /api/users -" 505 ' "$log")"
expect "log: HTTP/2.0" 1 "$(grep -c '"GET /api/users/2 -" 505 ' "$log")"

# Flags win over the environment.
start env HOST=127.0.0.1 PORT=1 THREADS=3 "$bin" --port 0 --threads=1
expect "threads from --threads" 1 "$(grep -c 'with 1 threads' "$log")"
expect "GET / with flags" "200 text/plain; charset=utf-8" "$(request GET /)"
stop
rc=0
"$bin" --port nope >/dev/null 2>&1 || rc=$?
expect "bad --port" 2 "$rc"
rc=0
"$bin" --port 0 --docs-dir /nonexistent >"$out" 2>&1 || rc=$?
expect "bad --docs-dir" 2 "$rc"
expect "bad --docs-dir message" 1 "$(grep -c 'openapi.docs_dir: "/nonexistent": no readable swagger-ui-bundle.js there' "$out")"
echo "controllers: ok"
