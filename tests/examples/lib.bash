# Sourced by the scripts in tests/examples: starting and stopping the example
# under test. The caller sets $log (where the example's output goes); the
# functions set $pid, $port and $url.

# start_example NAME COMMAND...: runs COMMAND in the background (environment
# through `env VAR=value ...`), its output in $log, and waits until it prints
# the port it listens on (":PORT with" or "port PORT with"). Fails the test,
# showing the output, when it exits or prints nothing for 10 s.
start_example() {
  local name=$1
  shift
  # Emptied here, not by the background job's own redirection: that one
  # may run after the loop below has read the previous example's port.
  : >"$log"
  "$@" >>"$log" 2>&1 &
  pid=$!
  port=""
  for _ in $(seq 200); do
    port=$(grep -o ':[0-9]* with\|port [0-9]* with' "$log" | grep -o '[0-9]\+' | head -1 || true)
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  [ -n "$port" ] || { echo "$name did not start"; cat "$log"; exit 1; }
  url="http://127.0.0.1:$port"
}

# stop_example NAME: SIGTERM, then expects exit status 0 (a graceful stop).
stop_example() {
  kill -TERM "$pid"
  local rc=0
  wait "$pid" || rc=$?
  pid=""
  [ "$rc" = 0 ] || { echo "$1 exited $rc after SIGTERM"; cat "$log"; exit 1; }
}
