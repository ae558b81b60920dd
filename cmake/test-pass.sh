#!/bin/sh
# cmake/test-pass.sh BUILD_DIR [CMAKE_ARGS...] — one `make test` pass.
#
# Configures and builds BUILD_DIR from the repository root with CMAKE_ARGS,
# then runs its CTest suite, leaving BUILD_DIR/ctest-junit.xml for
# test-summary.sh (a stale one is removed first, so a failed build leaves
# none). Exits non-zero if the build or any test fails.
set -eu
build=$1
shift
cd "$(dirname "$0")/.."
rm -f "$build/ctest-junit.xml"

echo "==== $build: configure and build ($*)"
cmake -S . -B "$build" "$@"
cmake --build "$build" -j "$(nproc)"

echo "==== $build: test"
cd "$build"
ctest --output-on-failure -j 2 --output-junit ctest-junit.xml
