#!/usr/bin/env bash
# Memory of serving a 1 GB file: examples/static serves a file made
# with fallocate under /tmp, curl downloads it to /dev/null (once, then four
# times at once), and the server's peak resident memory (VmHWM in
# /proc/PID/status) is read before and after. The file is deleted at the end.
#
#   bench/static_memory.sh            (builds build-release if needed)
#   SIZE=4G bench/static_memory.sh    (another size)
#
# Prints one Markdown table row per step, ready for docs/benchmarks.md.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-release}
SIZE=${SIZE:-1G}
PORT=${PORT:-3917}
bin=$BUILD/examples/static/static
if [ ! -x "$bin" ]; then
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DFH_BUILD_TESTS=OFF >/dev/null
  cmake --build "$BUILD" -j 2 --target static >/dev/null
fi

dir=$(mktemp -d /tmp/fh_static_mem_XXXXXX)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
fallocate -l "$SIZE" "$dir/big.bin" 2>/dev/null ||
  dd if=/dev/zero of="$dir/big.bin" bs=1M count="$(numfmt --from=iec "$SIZE" | awk '{print int($1/1048576)}')" status=none
echo small > "$dir/small.txt"
bytes=$(stat -c %s "$dir/big.bin")

ROOT="$dir" PORT="$PORT" THREADS=2 "$bin" >/dev/null &
pid=$!
for _ in $(seq 50); do
  curl -s -o /dev/null "http://127.0.0.1:$PORT/small.txt" && break
  sleep 0.1
done

kb() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$pid/status"; }
row() { printf '| %s | %s | %s kB | %s kB |\n' "$1" "$2" "$(kb VmRSS)" "$(kb VmHWM)"; }

echo "| step | downloaded | VmRSS | VmHWM (peak) |"
echo "| --- | --- | --- | --- |"
row "started, one small file served" "-"
got=$(curl -s -o /dev/null -w '%{size_download}' "http://127.0.0.1:$PORT/big.bin")
[ "$got" = "$bytes" ] || { echo "downloaded $got of $bytes bytes" >&2; exit 1; }
row "one download of $SIZE" "$got bytes"
for i in 1 2 3 4; do
  curl -s -o /dev/null "http://127.0.0.1:$PORT/big.bin" &
done
wait $(jobs -p | grep -v "^$pid\$") 2>/dev/null || true
row "four downloads of $SIZE at once" "4 x $bytes bytes"
