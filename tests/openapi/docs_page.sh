#!/usr/bin/env bash
# The controllers example's documentation page in Debian's headless
# chromium: after the page has fetched Swagger UI and /openapi.json, the
# rendered DOM lists every operation of the document (method and path).
set -euo pipefail
bin=$1/examples/controllers/controllers
command -v chromium >/dev/null || { echo "no chromium: run scripts/install-deps.sh"; exit 1; }
tmp=$(mktemp -d)
log=$tmp/log
trap 'rm -rf "$tmp"; [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null || true' EXIT
. "$(dirname "$0")/../examples/lib.bash"

start_example controllers env HOST=127.0.0.1 PORT=0 THREADS=1 ADMIN_TOKEN=t FH_CHECK_RESPONSES=1 "$bin"
curl -sf -o "$tmp/openapi.json" "$url/openapi.json"
# A fresh profile, nothing contacted but the page's own server; the
# virtual time budget lets the scripts run to the end before the dump.
timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
  --disable-component-update --disable-sync --no-first-run --user-data-dir="$tmp/profile" \
  --virtual-time-budget=15000 --dump-dom "$url/docs" >"$tmp/dom.html" 2>"$tmp/chromium.err" || {
  echo "chromium failed:"; tail -20 "$tmp/chromium.err"; exit 1; }
stop_example controllers
python3 - "$tmp/openapi.json" "$tmp/dom.html" <<'PY'
import json, re, sys, html
doc = json.load(open(sys.argv[1]))
dom = open(sys.argv[2]).read()
# Swagger UI renders each operation as an opblock holding its method and
# its path (data-path).
blocks = re.findall(r'<div class="opblock opblock-(\w+)[^"]*" id="[^"]*">.*?data-path="([^"]*)"', dom)
shown = {(m, html.unescape(p)) for m, p in blocks}
want = {(m, p) for p, item in doc["paths"].items() for m in item}
missing = sorted(want - shown)
for m, p in missing:
    print(f"not on the page: {m.upper()} {p}")
title = re.search(r'class="title"[^>]*>([^<]*)', dom)
if not title or doc["info"]["title"] not in title.group(1):
    print("the page has no title", doc["info"]["title"]); missing.append("title")
print(f"{len(shown & want)} of {len(want)} operations on the page")
sys.exit(1 if missing or not want else 0)
PY
grep -q "response check" "$log" && { echo "a response failed its check:"; grep "response check" "$log"; exit 1; }
echo "openapi.docs_page: ok"
