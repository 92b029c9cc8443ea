#!/usr/bin/env bash
# The C snippets of README.md and docs/getting-started.md, as a reader
# copies them: each compiles with -Wall -Wextra -Werror against a copy of the
# library installed into a temporary prefix (pkg-config, no LD_LIBRARY_PATH),
# and each runs and answers as its text says. Whole programs build alone; a
# snippet of statements "in main" goes into tests/docs/snippet_main.c, the
# handler of step 4 into tests/docs/snippet_handler.c.
set -euo pipefail
src=$1 bin=$2
tmp=$(mktemp -d /tmp/fh-snippets.XXXXXX)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
cmake --install "$bin" --prefix "$tmp/prefix" >/dev/null
PKG_CONFIG_PATH=$(ls -d "$tmp"/prefix/lib*/pkgconfig | head -1)
export PKG_CONFIG_PATH
read -r -a cflags <<<"$(pkg-config --cflags fasthttp)"
read -r -a libs <<<"$(pkg-config --libs fasthttp)"
# Strict C11 hides the POSIX declarations uv.h needs: a program asks for them.
cc=(cc -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror "${cflags[@]}")

# Every ```c block, as README-1.c, getting-started-1.c, ...
python3 - "$tmp" "$src/README.md" "$src/docs/getting-started.md" <<'PY'
import os, re, sys
out = sys.argv[1]
for doc in sys.argv[2:]:
    base = os.path.splitext(os.path.basename(doc))[0]
    blocks = re.findall(r"^```c\n(.*?)^```", open(doc).read(), re.S | re.M)
    for i, b in enumerate(blocks, 1):
        open(os.path.join(out, f"{base}-{i}.c"), "w").write(b)
PY
have=$(cd "$tmp" && ls ./*.c | sed 's|^\./||' | sort | tr '\n' ' ')
# A new snippet needs its check below.
[ "$have" = "README-1.c getting-started-1.c getting-started-2.c getting-started-3.c " ] ||
  { echo "snippets found: $have; add a check to $0 for the new ones"; exit 1; }

# build NAME: a program from the snippet NAME.c, however it is shaped.
build() {
  local s="$tmp/$1.c"
  if grep -q '^int main(' "$s"; then
    "${cc[@]}" -o "$tmp/$1" "$s" "${libs[@]}"
  elif grep -q '^/\* in main' "$s"; then
    sed '/^\/\* in main/,$d' "$s" >"$tmp/$1.top.c"
    sed '1,/^\/\* in main/d' "$s" >"$tmp/$1.main.c"
    "${cc[@]}" -I"$tmp" -DSNIPPET_TOP="\"$1.top.c\"" -DSNIPPET_MAIN="\"$1.main.c\"" \
      -o "$tmp/$1" "$src/tests/docs/snippet_main.c" "${libs[@]}"
  else
    "${cc[@]}" -I"$tmp" -DSNIPPET_TOP="\"$1.c\"" -o "$tmp/$1" \
      "$src/tests/docs/snippet_handler.c" "${libs[@]}"
  fi
}

port=0
url=""
# start NAME: runs the program on a free port of 127.0.0.1 (PORT), waits for it.
start() {
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  url="http://127.0.0.1:$port"
  PORT=$port THREADS=2 "$tmp/$1" >"$tmp/$1.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    curl -s -o /dev/null "$url/" && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "$1 did not start on port $port"; cat "$tmp/$1.log"; exit 1
}
# stop NAME: SIGTERM, then a graceful exit with status 0.
stop() {
  kill -TERM "$pid"
  local rc=0
  wait "$pid" || rc=$?
  pid=""
  [ "$rc" = 0 ] || { echo "$1 exited $rc after SIGTERM"; cat "$tmp/$1.log"; exit 1; }
}
expect() { [ "$2" = "$3" ] || { echo "$1: expected '$2', got '$3'"; exit 1; }; }
answer() { curl -s -w ' %{http_code}' "$@"; } # the body, a space, the status
# Listening sockets on $port bound to anything but 127.0.0.1 (from /proc).
others() {
  local hex
  hex=$(printf '%04X' "$port")
  awk -v p=":$hex" '$4 == "0A" && $2 ~ p"$" && $2 != "0100007F"p {print $2}' /proc/net/tcp /proc/net/tcp6
}

for s in README-1 getting-started-1 getting-started-2 getting-started-3; do
  build "$s"
done

# README: the first server, on 127.0.0.1 only, where PORT says.
start README-1
expect "README GET /" "Hello, World! 200" "$(answer "$url/")"
expect "README GET /missing" "/missing not found 404" "$(answer "$url/missing")"
expect "README binds 127.0.0.1 only" "" "$(others)"
stop README-1

# Step 2: the first server of the guide.
start getting-started-1
expect "step 2 GET /" "Hello, World! 200" "$(answer "$url/")"
expect "step 2 binds 127.0.0.1 only" "" "$(others)"
stop getting-started-1

# Step 3: the route table mounted at /api.
start getting-started-2
expect "step 3 GET /api/users/42" "user 42
 200" "$(answer "$url/api/users/42")"
expect "step 3 GET /api/users" "all users
 200" "$(answer "$url/api/users")"
expect "step 3 404" "404" "$(curl -s -o /dev/null -w '%{http_code}' "$url/api/nothing")"
expect "step 3 405 Allow" "405 GET, HEAD, OPTIONS" \
  "$(curl -s -o /dev/null -D - -X POST "$url/api/users" | tr -d '\r' |
     awk '/^HTTP/{c=$2} tolower($1)=="allow:"{sub(/^[^:]*: /,""); a=$0} END{print c, a}')"
expect "step 3 HEAD" "200 0" "$(curl -s -I -o /dev/null -w '%{http_code} %{size_download}' "$url/api/users")"
stop getting-started-2

# Step 4: create_user, with and without the optional age.
start getting-started-3
post() { curl -s -w ' %{http_code}' -H 'Content-Type: application/json' -d "$1" "$url/api/users"; }
expect "step 4 with age" '{"id":1,"name":"Ada","age":36} 201' "$(post '{"name":"Ada","age":36}')"
expect "step 4 without age" '{"id":1,"name":"Ada"} 201' "$(post '{"name":"Ada"}')"
bad=$(post '{"age":200}')
[[ "$bad" == *' 422' && "$bad" == *'"field":"name"'* && "$bad" == *'"field":"age"'* ]] ||
  { echo "step 4 invalid: $bad"; exit 1; }
expect "step 4 not JSON" "400" "$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d '{' "$url/api/users")"
stop getting-started-3
echo "snippets: README.md and docs/getting-started.md build without warnings and answer as written"
