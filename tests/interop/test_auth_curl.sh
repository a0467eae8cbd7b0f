#!/bin/sh
# test_auth_curl.sh -- access control (-auth, -sign-key; docs/SECURITY.md, "Access control") as curl sees it:
# - curl -H 'Authorization: Bearer TOKEN' and URL?token=TOKEN read, follow (-N ?follow, live, while a curl -T -
#   upload with its own token runs) and append (--data-binary, -T); without a credential 401 with
#   WWW-Authenticate: Bearer realm="httpfstream", a token without the right 403, a malformed one 400, none of the
#   answers echoing the URL or the token;
# - the Durable Streams endpoint: PUT, POST, GET, DELETE with the token, a refusal with its CORS headers, an
#   OPTIONS preflight with no credential;
# - a signed URL made here with openssl (HMAC-SHA256, base64url): it reads, and a moved, tampered or expired one is
#   403; a prefix-signed one reads below its prefix;
# - kill -HUP with a changed rules file: the new token works, the old one is 401; the server log holds no token,
#   no signature and no Authorization header.
set -u
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

tmp=$(mktemp -d /tmp/hfs-authc.XXXXXX)
KEY='curl test key: not a secret anywhere else'
printf '%s\n' "$KEY" >"$tmp/key"
cat >"$tmp/rules" <<'EOF'
# rights   prefix        token
read       /ci/          ci-reader-7d1f
read,append /ci/         ci-writer-93ab
read,append,delete /v1/stream/ ds-admin-51c0
read       /pub/         *
EOF
hfs_start -auth="$tmp/rules" -sign-key="$tmp/key"
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
mkdir -p "$root/ci" "$root/pub"
printf 'line 1\n' >"$root/ci/a.log"
printf 'public\n' >"$root/pub/p.txt"

# code URL [curl args...]: the status only
code() {
    u=$1
    shift
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" "$u"
}
# fetch NAME URL [curl args...]: headers to $tmp/NAME.h, body to $tmp/NAME.b, status printed
fetch() {
    n=$1
    u=$2
    shift 2
    curl -s -D "$tmp/$n.h" -o "$tmp/$n.b" -w '%{http_code}' --max-time 5 "$@" "$u"
}
hdr() {
    tr -d '\r' <"$tmp/$1.h" | sed -n "s/^$2: *//Ip" | head -n 1
}
# sign RIGHTS EXPIRES PATH: the signed query, made as docs/SECURITY.md says, with openssl.
sign() {
    sig=$(printf 'httpfstream-sign-v1\n%s\n%s\n%s' "$1" "$2" "$3" |
        openssl dgst -sha256 -hmac "$KEY" -binary | base64 | tr '+/' '-_' | tr -d '=\n')
    printf 'expires=%s&rights=%s&sig=%s' "$2" "$1" "$sig"
}

check "no credential: 401 with WWW-Authenticate and a short body that names neither the path nor a token"
expect_eq "status" "$(fetch none "$HFS_URL/ci/a.log")" 401
expect_eq "WWW-Authenticate" "$(hdr none WWW-Authenticate)" 'Bearer realm="httpfstream"'
expect_eq "body" "$(cat "$tmp/none.b")" "401 unauthorized: a credential is needed"

check "curl -H 'Authorization: Bearer' and ?token= read; the wrong token is 401, a token without the right 403"
expect_eq "header" "$(fetch hd "$HFS_URL/ci/a.log" -H 'Authorization: Bearer ci-reader-7d1f')" 200
expect_eq "header body" "$(cat "$tmp/hd.b")" "line 1"
expect_eq "?token=" "$(fetch qt "$HFS_URL/ci/a.log?token=ci-reader-7d1f")" 200
expect_eq "?token= body" "$(cat "$tmp/qt.b")" "line 1"
expect_eq "unknown token" "$(fetch unk "$HFS_URL/ci/a.log?token=guess")" 401
expect_eq "reader appends" "$(fetch ro "$HFS_URL/ci/a.log" -H 'Authorization: Bearer ci-reader-7d1f' \
    --data-binary 'x')" 403
expect_eq "403 body" "$(cat "$tmp/ro.b")" "403 forbidden"
[ -z "$(hdr ro WWW-Authenticate)" ] || fail "a 403 carries WWW-Authenticate"
expect_eq "file unchanged" "$(cat "$root/ci/a.log")" "line 1"
expect_eq "two tokens" "$(fetch two "$HFS_URL/ci/a.log?token=a&token=b")" 400
expect_eq "Basic" "$(code "$HFS_URL/ci/a.log" -u user:pass)" 400
for n in none unk ro two; do
    ! grep -q "ci/\|guess\|7d1f\|token" "$tmp/$n.b" || fail "$n: the body echoes the request: $(cat "$tmp/$n.b")"
done
expect_eq "anonymous /pub/" "$(code "$HFS_URL/pub/p.txt")" 200
expect_eq "not above /pub/" "$(code "$HFS_URL/pub/p.txt" -X PUT --data-binary 'x')" 401

check "curl -N ?follow with ?token= shows what a curl -T - upload with the header appends, live"
mkfifo "$tmp/in"
curl -sS -T - -H 'Authorization: Bearer ci-writer-93ab' -o /dev/null -w '%{http_code}' \
    "$HFS_URL/ci/live.log" <"$tmp/in" >"$tmp/put.code" 2>"$tmp/put.err" &
put_pid=$!
bg_pids="$bg_pids $put_pid"
exec 3>"$tmp/in"
printf 'one\n' >&3
printf 'one\n' >"$tmp/want"
wait_same "$root/ci/live.log" "$tmp/want" 5 "the first line on disk"
curl -sSN "$HFS_URL/ci/live.log?follow&token=ci-reader-7d1f" >"$tmp/follow.out" 2>"$tmp/follow.err" 3>&- &
fol_pid=$!
bg_pids="$bg_pids $fol_pid"
wait_same "$tmp/follow.out" "$tmp/want" 5 "the follower: the bytes so far"
printf 'two\n' >&3
printf 'two\n' >>"$tmp/want"
wait_same "$tmp/follow.out" "$tmp/want" 5 "the follower: a line appended while it follows"
exec 3>&-
wait_exit "$put_pid" 5 "the upload"
expect_eq "upload status" "$(cat "$tmp/put.code")" 201
wait_exit "$fol_pid" 5 "the follower, once the upload ended"
expect_eq "follower exit" "$rc" 0
cmp -s "$tmp/follow.out" "$root/ci/live.log" || fail "the follower's bytes differ from the file"

check "Durable Streams with the token: PUT, POST, GET, DELETE; a refusal keeps the CORS headers; OPTIONS is open"
ds=$HFS_URL/v1/stream/job
A='Authorization: Bearer ds-admin-51c0'
expect_eq "PUT" "$(code "$ds" -X PUT -H "$A" -H 'Content-Type: text/plain')" 201
expect_eq "POST" "$(code "$ds" -X POST -H "$A" -H 'Content-Type: text/plain' --data-binary 'hello')" 204
expect_eq "GET" "$(fetch dsget "$ds?offset=-1&token=ds-admin-51c0")" 200
expect_eq "GET body" "$(cat "$tmp/dsget.b")" "hello"
expect_eq "POST refused" "$(fetch dsno "$ds" -X POST -H 'Content-Type: text/plain' --data-binary 'no')" 401
expect_eq "CORS on the refusal" "$(hdr dsno Access-Control-Allow-Origin)" "*"
case "$(hdr dsno Access-Control-Expose-Headers)" in *WWW-Authenticate*) ;; *) fail "WWW-Authenticate not exposed" ;; esac
expect_eq "WWW-Authenticate" "$(hdr dsno WWW-Authenticate)" 'Bearer realm="httpfstream"'
expect_eq "a reader deletes" "$(code "$ds" -X DELETE -H 'Authorization: Bearer ci-reader-7d1f')" 403
expect_eq "OPTIONS" "$(code "$ds" -X OPTIONS -H 'Origin: http://example.com' \
    -H 'Access-Control-Request-Method: POST' -H 'Access-Control-Request-Headers: authorization')" 204
expect_eq "DELETE" "$(code "$ds" -X DELETE -H "$A")" 204

check "a signed URL made with openssl reads; moved, tampered or expired is 403; a prefix-signed one reads below"
later=$(($(date +%s) + 600))
q=$(sign read "$later" /ci/a.log)
expect_eq "signed" "$(fetch sg "$HFS_URL/ci/a.log?$q")" 200
expect_eq "signed body" "$(cat "$tmp/sg.b")" "line 1"
expect_eq "signed ?follow" "$(code "$HFS_URL/ci/a.log?follow&$q")" 200
expect_eq "moved" "$(code "$HFS_URL/ci/live.log?$q")" 403
expect_eq "tampered" "$(code "$HFS_URL/ci/a.log?$(sign read "$later" /ci/a.log | sed 's/expires=[0-9]*/expires=1/')")" 403
expect_eq "appending" "$(code "$HFS_URL/ci/a.log?$q" --data-binary 'x')" 403
expect_eq "expired" "$(code "$HFS_URL/ci/a.log?$(sign read $(($(date +%s) - 10)) /ci/a.log)")" 403
p=$(sign read,append "$later" /ci/)
expect_eq "prefix-signed" "$(code "$HFS_URL/ci/live.log?$p")" 200
expect_eq "prefix-signed listing" "$(code "$HFS_URL/ci/?$p" -H 'Accept: application/json')" 200
expect_eq "prefix-signed append" "$(code "$HFS_URL/ci/new.log?$p" --data-binary 'new')" 201
expect_eq "outside the prefix" "$(code "$HFS_URL/pub/p.txt?$p" -X PUT --data-binary 'x')" 403

check "kill -HUP with a changed rules file: the new token reads, the old one is 401"
printf 'read /ci/ ci-new-reader\n' >"$tmp/rules"
kill -HUP "$HFS_PID"
n=0
until grep -q "reload: access rules read" "$HFS_LOG"; do
    n=$((n + 1))
    [ $n -le 100 ] || fail "no reload in the log: $(cat "$HFS_LOG")"
    sleep 0.05
done
expect_eq "new token" "$(code "$HFS_URL/ci/a.log" -H 'Authorization: Bearer ci-new-reader')" 200
expect_eq "old token" "$(code "$HFS_URL/ci/a.log" -H 'Authorization: Bearer ci-reader-7d1f')" 401

check "the log: requests logged, with token and sig REDACTED; no token, signature or Authorization header"
grep -q '"GET /ci/a.log?token=REDACTED" 200' "$HFS_LOG" || fail "no redacted ?token= line: $(cat "$HFS_LOG")"
grep -q 'sig=REDACTED" 200' "$HFS_LOG" || fail "no redacted sig line"
sig=$(printf '%s' "$q" | sed 's/.*sig=//')
! grep -q -e 7d1f -e 93ab -e 51c0 -e ci-new-reader -e guess -e "$sig" -e Bearer -e Authorization "$HFS_LOG" ||
    fail "a secret in the log: $(grep -e 7d1f -e 93ab -e 51c0 -e ci-new-reader -e guess -e "$sig" -e Bearer "$HFS_LOG")"

echo "ok: test_auth_curl"
