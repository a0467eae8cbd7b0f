#!/bin/sh
# test_tls_curl.sh -- https:// with curl and our own commands, alone (-http=off), against a test CA made with
# openssl in the test's folder:
# - curl --cacert: a GET (200, body, HTTP/1.1), a HEAD, a 404; ALPN http/1.1 (openssl s_client); plain HTTP
#   to the TLS port gets no answer; curl without the CA fails verification;
# - httpfstream-append -cacert feeding lines from a pipe while httpfstream-follow -cacert and curl -N ?follow
#   follow over TLS: each gets every line, both exit 0 when the appender ends; httpfstream-follow without
#   -cacert refuses the certificate (exit non-zero).
set -u
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

tmp=$(mktemp -d /tmp/hfs-tls.XXXXXX)
ossl() { openssl "$@" 2>>"$tmp/openssl.log" >/dev/null || fail "openssl $1: $(cat "$tmp/openssl.log")"; }
ossl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/ca.key" -out "$tmp/ca.pem" -days 2 -subj "/CN=hfs test CA"
ossl req -newkey rsa:2048 -nodes -keyout "$tmp/srv.key" -out "$tmp/srv.csr" -subj /CN=localhost
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$tmp/ext"
ossl x509 -req -in "$tmp/srv.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" -CAcreateserial -out "$tmp/srv.pem" \
    -days 2 -extfile "$tmp/ext"

hfs_start -http=off -https=127.0.0.1:0 -tls-cert="$tmp/srv.pem" -tls-key="$tmp/srv.key" -ping=300ms
bg_pids=""
cleanup() {
    exec 3>&- 2>/dev/null
    for p in $bg_pids; do
        kill -TERM "$p" 2>/dev/null
    done
    rm -rf "$tmp"
}
trap 'cleanup; hfs_stop' EXIT # replaces the trap hfs_start set
trap 'exit 1' HUP PIPE INT TERM
root=$HFS_ROOT/root
grep -q "listening on https://127.0.0.1:$HFS_PORT," "$HFS_LOG" || fail "no https listening line: $(cat "$HFS_LOG")"
[ "$(grep -c "listening on" "$HFS_LOG")" = 1 ] || fail "-http=off still listens: $(cat "$HFS_LOG")"
url=https://127.0.0.1:$HFS_PORT

check "curl --cacert: GET 200 over HTTP/1.1 with the body, HEAD, 404"
printf 'over TLS\n' >"$root/a.txt"
expect_eq "GET" "$(curl -s --cacert "$tmp/ca.pem" -o "$tmp/get.b" -w '%{http_code} %{http_version}' "$url/a.txt")" \
    "200 1.1"
cmp -s "$tmp/get.b" "$root/a.txt" || fail "body differs: $(cat "$tmp/get.b")"
expect_eq "HEAD" "$(curl -s -I --cacert "$tmp/ca.pem" -o /dev/null -w '%{http_code}' "$url/a.txt")" 200
expect_eq "404" "$(curl -s --cacert "$tmp/ca.pem" -o /dev/null -w '%{http_code}' "$url/none.txt")" 404
expect_eq "localhost" "$(curl -s --cacert "$tmp/ca.pem" "https://localhost:$HFS_PORT/a.txt")" "over TLS"

check "ALPN http/1.1; TLS 1.2 is accepted"
alpn=$(openssl s_client -connect "127.0.0.1:$HFS_PORT" -alpn http/1.1 -CAfile "$tmp/ca.pem" </dev/null 2>&1 |
    sed -n 's/^ALPN protocol: //p')
expect_eq "ALPN" "$alpn" "http/1.1"
openssl s_client -connect "127.0.0.1:$HFS_PORT" -tls1_2 -CAfile "$tmp/ca.pem" </dev/null 2>&1 |
    grep -q "Verify return code: 0" || fail "a TLS 1.2 handshake failed"

check "plain HTTP to the TLS port gets no HTTP answer; curl without the CA fails verification"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$HFS_PORT/a.txt")
expect_eq "plain HTTP status" "$code" 000
curl -s -o /dev/null --max-time 5 "$url/a.txt" && fail "curl trusted an unknown CA"

check "httpfstream-append -cacert from a pipe; httpfstream-follow -cacert and curl -N ?follow get every line"
mkfifo "$tmp/in"
"$HFS_BIN/httpfstream-append" -cacert="$tmp/ca.pem" "$url/live/x.log" <"$tmp/in" 2>"$tmp/append.err" &
apid=$!
bg_pids="$bg_pids $apid"
exec 3>"$tmp/in"
printf 'line 0\n' >&3
wait_exists "$root/live/x.log" 5 "the appended file"
"$HFS_BIN/httpfstream-follow" -cacert="$tmp/ca.pem" "$url/live/x.log" >"$tmp/follow.out" 2>"$tmp/follow.err" 3>&- &
fpid=$!
curl -sN --cacert "$tmp/ca.pem" "$url/live/x.log?follow" >"$tmp/curl.out" 2>"$tmp/curl.err" 3>&- &
cpid=$!
bg_pids="$bg_pids $fpid $cpid"
"$HFS_BIN/httpfstream-follow" "$url/live/x.log" >/dev/null 2>"$tmp/noca.err" 3>&-
[ $? -ne 0 ] || fail "httpfstream-follow trusted an unknown CA"
i=1
: >"$tmp/want"
printf 'line 0\n' >>"$tmp/want"
while [ $i -le 200 ]; do
    printf 'line %d of a stream over TLS\n' $i >&3
    printf 'line %d of a stream over TLS\n' $i >>"$tmp/want"
    i=$((i + 1))
done
wait_same "$tmp/follow.out" "$tmp/want" 10 "httpfstream-follow"
wait_same "$tmp/curl.out" "$tmp/want" 10 "curl -N ?follow"
exec 3>&-
wait_exit "$apid" 10 "httpfstream-append"
expect_eq "httpfstream-append exit" "$rc" 0
wait_exit "$fpid" 10 "httpfstream-follow"
expect_eq "httpfstream-follow exit" "$rc" 0
wait_exit "$cpid" 10 "curl -N"
expect_eq "curl exit" "$rc" 0
cmp -s "$root/live/x.log" "$tmp/want" || fail "the file differs from what was appended"
echo "ok: test_tls_curl"
