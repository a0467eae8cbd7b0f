#!/bin/bash
# nchan.sh -- installs (only if missing) and runs the Nchan peer for `make bench`: Debian's nginx
# with libnginx-mod-nchan, as a non-daemon with its own prefix, pid, error log and temp paths
# under a scratch folder (the packaged service is never started or touched).
#
#   nchan.sh install                      apt-get nginx-light + libnginx-mod-nchan if missing
#   nchan.sh start DIR PORT [WORKERS] [CPU]
#                                         start on 127.0.0.1:PORT, pinned to CPU; prints the
#                                         pids to measure (the workers), comma-separated
#   nchan.sh stop DIR                     stop it and wait until it is gone
set -eu

here=$(cd "$(dirname "$0")" && pwd)
module=/usr/lib/nginx/modules/ngx_nchan_module.so

install_nchan() {
    if command -v nginx >/dev/null 2>&1 && [ -f "$module" ]; then
        return 0
    fi
    echo "nchan.sh: installing nginx-light and libnginx-mod-nchan" >&2
    export DEBIAN_FRONTEND=noninteractive
    # The package's postinst may try to start the system service; a policy-rc.d that says no
    # keeps it from binding port 80 on this machine.
    policy=/usr/sbin/policy-rc.d
    made_policy=
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
    fi
    apt-get install -y -q nginx-light libnginx-mod-nchan >&2 ||
        { apt-get update -q >&2 && apt-get install -y -q nginx-light libnginx-mod-nchan >&2; }
    if [ -n "$made_policy" ]; then rm -f "$policy"; fi
    [ -f "$module" ] || { echo "nchan.sh: $module missing after install" >&2; exit 1; }
}

start_nchan() {
    dir=$1 port=$2 workers=${3:-1} cpu=${4:-}
    mkdir -p "$dir"
    sed -e "s|@DIR@|$dir|g" -e "s|@PORT@|$port|g" -e "s|@WORKERS@|$workers|g" \
        "$here/nchan.conf.in" >"$dir/nginx.conf"
    rm -f "$dir/nginx.pid"
    : >"$dir/error.log"
    if [ -n "$cpu" ]; then
        taskset -c "$cpu" nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" \
            </dev/null >>"$dir/stdout.log" 2>&1 &
    else
        nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" </dev/null >>"$dir/stdout.log" 2>&1 &
    fi
    i=0
    while [ $i -lt 100 ]; do
        if [ -s "$dir/nginx.pid" ]; then
            master=$(cat "$dir/nginx.pid")
            pids=$(pgrep -P "$master" | tr '\n' ',' | sed 's/,$//')
            n=$(printf '%s' "$pids" | tr ',' '\n' | grep -c . || true)
            if [ "$n" -ge "$workers" ] &&
                (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
                echo "$pids"
                return 0
            fi
        fi
        i=$((i + 1))
        sleep 0.05
    done
    echo "nchan.sh: nginx did not start on port $port; see $dir/error.log" >&2
    cat "$dir/error.log" "$dir/stdout.log" >&2 2>/dev/null || true
    exit 1
}

stop_nchan() {
    dir=$1
    [ -s "$dir/nginx.pid" ] || return 0
    master=$(cat "$dir/nginx.pid")
    kill -TERM "$master" 2>/dev/null || return 0
    i=0
    while kill -0 "$master" 2>/dev/null && [ $i -lt 100 ]; do
        i=$((i + 1))
        sleep 0.05
    done
    kill -KILL "$master" 2>/dev/null || true
    rm -f "$dir/nginx.pid"
}

case "${1:-}" in
install) install_nchan ;;
start) shift; install_nchan; start_nchan "$@" ;;
stop) shift; stop_nchan "$@" ;;
*) echo "usage: nchan.sh install | start DIR PORT [WORKERS] [CPU] | stop DIR" >&2; exit 2 ;;
esac
