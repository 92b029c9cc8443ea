#!/usr/bin/env bash
# Installs what fasthttp's build, tests and benchmarks use, with apt-get, when
# something is missing. Safe to run again: it only installs what is absent.
#
# Elsewhere (install by hand):
#   macOS (Homebrew): brew install cmake pkg-config libuv llhttp jansson cmocka
#                     gperftools zlib sqlite wrk nginx doxygen
#   Fedora:           dnf install cmake libuv-devel jansson-devel libcmocka-devel
#                     gperftools-devel zlib-devel sqlite-devel wrk nginx doxygen
#                     (llhttp: pass -DLLHTTP_SOURCE_DIR= to a checkout's C sources)
#   then, anywhere:   npm install --prefix build-deps/npm (after copying
#                     scripts/npm/package.json there)
#
# npm packages (scripts/npm/package.json: @redocly/cli, which the OpenAPI
# tests lint with, and swagger-ui-dist, the documentation page's viewer)
# go into build-deps/npm/node_modules in this checkout, never globally and
# never into git; FH_NPM_DIR chooses another directory.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NPM_DIR=${FH_NPM_DIR:-$ROOT/build-deps/npm}

# Build and unit/integration tests.
PKGS_BUILD="build-essential cmake pkg-config libuv1-dev node-llhttp libjansson-dev
  libcmocka-dev libgoogle-perftools-dev zlib1g-dev libsqlite3-dev curl python3
  nodejs node-eventsource chromium"
# Sanitizers and fuzzing (clang + libFuzzer runtime), leak checks, the API
# reference (make docs), slow-client attacks (scripts/slowhttptest.sh).
PKGS_CHECK="clang libclang-rt-14-dev valgrind doxygen slowhttptest"
# Benchmarks (make bench): load generator, the peer libraries bench/peers/
# builds against (libevhtp needs libevent's and OpenSSL's headers too), the
# peer servers and gnuplot for the charts. bench/run starts its own instances
# on 127.0.0.1; the system services these packages may start are not used.
PKGS_BENCH="wrk nginx-light h2o libmicrohttpd-dev libulfius-dev libevhtp-dev libevent-dev
  libssl-dev libcivetweb-dev libh2o-evloop-dev gnuplot-nox"
# bench/static counts the servers' system calls; bench/db finds the postgres
# processes (pgrep) to read their CPU time, and fills its table with psql
# (postgresql's client, below).
PKGS_BENCH_STATIC="strace procps"

# TLS: OpenSSL 3's headers (the library links it), the openssl command the
# tests make their certificates with and drive handshakes with.
PKGS_TLS="libssl-dev openssl"

want="$PKGS_BUILD $PKGS_CHECK $PKGS_TLS"
# WebSocket interop (tests/examples/websocket.sh): independent clients.
PKGS_WS="python3-websockets node-ws"
want="$want $PKGS_WS"
# examples/upload: SHA-256 of the streamed files (OpenSSL's libcrypto).
PKGS_UPLOAD="libssl-dev"
want="$want $PKGS_UPLOAD"
# Operations: promtool checks /metrics; HAProxy fronts the multi-instance test.
PKGS_OPS="prometheus haproxy"
want="$want $PKGS_OPS"
# PostgreSQL: libpq's headers (the database client on the loops) and the
# server the tests start a throwaway instance of (initdb into a temp dir).
PKGS_DB="libpq-dev postgresql"
want="$want $PKGS_DB"
case "${1:-}" in
  --bench) want="$want $PKGS_BENCH $PKGS_BENCH_STATIC ${FH_BENCH_PKGS:-}" ;;
esac

# The npm packages, once per version of scripts/npm/package.json.
npm_install() {
  if [ -f "$NPM_DIR/package.json" ] && cmp -s "$ROOT/scripts/npm/package.json" "$NPM_DIR/package.json" &&
    [ -f "$NPM_DIR/node_modules/swagger-ui-dist/swagger-ui-bundle.js" ] &&
    [ -x "$NPM_DIR/node_modules/.bin/redocly" ]; then
    return 0
  fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "install-deps: npm is missing (Debian: apt-get install npm)" >&2
    return 1
  fi
  echo "install-deps: npm packages into $NPM_DIR"
  mkdir -p "$NPM_DIR"
  cp "$ROOT/scripts/npm/package.json" "$NPM_DIR/package.json"
  (cd "$NPM_DIR" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
}

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: not a Debian system; install by hand (see the top of $0)" >&2
  npm_install || true
  exit 0
fi

# Debian's nodejs comes without npm; NodeSource's brings its own.
command -v npm >/dev/null 2>&1 || want="$want npm"

missing=""
for p in $want; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
if [ -z "$missing" ]; then
  npm_install
  exit 0
fi

echo "install-deps: installing:$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null || $SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
npm_install
