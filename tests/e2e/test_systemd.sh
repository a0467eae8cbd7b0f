#!/bin/sh
# test_systemd.sh -- httpfstream-server under systemd's protocols, without systemd itself:
# - socket activation: `systemd-socket-activate -l ADDR httpfstream-server` (no -http) serves on the
#   socket it passes (LISTEN_FDS, LISTEN_PID): an append and a follow work, and the server says it
#   took the socket;
# - readiness: with NOTIFY_SOCKET (an abstract name, '@...', that a Python datagram socket here
#   listens on) the server sends READY=1 once it serves and STOPPING=1 on SIGTERM, then exits 0;
# - a passed socket that is not TCP is refused (exit 1, the reason logged);
# - a LISTEN_PID that is not the server's own is ignored: it listens on -http as usual;
# - the units in systemd/ pass `systemd-analyze verify` with nothing to say.
# Each part is skipped, with a note, when its systemd tool is not installed (Debian: systemd).
set -u
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
top=$(cd "$(dirname "$0")/../.." && pwd)
PY=/usr/bin/python3
tmp=$(mktemp -d /tmp/hfs-systemd.XXXXXX)
bg_pids=""
cleanup() {
    for p in $bg_pids; do
        kill -TERM "$p" 2>/dev/null
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP PIPE INT TERM

# wait_grep PATTERN FILE SECONDS WHAT: waits until FILE has a line matching PATTERN.
wait_grep() {
    n=0
    until grep -q "$1" "$2" 2>/dev/null; do
        n=$((n + 1))
        [ $n -le $(($3 * 20)) ] || fail "$4: no \"$1\" after $3 s in: $(cat "$2" 2>/dev/null)"
        sleep 0.05
    done
}

if command -v systemd-socket-activate >/dev/null 2>&1; then
    check "socket activation: systemd-socket-activate -l ADDR httpfstream-server, without -http"
    # The notification socket: prints "bound", then each datagram on a line (newlines as spaces).
    name="@hfs-notify-$$"
    "$PY" -u -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + sys.argv[1][1:])
print("bound")
while True:
    m = s.recv(4096).decode()
    print(m.replace("\n", " "))
    if "STOPPING=1" in m:
        break
' "$name" >"$tmp/notes" 2>&1 &
    notify_pid=$!
    bg_pids="$bg_pids $notify_pid"
    wait_grep '^bound$' "$tmp/notes" 10 "the notification socket"
    port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    # systemd-socket-activate passes on only the variables -E names; it execs the server (same pid)
    # at the first connection.
    NOTIFY_SOCKET=$name systemd-socket-activate -E NOTIFY_SOCKET -l "127.0.0.1:$port" \
        "$HFS_BIN/httpfstream-server" -root="$tmp/root" 2>"$tmp/log" &
    srv_pid=$!
    bg_pids="$bg_pids $srv_pid"
    wait_grep "Listening on" "$tmp/log" 10 "systemd-socket-activate"
    out=$(printf 'hello\n' | curl -sS --retry 5 --retry-connrefused -X PUT --data-binary @- \
        "http://127.0.0.1:$port/a/b.log" 2>&1) || fail "PUT on the passed socket: $out"
    expect_eq "GET on the passed socket" "$(curl -sS "http://127.0.0.1:$port/a/b.log")" "hello"
    grep -q "listening on 1 socket from systemd (port $port)" "$tmp/log" ||
        fail "no 'listening on 1 socket from systemd' line: $(cat "$tmp/log")"

    check "readiness: READY=1 on NOTIFY_SOCKET once serving, STOPPING=1 on SIGTERM, exit 0"
    wait_grep "READY=1" "$tmp/notes" 10 "READY=1"
    ! grep -q "STOPPING=1" "$tmp/notes" || fail "STOPPING=1 before SIGTERM: $(cat "$tmp/notes")"
    kill -TERM "$srv_pid"
    wait_exit "$srv_pid" 15 "the server after SIGTERM"
    expect_eq "server exit status ($(cat "$tmp/log"))" "$rc" 0
    wait_exit "$notify_pid" 10 "the notification socket (STOPPING=1: $(cat "$tmp/notes"))"
    expect_eq "notifications" "$(grep -c 'READY=1' "$tmp/notes") $(grep -c 'STOPPING=1' "$tmp/notes")" "1 1"
    ! grep -q "Sanitizer\|runtime error" "$tmp/log" || fail "sanitizer report: $(cat "$tmp/log")"

    check "a passed socket that is not TCP (a Unix socket path) is refused: exit 1, logged"
    systemd-socket-activate -l "$tmp/unix.sock" "$HFS_BIN/httpfstream-server" -root="$tmp/root" \
        2>"$tmp/log2" &
    srv_pid=$!
    bg_pids="$bg_pids $srv_pid"
    wait_exists "$tmp/unix.sock" 10 "the Unix socket"
    curl -s -m 5 --unix-socket "$tmp/unix.sock" http://x/ >/dev/null 2>&1
    wait_exit "$srv_pid" 15 "the server given a Unix socket"
    expect_eq "exit status ($(cat "$tmp/log2"))" "$rc" 1
    grep -q "not a TCP socket" "$tmp/log2" || fail "no reason logged: $(cat "$tmp/log2")"
else
    echo "skipped: no systemd-socket-activate (Debian package systemd)"
fi

check "LISTEN_FDS for another process (LISTEN_PID) is ignored: -http is served"
LISTEN_PID=1 LISTEN_FDS=1 hfs_start
expect_eq "GET" "$(curl -sS -o /dev/null -w '%{http_code}' "$HFS_URL/none")" 404
grep -q "from systemd" "$HFS_LOG" && fail "took a socket meant for pid 1: $(cat "$HFS_LOG")"
hfs_stop
trap cleanup EXIT # hfs_start had set its own

if command -v systemd-analyze >/dev/null 2>&1; then
    check "systemd-analyze verify: the units of systemd/ have no complaint"
    mkdir "$tmp/units"
    for u in httpfstream.service httpfstream.socket; do
        sed "s|@PREFIX@/bin|$HFS_BIN|" "$top/systemd/$u" >"$tmp/units/$u"
    done
    out=$(cd "$tmp/units" && systemd-analyze verify --man=no ./httpfstream.socket ./httpfstream.service 2>&1) ||
        fail "systemd-analyze verify: $out"
    [ -z "$out" ] || fail "systemd-analyze verify has something to say: $out"
    for k in DynamicUser=yes StateDirectory=httpfstream ProtectSystem=strict NoNewPrivileges=yes \
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX" Type=notify; do
        grep -qx "$k" "$top/systemd/httpfstream.service" || fail "httpfstream.service lacks $k"
    done
else
    echo "skipped: no systemd-analyze (Debian package systemd)"
fi
echo "ok: test_systemd"
