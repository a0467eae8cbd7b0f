#!/bin/sh
# test_tls_ops.sh -- TLS (-https) together with what runs it as a service, against a test CA made
# with openssl:
# - one server with -http, -https, -auth, -metrics and -log-format=json: over https:// a request
#   without a token gets 401, a PUT with the append token 201, httpfstream-follow -cacert -token
#   reads it back; /metrics counts the TLS responses (2xx and 4xx) like the plain ones; each TLS
#   request is one JSON access line with its status and bytes, and no token in the log;
# - socket activation: systemd-socket-activate passes two sockets named http and https
#   (--fdname=http:https, as FileDescriptorName= in a socket unit); the server serves plain HTTP on
#   the first and TLS on the second (and -https beside them), and says so; a socket named https without -tls-cert is a
#   usage error (exit 2). Skipped, with a note, without systemd-socket-activate.
set -u
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
PY=/usr/bin/python3
tmp=$(mktemp -d /tmp/hfs-tlsops.XXXXXX)
ossl() { openssl "$@" 2>>"$tmp/openssl.log" >/dev/null || fail "openssl $1: $(cat "$tmp/openssl.log")"; }
ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/ca.key" \
    -out "$tmp/ca.pem" -days 2 -subj "/CN=hfs ops test CA"
ossl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/srv.key" \
    -out "$tmp/srv.csr" -subj /CN=localhost
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$tmp/ext"
ossl x509 -req -in "$tmp/srv.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" -CAcreateserial \
    -out "$tmp/srv.pem" -days 2 -extfile "$tmp/ext"
printf 'append /t/ app-SECRET-1\nread /t/ rd-SECRET-2\n' >"$tmp/rules"
bg_pids=""
cleanup() {
    for p in $bg_pids; do
        kill -TERM "$p" 2>/dev/null
    done
    rm -rf "$tmp"
}

# wait_grep PATTERN FILE WHAT: waits up to 10 s until FILE has a line matching PATTERN.
wait_grep() {
    n=0
    until grep -q "$1" "$2" 2>/dev/null; do
        n=$((n + 1))
        [ $n -le 200 ] || fail "$3: no \"$1\" after 10 s in: $(cat "$2" 2>/dev/null)"
        sleep 0.05
    done
}

# scrape NAME: the value of the metric line NAME (with its labels) at -metrics.
scrape() {
    curl -sS "http://127.0.0.1:$mport/metrics" | awk -v k="$1" '$1 == k { print $2 }'
}

hfs_start -https=127.0.0.1:0 -tls-cert="$tmp/srv.pem" -tls-key="$tmp/srv.key" \
    -auth="$tmp/rules" -metrics=127.0.0.1:0 -log-format=json
trap 'hfs_stop; cleanup' EXIT # replaces the trap hfs_start set
wait_grep 'metrics on 127.0.0.1:' "$HFS_LOG" "the metrics line"
tport=$(sed -n 's/.*listening on https:\/\/127\.0\.0\.1:\([0-9]*\),.*/\1/p' "$HFS_LOG")
mport=$(sed -n 's/.*metrics on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$HFS_LOG")
{ [ -n "$tport" ] && [ -n "$mport" ]; } || fail "no https or metrics port: $(cat "$HFS_LOG")"
surl=https://127.0.0.1:$tport

check "-auth over https://: 401 without a token, 201 for a PUT with the append token"
ok0=$(scrape 'httpfstream_requests_total{code="2xx"}')
bad0=$(scrape 'httpfstream_requests_total{code="4xx"}')
expect_eq "GET without a token" \
    "$(curl -sS --cacert "$tmp/ca.pem" -o /dev/null -w '%{http_code}' "$surl/t/a.log")" 401
out=$(printf 'over TLS\n' | curl -sS --cacert "$tmp/ca.pem" -o /dev/null -w '%{http_code}' -X PUT \
    -H 'Authorization: Bearer app-SECRET-1' --data-binary @- "$surl/t/a.log")
expect_eq "PUT with the append token" "$out" 201
expect_eq "PUT with the read token" "$(printf 'x' | curl -sS --cacert "$tmp/ca.pem" -o /dev/null \
    -w '%{http_code}' -X PUT -H 'Authorization: Bearer rd-SECRET-2' --data-binary @- \
    "$surl/t/a.log")" 403

check "httpfstream-follow -cacert -token over https:// reads it back; the plain listener still serves"
expect_eq "follow" "$("$HFS_BIN/httpfstream-follow" -cacert="$tmp/ca.pem" -token=rd-SECRET-2 \
    "$surl/t/a.log")" "over TLS"
expect_eq "plain GET" "$(curl -sS -H 'Authorization: Bearer rd-SECRET-2' "$HFS_URL/t/a.log")" \
    "over TLS"

check "/metrics counts the TLS responses: 2xx by 3 (PUT, follow, plain GET), 4xx by 2"
expect_eq "2xx" "$(scrape 'httpfstream_requests_total{code="2xx"}')" $((ok0 + 3))
expect_eq "4xx" "$(scrape 'httpfstream_requests_total{code="4xx"}')" $((bad0 + 2))

check "-log-format=json: one access line per TLS request, with status and bytes; no token"
n=0
until [ "$(grep -c '"status"' "$HFS_LOG")" -ge 5 ]; do
    n=$((n + 1))
    [ $n -le 100 ] || fail "not 5 request lines after 5 s: $(cat "$HFS_LOG")"
    sleep 0.05
done
cp "$HFS_LOG" "$tmp/log"
"$PY" - "$tmp/log" <<'PYEOF' || fail "the JSON log: $(cat "$tmp/log")"
import json, sys
reqs = [o for o in map(json.loads, open(sys.argv[1], encoding="utf-8")) if "status" in o]
got = [(o["method"], o["path"], o["status"]) for o in reqs]
assert got == [("GET", "/t/a.log", 401), ("PUT", "/t/a.log", 201), ("PUT", "/t/a.log", 403),
               ("GET", "/t/a.log", 200), ("GET", "/t/a.log", 200)], got
for o in reqs:
    assert o["client"].startswith("127.0.0.1:") and o["bytes"] > 0, o
# the follow over TLS sent its 9-byte body after the head: plaintext bytes are counted
assert reqs[3]["bytes"] > 9, reqs[3]
PYEOF
! grep -q SECRET "$tmp/log" || fail "a token in the log: $(cat "$tmp/log")"
hfs_stop
trap cleanup EXIT

if command -v systemd-socket-activate >/dev/null 2>&1; then
    check "socket activation: sockets named http and https, plain on one and TLS on the other"
    ports=$("$PY" -c '
import socket
ss = [socket.socket() for _ in range(2)]
for s in ss:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))')
    p1=${ports% *}
    p2=${ports#* }
    systemd-socket-activate -l "127.0.0.1:$p1" -l "127.0.0.1:$p2" --fdname=http:https \
        "$HFS_BIN/httpfstream-server" -root="$tmp/root" -tls-cert="$tmp/srv.pem" \
        -tls-key="$tmp/srv.key" -https=127.0.0.1:0 2>"$tmp/sa.log" &
    sa_pid=$!
    bg_pids="$bg_pids $sa_pid"
    wait_grep "Listening on" "$tmp/sa.log" "systemd-socket-activate"
    out=$(printf 'activated\n' | curl -sS --retry 5 --retry-connrefused --cacert "$tmp/ca.pem" \
        -X PUT --data-binary @- -o /dev/null -w '%{http_code}' "https://127.0.0.1:$p2/s.log" 2>&1)
    expect_eq "PUT over TLS on the https socket" "$out" 201
    expect_eq "GET on the http socket" "$(curl -sS "http://127.0.0.1:$p1/s.log")" activated
    expect_eq "plain HTTP on the https socket" \
        "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$p2/s.log")" 000
    grep -q "listening on 2 sockets from systemd (port $p2, TLS on those named https)" \
        "$tmp/sa.log" || fail "no socket activation line: $(cat "$tmp/sa.log")"
    grep -q "listening on https://127.0.0.1:[0-9]*, root" "$tmp/sa.log" ||
        fail "no -https line beside the sockets: $(cat "$tmp/sa.log")"
    kill -TERM "$sa_pid"
    wait_exit "$sa_pid" 15 "the server after SIGTERM"
    expect_eq "exit status ($(cat "$tmp/sa.log"))" "$rc" 0
    ! grep -q "Sanitizer\|runtime error" "$tmp/sa.log" || fail "sanitizer: $(cat "$tmp/sa.log")"

    check "a socket named https without -tls-cert and -tls-key: usage error, exit 2"
    systemd-socket-activate -l "127.0.0.1:$p2" --fdname=https "$HFS_BIN/httpfstream-server" \
        -root="$tmp/root" 2>"$tmp/sa2.log" &
    sa_pid=$!
    bg_pids="$bg_pids $sa_pid"
    wait_grep "Listening on" "$tmp/sa2.log" "systemd-socket-activate"
    curl -s -m 5 -o /dev/null "http://127.0.0.1:$p2/" 2>/dev/null
    wait_exit "$sa_pid" 15 "the server without a certificate"
    expect_eq "exit status ($(cat "$tmp/sa2.log"))" "$rc" 2
    grep -q "needs -tls-cert" "$tmp/sa2.log" || fail "no reason given: $(cat "$tmp/sa2.log")"
else
    echo "skipped: no systemd-socket-activate (Debian package systemd)"
fi
echo "ok: test_tls_ops"
