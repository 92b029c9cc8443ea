#!/usr/bin/env bash
# fh_bench_server answers the benchmark endpoints exactly as bench/run checks.
set -euo pipefail
bin=$1/examples/bench_server/fh_bench_server
log=$(mktemp)
trap 'rm -f "$log"; [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null || true' EXIT
. "$(dirname "$0")/lib.bash"
start_example fh_bench_server "$bin" 0 2
u=$url
[ "$(curl -s $u/plaintext)" = "Hello, World!" ] || { echo "plaintext"; exit 1; }
[ "$(curl -s $u/json)" = '{"message":"Hello, World!"}' ] || { echo "json: $(curl -s $u/json)"; exit 1; }
curl -sI $u/json | grep -qi '^content-type: application/json' || { echo "json content-type"; exit 1; }
[ "$(curl -s $u/user/42)" = "User ID: 42" ] || { echo "user"; exit 1; }
[ "$(curl -s -o /dev/null -w '%{http_code}' $u/nope)" = 404 ] || { echo "404"; exit 1; }
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST $u/json)" = 405 ] || { echo "405"; exit 1; }
stop_example fh_bench_server
echo "bench_server: ok"
