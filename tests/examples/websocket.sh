#!/usr/bin/env bash
# examples/websocket end to end: a plain GET to /echo gets 426 naming the
# version, then python3-websockets (tests/examples/websocket_interop.py)
# and node's ws (websocket_interop.js) exchange messages of 0 B to 16 MiB
# with /echo, whole and fragmented, without and with permessage-deflate
# (and an offer the server declines); then SIGTERM and a clean exit.
set -euo pipefail
bin=$1
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d)
log="$dir/log"
trap 'rm -rf "$dir"; [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null || true' EXIT
. "$here/lib.bash"
fail() { echo "$1"; cat "$log" 2>/dev/null; exit 1; }
# Debian's interpreter, where python3-websockets is installed.
py=${FH_PYTHON:-/usr/bin/python3}
"$py" -c 'import websockets' 2>/dev/null || fail "python3-websockets is missing (scripts/install-deps.sh installs it)"
start_example websocket env PORT=0 THREADS=2 HOST=127.0.0.1 "$bin/examples/websocket/websocket"

code=$(curl -s -o /dev/null -D "$dir/h" -w '%{http_code}' "$url/echo")
[ "$code" = 426 ] || fail "plain GET /echo: $code, expected 426"
grep -qi '^sec-websocket-version: 13' "$dir/h" || fail "426 without Sec-WebSocket-Version: 13"

timeout 300 "$py" "$here/websocket_interop.py" "ws://127.0.0.1:$port/echo" || fail "interop failed"
# node's ws, from Debian's node-ws.
[ -f /usr/share/nodejs/ws/index.js ] || fail "node-ws is missing (scripts/install-deps.sh installs it)"
NODE_PATH=/usr/share/nodejs timeout 300 node "$here/websocket_interop.js" "ws://127.0.0.1:$port/echo" || fail "node ws interop failed"
stop_example websocket
echo "websocket: ok"
