#!/usr/bin/env bash
# examples/echo end to end: a GET with a query and repeated headers, a body
# that is UTF-8 and one that is not, POST /echo raw with and without a
# Content-Type, HEAD, then SIGTERM and a clean exit.
set -euo pipefail
bin=$1/examples/echo/echo
log=$(mktemp)
out=$(mktemp)
hdr=$(mktemp)
trap 'rm -f "$log" "$out" "$hdr"; [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null || true' EXIT
. "$(dirname "$0")/lib.bash"
start_example echo env HOST=127.0.0.1 PORT=0 "$bin" --threads 2

expect() { # name, expected, actual
  [ "$2" = "$3" ] || { echo "$1: expected '$2', got '$3'"; exit 1; }
}
field() { # python expression over the JSON body as j
  python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(json.dumps(eval(sys.argv[2]), separators=(",",":")))' "$out" "$1"
}

code=$(curl -s -o "$out" -w '%{http_code} %{content_type}' -H 'X-Trace: one' -H 'X-Trace: two' \
  "$url/some/p%20th?a=1&b=x+y&a=2&flag&enc=%C3%A9")
expect "GET" "200 application/json" "$code"
expect "method" '"GET"' "$(field 'j["method"]')"
expect "target" '"/some/p%20th?a=1&b=x+y&a=2&flag&enc=%C3%A9"' "$(field 'j["target"]')"
expect "path" '"/some/p%20th"' "$(field 'j["path"]')"
expect "query" '{"a":["1","2"],"b":"x y","flag":"","enc":"é"}' "$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["query"], separators=(",",":"), ensure_ascii=False))' "$out")"
expect "version" '"HTTP/1.1"' "$(field 'j["version"]')"
expect "header order" '["Host","User-Agent","Accept","X-Trace","X-Trace"]' "$(field '[h["name"] for h in j["headers"]]')"
expect "repeated values" '["one","two"]' "$(field '[h["value"] for h in j["headers"] if h["name"]=="X-Trace"]')"
expect "empty body" '["",0]' "$(field '[j["body"], j["length"]]')"
expect "remote" '"127.0.0.1"' "$(field 'j["remote_addr"]')"

curl -s -o "$out" -X PUT -H 'Content-Type: application/json' --data-binary '{"k":"ü"}' "$url/items/7"
expect "PUT method" '"PUT"' "$(field 'j["method"]')"
expect "PUT body" '{"k":"ü"}' "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["body"])' "$out")"
expect "PUT length" '10' "$(field 'j["length"]')"
expect "no query" '{}' "$(field 'j["query"]')"

printf '\xff\x00ab' | curl -s -o "$out" -X POST --data-binary @- "$url/binary"
expect "binary body" '["/wBhYg==",4,false]' "$(field '[j["body_base64"], j["length"], "body" in j]')"

# POST /echo: the raw body back, with the request's Content-Type.
code=$(curl -s -o "$out" -w '%{http_code} %{content_type}' -H 'Content-Type: text/csv' --data-binary $'a,b\n1,2' "$url/echo")
expect "POST /echo" "200 text/csv" "$code"
expect "POST /echo body" $'a,b\n1,2' "$(cat "$out")"
code=$(printf '\x01\x02' | curl -s -o "$out" -w '%{http_code} %{content_type}' -H 'Content-Type:' --data-binary @- "$url/echo")
expect "POST /echo untyped" "200 application/octet-stream" "$code"
expect "POST /echo bytes" "0102" "$(od -An -tx1 "$out" | tr -d ' \n')"
code=$(curl -s -o "$out" -w '%{http_code}' -X GET "$url/echo")
expect "GET /echo is JSON" '200 "/echo"' "$code $(field 'j["path"]')"

code=$(curl -s -I -o "$hdr" -w '%{http_code} %{content_type}' "$url/head")
expect "HEAD" "200 application/json" "$code"

stop_example echo
echo "echo: ok"
