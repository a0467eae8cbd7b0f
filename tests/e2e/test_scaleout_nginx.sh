#!/bin/sh
# test_scaleout_nginx.sh -- the nginx block of docs/SCALE-OUT.md ("Behind a load balancer: nginx"),
# taken from the document itself (only its addresses are changed: the three upstream servers and
# listen), run by Debian's nginx in front of three httpfstream nodes on a three-server NATS
# JetStream cluster (tests/nats/cluster.sh), all on loopback and stopped by pid. Through nginx,
# whichever node each request lands on (least_conn spreads them):
# - a streaming chunked PUT (curl -T - from a pipe): its first line is in every node's copy while
#   the PUT is still open;
# - curl -N ?follow, an SSE reader and a WebSocket follower (python3-websockets) get each line
#   while it is written, and end with every byte when the PUT ends (201 with X-Resource-Size);
# - a stale X-Append-Offset gets 409 with the shared size, the right one appends;
# - Durable Streams: create, append and read back through nginx;
# - one node stopped: requests through nginx still get every byte from the others.
# Skipped, with a note, when nginx, nats-server or the server's -store flag is missing.
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
command -v nats-server >/dev/null 2>&1 || {
    echo "skipped: no nats-server (scripts/deps.sh test)"
    exit 0
}
"$HFS_BIN/httpfstream-server" -h 2>&1 | grep -q -- '-store' || {
    echo "skipped: this httpfstream-server has no -store flag"
    exit 0
}

tmp=$(mktemp -d /tmp/hfs-scaleout.XXXXXX)
chmod 755 "$tmp" # nginx's workers (nobody, when started as root) use its temp folders
bg_pids=""
ngx_pid=""
node_pids=""
cluster_up=""
cleanup() {
    exec 3>&- 2>/dev/null
    [ -z "$ngx_pid" ] || kill -TERM "$ngx_pid" 2>/dev/null
    for p in $bg_pids $node_pids; do
        kill -TERM "$p" 2>/dev/null
    done
    [ -z "$cluster_up" ] || sh "$top/tests/nats/cluster.sh" stop "$tmp/nats"
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP PIPE INT TERM

check "the nginx block of docs/SCALE-OUT.md, with only its addresses changed"
doc_nginx_block "$top/docs/SCALE-OUT.md" "Behind a load balancer: nginx" "$tmp/doc.conf"
# shellcheck disable=SC2016 # nginx variables, not the shell's
for k in "proxy_http_version 1.1;" "proxy_buffering off;" "proxy_request_buffering off;" \
    "client_max_body_size 0;" "proxy_read_timeout 24h;" "least_conn;" \
    'proxy_set_header Upgrade $http_upgrade;' 'proxy_set_header Connection $connection_upgrade;'; do
    grep -qF -- "$k" "$tmp/doc.conf" || fail "the documented block lacks $k"
done
expect_eq "upstream servers in the block" "$(grep -c '^ *server 10\.0\.0\.[123]:8080 ' "$tmp/doc.conf")" 3

check "three nats-servers and three nodes"
urls=$(sh "$top/tests/nats/cluster.sh" start "$tmp/nats") || fail "the NATS cluster did not start"
cluster_up=1
for i in 1 2 3; do
    "$HFS_BIN/httpfstream-server" -root="$tmp/node$i" -http=127.0.0.1:0 -store="$urls" -lease=2s \
        -ping=300ms 2>"$tmp/node$i.log" &
    eval "pid$i=$!"
    node_pids="$node_pids $!"
done
for i in 1 2 3; do
    n=0
    until grep -q "listening on" "$tmp/node$i.log" 2>/dev/null; do
        n=$((n + 1))
        [ $n -le 600 ] || fail "node $i did not start: $(cat "$tmp/node$i.log")"
        alive "$(eval echo "\$pid$i")" "node $i ($(cat "$tmp/node$i.log"))"
        sleep 0.05
    done
    eval "port$i=$(sed -n 's/.*listening on [^,]*:\([0-9][0-9]*\),.*/\1/p' "$tmp/node$i.log" | head -n 1)"
done
nport=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# shellcheck disable=SC2154 # port1..3 are set by eval above
sed -e "s/^\( *server \)10\.0\.0\.1:8080 /\1127.0.0.1:$port1 /" \
    -e "s/^\( *server \)10\.0\.0\.2:8080 /\1127.0.0.1:$port2 /" \
    -e "s/^\( *server \)10\.0\.0\.3:8080 /\1127.0.0.1:$port3 /" \
    -e "s/^\( *listen \)80;/\1127.0.0.1:$nport;/" "$tmp/doc.conf" >"$tmp/cluster.conf"
expect_eq "upstream servers rewritten" "$(grep -c '^ *server 127\.0\.0\.1:' "$tmp/cluster.conf")" 3
grep -q "listen 127.0.0.1:$nport;" "$tmp/cluster.conf" || fail "the block's listen 80; was not found"
mkdir "$tmp/ngx"
cat >"$tmp/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $tmp/ngx/nginx.pid;
error_log $tmp/ngx/error.log info;
events { worker_connections 256; }
http {
    log_format up '\$request \$status upstream=\$upstream_addr';
    access_log $tmp/ngx/access.log up;
    client_body_temp_path $tmp/ngx/client_body;
    proxy_temp_path $tmp/ngx/proxy;
    fastcgi_temp_path $tmp/ngx/fastcgi;
    uwsgi_temp_path $tmp/ngx/uwsgi;
    scgi_temp_path $tmp/ngx/scgi;
    include $tmp/cluster.conf;
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

check "a streaming chunked PUT through nginx: the first line is in every node's copy while it is open"
mkfifo "$tmp/in"
curl -sS -T - -D "$tmp/put.h" -o "$tmp/put.b" "$url/s/a.log" <"$tmp/in" 2>"$tmp/put.err" &
put_pid=$!
bg_pids="$bg_pids $put_pid"
exec 3>"$tmp/in"
printf 'line 1\n' >&3
printf 'line 1\n' >"$tmp/want"
for i in 1 2 3; do
    wait_same "$tmp/node$i/s/a.log" "$tmp/want" 20 "node $i's copy, through nginx's streamed body"
done
alive "$put_pid" "the PUT"

check "curl -N ?follow, SSE and a WebSocket follower through nginx (on any node) get each line live"
curl -sSN "$url/s/a.log?follow" >"$tmp/follow.out" 2>"$tmp/follow.err" 3>&- &
fol_pid=$!
curl -sSN -H 'Accept: text/event-stream' "$url/s/a.log" >"$tmp/sse.out" 2>"$tmp/sse.err" 3>&- &
sse_pid=$!
(
    exec 3>&-
    ws_follow_to_file "ws://127.0.0.1:$nport/s/a.log" "$tmp/ws.out" "$tmp/ws.close" 20
) &
ws_pid=$!
bg_pids="$bg_pids $fol_pid $sse_pid $ws_pid"
wait_same "$tmp/follow.out" "$tmp/want" 20 "curl -N ?follow (first line)"
wait_grep '^data: line 1$' "$tmp/sse.out" 20 "SSE (first line)"
wait_same "$tmp/ws.out" "$tmp/want" 20 "the WebSocket follower (first line)"
printf 'line 2\n' >&3
printf 'line 2\n' >>"$tmp/want"
wait_same "$tmp/follow.out" "$tmp/want" 20 "curl -N ?follow (second line, live)"
wait_grep '^data: line 2$' "$tmp/sse.out" 20 "SSE (second line, live)"
wait_same "$tmp/ws.out" "$tmp/want" 20 "the WebSocket follower (second line, live)"
alive "$put_pid" "the PUT"
check "the writer ends: 201 with X-Resource-Size; every follower ends with every byte"
exec 3>&-
wait_exit "$put_pid" 20 "the PUT"
expect_eq "PUT exit ($(cat "$tmp/put.err"))" "$rc" 0
grep -q '^HTTP/1.1 201' "$tmp/put.h" || fail "PUT status: $(cat "$tmp/put.h")"
grep -qi '^X-Resource-Size: 14' "$tmp/put.h" || fail "PUT X-Resource-Size: $(cat "$tmp/put.h")"
wait_exit "$fol_pid" 20 "curl -N ?follow"
expect_eq "curl ?follow exit ($(cat "$tmp/follow.err"))" "$rc" 0
cmp -s "$tmp/follow.out" "$tmp/want" || fail "?follow got [$(cat "$tmp/follow.out")]"
wait_exit "$sse_pid" 20 "the SSE reader"
expect_eq "SSE exit ($(cat "$tmp/sse.err"))" "$rc" 0
grep -q '^event: end$' "$tmp/sse.out" || fail "no SSE end event: $(cat "$tmp/sse.out")"
wait_exit "$ws_pid" 20 "the WebSocket follower"
expect_eq "WebSocket follower exit" "$rc" 0
expect_eq "WebSocket close" "$(cat "$tmp/ws.close")" "CLOSE 1000"
cmp -s "$tmp/ws.out" "$tmp/want" || fail "the WebSocket follower got [$(cat "$tmp/ws.out")]"
check "nginx spread the requests over more than one node (counted once the streams ended)"
used=$(sed -n 's/.*upstream=\(127\.0\.0\.1:[0-9]*\).*/\1/p' "$tmp/ngx/access.log" | sort -u | wc -l)
[ "$used" -ge 2 ] || fail "every request went to one node: $(cat "$tmp/ngx/access.log")"

check "X-Append-Offset through nginx: a stale offset gets 409 with the shared size; the right one 200"
n=0
while :; do # 403 while the first node lets go of the lease
    code=$(printf 'again\n' | curl -sS -T - -H 'X-Append-Offset: 7' -D "$tmp/p2.h" -o /dev/null \
        -w '%{http_code}' "$url/s/a.log")
    if [ "$code" != 403 ] || [ $n -ge 200 ]; then break; fi
    n=$((n + 1))
    sleep 0.05
done
expect_eq "stale offset" "$code" 409
grep -qi '^X-Resource-Size: 14' "$tmp/p2.h" || fail "409 without X-Resource-Size: $(cat "$tmp/p2.h")"
n=0
while :; do
    code=$(printf 'line 3\n' | curl -sS -T - -H 'X-Append-Offset: 14' -o /dev/null -w '%{http_code}' \
        "$url/s/a.log")
    if [ "$code" != 403 ] || [ $n -ge 200 ]; then break; fi
    n=$((n + 1))
    sleep 0.05
done
expect_eq "right offset" "$code" 200
printf 'line 3\n' >>"$tmp/want"
for i in 1 2 3; do
    wait_same "$tmp/node$i/s/a.log" "$tmp/want" 20 "node $i's copy"
done

check "Durable Streams through nginx: create, append, read back from whichever node"
code=$(curl -sS -o /dev/null -w '%{http_code}' -X PUT -H 'Content-Type: text/plain' "$url/v1/stream/job-7")
expect_eq "create" "$code" 201
n=0
while :; do # a node that has not applied the creation yet answers 404
    code=$(printf 'built\n' | curl -sS -o /dev/null -w '%{http_code}' --data-binary @- \
        -H 'Content-Type: text/plain' "$url/v1/stream/job-7")
    if { [ "$code" != 404 ] && [ "$code" != 403 ]; } || [ $n -ge 200 ]; then break; fi
    n=$((n + 1))
    sleep 0.05
done
expect_eq "append" "$code" 204
for k in 1 2 3 4 5 6; do
    n=0
    until [ "$(curl -sS "$url/v1/stream/job-7?offset=-1")" = built ]; do
        n=$((n + 1))
        [ $n -le 400 ] || fail "read $k of the stream through nginx: [$(curl -sS "$url/v1/stream/job-7?offset=-1")]"
        sleep 0.05
    done
done

check "node 1 stopped: requests through nginx still get every byte"
kill -TERM "$pid1"
wait_exit "$pid1" 20 "node 1 after SIGTERM"
node_pids=$(echo " $node_pids " | sed "s/ $pid1 / /")
for k in 1 2 3 4 5 6; do
    curl -sS -o "$tmp/get.out" "$url/s/a.log" || fail "GET $k through nginx with node 1 down"
    cmp -s "$tmp/get.out" "$tmp/want" || fail "GET $k: [$(cat "$tmp/get.out")]"
done

kill -TERM "$ngx_pid"
wait_exit "$ngx_pid" 10 "nginx after SIGTERM"
ngx_pid=""
for i in 2 3; do
    p=$(eval echo "\$pid$i")
    kill -TERM "$p"
    wait_exit "$p" 20 "node $i after SIGTERM"
    expect_eq "node $i's exit status" "$rc" 0
    ! grep -q "Sanitizer\|runtime error" "$tmp/node$i.log" || fail "node $i: $(cat "$tmp/node$i.log")"
done
node_pids=""
! grep -q '\[\(alert\|emerg\|crit\)\]' "$tmp/ngx/error.log" ||
    fail "nginx complained: $(cat "$tmp/ngx/error.log")"
echo "ok: test_scaleout_nginx"
