#!/usr/bin/env bash
# Installs the built library into a temporary prefix, then builds and runs a
# small program out of tree against it twice: with find_package(fasthttp)
# (shared and static targets) and with pkg-config. Neither needs
# LD_LIBRARY_PATH or ldconfig: the executables carry the library's folder
# as their run path (CMake's RUNPATH; -Wl,-rpath from fasthttp.pc).
set -euo pipefail
src=$1 bin=$2
tmp=$(mktemp -d /tmp/fh-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$bin" --prefix "$tmp/prefix" >/dev/null
cmake -S "$src/tests/install" -B "$tmp/build" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/build" -j 2 >/dev/null
unset LD_LIBRARY_PATH
"$tmp/build/consumer_cmake"
"$tmp/build/consumer_static"
libdir=$(ls -d "$tmp"/prefix/lib*/pkgconfig | head -1)
export PKG_CONFIG_PATH="$libdir"
# Strict C11 hides the POSIX declarations uv.h needs: a program asks for them.
cc -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -o "$tmp/consumer_pc" "$src/tests/install/consumer.c" $(pkg-config --cflags --libs fasthttp)
"$tmp/consumer_pc"
readelf -d "$tmp/consumer_pc" | grep -q 'R\(UN\)\?PATH.*'"$(dirname "$libdir")" ||
  { echo "consumer_pc has no run path to $(dirname "$libdir")"; readelf -d "$tmp/consumer_pc"; exit 1; }
echo "install: find_package and pkg-config builds passed"
