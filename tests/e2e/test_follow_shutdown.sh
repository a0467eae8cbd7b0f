#!/bin/sh
# test_follow_shutdown.sh -- httpfstream-follow when the server shuts down under it: the server gets
# SIGTERM while an appender and two followers are attached to a live resource. Every follower first
# gets every byte in the file, then CLOSE 1001 (the server exits 0):
# - without -resume the follower exits 1 with a message naming the URL and the 1001: the stream was
#   cut, not ended by the writer (which is exit 0);
# - with -resume=10 it reconnects instead: while the server is down the file grows on disk, the
#   server comes back on the same root and port, and the follower goes on from its next byte
#   (?offset=N in the server's log): its output is the file exactly, and it exits 0.
set -u
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

# shellcheck disable=SC2119 # no server flags
hfs_start
tmp=$(mktemp -d /tmp/hfs-shutdown.XXXXXX)
bg_pids=""
cleanup() {
    exec 3>&-
    for p in $bg_pids; do
        kill -TERM "$p" 2>/dev/null
    done
    rm -rf "$tmp"
}
trap 'cleanup; hfs_stop' EXIT # replaces the trap hfs_start set
trap 'exit 1' HUP PIPE INT TERM
root=$HFS_ROOT/root
F=$HFS_BIN/httpfstream-follow
A=$HFS_BIN/httpfstream-append

check "SIGTERM while an appender and two followers are attached: every byte, then the server exits 0"
url=$HFS_URL/job/live.log
mkfifo "$tmp/in"
"$A" "$url" <"$tmp/in" 2>"$tmp/append.err" &
apid=$!
bg_pids="$bg_pids $apid"
exec 3>"$tmp/in"
printf 'line 1\nline 2\n' >&3
printf 'line 1\nline 2\n' >"$tmp/want"
wait_same "$root/job/live.log" "$tmp/want" 5 "the first lines on disk"
"$F" "$url" >"$tmp/plain.out" 2>"$tmp/plain.err" 3>&- &
ppid=$!
"$F" -v -resume=10 "$url" >"$tmp/r.out" 2>"$tmp/r.err" 3>&- &
rpid=$!
bg_pids="$bg_pids $ppid $rpid"
wait_same "$tmp/plain.out" "$tmp/want" 5 "the plain follower before the shutdown"
wait_same "$tmp/r.out" "$tmp/want" 5 "the -resume follower before the shutdown"
alive "$apid" "the appender"
kill -TERM "$HFS_PID"
wait_exit "$HFS_PID" 15 "the server after SIGTERM"
HFS_PID=""
expect_eq "server exit status after SIGTERM ($(cat "$HFS_LOG"))" "$rc" 0
wait_exit "$apid" 5 "the appender of the stopped server" # it was told 1001; its status is not the point

check "without -resume: exit 1, the message names the URL and the close code 1001"
wait_exit "$ppid" 5 "the follower without -resume after the shutdown"
expect_eq "follower exit status after the shutdown (stderr: $(cat "$tmp/plain.err"))" "$rc" 1
grep -q "$url" "$tmp/plain.err" || fail "the message does not name the URL: $(cat "$tmp/plain.err")"
grep -q "1001" "$tmp/plain.err" || fail "the message does not say 1001: $(cat "$tmp/plain.err")"
cmp -s "$tmp/plain.out" "$tmp/want" || fail "follower output [$(cat "$tmp/plain.out")], want [$(cat "$tmp/want")]"

check "with -resume=10: it waits for the server, then goes on from its next byte and exits 0"
sleep 0.3 # its first reconnects find nobody
alive "$rpid" "the -resume follower while the server is down ($(cat "$tmp/r.err"))"
printf 'written while the server was down\n' >>"$root/job/live.log"
printf 'written while the server was down\n' >>"$tmp/want"
hfs_restart
wait_exit "$rpid" 15 "the -resume follower after the server came back"
expect_eq "-resume follower exit status ($(cat "$tmp/r.err"))" "$rc" 0
cmp -s "$tmp/r.out" "$tmp/want" || fail "-resume follower output [$(cat "$tmp/r.out")], want [$(cat "$tmp/want")]"
cmp -s "$tmp/r.out" "$root/job/live.log" || fail "-resume follower output differs from the file"
grep -q "live.log?offset=14" "$HFS_LOG" || fail "no resumed request for offset 14 in the server log: $(cat "$HFS_LOG")"
grep -q "finished following (read 48 bytes)" "$tmp/r.err" || fail "follow -v log: $(cat "$tmp/r.err")"

echo "ok: test_follow_shutdown"
