#!/usr/bin/env bash
# examples/websocket over TLS (wss://): the example started with TLS_CERT
# and TLS_KEY (a certificate made here with openssl, ECDSA P-256, signed by
# a CA of the test's own), its /echo handlers unchanged. A plain GET to
# /echo over HTTPS gets 426 naming the version; then python3-websockets
# (tests/examples/websocket_interop.py) and node's ws
# (websocket_interop.js), trusting only that CA, exchange messages of 0 B
# to 16 MiB with wss://localhost:PORT/echo, whole and fragmented, without
# and with permessage-deflate (and an offer the server declines); a
# wss:// client that does not trust the CA is refused by its own TLS
# check; plain ws:// to the TLS port gets no 101; then SIGTERM and a clean
# exit.
set -euo pipefail
bin=$1
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d)
log="$dir/log"
trap 'rm -rf "$dir"; [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null || true' EXIT
. "$here/lib.bash"
fail() { echo "$1"; cat "$log" 2>/dev/null; exit 1; }
py=${FH_PYTHON:-/usr/bin/python3}
"$py" -c 'import websockets' 2>/dev/null || fail "python3-websockets is missing (scripts/install-deps.sh installs it)"
[ -f /usr/share/nodejs/ws/index.js ] || fail "node-ws is missing (scripts/install-deps.sh installs it)"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$dir/ca.key" \
  -out "$dir/ca.pem" -days 2 -subj '/CN=websocket test CA' 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$dir/key.pem" \
  -out "$dir/cert.csr" -subj /CN=localhost 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$dir/ext"
openssl x509 -req -in "$dir/cert.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
  -days 2 -extfile "$dir/ext" -out "$dir/cert.pem" 2>/dev/null

start_example websocket env TLS_CERT="$dir/cert.pem" TLS_KEY="$dir/key.pem" PORT=0 THREADS=2 \
  HOST=127.0.0.1 "$bin/examples/websocket/websocket"
grep -q "https://" "$log" || fail "the example does not say https://"

code=$(curl -s --cacert "$dir/ca.pem" -o /dev/null -D "$dir/h" -w '%{http_code}' \
  "https://localhost:$port/echo")
[ "$code" = 426 ] || fail "GET /echo over HTTPS: $code, expected 426"
grep -qi '^sec-websocket-version: 13' "$dir/h" || fail "426 without Sec-WebSocket-Version: 13"

timeout 300 "$py" "$here/websocket_interop.py" "wss://localhost:$port/echo" "$dir/ca.pem" ||
  fail "python3-websockets over wss:// failed"
NODE_PATH=/usr/share/nodejs timeout 300 node "$here/websocket_interop.js" \
  "wss://localhost:$port/echo" "$dir/ca.pem" || fail "node ws over wss:// failed"

# A client that does not trust the CA stops at the certificate.
if out=$(timeout 30 "$py" -c '
import asyncio, sys, websockets
async def main():
    async with websockets.connect(sys.argv[1], open_timeout=10):
        pass
asyncio.run(main())' "wss://localhost:$port/echo" 2>&1); then
  fail "a client without the CA connected"
fi
[[ "$out" == *CERTIFICATE_VERIFY_FAILED* ]] || fail "untrusted client: $out"
# Plain ws:// to the TLS port: no 101 (the TLS layer answers 400).
if timeout 30 "$py" -c '
import asyncio, sys, websockets
async def main():
    async with websockets.connect(sys.argv[1], open_timeout=10):
        pass
asyncio.run(main())' "ws://127.0.0.1:$port/echo" >/dev/null 2>&1; then
  fail "plain ws:// to the TLS port was upgraded"
fi
stop_example websocket
echo "websocket over TLS: ok"
