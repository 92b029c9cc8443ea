#!/usr/bin/env bash
# examples/json end to end: GET /json, a 422 listing every bad field, a
# user created, read, listed and deleted, a 415 and a 404 as problem
# documents, then SIGTERM and a clean exit.
set -euo pipefail
bin=$1
log=$(mktemp)
out=$(mktemp)
trap 'rm -f "$log" "$out"; [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null || true' EXIT
. "$(dirname "$0")/lib.bash"
start_example json env PORT=0 THREADS=2 HOST=127.0.0.1 "$bin/examples/json/json"

expect() { # name, expected, actual
  [ "$2" = "$3" ] || { echo "$1: expected '$2', got '$3'"; exit 1; }
}
# request METHOD PATH [BODY [CONTENT-TYPE]] -> "status content-type", body in $out
request() {
  local args=(-s -o "$out" -w '%{http_code} %{content_type}' -X "$1" "$url$2")
  if [ $# -ge 3 ]; then args+=(-H "Content-Type: ${4:-application/json}" --data-binary "$3"); fi
  curl "${args[@]}"
}

expect "GET /json" "200 application/json" "$(request GET /json)"
expect "GET /json body" '{"message":"Hello, World!"}' "$(cat "$out")"

expect "POST invalid" "422 application/problem+json" \
  "$(request POST /users '{"name":"","email":"nope","age":200,"admin":true}')"
pointers=$(python3 -c 'import json,sys; print(" ".join(e["pointer"] for e in json.load(open(sys.argv[1]))["errors"]))' "$out")
expect "422 pointers" "#/name #/age #/email #/admin" "$pointers"

expect "POST valid" "201 application/json" \
  "$(request POST /users '{"name":"Ada","email":"ada@example.com","tags":["math"]}')"
expect "created" '{"name":"Ada","email":"ada@example.com","tags":["math"],"id":1}' "$(cat "$out")"
expect "GET user" "200 application/json" "$(request GET /users/1)"
expect "user body" '{"name":"Ada","email":"ada@example.com","tags":["math"],"id":1}' "$(cat "$out")"
expect "list" "200 application/json" "$(request GET /users)"
expect "list body" '{"users":[{"name":"Ada","email":"ada@example.com","tags":["math"],"id":1}]}' "$(cat "$out")"
expect "DELETE" "204 " "$(request DELETE /users/1)"
expect "gone" "404 application/problem+json" "$(request GET /users/1)"
expect "415" "415 application/problem+json" "$(request POST /users 'name=Ada' application/x-www-form-urlencoded)"
expect "bad JSON" "400 application/problem+json" "$(request POST /users '{"name":')"
expect "405" "405 application/problem+json" "$(request PUT /users '{}')"

stop_example json
echo "json: ok"
