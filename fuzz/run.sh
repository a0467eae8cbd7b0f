#!/bin/sh
# run.sh -- runs libFuzzer targets from build-fuzz/fuzz for a while each, over the seed corpus in
# fuzz/corpus/NAME and a working corpus in build-fuzz/corpus/NAME; prints the executions reached.
# Usage: fuzz/run.sh SECONDS NAME...    (a crash leaves its input in build-fuzz/ and exits 1)
# Inputs are capped at MAX_LEN bytes (default 8192): long enough for every header form and a few
# frames or requests, short enough that an execution stays cheap. FUZZ_BUILD names another build
# folder (default build-fuzz). Each fuzzer counts as one test: with HFS_TALLY set (tests/all.sh),
# the line "fuzz PASSED FAILED [names]" is added to that file.
set -u
cd "$(dirname "$0")/.."
fb=${FUZZ_BUILD:-build-fuzz}
secs=$1
shift
status=0
pass=0
fail=0
failed=""
for t in "$@"; do
    mkdir -p "$fb"/corpus/"$t"
    log=$fb/fuzz_$t.log
    "$fb"/fuzz/fuzz_"$t" -max_total_time="$secs" -print_final_stats=1 -timeout=10 \
        -rss_limit_mb=4096 -max_len="${MAX_LEN:-8192}" -artifact_prefix="$fb"/ "$fb"/corpus/"$t" fuzz/corpus/"$t" \
        >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    if [ "$rc" -eq 0 ]; then
        pass=$((pass + 1))
        echo "fuzz_$t: ${execs:-?} executions in ${secs} s, no crash"
    else
        fail=$((fail + 1))
        failed="$failed fuzz_$t"
        echo "fuzz_$t: FAILED (exit $rc) -- see $log"
        grep -E "ERROR|SUMMARY|runtime error|Test unit written|never closed" "$log" | head -20
        status=1
    fi
done
[ -z "${HFS_TALLY:-}" ] || echo "fuzz $pass $fail$failed" >>"$HFS_TALLY"
exit $status
