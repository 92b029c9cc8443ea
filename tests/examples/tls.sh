#!/usr/bin/env bash
# Every example serves HTTPS when TLS_CERT and TLS_KEY are set: each starts
# with a certificate made here (ECDSA P-256, signed by a CA of the test's
# own), says https:// where it says where it listens, and answers curl
# --cacert over TLS; plain HTTP to its port gets the 400 that says so. A
# certificate path that does not exist is refused, naming it.
set -euo pipefail
bin=$(cd "$1" && pwd)
dir=$(mktemp -d)
log=$dir/log
trap 'rm -rf "$dir"; [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null || true' EXIT
. "$(dirname "$0")/lib.bash"

cd "$dir"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key \
  -out ca.pem -days 2 -subj '/CN=example test CA' 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout key.pem \
  -out cert.csr -subj /CN=localhost 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >ext
openssl x509 -req -in cert.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile ext \
  -out cert.pem 2>/dev/null
mkdir root && echo "static over TLS" >root/index.txt
tls="TLS_CERT=$dir/cert.pem TLS_KEY=$dir/key.pem PORT=0 THREADS=2 HOST=127.0.0.1"

check() { # NAME PATH WANT_CODE COMMAND...
  local name=$1 path=$2 want=$3
  shift 3
  start_example "$name" env $tls "$@"
  grep -q "https://" "$log" || { echo "$name does not say https://:"; cat "$log"; exit 1; }
  code=$(curl -sS --cacert ca.pem -o body -w '%{http_code}' "https://localhost:$port$path")
  [ "$code" = "$want" ] || { echo "$name GET $path over TLS: $code, expected $want"; cat body; exit 1; }
  plain=$(curl -sS "http://127.0.0.1:$port$path" || true)
  [[ "$plain" == *"plain HTTP request was sent to an HTTPS port"* ]] ||
    { echo "$name plain HTTP to the TLS port: $plain"; exit 1; }
  stop_example "$name"
  echo "$name: ok"
}

check hello / 200 "$bin/examples/hello/hello"
check echo /health 200 "$bin/examples/echo/echo"
check json /plaintext 200 "$bin/examples/json/json"
check controllers /api/users/77 404 "$bin/examples/controllers/controllers"
check sse "/events?count=3" 200 env TICK_MS=50 "$bin/examples/sse/sse"
[ "$(grep -c "^data:" body)" = 3 ] || { echo "sse over TLS: $(cat body)"; exit 1; }
check fh_bench_server /plaintext 200 "$bin/examples/bench_server/fh_bench_server"
check rest_api /todos 200 env DB="$dir/todos.db" "$bin/examples/rest_api/rest_api"
check static /index.txt 200 env ROOT="$dir/root" "$bin/examples/static/static"
[ "$(cat body)" = "static over TLS" ] || { echo "static body: $(cat body)"; exit 1; }

# SIGHUP reloads the files: new handshakes get the new certificate, a bad
# file keeps the one in use and the log says why.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout key2.pem \
  -out cert2.csr -subj '/CN=localhost/O=renewed' 2>/dev/null
openssl x509 -req -in cert2.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile ext \
  -out cert2.pem 2>/dev/null
cp cert.pem served.pem && cp key.pem served-key.pem
start_example hello env TLS_CERT="$dir/served.pem" TLS_KEY="$dir/served-key.pem" PORT=0 THREADS=2 \
  HOST=127.0.0.1 "$bin/examples/hello/hello"
subject() { echo | timeout 20 openssl s_client -connect "127.0.0.1:$port" 2>/dev/null | grep '^subject='; }
[ "$(subject)" = "subject=CN = localhost" ] || { echo "before SIGHUP: $(subject)"; exit 1; }
cp cert2.pem served.pem && cp key2.pem served-key.pem
kill -HUP "$pid"
for _ in $(seq 100); do [ "$(subject)" = "subject=CN = localhost, O = renewed" ] && break; sleep 0.1; done
[ "$(subject)" = "subject=CN = localhost, O = renewed" ] || { echo "after SIGHUP: $(subject)"; cat "$log"; exit 1; }
echo garbage >served.pem
kill -HUP "$pid"
for _ in $(seq 100); do grep -q "TLS reload refused" "$log" && break; sleep 0.1; done
grep -q "TLS reload refused, the certificates in use stay: config.tls.cert_file: no certificate in \"$dir/served.pem\"" "$log" ||
  { echo "bad file on SIGHUP:"; cat "$log"; exit 1; }
[ "$(subject)" = "subject=CN = localhost, O = renewed" ] || { echo "after a bad SIGHUP: $(subject)"; exit 1; }
[ "$(curl -sS --cacert ca.pem "https://localhost:$port/")" = "Hello, World!" ] || exit 1
stop_example hello
echo "SIGHUP: ok"

# A file that is not there: refused before anything listens, naming it.
set +e
out=$(TLS_CERT=$dir/missing.pem TLS_KEY=$dir/key.pem PORT=0 timeout 10 "$bin/examples/hello/hello" 2>&1)
rc=$?
set -e
[ "$rc" != 0 ] && [[ "$out" == *"config.tls.cert_file: cannot read \"$dir/missing.pem\""* ]] ||
  { echo "missing certificate: exit $rc, said: $out"; exit 1; }
echo "tls: ok"
