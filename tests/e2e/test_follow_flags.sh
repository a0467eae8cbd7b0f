#!/bin/sh
# test_follow_flags.sh -- httpfstream-follow's start, wait and resume options from the shell, with the real
# commands and server:
# - the original README's demo in its order, follower first: `httpfstream-follow -wait` waits for a resource not
#   written yet, then echoes each line typed into `httpfstream-append` live (checked line by line), and both exit 0;
#   without -wait the same order fails with "file does not exist";
# - -offset=N, -offset=-N, -offset=now (a live resource: only new bytes), -n=LINES and -n LINES (the last lines,
#   then live), 416 past the end, usage errors (exit 2);
# - -resume=N: the server is killed (SIGKILL) while the follower waits on a live resource; while it is down the
#   file grows on disk (bytes the follower never got); the server comes back on the same port and the follower
#   goes on from its next byte: its output is the file exactly, and it exits 0. Without -resume it exits 1.
set -u
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

# shellcheck disable=SC2119 # no server flags
hfs_start
tmp=$(mktemp -d /tmp/hfs-flags.XXXXXX)
bg_pids=""
cleanup() {
    exec 3>&- 4>&-
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

# run_follow NAME ARGS...: runs httpfstream-follow to its end (5 s at most); output in $tmp/NAME.out/.err, $rc.
run_follow() {
    name=$1
    shift
    "$F" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
    wait_exit $! 5 "httpfstream-follow $*"
}

check "README demo, follower first: -wait waits for the resource, then echoes each appended line live"
url=$HFS_URL/demo/foo.txt
"$F" -v -wait "$url" >"$tmp/demo.out" 2>"$tmp/demo.err" &
fpid=$!
bg_pids="$bg_pids $fpid"
sleep 0.3
alive "$fpid" "httpfstream-follow -wait before anything was appended ($(cat "$tmp/demo.err"))"
[ ! -e "$root/demo" ] || fail "a waiting follower created $root/demo"
[ ! -s "$tmp/demo.out" ] || fail "the waiting follower printed: $(cat "$tmp/demo.out")"
mkfifo "$tmp/in"
"$A" -v "$url" <"$tmp/in" 2>"$tmp/append.err" &
apid=$!
bg_pids="$bg_pids $apid"
exec 3>"$tmp/in"
: >"$tmp/want"
for word in foo bar baz; do
    printf '%s\n' "$word" >&3
    printf '%s\n' "$word" >>"$tmp/want"
    wait_same "$tmp/demo.out" "$tmp/want" 5 "the -wait follower after '$word' (appender still open)"
    alive "$fpid" "the -wait follower"
done
exec 3>&-
wait_exit "$apid" 5 "httpfstream-append after the end of its input"
expect_eq "append exit status ($(cat "$tmp/append.err"))" "$rc" 0
wait_exit "$fpid" 5 "httpfstream-follow -wait after the appender left"
expect_eq "follow -wait exit status ($(cat "$tmp/demo.err"))" "$rc" 0
grep -q "finished following (read 12 bytes)" "$tmp/demo.err" || fail "follow -v log: $(cat "$tmp/demo.err")"

check "the same order without -wait fails at once with 'file does not exist'"
run_follow nowait "$HFS_URL/demo/bar.txt"
[ "$rc" -ne 0 ] || fail "follow of a resource not written yet exited 0 without -wait"
grep -q "does not exist" "$tmp/nowait.err" || fail "message: $(cat "$tmp/nowait.err")"

check "-offset=N, -offset=-N, --offset N, -n=LINES, -n LINES on a finished resource"
printf 'one\ntwo\nthree\nfour\n' >"$root/f.txt"
url=$HFS_URL/f.txt
for args in "-offset=4|two\nthree\nfour\n" "-offset=-5|four\n" "--offset|8|three\nfour\n" \
    "-offset=19|" "-offset=0|one\ntwo\nthree\nfour\n" "-n=1|four\n" "-n|2|three\nfour\n" "-n=0|" \
    "-n=99|one\ntwo\nthree\nfour\n" "-offset=now|"; do
    want=${args##*|}
    flags=${args%|*}
    # shellcheck disable=SC2046 # flags are split on "|" into words on purpose
    set -- $(echo "$flags" | tr '|' ' ')
    run_follow off "$@" "$url"
    expect_eq "follow $* exit status ($(cat "$tmp/off.err"))" "$rc" 0
    # shellcheck disable=SC2059 # $want is a printf format on purpose
    printf "$want" >"$tmp/off.want"
    cmp -s "$tmp/off.out" "$tmp/off.want" || fail "follow $*: [$(cat "$tmp/off.out")], want [$(cat "$tmp/off.want")]"
done

check "a start past the end exits 1 naming 416; bad values and -offset with -n are usage errors (exit 2)"
run_follow past -offset=20 "$url"
expect_eq "-offset=20 exit status" "$rc" 1
grep -q "416" "$tmp/past.err" || fail "-offset=20 message: $(cat "$tmp/past.err")"
grep -q "$url" "$tmp/past.err" || fail "-offset=20 message does not name the URL: $(cat "$tmp/past.err")"
for bad in "-offset=x" "-offset=" "-offset=1.5" "-n=x" "-n=-5" "-resume=x" "-resume=-3"; do
    run_follow bad "$bad" "$url"
    expect_eq "follow $bad exit status ($(cat "$tmp/bad.err"))" "$rc" 2
    [ ! -s "$tmp/bad.out" ] || fail "follow $bad printed: $(cat "$tmp/bad.out")"
done
run_follow both -offset=1 -n=1 "$url"
expect_eq "-offset with -n exit status" "$rc" 2

check "-offset=now and -n=1 on a live resource: only new bytes / the last line, then live, exit 0 at the end"
url=$HFS_URL/live.txt
mkfifo "$tmp/in2"
"$A" "$url" <"$tmp/in2" 2>"$tmp/append2.err" &
apid=$!
bg_pids="$bg_pids $apid"
exec 3>"$tmp/in2"
printf 'old 1\nold 2\n' >&3
printf 'old 1\nold 2\n' >"$tmp/old"
wait_same "$root/live.txt" "$tmp/old" 5 "the old lines on disk"
"$F" -offset=now "$url" >"$tmp/now.out" 2>"$tmp/now.err" 3>&- &
npid=$!
"$F" -n=1 "$url" >"$tmp/n1.out" 2>"$tmp/n1.err" 3>&- &
lpid=$!
"$F" -offset=-3 -binary "$url" >"$tmp/neg.out" 2>"$tmp/neg.err" 3>&- &
gpid=$!
bg_pids="$bg_pids $npid $lpid $gpid"
printf 'old 2\n' >"$tmp/n1.want"
wait_same "$tmp/n1.out" "$tmp/n1.want" 5 "-n=1 on a live resource"
printf ' 2\n' >"$tmp/neg.want"
wait_same "$tmp/neg.out" "$tmp/neg.want" 5 "-offset=-3 on a live resource"
sleep 0.2 # -offset=now has joined (it printed nothing, as it should)
[ ! -s "$tmp/now.out" ] || fail "-offset=now printed old bytes: $(cat "$tmp/now.out")"
printf 'new\n' >&3
printf 'new\n' >"$tmp/now.want"
printf 'new\n' >>"$tmp/n1.want"
printf 'new\n' >>"$tmp/neg.want"
wait_same "$tmp/now.out" "$tmp/now.want" 5 "-offset=now after a new line"
wait_same "$tmp/n1.out" "$tmp/n1.want" 5 "-n=1 after a new line"
wait_same "$tmp/neg.out" "$tmp/neg.want" 5 "-offset=-3 after a new line"
exec 3>&-
wait_exit "$apid" 5 "the appender"
for p in "$npid now" "$lpid n1" "$gpid neg"; do
    wait_exit "${p% *}" 5 "follower ${p#* }"
    expect_eq "follower ${p#* } exit status ($(cat "$tmp/${p#* }.err"))" "$rc" 0
done

check "-resume=10: the server is killed and restarted (same port) while the follower waits; it goes on from its next byte"
url=$HFS_URL/resume.txt
mkfifo "$tmp/in3" "$tmp/in4"
"$A" "$url" <"$tmp/in3" 2>"$tmp/append3.err" &
apid=$!
bg_pids="$bg_pids $apid"
exec 3>"$tmp/in3"
printf 'before the crash\n' >&3
printf 'before the crash\n' >"$tmp/r.want"
wait_same "$root/resume.txt" "$tmp/r.want" 5 "the first line on disk"
"$F" -v -resume=10 "$url" >"$tmp/r.out" 2>"$tmp/r.err" 3>&- &
rpid=$!
"$F" "$url" >"$tmp/nr.out" 2>"$tmp/nr.err" 3>&- &
nrpid=$!
bg_pids="$bg_pids $rpid $nrpid"
wait_same "$tmp/r.out" "$tmp/r.want" 5 "the -resume follower before the crash"
wait_same "$tmp/nr.out" "$tmp/r.want" 5 "the plain follower before the crash"
kill -KILL "$HFS_PID"
wait "$HFS_PID" 2>/dev/null
HFS_PID=""
# while the server is down the file grows (bytes the server had written but not yet sent)
printf 'written while the server was down\n' >>"$root/resume.txt"
printf 'written while the server was down\n' >>"$tmp/r.want"
wait_exit "$nrpid" 5 "the follower without -resume after the server died"
expect_eq "follower without -resume exit status" "$rc" 1
grep -q "$url" "$tmp/nr.err" || fail "the error does not name the URL: $(cat "$tmp/nr.err")"
sleep 0.3 # the -resume follower's first reconnects find nobody
alive "$rpid" "the -resume follower while the server is down ($(cat "$tmp/r.err"))"
exec 3>&-
wait_exit "$apid" 5 "the appender of the dead server" # its exit status is not the point here
hfs_restart
wait_exit "$rpid" 10 "the -resume follower after the server came back"
expect_eq "-resume follower exit status ($(cat "$tmp/r.err"))" "$rc" 0
cmp -s "$tmp/r.out" "$tmp/r.want" || fail "-resume follower output [$(cat "$tmp/r.out")], want [$(cat "$tmp/r.want")]"
cmp -s "$tmp/r.out" "$root/resume.txt" || fail "-resume follower output differs from the file"
grep -q "resume.txt?offset=17" "$HFS_LOG" || fail "no resumed request for offset 17 in the server log: $(cat "$HFS_LOG")"

check "-resume=10 -offset=-8 -binary: a second crash during a live session; the output is the file from the start offset, once"
"$A" "$url" <"$tmp/in4" 2>"$tmp/append4.err" &
apid=$!
bg_pids="$bg_pids $apid"
exec 4>"$tmp/in4"
printf 'second session\n' >&4
printf 'second session\n' >>"$tmp/r.want"
wait_same "$root/resume.txt" "$tmp/r.want" 5 "the second session's first line"
"$F" -resume=10 -offset=-8 -binary "$url" >"$tmp/r3.out" 2>"$tmp/r3.err" 4>&- &
rpid=$!
bg_pids="$bg_pids $rpid"
printf 'session\n' >"$tmp/r3.want"
wait_same "$tmp/r3.out" "$tmp/r3.want" 5 "the follower of the second session"
kill -KILL "$HFS_PID"
wait "$HFS_PID" 2>/dev/null
HFS_PID=""
printf 'grown again\n' >>"$root/resume.txt"
printf 'grown again\n' >>"$tmp/r3.want"
exec 4>&-
wait_exit "$apid" 5 "the appender of the dead server"
hfs_restart
wait_exit "$rpid" 10 "the -resume follower"
expect_eq "-resume follower exit status ($(cat "$tmp/r3.err"))" "$rc" 0
cmp -s "$tmp/r3.out" "$tmp/r3.want" || fail "-resume follower output [$(cat "$tmp/r3.out")], want [$(cat "$tmp/r3.want")]"

check "-n=-1 is a usage error like any other negative count (exit 2), not a follow from the start"
run_follow neg1 -n=-1 "$url"
expect_eq "follow -n=-1 exit status (printed $(wc -c <"$tmp/neg1.out" | tr -d ' ') bytes)" "$rc" 2

echo "ok: test_follow_flags"
