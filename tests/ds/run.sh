#!/bin/sh
# run.sh -- the Durable Streams protocol's conformance suite against httpfstream-server: the npm
# package @durable-streams/server-conformance-tests, pinned by tests/ds/package-lock.json
# (scripts/deps.sh test installs it), run by vitest with tests/ds/vitest.config.mjs.
# Usage: tests/ds/run.sh [BUILD_DIR [VITEST_ARGS...]]      (BUILD_DIR default build)
#   Starts BUILD_DIR/bin/httpfstream-server on a fresh root and a free loopback port with a 1 s
#   long-poll timeout, runs the suite against it (its streams are under /v1/stream/, the server's
#   default), and stops the server. VITEST_ARGS go to vitest: -t "SSE Mode" runs one group (then
#   lower DS_MIN_PASS).
#   DS_URL=http://HOST:PORT  run against a server already listening there instead (none started)
#   DS_MIN_PASS=N            the least number of passed tests that counts as a pass (default 330:
#                            338 tests, 6 of them always skipped, so 332 run)
#   DS_TIMEOUT=S             stop the suite after S seconds (default 600; it takes about a minute)
# Prints "ds-conformance: P passed, F failed, S skipped (of T)" and the failed tests' names; exits 1
# when fewer than DS_MIN_PASS passed, or the server we started failed (ended early, did not stop
# cleanly). vitest's whole output (--reporter=verbose) goes to BUILD_DIR/ds-conformance.log, the
# server's log (-q: warnings and errors) to BUILD_DIR/ds-conformance-server.log.
# With HFS_TALLY set (tests/all.sh), adds the line "ds-conformance PASSED FAILED [why]" to that
# file, where the whole suite counts as one test: "1 0", or "0 1" and why.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
[ $# -eq 0 ] || shift
min=${DS_MIN_PASS:-330}
limit=${DS_TIMEOUT:-600}
mkdir -p "$build"
build=$(cd "$build" && pwd)
log=$build/ds-conformance.log
rm -f "$build/ds-conformance-server.log"
tmp=""
pid=""
vpid=""
tallied=""
why=error

# tally PASSED FAILED [WHY]: the one line for tests/all.sh, written once.
tally() {
    if [ -n "${HFS_TALLY:-}" ] && [ -z "$tallied" ]; then
        tallied=1
        echo "ds-conformance($(basename "$build")) $*" >>"$HFS_TALLY"
    fi
}

# fail WHY MESSAGE: counts the pass as failed for WHY (one word) and exits 1.
fail() {
    why=$1
    shift
    echo "ds-conformance: FAIL: $*" >&2
    exit 1
}

# stop_server: SIGTERM, wait (15 s at most, then SIGKILL); keeps its log; returns its exit status.
stop_server() {
    [ -n "$pid" ] || return 0
    p=$pid
    pid=""
    kill -TERM "$p" 2>/dev/null || true
    i=0
    while kill -0 "$p" 2>/dev/null && [ $i -lt 150 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    if kill -0 "$p" 2>/dev/null; then
        echo "ds-conformance: the server did not exit within 15 s of SIGTERM; killing it" >&2
        kill -KILL "$p" 2>/dev/null || true
    fi
    src=0
    wait "$p" 2>/dev/null || src=$?
    cp "$tmp/server.log" "$build/ds-conformance-server.log" 2>/dev/null || true
    return $src
}

cleanup() {
    status=$?
    trap - EXIT
    if [ -n "$vpid" ]; then # timeout passes the signal on to vitest and its workers
        kill -TERM "$vpid" 2>/dev/null || true
        wait "$vpid" 2>/dev/null || true
    fi
    stop_server || true
    [ -z "$tmp" ] || rm -rf "$tmp"
    [ "$status" -eq 0 ] || tally 0 1 "$why"
    exit "$status"
}
trap cleanup EXIT
trap 'why=interrupted; exit 1' INT TERM HUP

cd "$here"
[ -x node_modules/.bin/vitest ] ||
    fail not-installed "tests/ds/node_modules is missing: run scripts/deps.sh test"
node -e 'const [a, b] = process.versions.node.split(".").map(Number)
process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' ||
    fail old-node "vitest 4 needs Node.js 20.19 or later; this is $(node --version)"
tmp=$(mktemp -d /tmp/hfs-ds.XXXXXX)

if [ -n "${DS_URL:-}" ]; then
    url=${DS_URL%/}
else
    bin=$build/bin/httpfstream-server
    [ -x "$bin" ] || fail no-server "no $bin (make cmds BUILD=...)"
    # Port 0: the server picks a free one and names it in its "listening on" line (logged even
    # with -q).
    "$bin" -root="$tmp/root" -http=127.0.0.1:0 -long-poll=1s -q >"$tmp/server.log" 2>&1 &
    pid=$!
    i=0
    until grep -q "listening on" "$tmp/server.log"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            src=0
            wait "$pid" || src=$?
            pid=""
            cat "$tmp/server.log" >&2
            fail server-did-not-start "the server exited with status $src before listening"
        fi
        i=$((i + 1))
        [ $i -lt 200 ] || fail server-did-not-start "the server did not listen within 10 s"
        sleep 0.05
    done
    port=$(sed -n 's/.*listening on [^,]*:\([0-9][0-9]*\),.*/\1/p' "$tmp/server.log" | head -n 1)
    [ -n "$port" ] || fail server-did-not-start "no port in: $(cat "$tmp/server.log")"
    url=http://127.0.0.1:$port
fi

# Wait until it answers HTTP at all (any status will do).
i=0
until curl -s -o /dev/null -m 2 "$url/v1/stream/"; do
    i=$((i + 1))
    [ $i -lt 40 ] || fail no-answer "$url does not answer HTTP"
    sleep 0.25
done

echo "ds-conformance: running the suite against $url (vitest output: $log)"
start=$(date +%s)
# In the background and waited for, so that a signal to this script stops it at once (cleanup).
CONFORMANCE_TEST_URL=$url NO_COLOR=1 timeout -k 10 "$limit" node_modules/.bin/vitest run \
    --config vitest.config.mjs --reporter=verbose --reporter=json \
    --outputFile.json="$tmp/report.json" "$@" >"$log" 2>&1 &
vpid=$!
rc=0
wait "$vpid" || rc=$?
vpid=""
secs=$(($(date +%s) - start))

why=no-report
passed=0 failed=0 skipped=0 total=0
if [ -s "$tmp/report.json" ]; then
    node summary.mjs "$tmp/report.json" >"$tmp/summary"
    read -r passed failed skipped total <"$tmp/summary"
fi
echo "ds-conformance: the suite took $secs s (vitest exit status $rc)"
echo "ds-conformance: $passed passed, $failed failed, $skipped skipped (of $total)"
# The failed tests, 50 at most (all of them are in the log).
if [ -s "$tmp/summary" ]; then
    sed -n '2,51s/^/    FAIL /p' "$tmp/summary"
    more=$(($(wc -l <"$tmp/summary") - 51))
    [ "$more" -le 0 ] || echo "    ... and $more more: grep '^ *×' $log"
fi

bad=""
case $rc in
124 | 137) bad="timeout" && echo "ds-conformance: FAIL: vitest stopped after $limit s" >&2 ;;
esac
[ -s "$tmp/report.json" ] || {
    [ -n "$bad" ] || bad="no-report"
    echo "ds-conformance: FAIL: vitest wrote no report; the end of its output:" >&2
    tail -n 30 "$log" >&2
}
if [ -n "$pid" ]; then
    ended=""
    kill -0 "$pid" 2>/dev/null || ended=1
    src=0
    stop_server || src=$?
    if [ -n "$ended" ] || [ "$src" -ne 0 ]; then
        bad="$bad server-exit-$src"
        echo "ds-conformance: FAIL: the server ${ended:+ended during the suite and }exited" \
            "with status $src; its log:" >&2
        tail -n 30 "$build/ds-conformance-server.log" >&2
    fi
fi
if [ -s "$tmp/report.json" ] && [ "$passed" -lt "$min" ]; then
    bad="$bad $passed/$total-passed(min-$min)"
    echo "ds-conformance: FAIL: $passed passed, fewer than $min (DS_MIN_PASS)" >&2
fi

if [ -n "$bad" ]; then
    # shellcheck disable=SC2086 # one word per reason
    set -- $bad
    why=$*
    exit 1
fi
tally 1 0
