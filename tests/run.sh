#!/bin/sh
# run.sh -- runs every test group against the binaries of one build folder:
#   unit (build/tests/test_* from tests/unit), integration (from tests/integration),
#   interop (tests/interop/*.js with node, *.py with Debian's python3, *.sh), end-to-end (tests/e2e).
# Usage: tests/run.sh [BUILD_DIR] [PATTERN]   (PATTERN: only tests whose name contains it)
# With HFS_TALLY set (tests/all.sh), the line "BUILD_DIR PASSED FAILED [names]" is added to that file.
# Each test starts and stops its own server; this script only runs them and counts failures.
set -u
cd "$(dirname "$0")/.."
build=${1:-build}
pattern=${2:-}
HFS_BUILD=$(cd "$build" && pwd)
HFS_BIN=$HFS_BUILD/bin
export HFS_BUILD HFS_BIN
# Sanitizer builds: leaks and UB fail the process that has them (servers are checked on exit).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=23}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-exitcode=23}
PY=/usr/bin/python3
logs=$(mktemp -d)
pass=0
fail=0
failed=""

run() {
    name=$1
    shift
    case "$name" in *"$pattern"*) ;; *) return ;; esac
    start=$(date +%s%N)
    if "$@" >"$logs/out" 2>&1; then
        pass=$((pass + 1))
        printf 'PASS %-44s %6d ms\n' "$name" $((($(date +%s%N) - start) / 1000000))
    else
        rc=$?
        fail=$((fail + 1))
        failed="$failed $name"
        printf 'FAIL %-44s (exit %d)\n' "$name" "$rc"
        sed 's/^/    | /' "$logs/out" | tail -n 60
    fi
}

for t in "$build"/tests/test_*; do
    [ -x "$t" ] && run "$(basename "$t")" "$t"
done
for t in tests/interop/test_*.js; do
    [ -f "$t" ] && run "interop/$(basename "$t")" node "$t"
done
for t in tests/interop/test_*.py; do
    [ -f "$t" ] && run "interop/$(basename "$t")" "$PY" "$t"
done
for t in tests/interop/test_*.sh tests/e2e/test_*.sh; do
    [ -f "$t" ] && run "$(basename "$(dirname "$t")")/$(basename "$t")" sh "$t"
done

rm -rf "$logs"
[ -z "${HFS_TALLY:-}" ] || echo "$(basename "$build") $pass $fail$failed" >>"$HFS_TALLY"
echo "== $pass passed, $fail failed ($build)"
[ "$fail" -eq 0 ] || {
    echo "failed:$failed"
    exit 1
}
