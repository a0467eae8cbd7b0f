# lib.sh -- shell helpers for interop and end-to-end tests (source it):
#   hfs_start [server flags...]  starts build/bin/httpfstream-server on a free port with a fresh root;
#                                sets HFS_URL, HFS_PORT, HFS_ROOT, HFS_PID, HFS_LOG; stops it on exit
#                                (it sets the EXIT trap: a test with its own cleanup adds it to
#                                HFS_CLEANUP, which runs first).
#   hfs_stop                     SIGTERM, wait, and fail unless it exited 0 with no sanitizer report.
#   hfs_restart                  starts that server again on the same root and port (after a stop or
#                                kill -9) and waits until it listens.
#   fail MESSAGE                 prints and exits 1.   expect_eq WHAT GOT WANT
#   check WHAT                   announces a check.    alive PID WHAT   fails if PID has ended
#   wait_exit PID SECONDS WHAT   waits for a background process to end by itself; sets $rc to its
#                                status and drops PID from $bg_pids
#   wait_exists FILE SECONDS WHAT, wait_same FILE REF SECONDS WHAT   wait for FILE to exist, or to
#                                hold exactly what REF holds
#   wait_grep PATTERN FILE SECONDS WHAT   waits for a line of FILE to match PATTERN
#   doc_nginx_block DOC HEADING OUT       the first ```nginx block under "## HEADING" of DOC, in OUT
#   ws_follow_to_file URL OUT CLOSE SECONDS   (run it in the background) a WebSocket follower with
#                                Debian's python3-websockets: each message's bytes to OUT as they
#                                come, then "CLOSE code" in CLOSE
HFS_BIN=${HFS_BIN:-$(cd "$(dirname "$0")/../.." && pwd)/build/bin}
HFS_PID=""

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

expect_eq() {
    [ "$2" = "$3" ] || fail "$1: got [$2], want [$3]"
}

check() { echo "check: $*"; }

alive() {
    kill -0 "$1" 2>/dev/null || fail "$2 ended early"
}

wait_exit() {
    n=0
    while kill -0 "$1" 2>/dev/null; do
        n=$((n + 1))
        if [ $n -gt $(($2 * 20)) ]; then
            kill -TERM "$1" 2>/dev/null
            fail "$3: still running after $2 s"
        fi
        sleep 0.05
    done
    wait "$1"
    rc=$?
    bg_pids=$(echo " $bg_pids " | sed "s/ $1 / /g")
}

wait_exists() {
    n=0
    until [ -e "$1" ]; do
        n=$((n + 1))
        [ $n -le $(($2 * 20)) ] || fail "$3: $1 does not exist after $2 s"
        sleep 0.05
    done
}

wait_same() {
    n=0
    until cmp -s "$1" "$2"; do
        n=$((n + 1))
        [ $n -le $(($3 * 20)) ] || fail "$4: after $3 s [$(cat "$1" 2>/dev/null)], want [$(cat "$2")]"
        sleep 0.05
    done
}

hfs_stop() {
    [ -z "${HFS_CLEANUP:-}" ] || eval "$HFS_CLEANUP"
    HFS_CLEANUP=""
    [ -n "$HFS_PID" ] || {
        [ -z "${HFS_ROOT:-}" ] || rm -rf "$HFS_ROOT" "$HFS_ROOT.log"
        return 0
    }
    pid=$HFS_PID
    HFS_PID=""
    kill -TERM "$pid" 2>/dev/null
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null
        echo "FAIL: server did not exit within 10 s of SIGTERM" >&2
        cat "$HFS_LOG" >&2
        exit 1
    fi
    wait "$pid" 2>/dev/null
    rc=$?
    if [ "$rc" -ne 0 ] || grep -q "Sanitizer\|runtime error" "$HFS_LOG"; then
        echo "FAIL: server exited with $rc; its log:" >&2
        cat "$HFS_LOG" >&2
        exit 1
    fi
    rm -rf "$HFS_ROOT" "$HFS_LOG"
}

hfs_start() {
    HFS_ROOT=$(mktemp -d /tmp/hfs-test.XXXXXX)
    HFS_LOG=$HFS_ROOT.log
    HFS_FLAGS="$*" # for hfs_restart (flags without blanks)
    "$HFS_BIN/httpfstream-server" -root="$HFS_ROOT/root" -http=127.0.0.1:0 "$@" 2>"$HFS_LOG" &
    HFS_PID=$!
    trap 'hfs_stop' EXIT
    trap 'exit 1' INT TERM HUP PIPE
    i=0
    while ! grep -q "listening on" "$HFS_LOG" 2>/dev/null; do
        i=$((i + 1))
        [ $i -lt 100 ] || fail "server did not start: $(cat "$HFS_LOG")"
        kill -0 "$HFS_PID" 2>/dev/null || fail "server exited: $(cat "$HFS_LOG")"
        sleep 0.05
    done
    HFS_PORT=$(sed -n 's/.*listening on [^,]*:\([0-9][0-9]*\),.*/\1/p' "$HFS_LOG" | head -n 1)
    HFS_URL=http://127.0.0.1:$HFS_PORT
    HFS_ROOT=$HFS_ROOT
    export HFS_URL HFS_PORT
}

# hfs_restart: starts the server hfs_start started again, on the same root and port and with the
# same flags (after it was stopped or killed), its log appended to the first one (hfs_stop checks
# it); waits until it listens.
hfs_restart() {
    ! grep -q "Sanitizer\|runtime error" "$HFS_LOG" || fail "sanitizer report: $(cat "$HFS_LOG")"
    i=0
    while :; do
        before=$(grep -c "listening on" "$HFS_LOG")
        # shellcheck disable=SC2086 # the flags hfs_start was given, split again
        "$HFS_BIN/httpfstream-server" -root="$HFS_ROOT/root" -http="127.0.0.1:$HFS_PORT" $HFS_FLAGS \
            2>>"$HFS_LOG" &
        HFS_PID=$!
        n=0
        while [ "$(grep -c "listening on" "$HFS_LOG")" -le "$before" ] && kill -0 "$HFS_PID" 2>/dev/null; do
            n=$((n + 1))
            [ $n -le 100 ] || fail "restarted server did not listen: $(cat "$HFS_LOG")"
            sleep 0.05
        done
        [ "$(grep -c "listening on" "$HFS_LOG")" -le "$before" ] || break
        wait "$HFS_PID" 2>/dev/null # bind failed (the old socket still around): try again
        HFS_PID=""
        i=$((i + 1))
        [ $i -lt 50 ] || fail "could not restart the server on port $HFS_PORT: $(cat "$HFS_LOG")"
        sleep 0.1
    done
}

wait_grep() {
    n=0
    until grep -q -- "$1" "$2" 2>/dev/null; do
        n=$((n + 1))
        [ $n -le $(($3 * 20)) ] || fail "$4: no \"$1\" after $3 s in: $(cat "$2" 2>/dev/null)"
        sleep 0.05
    done
}

doc_nginx_block() {
    awk -v h="## $2" '$0 == h { s = 1; next } /^## / { s = 0 } s && /^```nginx$/ { c = 1; next }
        c && /^```$/ { exit } c { print }' "$1" >"$3"
    [ -s "$3" ] || fail "no nginx block in the \"$2\" section of $1"
}

ws_follow_to_file() {
    /usr/bin/python3 - "$1" "$2" "$3" "$4" <<'PYEOF'
import asyncio, sys
import websockets

async def main():
    async with websockets.connect(sys.argv[1], open_timeout=float(sys.argv[4])) as ws:
        with open(sys.argv[2], "wb", buffering=0) as out:
            try:
                async for m in ws:
                    out.write(m.encode() if isinstance(m, str) else m)
            except websockets.exceptions.ConnectionClosed:
                pass
        with open(sys.argv[3], "w") as f:
            f.write(f"CLOSE {ws.close_code}\n")

asyncio.run(main())
PYEOF
}
