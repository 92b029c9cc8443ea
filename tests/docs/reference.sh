#!/usr/bin/env bash
# The API reference builds from the public headers with Doxygen (as `make
# docs` does, into a temporary directory) and every public declaration is
# documented: any "is not documented" warning fails the test.
set -euo pipefail
src=$1
command -v doxygen >/dev/null || { echo "doxygen is not installed (scripts/install-deps.sh installs it)"; exit 1; }
out=$(mktemp -d /tmp/fh-docs.XXXXXX)
trap 'rm -rf "$out"' EXIT
cd "$src"
{ cat docs/Doxyfile; echo "OUTPUT_DIRECTORY = $out"; echo "WARN_LOGFILE = $out/warnings.log"; } | doxygen - >/dev/null
[ -f "$out/html/index.html" ] || { echo "no html/index.html was produced"; exit 1; }
n=$(grep -c 'is not documented' "$out/warnings.log" || true)
if [ "$n" != 0 ]; then
  grep 'is not documented' "$out/warnings.log"
  echo "$n undocumented public declaration(s)"
  exit 1
fi
pages=$(find "$out/html" -name '*.html' | wc -l)
echo "docs: reference built ($pages pages), every public declaration documented"
