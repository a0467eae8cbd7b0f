#!/bin/sh
# run.sh -- runs libFuzzer targets from build-fuzz/fuzz for a while each, over the seed corpus in
# fuzz/corpus/NAME and a working corpus in build-fuzz/corpus/NAME; prints the executions reached.
# Usage: fuzz/run.sh SECONDS NAME...    (a crash leaves its input in build-fuzz/ and exits 1)
# Inputs are capped at MAX_LEN bytes (default 8192): long enough for every header form and a few
# frames or requests, short enough that an execution stays cheap.
set -u
cd "$(dirname "$0")/.."
secs=$1
shift
status=0
for t in "$@"; do
    mkdir -p build-fuzz/corpus/"$t"
    log=build-fuzz/fuzz_$t.log
    build-fuzz/fuzz/fuzz_"$t" -max_total_time="$secs" -print_final_stats=1 -timeout=10 \
        -rss_limit_mb=4096 -max_len="${MAX_LEN:-8192}" -artifact_prefix=build-fuzz/ build-fuzz/corpus/"$t" fuzz/corpus/"$t" \
        >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    if [ "$rc" -eq 0 ]; then
        echo "fuzz_$t: ${execs:-?} executions in ${secs} s, no crash"
    else
        echo "fuzz_$t: FAILED (exit $rc) -- see $log"
        grep -E "ERROR|SUMMARY|runtime error|Test unit written|never closed" "$log" | head -20
        status=1
    fi
done
exit $status
