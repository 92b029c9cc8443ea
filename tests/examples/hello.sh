#!/usr/bin/env bash
# examples/hello and hello_raw end to end: start the binary on an ephemeral
# port, check its answers with curl, stop it with SIGTERM and expect a clean
# exit (graceful stop).
set -euo pipefail
bin=$1
log=$(mktemp)
trap 'rm -f "$log"; [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null || true' EXIT
. "$(dirname "$0")/lib.bash"
for prog in hello hello_raw; do
  start_example "$prog" env PORT=0 THREADS=2 HOST=127.0.0.1 "$bin/examples/hello/$prog"
  body=$(curl -s "http://127.0.0.1:$port/")
  [ "$body" = "Hello, World!" ] || { echo "$prog GET /: '$body'"; exit 1; }
  code=$(curl -s -o /tmp/fh-hello-404 -w '%{http_code}' "http://127.0.0.1:$port/missing/page")
  [ "$code" = 404 ] || { echo "$prog 404 expected, got $code"; exit 1; }
  [ "$(cat /tmp/fh-hello-404)" = "/missing/page not found" ] || { echo "$prog 404 body: $(cat /tmp/fh-hello-404)"; exit 1; }
  rm -f /tmp/fh-hello-404
  stop_example "$prog"
  # A bad PORT or THREADS is refused by name, before anything listens.
  set +e
  out=$(PORT=80a THREADS=2 HOST=127.0.0.1 timeout 10 "$bin/examples/hello/$prog" 2>&1)
  rc=$?
  set -e
  [ "$rc" = 2 ] || { echo "$prog with PORT=80a: exit $rc, expected 2"; exit 1; }
  [ "$out" = 'fasthttp: environment variable PORT: "80a" is not a whole number in 0..65535' ] ||
    { echo "$prog with PORT=80a said: $out"; exit 1; }
  set +e
  out=$(PORT=0 THREADS=two HOST=127.0.0.1 timeout 10 "$bin/examples/hello/$prog" 2>&1)
  rc=$?
  set -e
  [ "$rc" = 2 ] && [[ "$out" == *'environment variable THREADS: "two"'* ]] ||
    { echo "$prog with THREADS=two: exit $rc, said: $out"; exit 1; }
  echo "$prog: ok"
done
