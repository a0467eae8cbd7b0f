#!/bin/sh
# cluster.sh -- a three-server NATS JetStream cluster on loopback, for tests and benchmarks.
#
#   tests/nats/cluster.sh start DIR   starts nats-server n1..n3 with JetStream under DIR (created),
#                                     on free loopback ports of their own; waits until JetStream
#                                     answers on every server; prints the client URLs, comma-
#                                     separated (also in DIR/urls)
#   tests/nats/cluster.sh stop DIR    stops every server of DIR by its process id (SIGTERM, then
#                                     SIGKILL after 5 s)
#   tests/nats/cluster.sh kill DIR I  SIGKILL server I (1..3) now
#   tests/nats/cluster.sh restart DIR I   starts server I again with its old ports and data
#   tests/nats/cluster.sh leader DIR STREAM   prints the index (1..3) of STREAM's leader
#
# Per server I, DIR holds nI.conf, nI.log, nI.pid, sI/ (JetStream data) and DIR/ports
# ("I CLIENT CLUSTER MONITOR" lines). Every process runs under `timeout`, so none outlives a
# crashed test by more than an hour.
set -eu

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || {
    echo "usage: $0 start|stop|kill|restart|leader DIR [I|STREAM]" >&2
    exit 2
}

# A loopback port nothing listens on now (the kernel's choice).
free_port() {
    /usr/bin/python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

port_of() { # I FIELD(2 client, 3 cluster, 4 monitor)
    awk -v i="$1" -v f="$2" '$1 == i { print $f }' "$dir/ports"
}

launch() { # I
    i=$1
    rm -f "$dir/n$i.pid"
    setsid timeout 3600 nats-server -c "$dir/n$i.conf" -l "$dir/n$i.log" </dev/null >/dev/null 2>&1 &
    echo $! >"$dir/n$i.pid"
}

# Waits until server I's monitor says JetStream is healthy (up to 30 s).
wait_ready() { # I
    mon=$(port_of "$1" 4)
    n=0
    while [ $n -lt 300 ]; do
        if curl -fsS "http://127.0.0.1:$mon/healthz?js-enabled-only=true" >/dev/null 2>&1; then
            return 0
        fi
        n=$((n + 1))
        sleep 0.1
    done
    echo "cluster.sh: server $1 did not become ready; its log:" >&2
    tail -n 20 "$dir/n$1.log" >&2 || true
    return 1
}

case "$cmd" in
start)
    command -v nats-server >/dev/null || {
        echo "cluster.sh: nats-server is not installed (scripts/deps.sh test)" >&2
        exit 1
    }
    mkdir -p "$dir"
    : >"$dir/ports"
    for i in 1 2 3; do
        echo "$i $(free_port) $(free_port) $(free_port)" >>"$dir/ports"
    done
    routes=""
    for i in 1 2 3; do
        routes="$routes nats-route://127.0.0.1:$(port_of $i 3)"
    done
    for i in 1 2 3; do
        cat >"$dir/n$i.conf" <<EOF
server_name: n$i
listen: 127.0.0.1:$(port_of $i 2)
http: 127.0.0.1:$(port_of $i 4)
jetstream {
    store_dir: "$dir/s$i"
    max_memory_store: 256MB
    max_file_store: 8GB
}
cluster {
    name: hfs
    listen: 127.0.0.1:$(port_of $i 3)
    routes: [$(echo $routes | sed 's/ /, /g')]
}
EOF
        launch $i
    done
    for i in 1 2 3; do wait_ready $i; done
    urls=""
    for i in 1 2 3; do
        urls="$urls${urls:+,}nats://127.0.0.1:$(port_of $i 2)"
    done
    echo "$urls" >"$dir/urls"
    echo "$urls"
    ;;
stop)
    for i in 1 2 3; do
        [ -f "$dir/n$i.pid" ] || continue
        pid=$(cat "$dir/n$i.pid")
        kill -TERM "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
    done
    for i in 1 2 3; do
        [ -f "$dir/n$i.pid" ] || continue
        pid=$(cat "$dir/n$i.pid")
        n=0
        while kill -0 "$pid" 2>/dev/null && [ $n -lt 50 ]; do
            n=$((n + 1))
            sleep 0.1
        done
        kill -9 "-$pid" 2>/dev/null || kill -9 "$pid" 2>/dev/null || true
        rm -f "$dir/n$i.pid"
    done
    ;;
kill)
    i=${3:?server index}
    pid=$(cat "$dir/n$i.pid")
    kill -9 "-$pid" 2>/dev/null || kill -9 "$pid" 2>/dev/null || true
    n=0
    while kill -0 "$pid" 2>/dev/null && [ $n -lt 50 ]; do
        n=$((n + 1))
        sleep 0.1
    done
    rm -f "$dir/n$i.pid"
    ;;
restart)
    i=${3:?server index}
    launch "$i"
    wait_ready "$i"
    ;;
leader)
    stream=${3:?stream name}
    for i in 1 2 3; do
        [ -f "$dir/n$i.pid" ] || continue
        mon=$(port_of $i 4)
        l=$(curl -fsS "http://127.0.0.1:$mon/jsz?streams=true" 2>/dev/null |
            /usr/bin/python3 -c 'import json, sys
d = json.load(sys.stdin)
for a in d.get("account_details", []):
    for s in a.get("stream_detail", []):
        if s.get("name") == sys.argv[1]:
            print(s.get("cluster", {}).get("leader", "")); sys.exit(0)' "$stream") || continue
        case "$l" in n[123])
            echo "${l#n}"
            exit 0
            ;;
        esac
    done
    exit 1
    ;;
*)
    echo "usage: $0 start|stop|kill|restart|leader DIR [I|STREAM]" >&2
    exit 2
    ;;
esac
