#!/bin/sh
# test_nginx.sh -- the nginx configuration of docs/OPERATIONS.md ("Behind nginx"), taken from the
# document itself (so the document cannot rot: only its two addresses are changed, upstream and
# listen), run by Debian's nginx on a loopback port of its own in front of a server this test
# starts. Through nginx:
# - a streaming chunked PUT (curl -T - from a pipe, X-Append-Offset: 0): its first line reaches the
#   file while the PUT is still open (the body is not buffered);
# - curl -N ?follow, an SSE reader (Accept: text/event-stream) and a WebSocket follower (Debian's
#   python3-websockets) each get each line while the writer is still writing;
# - the writer ends: the PUT gets 201 with X-Resource-Size, ?follow ends, SSE gets its end event,
#   the WebSocket CLOSE 1000, each holding every byte;
# - X-Append-Offset through nginx: a stale offset gets 409 with X-Resource-Size and appends
#   nothing, the right one appends.
# nginx and the server are stopped by pid. Skipped, with a note, when nginx is not installed
# (Debian: nginx-light).
set -u
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
top=$(cd "$(dirname "$0")/../.." && pwd)
PY=/usr/bin/python3
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if [ ! -x "$NGINX" ]; then
    echo "skipped: no nginx (Debian package nginx-light)"
    exit 0
fi

tmp=$(mktemp -d /tmp/hfs-nginx.XXXXXX)
chmod 755 "$tmp" # nginx's workers (nobody, when started as root) use its temp folders
bg_pids=""
ngx_pid=""
cleanup() {
    exec 3>&- 2>/dev/null
    [ -z "$ngx_pid" ] || kill -TERM "$ngx_pid" 2>/dev/null
    for p in $bg_pids; do
        kill -TERM "$p" 2>/dev/null
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP PIPE INT TERM

check "the nginx block of docs/OPERATIONS.md, \"Behind nginx\", with only its addresses changed"
doc_nginx_block "$top/docs/OPERATIONS.md" "Behind nginx" "$tmp/doc.conf"
# shellcheck disable=SC2016 # nginx variables, not the shell's
for k in "proxy_http_version 1.1;" "proxy_buffering off;" "proxy_request_buffering off;" \
    "client_max_body_size 0;" "chunked_transfer_encoding on;" "proxy_read_timeout 24h;" \
    'proxy_set_header Upgrade $http_upgrade;' 'proxy_set_header Connection $connection_upgrade;'; do
    grep -qF -- "$k" "$tmp/doc.conf" || fail "the documented block lacks $k"
done

hfs_start -ping=300ms
trap 'cleanup; hfs_stop' EXIT # replaces the trap hfs_start set
nport=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sed -e "s/^\( *server \)127\.0\.0\.1:8080;/\1127.0.0.1:$HFS_PORT;/" \
    -e "s/^\( *listen \)80;/\1127.0.0.1:$nport;/" "$tmp/doc.conf" >"$tmp/httpfstream.conf"
{ grep -q "server 127.0.0.1:$HFS_PORT;" "$tmp/httpfstream.conf" &&
    grep -q "listen 127.0.0.1:$nport;" "$tmp/httpfstream.conf"; } ||
    fail "the block's addresses (server 127.0.0.1:8080; listen 80;) were not found"
mkdir "$tmp/ngx"
cat >"$tmp/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $tmp/ngx/nginx.pid;
error_log $tmp/ngx/error.log info;
events { worker_connections 128; }
http {
    access_log $tmp/ngx/access.log;
    client_body_temp_path $tmp/ngx/client_body;
    proxy_temp_path $tmp/ngx/proxy;
    fastcgi_temp_path $tmp/ngx/fastcgi;
    uwsgi_temp_path $tmp/ngx/uwsgi;
    scgi_temp_path $tmp/ngx/scgi;
    include $tmp/httpfstream.conf;
}
EOF
"$NGINX" -t -p "$tmp/ngx" -c "$tmp/nginx.conf" -e "$tmp/ngx/error.log" >"$tmp/ngx-t.log" 2>&1 ||
    fail "nginx -t: $(cat "$tmp/ngx-t.log")"
"$NGINX" -p "$tmp/ngx" -c "$tmp/nginx.conf" -e "$tmp/ngx/error.log" </dev/null \
    >"$tmp/ngx-out.log" 2>&1 &
ngx_pid=$!
n=0
until curl -s -o /dev/null "http://127.0.0.1:$nport/"; do
    n=$((n + 1))
    [ $n -le 200 ] || fail "nginx did not answer: $(cat "$tmp/ngx-out.log" "$tmp/ngx/error.log")"
    alive "$ngx_pid" "nginx ($(cat "$tmp/ngx-out.log" "$tmp/ngx/error.log"))"
    sleep 0.05
done
url=http://127.0.0.1:$nport
root=$HFS_ROOT/root

check "a streaming chunked PUT through nginx: the first line is in the file while the PUT is open"
mkfifo "$tmp/in"
curl -sS -T - -H 'X-Append-Offset: 0' -D "$tmp/put.h" -o "$tmp/put.b" "$url/n/a.log" \
    <"$tmp/in" 2>"$tmp/put.err" &
put_pid=$!
bg_pids="$bg_pids $put_pid"
exec 3>"$tmp/in"
printf 'line 1\n' >&3
printf 'line 1\n' >"$tmp/want"
wait_same "$root/n/a.log" "$tmp/want" 10 "the file, through nginx's streamed body"
alive "$put_pid" "the PUT"

check "curl -N ?follow, SSE and a WebSocket follower through nginx get each line while it is written"
curl -sSN "$url/n/a.log?follow" >"$tmp/follow.out" 2>"$tmp/follow.err" 3>&- &
fol_pid=$!
curl -sSN -H 'Accept: text/event-stream' "$url/n/a.log" >"$tmp/sse.out" 2>"$tmp/sse.err" 3>&- &
sse_pid=$!
# The WebSocket follower writes each message's bytes to its file as they come, then "CLOSE code".
(
    exec 3>&-
    ws_follow_to_file "ws://127.0.0.1:$nport/n/a.log" "$tmp/ws.out" "$tmp/ws.close" 10
) &
ws_pid=$!
bg_pids="$bg_pids $fol_pid $sse_pid $ws_pid"
wait_same "$tmp/follow.out" "$tmp/want" 10 "curl -N ?follow (first line)"
wait_grep '^data: line 1$' "$tmp/sse.out" 10 "SSE (first line)"
wait_same "$tmp/ws.out" "$tmp/want" 10 "the WebSocket follower (first line)"
printf 'line 2\n' >&3
printf 'line 2\n' >>"$tmp/want"
wait_same "$tmp/follow.out" "$tmp/want" 10 "curl -N ?follow (second line, live)"
wait_grep '^data: line 2$' "$tmp/sse.out" 10 "SSE (second line, live)"
wait_same "$tmp/ws.out" "$tmp/want" 10 "the WebSocket follower (second line, live)"
alive "$put_pid" "the PUT"

check "the writer ends: 201 with X-Resource-Size; every follower ends with every byte"
exec 3>&-
wait_exit "$put_pid" 10 "the PUT"
expect_eq "PUT exit ($(cat "$tmp/put.err"))" "$rc" 0
grep -q '^HTTP/1.1 201' "$tmp/put.h" || fail "PUT status: $(cat "$tmp/put.h")"
grep -qi '^X-Resource-Size: 14' "$tmp/put.h" || fail "PUT X-Resource-Size: $(cat "$tmp/put.h")"
wait_exit "$fol_pid" 10 "curl -N ?follow"
expect_eq "curl ?follow exit ($(cat "$tmp/follow.err"))" "$rc" 0
cmp -s "$tmp/follow.out" "$tmp/want" || fail "?follow got [$(cat "$tmp/follow.out")]"
wait_exit "$sse_pid" 10 "the SSE reader"
expect_eq "SSE exit ($(cat "$tmp/sse.err"))" "$rc" 0
grep -q '^event: end$' "$tmp/sse.out" || fail "no SSE end event: $(cat "$tmp/sse.out")"
wait_exit "$ws_pid" 10 "the WebSocket follower"
expect_eq "WebSocket follower exit" "$rc" 0
expect_eq "WebSocket close" "$(cat "$tmp/ws.close")" "CLOSE 1000"
cmp -s "$tmp/ws.out" "$tmp/want" || fail "the WebSocket follower got [$(cat "$tmp/ws.out")]"

check "X-Append-Offset through nginx: a stale offset gets 409 and appends nothing; the right one 200"
code=$(printf 'again\n' | curl -sS -T - -H 'X-Append-Offset: 7' -D "$tmp/p2.h" -o /dev/null \
    -w '%{http_code}' "$url/n/a.log")
expect_eq "stale offset" "$code" 409
grep -qi '^X-Resource-Size: 14' "$tmp/p2.h" || fail "409 without X-Resource-Size: $(cat "$tmp/p2.h")"
cmp -s "$root/n/a.log" "$tmp/want" || fail "a refused PUT changed the file"
code=$(printf 'line 3\n' | curl -sS -T - -H 'X-Append-Offset: 14' -o /dev/null -w '%{http_code}' \
    "$url/n/a.log")
expect_eq "right offset" "$code" 200
printf 'line 3\n' >>"$tmp/want"
cmp -s "$root/n/a.log" "$tmp/want" || fail "the file: [$(cat "$root/n/a.log")]"

kill -TERM "$ngx_pid"
wait_exit "$ngx_pid" 10 "nginx after SIGTERM"
ngx_pid=""
! grep -q '\[\(alert\|emerg\|crit\)\]' "$tmp/ngx/error.log" ||
    fail "nginx complained: $(cat "$tmp/ngx/error.log")"
echo "ok: test_nginx"
