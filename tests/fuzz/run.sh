#!/bin/sh
# tests/fuzz/run.sh BUILD_DIR [SECONDS] — run every libFuzzer target of an
# AXLE_FUZZ build for SECONDS each (default 60); `make fuzz` calls it.
#
# Target fuzz_NAME works on BUILD_DIR/fuzz/corpus/NAME/, refreshed from
# tests/fuzz/corpus/NAME/ first (what it finds is kept there between runs;
# the tree's corpus is never written), with tests/fuzz/NAME.dict when there
# is one. Crash inputs go to BUILD_DIR/fuzz/artifacts/NAME/, the full log
# to BUILD_DIR/fuzz/NAME.log. Extra libFuzzer flags: $FUZZ_ARGS.
# Exits non-zero when a target crashed, leaked or could not run.
set -eu

[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR [SECONDS]" >&2; exit 2; }
build=$(cd "$1" && pwd)
secs=${2:-60}
here=$(cd "$(dirname "$0")" && pwd)
ran=0 failed=0

for bin in "$build"/tests/fuzz/fuzz_*; do
    if [ ! -f "$bin" ] || [ ! -x "$bin" ]; then continue; fi
    name=$(basename "$bin")
    stem=${name#fuzz_}
    work=$build/fuzz/corpus/$stem
    arts=$build/fuzz/artifacts/$stem
    log=$build/fuzz/$stem.log
    mkdir -p "$work" "$arts"
    if [ -d "$here/corpus/$stem" ]; then
        cp -R "$here/corpus/$stem/." "$work/"
    fi
    dict=""
    [ -f "$here/$stem.dict" ] && dict="-dict=$here/$stem.dict"

    echo "==== $name: ${secs}s from $(find "$work" -type f | wc -l) inputs"
    rc=0
    # shellcheck disable=SC2086 # $dict and $FUZZ_ARGS are meant to split
    "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$arts/" $dict ${FUZZ_ARGS:-} "$work" >"$log" 2>&1 || rc=$?
    ran=$((ran + 1))
    if [ $rc -ne 0 ]; then
        failed=$((failed + 1))
        tail -n 60 "$log"
        echo "FAIL: $name exited $rc; inputs in $arts, log $log"
    else
        # The last status line and the final stats.
        grep -E '^#[0-9]+' "$log" | tail -n 1
        grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$log" || true
        echo "$name: ok, corpus now $(find "$work" -type f | wc -l) inputs"
    fi
done

[ $ran -gt 0 ] || { echo "no fuzz targets in $build/tests/fuzz" >&2; exit 1; }
echo "fuzz: $ran targets, $failed failed"
[ $failed -eq 0 ]
