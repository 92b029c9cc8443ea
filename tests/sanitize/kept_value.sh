#!/usr/bin/env bash
# A value kept past its request is caught at its first use
# (tests/sanitize/keep_past_request.c).
#
# In an AddressSanitizer build the program must stop with a
# heap-use-after-free report whose stacks show the use (the handler of the
# later request), the release (fh_arena_release) and the allocation, for
# three kinds of kept value:
#   json          a jansson object in tracking mode (the default of
#                 sanitizer builds): its own heap block, allocated by the
#                 handler that kept it, freed by the arena's cleanup;
#   json-arena    the same object with FH_JSON_TRACK=0, which puts it in the
#                 arena's chunk: caught because released chunks go back to
#                 the allocator, not to the cache (core/arena.c);
#   string        an fh_strdup string, in the chunk as well.
# In a Debug build without ASan released arena memory is overwritten with
# 0xdd: the kept string reads as 0xdd and the kept object is no object.
# fast_unwind_on_malloc=0 lets ASan walk the allocation stack through
# libjansson, which has no frame pointers.
set -uo pipefail
prog=$1 mode=$2 # mode: asan | debug
out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
fail() { echo "$1"; echo "--- stdout:"; cat "$out"; echo "--- stderr:"; head -60 "$err"; exit 1; }
if [ "$mode" = asan ]; then
  for kind in json json-arena string; do
    arg=${kind%-arena} track=1 made=keep
    [ "$kind" = json-arena ] && track=0
    # A value in the chunk was allocated with the chunk, by the arena.
    [ "$kind" != json ] && made=fh_arena_new
    FH_JSON_TRACK=$track \
      ASAN_OPTIONS=detect_leaks=0:abort_on_error=0:exitcode=66:fast_unwind_on_malloc=0 \
      timeout 60 "$prog" "$arg" >"$out" 2>"$err"
    rc=$?
    [ "$rc" = 66 ] || fail "$kind: exit $rc, expected ASan's 66"
    grep -q '^/keep kept$' "$out" || fail "$kind: /keep was not answered first"
    ! grep -q '^/use ' "$out" || fail "$kind: /use was answered: the kept value was read unnoticed"
    grep -q 'ERROR: AddressSanitizer: heap-use-after-free' "$err" || fail "$kind: no heap-use-after-free report"
    # The three stacks, in ASan's order: the use, the release, the allocation.
    awk -v made=" in $made " '/ERROR: AddressSanitizer/{s=1} s==1 && / in use /{s=2}
         s==2 && /freed by thread/{s=3} s==3 && / in fh_arena_release /{s=4}
         s==4 && /previously allocated by thread/{s=5} s==5 && index($0, made){s=6}
         END{exit s==6 ? 0 : 1}' "$err" ||
      fail "$kind: the report does not show the use, then fh_arena_release, then $made"
    echo "$kind: caught, with the stacks of the use, the release and the allocation"
  done
else
  timeout 60 "$prog" string >"$out" 2>"$err" || fail "string: exit $?"
  grep -q '^/use dd$' "$out" || fail "string: the kept string does not read as 0xdd"
  echo "string: reads 0xdd after its request"
  FH_JSON_TRACK=0 timeout 60 "$prog" json >"$out" 2>"$err" || fail "json-arena: exit $?"
  grep -q '^/use (none)$' "$out" || fail "json-arena: the kept object still reads as an object"
  echo "json-arena: no longer an object after its request"
fi
