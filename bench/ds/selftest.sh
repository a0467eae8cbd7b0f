#!/bin/bash
# selftest.sh -- checks bench/dsload against bench/ds/mockserver.py: every scenario must pass
# (verify=ok) over wire forms other than the reference server's (CRLF, a space after the colon,
# event lines after data lines, 5-byte HTTP chunks, comments, connections closed after each
# answer, paged and pretty-printed reads), and every injected fault must fail it (verify=FAIL).
#
#   bench/ds/selftest.sh [BUILD]        (after make build/bench/dsload)
#
# Prints one line per case and ends with "N passed, M failed".
set -u
BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
DSLOAD=$BUILD/bench/dsload
[ -x "$DSLOAD" ] || { echo "selftest.sh: $DSLOAD missing (make $DSLOAD)" >&2; exit 2; }
TMP=$(mktemp -d /tmp/dsload-selftest.XXXXXX)
MPID=
trap 'stop; rm -rf "$TMP"' EXIT
pass=0 fail=0

start() { # STYLE FAULT
    python3 "$HERE/mockserver.py" --port 0 --style "$1" --fault "$2" >"$TMP/mock.log" 2>&1 &
    MPID=$!
    MPORT=
    for _ in $(seq 100); do
        MPORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$TMP/mock.log")
        [ -n "$MPORT" ] && return 0
        sleep 0.05
    done
    echo "selftest.sh: the mock server did not start" >&2
    cat "$TMP/mock.log" >&2
    exit 2
}

stop() {
    [ -n "$MPID" ] || return 0
    kill "$MPID" 2>/dev/null
    wait "$MPID" 2>/dev/null
    MPID=
}

# case WANT STYLE FAULT SCENARIO [dsload args...]: WANT is ok or FAIL.
case_() {
    local want=$1 style=$2 fault=$3 sc=$4 out v
    shift 4
    start "$style" "$fault"
    out=$(timeout 60 "$DSLOAD" "$sc" --port "$MPORT" --drain 3 "$@" 2>&1)
    stop
    v=$(sed -n 's/^RESULT.* verify=\([^ ]*\).*/\1/p' <<<"$out")
    local what="$sc style=${style:--} fault=${fault:--}"
    if [ "$v" = "$want" ]; then
        pass=$((pass + 1))
        echo "ok   $what: verify=$v $(grep '^dsload:' <<<"$out" | head -1 | cut -c1-150)"
    else
        fail=$((fail + 1))
        echo "FAIL $what: verify=${v:-none}, want $want"
        sed 's/^/     /' <<<"$out" | tail -4
    fi
}

SMALL="-d 0.5"
for style in "" crlf,space,comments late-event,tiny-chunks close,pages; do
    case_ ok "$style" "" append -w 2 -s 8k $SMALL
    case_ ok "$style" "" producer -w 2 $SMALL
    case_ ok "$style" "" sse -n 20 $SMALL
    case_ ok "$style" "" longpoll -n 20 --gap-ms 5 $SMALL
done
case_ ok pretty,pages "" producer -w 3 $SMALL
case_ ok "" "" producer --text -w 2 $SMALL
case_ ok "" "" longpoll -n 20 --rate 50 $SMALL

case_ FAIL "" sse-corrupt sse -n 20 $SMALL
case_ FAIL "" sse-drop sse -n 20 $SMALL
case_ FAIL "" sse-dup sse -n 20 $SMALL
case_ FAIL "" sse-end sse -n 20 $SMALL
case_ FAIL "" lp-corrupt longpoll -n 20 --gap-ms 5 $SMALL
case_ FAIL "" lp-dup longpoll -n 20 --gap-ms 5 $SMALL
case_ FAIL "" lp-stale-204 longpoll -n 20 --gap-ms 5 $SMALL
case_ FAIL "" read-corrupt append -w 2 -s 8k $SMALL
case_ FAIL "" read-short append -w 2 -s 8k $SMALL
case_ FAIL pages read-corrupt producer -w 2 $SMALL
case_ FAIL "" offset-stall append -w 1 -s 8k $SMALL
case_ FAIL "" producer-dup producer -w 2 $SMALL

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
