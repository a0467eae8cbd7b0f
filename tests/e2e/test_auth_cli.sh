#!/bin/sh
# test_auth_cli.sh -- access control with our own commands against the real server (-auth, -sign-key):
# - httpfstream-append with HTTPFSTREAM_TOKEN appends; without a token it fails (401), with a reader's
#   token it is forbidden (403);
# - httpfstream-follow with -token reads; a wrong token fails (401), an appender's token (403);
# - a read URL made by httpfstream-sign works as it is: with -wait before the resource exists, and with
#   -resume across a server killed and started again; a tampered one is refused (403);
# - no token and no sig value appears in what the commands print (-v too) or in the server's log.
set -u
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

tmp=$(mktemp -d /tmp/hfs-authcli.XXXXXX)
printf '# CI jobs append, readers read\nappend /ci/ ci-tok-7f3a\nread /ci/ reader-tok-91c2\n' >"$tmp/rules"
printf 'k3y-for-signing-0123456789abcdef\n' >"$tmp/key"
hfs_start -auth="$tmp/rules" -sign-key="$tmp/key" -v
bg_pids=""
cleanup() {
    for p in $bg_pids; do
        kill -TERM "$p" 2>/dev/null
    done
    rm -rf "$tmp"
}
trap 'cleanup; hfs_stop' EXIT
trap 'exit 1' HUP PIPE INT TERM
F=$HFS_BIN/httpfstream-follow
A=$HFS_BIN/httpfstream-append
S=$HFS_BIN/httpfstream-sign
root=$HFS_ROOT/root

check "httpfstream-append: HTTPFSTREAM_TOKEN appends; no token is 401, a reader's token 403"
printf 'one\ntwo\n' | HTTPFSTREAM_TOKEN=ci-tok-7f3a "$A" -v "$HFS_URL/ci/job.log" 2>"$tmp/a1.err"
expect_eq "append with the token ($(cat "$tmp/a1.err"))" "$?" 0
expect_eq "the file" "$(cat "$root/ci/job.log")" "$(printf 'one\ntwo')"
printf 'x\n' | "$A" "$HFS_URL/ci/job.log" 2>"$tmp/a2.err"
expect_eq "append without a token" "$?" 1
grep -q "401" "$tmp/a2.err" || fail "no 401 in: $(cat "$tmp/a2.err")"
printf 'x\n' | "$A" -token=reader-tok-91c2 "$HFS_URL/ci/job.log" 2>"$tmp/a3.err"
expect_eq "append with a reader's token" "$?" 1
grep -q "403" "$tmp/a3.err" || fail "no 403 in: $(cat "$tmp/a3.err")"
expect_eq "the file after the refusals" "$(cat "$root/ci/job.log")" "$(printf 'one\ntwo')"

check "httpfstream-follow: -token reads; a wrong token is 401, an appender's 403"
"$F" -v -token=reader-tok-91c2 "$HFS_URL/ci/job.log" >"$tmp/f1.out" 2>"$tmp/f1.err"
expect_eq "follow with the token ($(cat "$tmp/f1.err"))" "$?" 0
expect_eq "follow output" "$(cat "$tmp/f1.out")" "$(printf 'one\ntwo')"
"$F" -token=nobody "$HFS_URL/ci/job.log" >/dev/null 2>"$tmp/f2.err"
expect_eq "follow with an unknown token" "$?" 1
grep -q "401" "$tmp/f2.err" || fail "no 401 in: $(cat "$tmp/f2.err")"
"$F" -token=ci-tok-7f3a "$HFS_URL/ci/job.log" >/dev/null 2>"$tmp/f3.err"
expect_eq "follow with an appender's token" "$?" 1
grep -q "403" "$tmp/f3.err" || fail "no 403 in: $(cat "$tmp/f3.err")"

check "a signed read URL with -wait: the follower waits for the resource, then streams it to its end"
url=$("$S" -key="$tmp/key" -rights=read -ttl=1h "$HFS_URL/ci/job2.log")
expect_eq "httpfstream-sign exit status" "$?" 0
sig=$(printf '%s' "$url" | sed -n 's/.*[?&]sig=\([^&]*\).*/\1/p')
[ -n "$sig" ] || fail "no sig in $url"
"$F" -v -wait "$url" >"$tmp/w.out" 2>"$tmp/w.err" &
wpid=$!
bg_pids="$bg_pids $wpid"
n=0
until [ "$(grep -c 'GET /ci/job2.log?.*FOLLOW' "$HFS_LOG")" -ge 1 ]; do
    n=$((n + 1))
    [ $n -le 200 ] || fail "the -wait follower never asked: $(cat "$tmp/w.err")"
    sleep 0.05
done
alive "$wpid" "the -wait follower"
printf 'built\nok\n' | HTTPFSTREAM_TOKEN=ci-tok-7f3a "$A" "$HFS_URL/ci/job2.log" 2>"$tmp/a4.err" ||
    fail "append: $(cat "$tmp/a4.err")"
wait_exit "$wpid" 10 "the -wait follower"
expect_eq "-wait follower exit status ($(cat "$tmp/w.err"))" "$rc" 0
expect_eq "-wait follower output" "$(cat "$tmp/w.out")" "$(printf 'built\nok')"

check "a tampered signature is refused (403)"
bad=$(printf '%s' "$url" | sed 's/rights=read/rights=read,append/')
"$F" "$bad" >/dev/null 2>"$tmp/t.err"
expect_eq "follow with a tampered URL" "$?" 1
grep -q "403" "$tmp/t.err" || fail "no 403 in: $(cat "$tmp/t.err")"

check "a signed read URL with -resume: the follow goes on across a server killed and started again"
mkfifo "$tmp/in"
HTTPFSTREAM_TOKEN=ci-tok-7f3a "$A" "$HFS_URL/ci/live.log" <"$tmp/in" 2>"$tmp/a5.err" &
apid=$!
bg_pids="$bg_pids $apid"
exec 3>"$tmp/in"
printf 'first\n' >&3
wait_exists "$root/ci/live.log" 5 "the live resource"
lurl=$("$S" -key="$tmp/key" -rights=read -ttl=1h -prefix "$HFS_URL/ci/live.log")
"$F" -v -resume=5 "$lurl" >"$tmp/r.out" 2>"$tmp/r.err" &
rpid=$!
bg_pids="$bg_pids $rpid"
printf 'first\n' >"$tmp/want1"
wait_same "$tmp/r.out" "$tmp/want1" 5 "the resuming follower"
kill -KILL "$HFS_PID"
wait "$HFS_PID" 2>/dev/null
HFS_PID=""
exec 3>&-
wait_exit "$apid" 5 "the appender whose server died"
printf 'while down\n' >>"$root/ci/live.log"
hfs_restart
# No writer is left after the restart: the follower gets the rest from its next byte, then ends.
wait_exit "$rpid" 10 "the resumed follower"
expect_eq "resumed follower exit status ($(cat "$tmp/r.err"))" "$rc" 0
expect_eq "resumed follower output" "$(cat "$tmp/r.out")" "$(printf 'first\nwhile down')"
grep -q 'GET /ci/live.log?expires=[0-9]*&rights=read&sig=REDACTED&.*offset=6' "$HFS_LOG" ||
    fail "no reconnect from offset 6 with the signed query kept in the server's log"

check "no secret in what the commands printed or in the server's log"
for secret in ci-tok-7f3a reader-tok-91c2 "$sig"; do
    for f in "$tmp"/*.err "$HFS_LOG"; do
        ! grep -qF -- "$secret" "$f" || fail "$f shows a secret: $(grep -F -- "$secret" "$f" | head -n 3)"
    done
done
grep -q "sig=REDACTED" "$HFS_LOG" || fail "the server's log shows no redacted signature"
echo "ok: test_auth_cli"
