#!/bin/sh
# test_demo.sh -- the original README's demo, end to end with the three commands:
#   httpfstream-server -root=... -http=...; httpfstream-append -v URL (fed by us); httpfstream-follow -v URL
# The follower must echo each line while the appender is still open (live delivery, checked line by line
# before the next one is written), and quit by itself with exit 0 once the appender's input ends.
# Then the commands' edges: never-written URL, busy resource, -h, bad flags, both flag forms, a follower
# piped into `head -c`, and the modes of what the server creates on disk.
set -u
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

# wait_rcfile FILE SECONDS WHAT: waits for a subshell to record a command's exit status in FILE.
wait_rcfile() {
    n=0
    until [ -s "$1" ]; do
        n=$((n + 1))
        [ $n -le $(($2 * 20)) ] || fail "$3: no exit after $2 s"
        sleep 0.05
    done
}
# wait_file FILE CONTENT_PRINTF_FORMAT SECONDS WHAT: waits until FILE holds exactly that content.
wait_file() {
    # shellcheck disable=SC2059 # $2 is a printf format on purpose
    printf "$2" >"$tmp/want"
    n=0
    until cmp -s "$1" "$tmp/want"; do
        n=$((n + 1))
        [ $n -le $(($3 * 20)) ] || fail "$4: after $3 s the file holds [$(cat "$1" 2>/dev/null)], want [$(cat "$tmp/want")]"
        sleep 0.05
    done
}

check "the server creates a missing -root directory with mode 0700"
# shellcheck disable=SC2119 # no server flags
hfs_start
tmp=$(mktemp -d /tmp/hfs-e2e.XXXXXX)
bg_pids=""
cleanup() {
    exec 3>&- 4>&-
    for p in $bg_pids; do
        kill -TERM "$p" 2>/dev/null
    done
    rm -rf "$tmp"
}
trap 'cleanup; hfs_stop' EXIT # replaces the trap hfs_start set
trap 'exit 1' HUP PIPE
root=$HFS_ROOT/root
[ -d "$root" ] || fail "$root not created"
expect_eq "root mode" "$(stat -c %a "$root")" 700

check "README demo: append 'foo', 'bar', 'baz' line by line; the follower echoes each one live"
url=$HFS_URL/foo.txt
mkfifo "$tmp/in"
"$HFS_BIN/httpfstream-append" -v "$url" <"$tmp/in" 2>"$tmp/append.err" &
apid=$!
bg_pids="$bg_pids $apid"
exec 3>"$tmp/in" # the appender's stdin: we type into it
# The resource exists once the server has accepted the appender (it creates the file at the upgrade).
wait_exists "$root/foo.txt" 5 "appender connected"
kill -0 "$apid" 2>/dev/null || fail "appender exited early: $(cat "$tmp/append.err")"
"$HFS_BIN/httpfstream-follow" -v "$url" >"$tmp/out" 2>"$tmp/follow.err" 3>&- &
fpid=$!
bg_pids="$bg_pids $fpid"
printf 'foo\n' >&3
wait_file "$tmp/out" 'foo\n' 5 "follower output after 'foo' (appender still open)"
printf 'bar\n' >&3
wait_file "$tmp/out" 'foo\nbar\n' 5 "follower output after 'bar' (appender still open)"
printf 'baz\n' >&3
wait_file "$tmp/out" 'foo\nbar\nbaz\n' 5 "follower output after 'baz' (appender still open)"
kill -0 "$fpid" 2>/dev/null || fail "the follower quit while the appender was open: $(cat "$tmp/follow.err")"

check "closing the appender's input ends both commands with exit 0; the follower's -v log reports 12 bytes"
exec 3>&-
wait_exit "$apid" 5 "httpfstream-append after end of input"
expect_eq "append exit status (stderr: $(cat "$tmp/append.err"))" "$rc" 0
wait_exit "$fpid" 5 "httpfstream-follow after the appender finished"
expect_eq "follow exit status (stderr: $(cat "$tmp/follow.err"))" "$rc" 0
printf 'foo\nbar\nbaz\n' >"$tmp/want"
cmp -s "$tmp/out" "$tmp/want" || fail "follower output [$(cat "$tmp/out")], want exactly foo, bar, baz lines"
grep -q "finished following (read 12 bytes)" "$tmp/follow.err" || fail "follow -v log: $(cat "$tmp/follow.err")"
grep -q "$url" "$tmp/follow.err" || fail "follow -v log does not name the URL: $(cat "$tmp/follow.err")"
grep -q "finished appending" "$tmp/append.err" || fail "append -v log: $(cat "$tmp/append.err")"
cmp -s "$root/foo.txt" "$tmp/want" || fail "file on disk: $(cat "$root/foo.txt")"

check "README demo, ending with Ctrl-C: SIGINT to the appender ends the session cleanly, the follower quits too"
url2=$HFS_URL/ctrl-c.txt
mkfifo "$tmp/in4"
"$HFS_BIN/httpfstream-append" -v "$url2" <"$tmp/in4" 2>"$tmp/append4.err" &
apid=$!
bg_pids="$bg_pids $apid"
exec 3>"$tmp/in4"
wait_exists "$root/ctrl-c.txt" 5 "appender connected"
"$HFS_BIN/httpfstream-follow" -v "$url2" >"$tmp/out4" 2>"$tmp/follow4.err" 3>&- &
fpid=$!
bg_pids="$bg_pids $fpid"
printf 'typed\n' >&3
wait_file "$tmp/out4" 'typed\n' 5 "follower output after 'typed'"
kill -INT "$apid" # the terminal's Ctrl-C; its input stays open
wait_exit "$apid" 5 "httpfstream-append after SIGINT"
expect_eq "append exit status after SIGINT (stderr: $(cat "$tmp/append4.err"))" "$rc" 0
wait_exit "$fpid" 5 "httpfstream-follow after the appender was interrupted"
expect_eq "follow exit status (stderr: $(cat "$tmp/follow4.err"))" "$rc" 0
grep -q "finished following (read 6 bytes)" "$tmp/follow4.err" || fail "follow -v log: $(cat "$tmp/follow4.err")"
exec 3>&-

check "following the finished resource prints it all and exits 0"
printf 'foo\nbar\nbaz\n' >"$tmp/want"
"$HFS_BIN/httpfstream-follow" "$url" >"$tmp/out2" 2>"$tmp/err2" &
wait_exit $! 5 "follow of a finished resource"
expect_eq "follow exit status (stderr: $(cat "$tmp/err2"))" "$rc" 0
cmp -s "$tmp/out2" "$tmp/want" || fail "follow of a finished resource: [$(cat "$tmp/out2")]"

check "appending to an existing resource adds to it (never truncates); APPEND creates dirs 0755 and files 0600"
printf 'qux\n' | "$HFS_BIN/httpfstream-append" "$url" 2>"$tmp/err3" &
wait_exit $! 5 "append of one line"
expect_eq "append exit status (stderr: $(cat "$tmp/err3"))" "$rc" 0
printf 'foo\nbar\nbaz\nqux\n' >"$tmp/want"
cmp -s "$root/foo.txt" "$tmp/want" || fail "after a second append: [$(cat "$root/foo.txt")]"
printf 'deep\n' | "$HFS_BIN/httpfstream-append" "$HFS_URL/new/dir/deep.txt" 2>"$tmp/err4" &
wait_exit $! 5 "append to a new nested path"
expect_eq "append exit status (stderr: $(cat "$tmp/err4"))" "$rc" 0
expect_eq "mode of a created directory" "$(stat -c %a "$root/new")" 755
expect_eq "mode of a created directory" "$(stat -c %a "$root/new/dir")" 755
expect_eq "mode of a created file" "$(stat -c %a "$root/new/dir/deep.txt")" 600

check "following a never-written URL exits non-zero with a message naming the URL"
"$HFS_BIN/httpfstream-follow" "$HFS_URL/never/written.txt" >"$tmp/out5" 2>"$tmp/err5" &
wait_exit $! 5 "follow of a never-written URL"
[ "$rc" -ne 0 ] || fail "follow of a never-written URL exited 0"
grep -q "$HFS_URL/never/written.txt" "$tmp/err5" || fail "error does not name the URL: $(cat "$tmp/err5")"
[ ! -s "$tmp/out5" ] || fail "follow of a never-written URL printed: $(cat "$tmp/out5")"
[ ! -e "$root/never" ] || fail "following created $root/never"

check "httpfstream-append to a busy resource exits non-zero and the first appender is unaffected"
busy=$HFS_URL/busy.txt
mkfifo "$tmp/in2"
"$HFS_BIN/httpfstream-append" "$busy" <"$tmp/in2" 2>"$tmp/err6" &
bpid=$!
bg_pids="$bg_pids $bpid"
exec 4>"$tmp/in2"
wait_exists "$root/busy.txt" 5 "first appender connected"
printf 'second\n' | "$HFS_BIN/httpfstream-append" "$busy" 2>"$tmp/err7" 4>&- &
wait_exit $! 5 "second appender"
[ "$rc" -ne 0 ] || fail "a second appender exited 0"
grep -q "$busy" "$tmp/err7" || fail "the second appender's error does not name the URL: $(cat "$tmp/err7")"
printf 'first\n' >&4
exec 4>&-
wait_exit "$bpid" 5 "first appender"
expect_eq "first appender exit status (stderr: $(cat "$tmp/err6"))" "$rc" 0
expect_eq "busy resource content" "$(cat "$root/busy.txt")" "first"

check "a follower piped into 'head -c 10' gets 10 bytes and ends (finished and live resources)"
head -c 200000 /dev/zero | tr '\0' 'z' | "$HFS_BIN/httpfstream-append" "$HFS_URL/big.txt" 2>"$tmp/err8" &
wait_exit $! 10 "append of 200000 bytes"
expect_eq "append exit status (stderr: $(cat "$tmp/err8"))" "$rc" 0
("$HFS_BIN/httpfstream-follow" "$HFS_URL/big.txt" 2>"$tmp/err9"; echo $? >"$tmp/rc9") | head -c 10 >"$tmp/out9" &
wait_exit $! 5 "follow | head -c 10 (finished resource)"
expect_eq "head output" "$(cat "$tmp/out9")" "zzzzzzzzzz"
wait_rcfile "$tmp/rc9" 5 "follow into a pipe closed by head (finished resource)"
case "$(cat "$tmp/rc9")" in 0 | 1 | 141) ;; *) fail "follow into a closed pipe exited $(cat "$tmp/rc9"): $(cat "$tmp/err9")" ;; esac
mkfifo "$tmp/in3"
"$HFS_BIN/httpfstream-append" "$HFS_URL/live-big.txt" <"$tmp/in3" 2>"$tmp/err10" &
lpid=$!
bg_pids="$bg_pids $lpid"
exec 4>"$tmp/in3"
wait_exists "$root/live-big.txt" 5 "live appender connected"
head -c 200000 /dev/zero | tr '\0' 'y' >&4
# all of it on disk first: more than a pipe holds, so the follower must notice that head has gone
n=0
until [ "$(stat -c %s "$root/live-big.txt")" -ge 200000 ]; do
    n=$((n + 1))
    [ $n -le 100 ] || fail "live appender: $(stat -c %s "$root/live-big.txt") of 200000 bytes on disk after 5 s"
    sleep 0.05
done
("$HFS_BIN/httpfstream-follow" "$HFS_URL/live-big.txt" 2>"$tmp/err11"; echo $? >"$tmp/rc11") 4>&- |
    head -c 10 >"$tmp/out11" 4>&- &
wait_exit $! 5 "follow | head -c 10 (live resource, appender still open)"
expect_eq "head output (live)" "$(cat "$tmp/out11")" "yyyyyyyyyy"
wait_rcfile "$tmp/rc11" 5 "follow into a pipe closed by head (live resource)"
case "$(cat "$tmp/rc11")" in 0 | 1 | 141) ;; *) fail "follow into a closed pipe exited $(cat "$tmp/rc11"): $(cat "$tmp/err11")" ;; esac
exec 4>&-
wait_exit "$lpid" 5 "live appender after end of input"
expect_eq "live appender exit status (stderr: $(cat "$tmp/err10"))" "$rc" 0

check "-h on each command exits 0 and lists its flags; an unknown flag exits 2"
for cmd in httpfstream-server httpfstream-append httpfstream-follow; do
    "$HFS_BIN/$cmd" -h >"$tmp/h.out" 2>&1
    expect_eq "$cmd -h exit status" "$?" 0
    grep -q -- "-v" "$tmp/h.out" || fail "$cmd -h does not list -v: $(cat "$tmp/h.out")"
    grep -qi "usage" "$tmp/h.out" || fail "$cmd -h has no usage line: $(cat "$tmp/h.out")"
    "$HFS_BIN/$cmd" -help >/dev/null 2>&1
    expect_eq "$cmd -help exit status" "$?" 0
    "$HFS_BIN/$cmd" -no-such-flag "$HFS_URL/x" >"$tmp/bad.out" 2>&1
    expect_eq "$cmd -no-such-flag exit status" "$?" 2
    grep -q "no-such-flag" "$tmp/bad.out" || fail "$cmd: the error does not name the bad flag: $(cat "$tmp/bad.out")"
done
"$HFS_BIN/httpfstream-server" -h 2>&1 | grep -q -- "-root" || fail "server -h does not list -root"
"$HFS_BIN/httpfstream-server" -h 2>&1 | grep -q -- "-http" || fail "server -h does not list -http"
"$HFS_BIN/httpfstream-follow" >/dev/null 2>&1
expect_eq "follow without URL exit status" "$?" 2
"$HFS_BIN/httpfstream-append" </dev/null >/dev/null 2>&1
expect_eq "append without URL exit status" "$?" 2

check "flags are accepted as --flag value and as -flag=value"
# a second server with the --flag value form
"$HFS_BIN/httpfstream-server" --root "$HFS_ROOT/root2" --http 127.0.0.1:0 --ping 500ms 2>"$tmp/srv2.log" &
s2=$!
bg_pids="$bg_pids $s2"
n=0
until grep -q "listening on" "$tmp/srv2.log" 2>/dev/null; do
    n=$((n + 1))
    kill -0 "$s2" 2>/dev/null || fail "server with --flag value exited: $(cat "$tmp/srv2.log")"
    [ $n -le 100 ] || fail "server with --flag value did not start: $(cat "$tmp/srv2.log")"
    sleep 0.05
done
port2=$(sed -n 's/.*listening on [^,]*:\([0-9][0-9]*\),.*/\1/p' "$tmp/srv2.log" | head -n 1)
grep -q "root $HFS_ROOT/root2" "$tmp/srv2.log" || fail "--root not applied: $(cat "$tmp/srv2.log")"
expect_eq "root2 mode" "$(stat -c %a "$HFS_ROOT/root2")" 700
printf 'flags\n' | "$HFS_BIN/httpfstream-append" --v "http://127.0.0.1:$port2/f.txt" 2>"$tmp/err12" &
wait_exit $! 5 "append --v"
expect_eq "append --v exit status (stderr: $(cat "$tmp/err12"))" "$rc" 0
grep -q "finished appending" "$tmp/err12" || fail "append --v did not log: $(cat "$tmp/err12")"
: >"$tmp/empty.pem"
"$HFS_BIN/httpfstream-follow" -v=true --cacert "$tmp/empty.pem" "http://127.0.0.1:$port2/f.txt" >"$tmp/out13" 2>"$tmp/err13" &
wait_exit $! 5 "follow -v=true --cacert FILE"
expect_eq "follow -v=true --cacert FILE exit status (stderr: $(cat "$tmp/err13"))" "$rc" 0
expect_eq "follow output" "$(cat "$tmp/out13")" "flags"
grep -q "finished following (read 6 bytes)" "$tmp/err13" || fail "follow -v=true did not log: $(cat "$tmp/err13")"
"$HFS_BIN/httpfstream-follow" -cacert="$tmp/empty.pem" "http://127.0.0.1:$port2/f.txt" >"$tmp/out14" 2>"$tmp/err14" &
wait_exit $! 5 "follow -cacert=FILE"
expect_eq "follow -cacert=FILE exit status (stderr: $(cat "$tmp/err14"))" "$rc" 0
kill -TERM "$s2"
wait_exit "$s2" 10 "second server after SIGTERM"
expect_eq "second server exit status (log: $(cat "$tmp/srv2.log"))" "$rc" 0
grep -q "Sanitizer\|runtime error" "$tmp/srv2.log" && fail "second server: $(cat "$tmp/srv2.log")"

echo "ok: test_demo"
