#!/bin/sh
# test_halfopen.sh -- peers that vanish without a FIN are found and dropped within a bounded time.
# A network namespace joined to the root namespace by a veth pair; the server listens on the root
# end (-dead-peer=3s -ping=500ms). Inside the namespace (the project's commands): an idle appender
# of ho.log, and a follower of live.log, whose appender runs in the root namespace and keeps
# writing. Then the namespace's end of the link goes down: nothing more reaches the server from
# them, not even a FIN or RST. The server must drop both ("peer unresponsive") within a bounded
# time and close their sockets, release the ho.log slot (a new appender from the root namespace
# succeeds), keep every byte, and go on serving live.log. Needs root (CAP_NET_ADMIN,
# CAP_SYS_ADMIN): without it, prints SKIP and exits 0.
set -u
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

ns=hfs-ho-$$
veth_root=hfsr$$
veth_ns=hfsn$$
# a /24 unlikely to be in use, varied by pid so that parallel runs do not collide
net=10.$((200 + $$ % 50)).$(($$ % 250 + 1))
addr_server=$net.1
addr_peer=$net.2
tmp=$(mktemp -d /tmp/hfs-halfopen.XXXXXX)
app_pid=""
fol_pid=""
live_pid=""
fol2_pid=""

cleanup() {
    [ -z "$app_pid" ] || kill -KILL "$app_pid" 2>/dev/null
    [ -z "$fol_pid" ] || kill -KILL "$fol_pid" 2>/dev/null
    [ -z "$live_pid" ] || kill -KILL "$live_pid" 2>/dev/null
    [ -z "$fol2_pid" ] || kill -KILL "$fol2_pid" 2>/dev/null
    exec 3>&- 4>&-
    ip netns del "$ns" 2>/dev/null
    ip link del "$veth_root" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

if [ "$(id -u)" -ne 0 ] || ! ip netns add "$ns" 2>"$tmp/err"; then
    echo "SKIP: cannot create a network namespace (needs root): $(cat "$tmp/err" 2>/dev/null)"
    exit 0
fi
ip link add "$veth_root" type veth peer name "$veth_ns" || fail "cannot create a veth pair"
ip link set "$veth_ns" netns "$ns" || fail "cannot move $veth_ns into $ns"
ip addr add "$addr_server/24" dev "$veth_root" || fail "ip addr add"
ip link set "$veth_root" up || fail "ip link set up"
ip netns exec "$ns" ip addr add "$addr_peer/24" dev "$veth_ns" || fail "ip addr add (netns)"
ip netns exec "$ns" ip link set "$veth_ns" up || fail "ip link set up (netns)"
ip netns exec "$ns" ip link set lo up

# the server's EXIT trap (hfs_stop) runs the namespace cleanup first
HFS_CLEANUP=cleanup
hfs_start -http="$addr_server:0" -dead-peer=3s -ping=500ms
url=http://$addr_server:$HFS_PORT/ho.log
file=$HFS_ROOT/root/ho.log
live_url=http://$addr_server:$HFS_PORT/live.log

# wait_for WHAT SECONDS COMMAND...: polls COMMAND every 0.1 s
wait_for() {
    what=$1
    limit=$(($2 * 10))
    shift 2
    i=0
    until "$@"; do
        i=$((i + 1))
        [ $i -lt $limit ] || fail "$what (server log: $(cat "$HFS_LOG"))"
        sleep 0.1
    done
}

# wait_pid PID WHAT OUTPUT: waits up to 10 s for a background command to end, and for exit 0
wait_pid() {
    wait_for "$2 did not end" 10 not_running "$1"
    wait "$1" || fail "$2 failed: $(cat "$3")"
}
not_running() { ! kill -0 "$1" 2>/dev/null; }

# appenders read fifos that this script holds open: they stay connected, idle until written to
mkfifo "$tmp/in" "$tmp/live"
ip netns exec "$ns" "$HFS_BIN/httpfstream-append" "$url" <"$tmp/in" >"$tmp/append.out" 2>&1 3>&- 4>&- &
app_pid=$!
exec 3<>"$tmp/in"
printf 'hello\n' >&3
wait_for "the appender's bytes never reached the file" 10 grep -qs '^hello$' "$file"

"$HFS_BIN/httpfstream-append" "$live_url" <"$tmp/live" >"$tmp/live.out" 2>&1 3>&- 4>&- &
live_pid=$!
exec 4<>"$tmp/live"
printf 'live 0\n' >&4
wait_for "live.log never got its first line" 10 grep -qs '^live 0$' "$HFS_ROOT/root/live.log"
ip netns exec "$ns" "$HFS_BIN/httpfstream-follow" "$live_url" >"$tmp/follow.out" 2>&1 3>&- 4>&- &
fol_pid=$!
wait_for "the follower never got the first line" 10 grep -qs '^live 0$' "$tmp/follow.out"
printf 'world\n' >&3
printf 'live 1\n' >&4
wait_for "the follower never got the second line" 10 grep -qs '^live 1$' "$tmp/follow.out"
wait_for "the appender's second line never reached the file" 10 grep -qs '^world$' "$file"
grep -q "peer unresponsive" "$HFS_LOG" && fail "a peer was dropped while the link was up"

# server_sockets_to ADDR: how many TCP sockets the server process holds with ADDR (2 without ss)
server_sockets_to() {
    if command -v ss >/dev/null; then
        ss -Htnp dst "$1" 2>/dev/null | grep -c "pid=$HFS_PID,"
    else
        echo 2
    fi
}
expect_eq "server sockets to the namespace" "$(server_sockets_to "$addr_peer")" 2

# the peers vanish: no FIN, no RST, nothing; live.log goes on
ip netns exec "$ns" ip link set "$veth_ns" down || fail "cannot take the link down"
start=$(date +%s)

dropped() {
    printf 'live %s\n' "$(date +%s%N)" >&4
    [ "$(grep -c "$addr_peer:.*peer unresponsive" "$HFS_LOG")" -ge 2 ]
}
wait_for "the server did not drop both vanished peers within 15 s" 15 dropped
took=$(($(date +%s) - start))
echo "both vanished peers dropped after about $took s (-dead-peer=3s)"
[ "$took" -ge 2 ] || fail "peers dropped after $took s, before -dead-peer=3s could pass"
grep -q "$addr_peer:.* append /ho.log ended" "$HFS_LOG" ||
    fail "no end of the vanished appender's session in the log"
no_sockets() { [ "$(server_sockets_to "$addr_peer")" -eq 0 ]; }
if command -v ss >/dev/null; then
    wait_for "the server still holds sockets to the vanished peers" 5 no_sockets
fi

# the slot is free: a new appender from the root namespace gets in; every byte is there
printf 'again\n' | timeout 10 "$HFS_BIN/httpfstream-append" "$url" >"$tmp/append2.out" 2>&1 3>&- 4>&- ||
    fail "a new appender was refused after the drop: $(cat "$tmp/append2.out")"
expect_eq "file" "$(cat "$file")" "$(printf 'hello\nworld\nagain')"
got=$(timeout 10 "$HFS_BIN/httpfstream-follow" "$url" 2>&1 3>&- 4>&-) || fail "follow after the drop: $got"
expect_eq "follow after the drop" "$got" "$(printf 'hello\nworld\nagain')"

# live.log is still live: its appender still works, and a new follower gets its bytes
kill -0 "$live_pid" 2>/dev/null || fail "the live.log appender ended: $(cat "$tmp/live.out")"
"$HFS_BIN/httpfstream-follow" "$live_url" >"$tmp/follow2.out" 2>&1 3>&- 4>&- &
fol2_pid=$!
printf 'live end\n' >&4
wait_for "a new follower of live.log did not get its bytes" 10 grep -qs '^live end$' "$tmp/follow2.out"
exec 4>&-
wait_pid "$live_pid" "the live.log appender" "$tmp/live.out"
live_pid=""
wait_pid "$fol2_pid" "the second live.log follower" "$tmp/follow2.out"
fol2_pid=""
cmp -s "$tmp/follow2.out" "$HFS_ROOT/root/live.log" || fail "the live.log follower differs from the file"
echo "PASS: half-open appender and follower dropped, slot released, live.log still served"
