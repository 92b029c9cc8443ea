#!/usr/bin/env bash
# examples/upload end to end with curl: PUT /files/:name with -T from a file
# (Content-Length) and from a pipe (chunked), 20 MiB and 1 byte, stored byte
# for byte under UPLOAD_DIR with the SHA-256 sha256sum computes; bad names
# (400); a declared size past --max-size (413 at once, nothing stored); a
# chunked body growing past it (413); 401 without the token before the body
# (no 100 Continue); a client killed mid-upload leaves no temporary file;
# the server's RSS stays flat over a 200 MiB upload; SIGTERM, clean exit.
# POST /files with curl -F: one file, several files and fields, chunked;
# every malformed form (400/415 naming the reason, nothing stored); a
# hostile filename stored under its last segment; an aborted form leaves
# nothing; 1001 parts, a file past --max-size, a form past --max-form and a
# 2 GiB form far past them (413, RSS flat).
set -euo pipefail
build=$1
bin=$build/examples/upload/upload
work=$(mktemp -d)
log=$work/log
out=$work/out
hdr=$work/hdr
trap 'rm -rf "$work"; [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null || true' EXIT
. "$(dirname "$0")/lib.bash"

expect() { # name, expected, actual
  [ "$2" = "$3" ] || { echo "$1: expected '$2', got '$3'"; cat "$log"; exit 1; }
}
field() { python3 -c 'import json,sys; print(eval(sys.argv[2], {"j": json.load(open(sys.argv[1]))}))' "$out" "$1"; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }
# Waits for background job $1 while sampling the server's RSS into $peak
# (from $rss0).
watch_rss() {
  peak=$rss0
  while kill -0 "$1" 2>/dev/null; do
    r=$(rss_kb); [ "$r" -gt "$peak" ] && peak=$r
    sleep 0.05
  done
  wait "$1" || true
}
# Fails when the peak grew 16 MiB or more past $rss0, naming what ran ($1).
# A sanitizer's quarantine keeps freed memory resident: the bound holds for
# plain builds only.
check_rss() {
  if grep -q '^FH_SANITIZE:STRING=.\+' "$build/CMakeCache.txt" 2>/dev/null; then
    echo "upload: sanitized build, RSS bound not checked"
  else
    [ $((peak - rss0)) -lt 16384 ] || { echo "RSS grew by $((peak - rss0)) KiB during $1"; exit 1; }
  fi
}

mkdir "$work/up"
start_example upload env HOST=127.0.0.1 PORT=0 THREADS=2 UPLOAD_DIR="$work/up" UPLOAD_TOKEN=secret "$bin"
auth=(-H 'Authorization: Bearer secret')

head -c 20971520 /dev/urandom > "$work/big"
code=$(curl -s -o "$out" -w '%{http_code}' "${auth[@]}" -T "$work/big" "$url/files/big.bin")
expect "PUT -T file" 201 "$code"
sum=$(sha256sum "$work/big" | cut -d' ' -f1)
expect "sha256" "$sum" "$(field 'j["files"][0]["sha256"]')"
expect "size" 20971520 "$(field 'j["files"][0]["size"]')"
expect "name" big.bin "$(field 'j["files"][0]["name"]')"
cmp "$work/big" "$work/up/big.bin" || { echo "stored file differs"; exit 1; }

# From a pipe: chunked.
code=$(cat "$work/big" | curl -s -o "$out" -w '%{http_code}' "${auth[@]}" -H 'Transfer-Encoding: chunked' -T - "$url/files/piped.bin")
expect "PUT -T - (chunked)" 201 "$code"
expect "chunked sha256" "$sum" "$(field 'j["files"][0]["sha256"]')"
cmp "$work/big" "$work/up/piped.bin" || { echo "stored chunked file differs"; exit 1; }
printf x > "$work/one"
code=$(curl -s -o "$out" -w '%{http_code}' "${auth[@]}" -T "$work/one" "$url/files/one")
expect "one byte" 201 "$code"
expect "one byte sha256" "$(sha256sum "$work/one" | cut -d' ' -f1)" "$(field 'j["files"][0]["sha256"]')"

# Names that are not one plain segment.
for bad in .hidden 'a%2Fb' '%2e%2e' 'a%00b' 'sp%20ace'; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" -T "$work/one" "$url/files/$bad")
  expect "bad name $bad" 400 "$code"
done

# 401 before the body: curl sends Expect: 100-continue for a large body and
# gets the refusal instead of 100 Continue.
code=$(curl -s -o "$out" -w '%{http_code}' -T "$work/big" "$url/files/noauth.bin" -D "$hdr")
expect "no token" 401 "$code"
expect "no 100 Continue" 0 "$(grep -c '^HTTP/1.1 100' "$hdr" || true)"
expect "401 closes" 1 "$(grep -ci '^Connection: close' "$hdr" || true)"
[ ! -e "$work/up/noauth.bin" ] || { echo "refused upload stored"; exit 1; }

# A client killed mid-upload: no temporary file stays.
curl -s -o /dev/null "${auth[@]}" --limit-rate 1M -T "$work/big" "$url/files/killed.bin" &
cpid=$!
sleep 1
kill "$cpid" 2>/dev/null || true
wait "$cpid" 2>/dev/null || true
for _ in $(seq 200); do
  [ -z "$(ls -A "$work/up" | grep '^\.upload-' || true)" ] && break
  sleep 0.05
done
expect "no temporary file after abort" "" "$(ls -A "$work/up" | grep '^\.upload-' || true)"
[ ! -e "$work/up/killed.bin" ] || { echo "aborted upload stored"; exit 1; }

# Memory stays flat while 200 MiB stream through.
rss0=$(rss_kb)
head -c 209715200 /dev/zero | curl -s -o "$out" -w '%{http_code}' "${auth[@]}" -H 'Transfer-Encoding: chunked' -T - "$url/files/huge.bin" > "$work/code" &
cpid=$!
watch_rss "$cpid"
expect "200 MiB upload" 201 "$(cat "$work/code")"
echo "upload: server RSS $rss0 KiB before, peak $peak KiB during a 200 MiB upload"
check_rss "a 200 MiB upload"
rm -f "$work/up/huge.bin"

# ---- POST /files: multipart/form-data ----
leftovers() { ls -A "$work/up" | grep '^\.upload-' || true; }
head -c 1048577 /dev/urandom > "$work/mid"
code=$(curl -s -o "$out" -w '%{http_code}' "${auth[@]}" -F "doc=@$work/big" "$url/files")
expect "POST -F one file" 201 "$code"
expect "form sha256" "$sum" "$(field 'j["files"][0]["sha256"]')"
expect "form size" 20971520 "$(field 'j["files"][0]["size"]')"
expect "form name" big "$(field 'j["files"][0]["name"]')"
expect "form field" doc "$(field 'j["files"][0]["field"]')"
cmp "$work/big" "$work/up/big" || { echo "stored form file differs"; exit 1; }

code=$(curl -s -o "$out" -w '%{http_code}' "${auth[@]}" -F title='A title' -F "a=@$work/mid;filename=first.bin" \
  -F note=ünïcode -F "b=@$work/one;filename=second.txt;type=text/plain" -F "c=@$work/big;filename=third.bin" "$url/files")
expect "POST -F several" 201 "$code"
expect "several: count" 3 "$(field 'len(j["files"])')"
expect "several: names" "first.bin second.txt third.bin" "$(field '" ".join(f["name"] for f in j["files"])')"
expect "several: sizes" "1048577 1 20971520" "$(field '" ".join(str(f["size"]) for f in j["files"])')"
expect "several: fields" "A title|ünïcode" "$(field 'j["fields"]["title"] + "|" + j["fields"]["note"]')"
expect "several: sha" "$(sha256sum "$work/mid" | cut -d' ' -f1)" "$(field 'j["files"][0]["sha256"]')"
cmp "$work/mid" "$work/up/first.bin" && cmp "$work/one" "$work/up/second.txt" && cmp "$work/big" "$work/up/third.bin" \
  || { echo "several: stored files differ"; exit 1; }

code=$(curl -s -o "$out" -w '%{http_code}' "${auth[@]}" -H 'Transfer-Encoding: chunked' -F k=v \
  -F "doc=@$work/big;filename=chunked.bin" "$url/files")
expect "POST -F chunked" 201 "$code"
expect "chunked form sha256" "$sum" "$(field 'j["files"][0]["sha256"]')"
cmp "$work/big" "$work/up/chunked.bin" || { echo "chunked form file differs"; exit 1; }

# A hostile filename: stored under its last segment, inside UPLOAD_DIR.
mkdir -p "$work/up/sub"
code=$(curl -s -o "$out" -w '%{http_code}' "${auth[@]}" -F "x=@$work/one;filename=../../etc/passwd" "$url/files")
expect "hostile filename" 201 "$code"
expect "hostile filename stored as" passwd "$(field 'j["files"][0]["name"]')"
expect "hostile filename as sent" ../../etc/passwd "$(field 'j["files"][0]["filename"]')"
cmp "$work/one" "$work/up/passwd" || { echo "hostile filename not stored inside"; exit 1; }
[ ! -e "$work/etc" ] && [ ! -e "$work/../etc/passwd.tmp" ] || { echo "stored outside"; exit 1; }
code=$(curl -s -o "$out" -w '%{http_code}' "${auth[@]}" -F "x=@$work/one;filename=.hidden" "$url/files")
expect "leading dot" "201 hidden" "$code $(field 'j["files"][0]["name"]')"

# Malformed forms, sent raw: each gets its status and reason, stores nothing.
bad_form() { # name, status, reason, content-type, body (printf format), [curl args]
  local name=$1 status=$2 reason=$3 ct=$4 body=$5
  shift 5
  printf -- "$body" > "$work/form"
  local before; before=$(ls -A "$work/up" | wc -l)
  code=$(curl -s -o "$out" -w '%{http_code}' "${auth[@]}" -H "Content-Type: $ct" --data-binary @"$work/form" "$@" "$url/files")
  expect "$name: status" "$status" "$code"
  expect "$name: reason" "$reason" "$(field 'j.get("reason")')"
  expect "$name: stored nothing" "$before" "$(ls -A "$work/up" | wc -l)"
  echo "upload: $name -> $code $(field 'j["detail"]')"
}
B=XyZ
CD='Content-Disposition: form-data; name="f"; filename="f.txt"\r\n'
ok="--$B\r\n$CD\r\nvalue\r\n--$B--\r\n"
for te in "" chunked; do
  args=()
  [ -n "$te" ] && args=(-H 'Transfer-Encoding: chunked')
  bad_form "not a form $te" 415 not_multipart "application/octet-stream" "$ok" "${args[@]}"
  bad_form "no boundary $te" 400 no_boundary "multipart/form-data" "$ok" "${args[@]}"
  bad_form "boundary of 71 $te" 400 bad_boundary "multipart/form-data; boundary=$(printf 'b%.0s' $(seq 71))" "$ok" "${args[@]}"
  bad_form "wrong boundary $te" 400 no_delimiter "multipart/form-data; boundary=other" "$ok" "${args[@]}"
  bad_form "no final boundary $te" 400 truncated "multipart/form-data; boundary=$B" "--$B\r\n$CD\r\nvalue\r\n" "${args[@]}"
  bad_form "truncated in a part $te" 400 truncated "multipart/form-data; boundary=$B" "--$B\r\n$CD\r\nval" "${args[@]}"
  bad_form "junk after a boundary $te" 400 bad_delimiter "multipart/form-data; boundary=$B" "--${B}junk\r\n$CD\r\nv\r\n--$B--" "${args[@]}"
  bad_form "junk after headers $te" 400 bad_header "multipart/form-data; boundary=$B" "--$B\r\n${CD}junk line\r\n\r\nv\r\n--$B--" "${args[@]}"
  bad_form "no Content-Disposition $te" 400 no_disposition "multipart/form-data; boundary=$B" "--$B\r\nContent-Type: text/plain\r\n\r\nv\r\n--$B--" "${args[@]}"
  bad_form "no name $te" 400 no_name "multipart/form-data; boundary=$B" "--$B\r\nContent-Disposition: form-data; filename=a\r\n\r\nv\r\n--$B--" "${args[@]}"
  bad_form "header section too big $te" 400 header_too_big "multipart/form-data; boundary=$B" "--$B\r\n${CD}X-Pad: $(head -c 9000 /dev/zero | tr '\0' p)\r\n\r\nv\r\n--$B--" "${args[@]}"
  bad_form "filename of dots $te" 400 None "multipart/form-data; boundary=$B" "--$B\r\nContent-Disposition: form-data; name=f; filename=\"..\"\r\n\r\nv\r\n--$B--" "${args[@]}"
  bad_form "filename with a control byte $te" 400 None "multipart/form-data; boundary=$B" "--$B\r\nContent-Disposition: form-data; name=f; filename*=UTF-8''a%%01b\r\n\r\nv\r\n--$B--" "${args[@]}"
done
expect "no temporary file after refusals" "" "$(leftovers)"

# A form sent one byte per write over a raw socket: the same answer.
python3 - "$port" "$work/raw" <<'PY'
import socket, sys, time
body = (b"--BB\r\nContent-Disposition: form-data; name=\"t\"\r\n\r\nfield\r\n"
        b"--BB\r\nContent-Disposition: form-data; name=\"f\"; filename=\"bytewise.txt\"\r\n\r\n"
        b"a\r\n--B-\r\nb\r\n--BB--\r\n")
head = (b"POST /files HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer secret\r\nConnection: close\r\n"
        b"Content-Type: multipart/form-data; boundary=BB\r\nContent-Length: %d\r\n\r\n" % len(body))
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
s.sendall(head)
for i in range(len(body)):
    s.sendall(body[i:i + 1])
    time.sleep(0.002)
data = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    data += d
open(sys.argv[2], "wb").write(data)
PY
head -1 "$work/raw" | grep -q '^HTTP/1.1 201' || { echo "bytewise form: $(cat "$work/raw")"; exit 1; }
expect "bytewise form file" "$(printf 'a\r\n--B-\r\nb')" "$(cat "$work/up/bytewise.txt")"
grep -q '"t":"field"' "$work/raw" || { echo "bytewise form: field missing"; exit 1; }

# 1001 parts: 413 (1000 pass).
python3 -c '
import sys
n = int(sys.argv[1])
sys.stdout.buffer.write(b"".join(b"--B\r\nContent-Disposition: form-data; name=\"p%d\"\r\n\r\nv\r\n" % i for i in range(n)) + b"--B--\r\n")' 1000 > "$work/parts"
code=$(curl -s -o "$out" -w '%{http_code}' "${auth[@]}" -H "Content-Type: multipart/form-data; boundary=B" --data-binary @"$work/parts" "$url/files")
expect "1000 parts" 201 "$code"
python3 -c '
import sys
n = int(sys.argv[1])
sys.stdout.buffer.write(b"".join(b"--B\r\nContent-Disposition: form-data; name=\"p%d\"\r\n\r\nv\r\n" % i for i in range(n)) + b"--B--\r\n")' 1001 > "$work/parts"
code=$(curl -s -o "$out" -w '%{http_code}' "${auth[@]}" -H "Content-Type: multipart/form-data; boundary=B" --data-binary @"$work/parts" "$url/files")
expect "1001 parts" "413 too_many_parts" "$code $(field 'j["reason"]')"

# 401 before the body, as for PUT.
code=$(curl -s -o "$out" -w '%{http_code}' -F "doc=@$work/big" "$url/files" -D "$hdr")
expect "form without token" 401 "$code"
expect "form: no 100 Continue" 0 "$(grep -c '^HTTP/1.1 100' "$hdr" || true)"

# A form killed mid-upload: no temporary file, and the finished first file
# of the form is not kept either (a form is stored whole or not at all).
rm -f "$work/up/first.bin"
curl -s -o /dev/null "${auth[@]}" --limit-rate 2M -F "a=@$work/mid;filename=first.bin" -F "b=@$work/big;filename=killed.bin" "$url/files" &
cpid=$!
sleep 1.5
kill "$cpid" 2>/dev/null || true
wait "$cpid" 2>/dev/null || true
for _ in $(seq 200); do
  [ -z "$(leftovers)" ] && break
  sleep 0.05
done
expect "no temporary file after an aborted form" "" "$(leftovers)"
[ ! -e "$work/up/killed.bin" ] && [ ! -e "$work/up/first.bin" ] || { echo "aborted form stored"; exit 1; }

# Memory stays flat while a 200 MiB form streams through, chunked.
rss0=$(rss_kb)
head -c 209715200 /dev/zero > "$work/zero200"
curl -s -o "$out" -w '%{http_code}' "${auth[@]}" -H 'Transfer-Encoding: chunked' -F "z=@$work/zero200;filename=huge.bin" "$url/files" > "$work/code" &
cpid=$!
watch_rss "$cpid"
expect "200 MiB form" 201 "$(cat "$work/code")"
echo "upload: server RSS $rss0 KiB before, peak $peak KiB during a 200 MiB form"
check_rss "a 200 MiB form"
rm -f "$work/up/huge.bin" "$work/zero200"

stop_example upload

# Again with --max-size 32 MiB.
start_example upload env HOST=127.0.0.1 PORT=0 UPLOAD_DIR="$work/up" UPLOAD_TOKEN=secret "$bin" \
  --max-size 33554432 --max-form 50331648
# Past --max-size (32 MiB): declared, 413 at once; chunked, 413 when it grows past.
head -c 33554433 /dev/zero > "$work/over"
code=$(curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" -T "$work/over" "$url/files/over.bin")
expect "declared past max" 413 "$code"
code=$(cat "$work/over" | curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" -H 'Transfer-Encoding: chunked' -T - "$url/files/over2.bin" || true)
expect "chunked past max" 413 "$code"
[ ! -e "$work/up/over.bin" ] && [ ! -e "$work/up/over2.bin" ] || { echo "oversized upload stored"; exit 1; }

# Forms past the limits: a file past --max-size (413 from the parser, after
# 32 MiB), a declared form past --max-form (413 at once), a 2 GiB form far
# past both, chunked (413, memory flat), nothing left behind.
code=$(curl -s -o "$out" -w '%{http_code}' "${auth[@]}" -F "f=@$work/over;filename=over3.bin" "$url/files" || true)
expect "form file past max" "413 file_too_big" "$code $(field 'j.get("reason")' 2>/dev/null || echo -)"
truncate -s 2G "$work/sparse"
rss0=$(rss_kb)
code=$(curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" -F "f=@$work/sparse;filename=over4.bin" "$url/files" || true)
expect "declared form past max-form" 413 "$code"
curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" -H 'Transfer-Encoding: chunked' -F "f=@$work/sparse;filename=over5.bin" "$url/files" > "$work/code" || true &
cpid=$!
watch_rss "$cpid"
expect "2 GiB chunked form" 413 "$(cat "$work/code")"
echo "upload: server RSS $rss0 KiB before, peak $peak KiB while a 2 GiB form was refused"
check_rss "a refused 2 GiB form"
for _ in $(seq 200); do
  [ -z "$(leftovers)" ] && break
  sleep 0.05
done
expect "no temporary file after 413s" "" "$(leftovers)"
ls "$work/up" | grep -q '^over' && { echo "oversized form stored"; exit 1; }

stop_example upload
echo "upload: all checks passed"
