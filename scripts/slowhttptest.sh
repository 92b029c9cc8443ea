#!/usr/bin/env bash
# Runs Debian's slowhttptest in slow-header (slowloris), slow-body (R-U-Dead-Yet)
# and slow-read modes against examples/hello with its default limits and
# timeouts, and writes each run's per-second CSV and a summary into OUT.
#
#   scripts/slowhttptest.sh [HELLO_BINARY] [OUT_DIR]
#     defaults: build-release/examples/hello/hello, build-release/slowhttptest
#   SECONDS_PER_MODE (60), CONNECTIONS (1000), PORT (3111)
#
# The server listens on 127.0.0.1 only and is stopped by its PID at the end.
set -eu
cd "$(dirname "$0")/.."
HELLO=${1:-build-release/examples/hello/hello}
OUT=${2:-build-release/slowhttptest}
LEN=${SECONDS_PER_MODE:-60}
CONNS=${CONNECTIONS:-1000}
PORT=${PORT:-3111}
command -v slowhttptest >/dev/null || { echo "slowhttptest: apt-get install slowhttptest" >&2; exit 1; }
[ -x "$HELLO" ] || { echo "no $HELLO: make release first" >&2; exit 1; }
mkdir -p "$OUT"
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)"

PORT=$PORT HOST=127.0.0.1 THREADS=2 "$HELLO" > "$OUT/hello.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
for i in $(seq 50); do
  grep -q listening "$OUT/hello.log" 2>/dev/null && break
  sleep 0.1
done

url=http://127.0.0.1:$PORT/
run() { # name, then slowhttptest mode options
  local name=$1; shift
  echo "== $name: slowhttptest $* -c $CONNS -l $LEN -u $url -p 3 -g -o $OUT/$name"
  slowhttptest "$@" -c "$CONNS" -l "$LEN" -u "$url" -p 3 -g -o "$OUT/$name" 2>&1 |
    sed 's/\x1b\[[0-9;]*m//g' > "$OUT/$name.log" || true
  rm -f "$OUT/$name.html" # the CSV holds the same numbers
  # Seconds,Closed,Pending,Connected,Service Available (the target count
  # while the probe is answered within -p seconds, 0 when it is not)
  awk -F, -v name="$name" 'NR > 1 {
      n++; if ($4 > maxc) maxc = $4; if ($5 == 0) down++; last = $0 }
    END { printf "%s: %d s, connected at most %d, probe not answered in %d s, last row %s\n",
                 name, n, maxc, down, last }' "$OUT/$name.csv" | tee -a "$OUT/summary.txt"
  grep -E "Exit status" "$OUT/$name.log" | tee -a "$OUT/summary.txt" || true
}
: > "$OUT/summary.txt"
run headers -H -r 200 -i 5 -x 24
run body -B -r 200 -i 5 -s 8192 -x 10
run slow-read -X -r 200 -k 10 -w 1 -y 512 -n 5 -z 32
echo "== hello after the runs:"
{ curl -s -m 3 "$url"; echo; } | tee -a "$OUT/summary.txt"
