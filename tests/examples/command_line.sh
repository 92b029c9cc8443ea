#!/usr/bin/env bash
# Every example binary reads its command line the same way
# (fh_server_config_args): --help and -h print the usage on stdout and exit
# 0 without serving or creating anything; a bad --port, a missing value, an
# unknown flag and a bad PORT in the environment are refused with exit
# status 2 and one line on stderr that names the flag or variable and quotes
# the value. Binaries that serve nothing (fh_bench_json) refuse --port as an
# unknown flag, in the same words.
set -euo pipefail
bin=$1
work=$(mktemp -d /tmp/fh-cli.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work" # a binary that wrongly serves or writes would show up here

# Every executable the examples build, found rather than listed, so a new
# example is checked too; the known ones must be among them.
mapfile -t progs < <(find "$bin/examples" -mindepth 2 -maxdepth 2 -type f -perm -u+x | sort)
names=" "
for p in "${progs[@]}"; do names+="$(basename "$p") "; done
for want in hello hello_raw controllers echo static sse json fh_bench_server; do
  [[ "$names" == *" $want "* ]] || { echo "no $want binary under $bin/examples (found:$names)"; exit 1; }
done
not_servers=" fh_bench_json "

fail() { echo "$1"; echo "--- stdout:"; cat "$work/out"; echo "--- stderr:"; cat "$work/err"; exit 1; }
# run ENV... -- ARGS...: runs $prog with a 10 s bound, output in out/err, status in $rc.
run() {
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  rc=0
  env -u PORT -u THREADS -u HOST "${envs[@]}" timeout 10 "$prog" "$@" >"$work/out" 2>"$work/err" </dev/null || rc=$?
}
# refused WHAT STATUS MESSAGE: the last run exited STATUS and said exactly MESSAGE on stderr.
refused() {
  [ "$rc" = "$2" ] || fail "$name $1: exit $rc, expected $2"
  [ "$(cat "$work/err")" = "$3" ] || fail "$name $1: stderr is not: $3"
  [ ! -s "$work/out" ] || fail "$name $1: printed on stdout"
}

for prog in "${progs[@]}"; do
  name=$(basename "$prog")
  for h in --help -h; do
    run -- "$h"
    [ "$rc" = 0 ] || fail "$name $h: exit $rc, expected 0"
    head -1 "$work/out" | grep -q "^usage: $name " || [ "$(head -1 "$work/out")" = "usage: $name" ] ||
      fail "$name $h: the first line is not its usage"
    grep -q '^  -h, --help  *print this and exit$' "$work/out" || fail "$name $h: no -h, --help line"
    [ ! -s "$work/err" ] || fail "$name $h: wrote to stderr"
  done
  # --help wins over a bad value anywhere else.
  run PORT=80a -- --port nope --help
  [ "$rc" = 0 ] || fail "$name --port nope --help: exit $rc"
  if [[ "$not_servers" == *" $name "* ]]; then
    ! grep -q -- '--port' "$work/out" || fail "$name: serves nothing, yet its usage lists --port"
    run -- --port 80a
    refused "--port 80a" 2 'fasthttp: unknown flag "--port" (--help lists the flags)'
  else
    grep -q '^  --port PORT  ' "$work/out" || fail "$name --help: no --port line"
    grep -q '^  --host HOST  ' "$work/out" || fail "$name --help: no --host line"
    grep -q '^  --threads N  ' "$work/out" || fail "$name --help: no --threads line"
    run -- --port 80a
    refused "--port 80a" 2 'fasthttp: --port: "80a" is not a whole number in 0..65535'
    run -- --port=65536
    refused "--port=65536" 2 'fasthttp: --port: "65536" is not a whole number in 0..65535'
    run -- --port -1
    refused "--port -1" 2 'fasthttp: --port: "-1" is not a whole number in 0..65535'
    run -- --port
    refused "--port (no value)" 2 'fasthttp: --port needs a value: --port PORT'
    run -- --threads 4096
    refused "--threads 4096" 2 'fasthttp: --threads: "4096" is not a whole number in 0..1024'
    run -- --host not-an-address
    refused "--host not-an-address" 2 'fasthttp: --host: "not-an-address" is not an IPv4 or IPv6 address (or "localhost"; "" or "*" for every interface)'
    run PORT=80a --
    refused "PORT=80a" 2 'fasthttp: environment variable PORT: "80a" is not a whole number in 0..65535'
    run THREADS=two --
    refused "THREADS=two" 2 'fasthttp: environment variable THREADS: "two" is not a whole number in 0..1024'
  fi
  run -- --no-such-flag
  refused "--no-such-flag" 2 'fasthttp: unknown flag "--no-such-flag" (--help lists the flags)'
  [ -z "$(ls -A "$work" | grep -v '^out$\|^err$' || true)" ] || fail "$name created files: $(ls -A "$work")"
  echo "$name: ok"
done
echo "command line: ${#progs[@]} binaries: ok"
