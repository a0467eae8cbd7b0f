#!/bin/sh
# all.sh -- every test pass, as `make test` and scripts/test.sh run them:
#   build        the suite (make check: tests/run.sh build)
#   ds           the Durable Streams conformance suite against build/'s server (make ds-conformance);
#                it counts as one test
#   build-asan   the suite again under AddressSanitizer + UBSan
#   ds-asan      the same suite against build-asan/'s server (AddressSanitizer + UBSan)
#   fuzz         each fuzzer for a few seconds (make fuzz-smoke); a fuzzer counts as one test
# A failing pass does not stop the next ones. The output ends with one line over everything that
# ran, alone on the last line for CI parsers:
#   N passed, M failed
# preceded by a "failed:" line naming what failed, if anything did. The exit status is 1 when M > 0.
# A pass that fails without having counted a failed test (it did not build) counts as one failed.
# Usage: tests/all.sh      (MAKE: the make program to run, default make)
set -u
cd "$(dirname "$0")/.." || exit 1
make=${MAKE:-make}
HFS_TALLY=$(mktemp /tmp/hfs-tally.XXXXXX) || exit 1
# tests/run.sh, tests/ds/run.sh and fuzz/run.sh add one line each: NAME PASSED FAILED [names]
export HFS_TALLY
# The multi-node tests skip when nats-server is missing; here (scripts/deps.sh test installed it)
# that is a failure.
HFS_NATS_REQUIRED=${HFS_NATS_REQUIRED:-1}
export HFS_NATS_REQUIRED
trap 'rm -f "$HFS_TALLY"' EXIT
trap 'exit 1' INT TERM HUP

# pass NAME COMMAND...: runs one pass; when it exits non-zero with no failure counted, its own line.
pass() {
    name=$1
    shift
    before=$(wc -l <"$HFS_TALLY")
    "$@"
    rc=$?
    [ "$rc" -ne 0 ] || return 0
    counted=$(tail -n +$((before + 1)) "$HFS_TALLY" | awk '{ f += $3 } END { print f + 0 }')
    [ "$counted" -gt 0 ] || echo "$name 0 1 (exit $rc)" >>"$HFS_TALLY"
}

pass build "$make" check
pass ds "$make" ds-conformance
pass build-asan "$make" BUILD=build-asan SAN=1 OPT=-O1 check
pass ds-asan "$make" BUILD=build-asan SAN=1 OPT=-O1 ds-conformance
pass fuzz "$make" fuzz-smoke

awk '
{
    p += $2
    f += $3
    if ($3 > 0) {
        names = ""
        for (i = 4; i <= NF; i++)
            names = names " " $i
        failed = failed (failed == "" ? "" : ";") " " $1 ":" names
    }
}
END {
    if (failed != "")
        print "failed:" failed
    printf "%d passed, %d failed\n", p, f
    exit f > 0 ? 1 : 0
}' "$HFS_TALLY"
