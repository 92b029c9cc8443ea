#!/usr/bin/env bash
# bench/websocket: examples/websocket (/echo, one worker thread) against
# node's ws (peer_ws.js, one process) in one run: echo round trips per
# second over 64 connections with 32-byte and 4 KiB messages, server CPU
# microseconds per round trip (utime+stime from /proc/PID/stat), a
# broadcast to a room of 1,000 connections (200 rounds), and bytes
# of server memory per idle WebSocket connection (RSS with 1,000 open
# minus RSS with none, divided by 1,000). The client is node's ws for both
# (load.js). Usage: bench/websocket/run.sh BUILD_DIR [SECONDS]
set -euo pipefail
build=$1
secs=${2:-5}
here=$(cd "$(dirname "$0")" && pwd)
export NODE_PATH=/usr/share/nodejs
dir=$(mktemp -d)
trap 'rm -rf "$dir"; for p in ${fpid:-} ${npid:-}; do kill "$p" 2>/dev/null || true; done' EXIT
tck=$(getconf CLK_TCK)

PORT=0 THREADS=1 HOST=127.0.0.1 "$build/examples/websocket/websocket" >"$dir/f.log" 2>&1 &
fpid=$!
node "$here/peer_ws.js" 0 >"$dir/n.log" 2>&1 &
npid=$!
for _ in $(seq 100); do
  fport=$(grep -o ':[0-9]* with' "$dir/f.log" | grep -o '[0-9]\+' || true)
  nport=$(grep -o 'listening [0-9]*' "$dir/n.log" | grep -o '[0-9]\+' || true)
  [ -n "$fport" ] && [ -n "$nport" ] && break
  sleep 0.1
done
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

echo "| test | fasthttp round trips/s | node ws round trips/s | ratio | fasthttp CPU µs/rt | node ws CPU µs/rt |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
for size in 32 4096; do
  declare -A rate us
  for who in f n; do
    if [ $who = f ]; then pid=$fpid url="ws://127.0.0.1:$fport/echo"; else pid=$npid url="ws://127.0.0.1:$nport/"; fi
    c0=$(cpu $pid)
    out=$(node "$here/load.js" echo "$url" 64 "$size" "$secs")
    c1=$(cpu $pid)
    n=$(echo "$out" | awk '{print $2}')
    rate[$who]=$(echo "$out" | awk '{print $4}')
    us[$who]=$(awk -v c=$((c1 - c0)) -v t="$tck" -v n="$n" 'BEGIN { printf "%.1f", c * 1e6 / t / n }')
  done
  ratio=$(awk -v a="${rate[f]}" -v b="${rate[n]}" 'BEGIN { printf "%.2f", a / b }')
  echo "| echo, 64 connections, $size B | ${rate[f]} | ${rate[n]} | $ratio | ${us[f]} | ${us[n]} |"
done

# Bytes per idle connection.
for who in f n; do
  if [ $who = f ]; then pid=$fpid url="ws://127.0.0.1:$fport/echo"; else pid=$npid url="ws://127.0.0.1:$nport/"; fi
  r0=$(rss $pid)
  mkfifo "$dir/hold.$who"
  node "$here/load.js" idle "$url" 1000 <"$dir/hold.$who" >"$dir/idle.$who" &
  lpid=$!
  exec {hold}>"$dir/hold.$who"
  for _ in $(seq 300); do grep -q '^open 1000' "$dir/idle.$who" 2>/dev/null && break; sleep 0.1; done
  sleep 1
  r1=$(rss $pid)
  exec {hold}>&-
  wait $lpid || true
  echo "idle $who: $(( (r1 - r0) * 1024 / 1000 )) bytes per connection (RSS $r0 -> $r1 KiB)"
done

# Broadcast: 200 rounds to a room of 1,000 connections (/chat), after the
# idle measure (its buffers would be counted as idle memory otherwise).
for who in f n; do
  if [ $who = f ]; then pid=$fpid url="ws://127.0.0.1:$fport/chat"; else pid=$npid url="ws://127.0.0.1:$nport/chat"; fi
  c0=$(cpu $pid)
  out=$(node "$here/load.js" bcast "$url" 1000 200)
  c1=$(cpu $pid)
  us=$(awk -v c=$((c1 - c0)) -v t="$tck" 'BEGIN { printf "%.1f", c * 1e6 / t / 200000 }')
  echo "broadcast $who: $out; server CPU $us µs per delivery"
done
