#!/bin/sh
# tests/install/run.sh BUILD_DIR — check an installed axle from the outside.
#
# Installs BUILD_DIR into a temporary prefix, then against that prefix:
#   1. builds hello.c with CMake (find_package(axle), axle::axle and
#      axle::axle_static) and runs both programs;
#   2. builds hello.c with `pkg-config --cflags --libs axle` in strict C17
#      with warnings as errors (the public headers must pass) and runs it;
#   3. checks that libaxle.so exports only axle_-prefixed symbols.
# Exits 77 (CTest: skipped) when io_uring is unavailable. Registered as the
# CTest test `install`; removes its temporary directory in every case.
set -eu

[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/axle-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
prefix=$tmp/prefix

step() { printf '== %s\n' "$*"; }
# Run a program; pass its "skipped" status (77) on, fail on anything else.
run() {
    rc=0
    "$@" || rc=$?
    [ $rc -eq 77 ] && exit 77
    [ $rc -eq 0 ] || { echo "FAIL: $* exited $rc" >&2; exit 1; }
}

step "install $build into $prefix"
cmake --install "$build" --prefix "$prefix" >/dev/null

step "CMake: find_package(axle)"
cmake -S "$here" -B "$tmp/cmake" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$tmp/cmake"
run "$tmp/cmake/hello"
run "$tmp/cmake/hello_static"

step "pkg-config axle"
pc=$(find "$prefix" -name axle.pc)
PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_PATH
libdir=$(pkg-config --variable=libdir axle)
# shellcheck disable=SC2046 # pkg-config output is meant to be split
${CC:-cc} -std=c17 -Wall -Wextra -Wpedantic -Werror -o "$tmp/hello-pc" "$here/hello.c" \
    $(pkg-config --cflags --libs axle) -Wl,-rpath,"$libdir"
run "$tmp/hello-pc"

step "exported symbols of libaxle.so"
# Global functions and data (T/D/B/R); the linker's own symbols are not those.
bad=$(nm -D --defined-only "$libdir/libaxle.so" | awk '$2 ~ /^[TDBR]$/ && $3 !~ /^axle_/ { print $3 }')
if [ -n "$bad" ]; then
    echo "FAIL: libaxle.so exports symbols without the axle_ prefix:" >&2
    echo "$bad" >&2
    exit 1
fi
echo "install check passed"
