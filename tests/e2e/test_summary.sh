#!/bin/sh
# test_summary.sh -- tests/all.sh, what scripts/test.sh and `make test` run, ends with one line over
# every pass, "N passed, M failed", alone on the last line, and exits non-zero when anything failed.
# A stand-in make (MAKE) maps each pass to the real tests/run.sh and fuzz/run.sh over scratch folders
# of stand-in tests and fuzzers:
# - everything passes: both suite passes, both conformance runs and each fuzzer (one test each) are
#   summed, exit 0;
# - a failing test in the first suite pass, a sanitizer build that fails before any test runs, a
#   crashing fuzzer: every pass still runs, the failures are named on the line before, the sum counts
#   each (the failed build as one), exit 1.
# And scripts/test.sh ends by handing over to tests/all.sh, so nothing is printed after that line.
set -u
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
TOP=$(cd "$(dirname "$0")/../.." && pwd)
TMP=$(mktemp -d /tmp/hfs-summary.XXXXXX)
export TOP TMP
trap 'rm -rf "$TMP"' EXIT
trap 'exit 1' HUP PIPE INT TERM

# standin FILE STATUS_VARIABLE: a test program or fuzzer that exits with $STATUS_VARIABLE (default 0).
standin() {
    mkdir -p "$(dirname "$1")"
    printf '#!/bin/sh\necho "stat::number_of_executed_units: 7"\nexit ${%s:-0}\n' "$2" >"$1"
    chmod +x "$1"
}
for b in build build-asan; do
    standin "$TMP/$b/tests/test_standin_a" A_RC
    standin "$TMP/$b/tests/test_standin_b" B_RC
done
standin "$TMP/fuzz/fuzz/fuzz_one" ONE_RC
standin "$TMP/fuzz/fuzz/fuzz_two" TWO_RC
cat >"$TMP/make" <<'EOF'
#!/bin/sh
# a stand-in for make: runs the pass its arguments name over the scratch folders
echo "make $*" >>"$TMP/make.log"
case "$*" in
*ds-conformance*)
    # the conformance suite counts as one test (tests/ds/run.sh)
    if [ -n "${DS_RC:-}" ]; then
        echo "ds-conformance 0 1 standin" >>"$HFS_TALLY"
        exit "$DS_RC"
    fi
    echo "ds-conformance 1 0" >>"$HFS_TALLY"
    exit 0
    ;;
*fuzz-smoke*) FUZZ_BUILD=$TMP/fuzz exec "$TOP/fuzz/run.sh" 1 one two ;;
*build-asan*)
    [ -z "${ASAN_BROKEN:-}" ] || {
        echo "cc: error: the sanitizer build failed" >&2
        exit 2
    }
    exec "$TOP/tests/run.sh" "$TMP/build-asan" test_standin_
    ;;
*check*) exec "$TOP/tests/run.sh" "$TMP/build" test_standin_ ;;
esac
exit 99
EOF
chmod +x "$TMP/make"

# all NAME [VAR=VALUE...]: runs tests/all.sh with the stand-in make and that environment; output in
# $TMP/NAME.out, status in $rc.
all() {
    name=$1
    shift
    : >"$TMP/make.log"
    env "$@" MAKE="$TMP/make" "$TOP/tests/all.sh" >"$TMP/$name.out" 2>&1
    rc=$?
    expect_eq "passes run ($name)" "$(cat "$TMP/make.log")" "$(printf 'make check\nmake ds-conformance\nmake BUILD=build-asan SAN=1 OPT=-O1 check\nmake BUILD=build-asan SAN=1 OPT=-O1 ds-conformance\nmake fuzz-smoke')"
    n=$(grep -cE '^[0-9]+ passed, [0-9]+ failed$' "$TMP/$name.out")
    expect_eq "summary lines in the output ($name)" "$n" 1
}

check "everything passes: '8 passed, 0 failed' (2 + 2 tests, 2 conformance runs, 2 fuzzers) on the last line, exit 0"
all ok
expect_eq "exit status ($(cat "$TMP/ok.out"))" "$rc" 0
expect_eq "last line" "$(tail -n 1 "$TMP/ok.out")" "8 passed, 0 failed"
! grep -q "^failed:" "$TMP/ok.out" || fail "a failed: line when nothing failed: $(cat "$TMP/ok.out")"

check "a failing test, a sanitizer build that breaks, a crashing fuzzer, a failing conformance run: every pass runs, '2 passed, 5 failed', exit 1"
all bad B_RC=3 ASAN_BROKEN=1 TWO_RC=1 DS_RC=1
expect_eq "exit status ($(cat "$TMP/bad.out"))" "$rc" 1
expect_eq "last line" "$(tail -n 1 "$TMP/bad.out")" "2 passed, 5 failed"
expect_eq "the line before" "$(tail -n 2 "$TMP/bad.out" | head -n 1)" \
    "failed: build: test_standin_b; ds-conformance: standin; build-asan: (exit 2); ds-conformance: standin; fuzz: fuzz_two"

check "a test that fails in both suite passes: counted twice, exit 1, the summary last"
all one A_RC=1
expect_eq "exit status ($(cat "$TMP/one.out"))" "$rc" 1
expect_eq "last line" "$(tail -n 1 "$TMP/one.out")" "6 passed, 2 failed"

check "scripts/test.sh hands over to tests/all.sh last (nothing can print after the summary)"
expect_eq "last line of scripts/test.sh" "$(tail -n 1 "$TOP/scripts/test.sh")" "exec tests/all.sh"
grep -q '^	MAKE="$(MAKE)" tests/all.sh$' "$TOP/Makefile" || fail "the Makefile's test target does not run tests/all.sh"

echo "ok: test_summary"
