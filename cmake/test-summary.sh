#!/bin/sh
# cmake/test-summary.sh BUILD_DIR... — sum the CTest results of every pass.
#
# Reads BUILD_DIR/ctest-junit.xml (written by test-pass.sh) for each
# directory and ends with the plain line "N passed, N failed". Skipped tests
# (exit 77) are reported on the line before and count as neither. A
# directory without results (its build failed) is reported and makes the
# exit status non-zero, as does any failed test.
set -eu
cd "$(dirname "$0")/.."
passed=0 failed=0 skipped=0 status=0

# attr NAME FILE: the value of NAME="..." in the <testsuite> element.
attr() { sed -n "s/^[[:space:]]*$1=\"\([0-9]*\)\".*/\1/p" "$2" | head -n 1; }

for build in "$@"; do
    xml=$build/ctest-junit.xml
    if [ ! -f "$xml" ]; then
        echo "$build: no test results (configure or build failed)"
        status=1
        continue
    fi
    t=$(attr tests "$xml") f=$(attr failures "$xml") s=$(attr skipped "$xml")
    echo "$build: $((t - f - s)) passed, $f failed, $s skipped"
    passed=$((passed + t - f - s)) failed=$((failed + f)) skipped=$((skipped + s))
done

[ "$failed" -eq 0 ] || status=1
[ "$skipped" -eq 0 ] || echo "$skipped skipped"
echo "$passed passed, $failed failed"
exit $status
