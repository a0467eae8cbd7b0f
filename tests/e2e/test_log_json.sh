#!/bin/sh
# test_log_json.sh -- -log-format=json, for log shippers: after a known set of requests (an append
# with ?token=, a plain read with ?token=, a signed read (sig=), a follow of a finished file, a 401, a
# 404, a WebSocket append session that lasts half a second, an append to a name that is not UTF-8),
# every line the server wrote parses as one JSON object (python3 json.loads, from UTF-8) with time and
# level;
# each request is one line with client, method, path, status, role, bytes and duration, in the order
# the requests ended, with the values the test knows; and no token, sig or key appears anywhere.
# -q leaves the request lines out; -log-format=text (the default) still writes the text ones.
set -u
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
PY=/usr/bin/python3
tmp=$(mktemp -d /tmp/hfs-logjson.XXXXXX)
printf 'append /j/ app-SECRET-tok1\nread /j/ rd-SECRET-tok2\n' >"$tmp/rules"
printf 'key-SECRET-0123456789abcdefghij\n' >"$tmp/key"
hfs_start -auth="$tmp/rules" -sign-key="$tmp/key" -log-format=json
HFS_CLEANUP='rm -rf "$tmp"'

check "requests: PUT, GET, signed GET, follow, 401, 404, WebSocket append"
out=$(printf 'hello\n' | curl -sS -o /dev/null -w '%{http_code}' -X PUT --data-binary @- \
    "$HFS_URL/j/a.log?token=app-SECRET-tok1")
expect_eq "PUT" "$out" 201
expect_eq "GET" "$(curl -sS "$HFS_URL/j/a.log?token=rd-SECRET-tok2")" hello
surl=$("$HFS_BIN/httpfstream-sign" -key="$tmp/key" -rights=read -ttl=1h "$HFS_URL/j/a.log") ||
    fail "httpfstream-sign"
expect_eq "signed GET" "$(curl -sS "$surl")" hello
expect_eq "follow" "$("$HFS_BIN/httpfstream-follow" -token=rd-SECRET-tok2 "$HFS_URL/j/a.log")" hello
expect_eq "GET without a token" "$(curl -sS -o /dev/null -w '%{http_code}' "$HFS_URL/j/a.log")" 401
expect_eq "GET of a missing file" \
    "$(curl -sS -o /dev/null -w '%{http_code}' "$HFS_URL/j/none?token=rd-SECRET-tok2")" 404
# The session lasts at least half a second from its first byte in the file (not from when the
# input was written: a slow start, under ASan, would eat into it).
mkfifo "$tmp/in"
"$HFS_BIN/httpfstream-append" "$HFS_URL/j/b.log?token=app-SECRET-tok1" <"$tmp/in" &
app_pid=$!
exec 3>"$tmp/in"
printf 'one\n' >&3
printf 'one\n' >"$tmp/one"
wait_same "$HFS_ROOT/root/j/b.log" "$tmp/one" 10 "the WebSocket append"
sleep 0.5
exec 3>&-
wait_exit "$app_pid" 10 "httpfstream-append"
expect_eq "httpfstream-append exit" "$rc" 0
# A path that is not UTF-8 once decoded: the "append ... ended" line has it, as U+FFFD.
out=$(printf 'x\n' | curl -sS -o /dev/null -w '%{http_code}' -X PUT --data-binary @- \
    "$HFS_URL/j/x%ffy.log?token=app-SECRET-tok1")
expect_eq "PUT of a non-UTF-8 name" "$out" 201
# Each request is logged when it ends: the follow's when its connection closes.
n=0
until [ "$(grep -c '"status"' "$HFS_LOG")" -ge 8 ]; do
    n=$((n + 1))
    [ $n -le 100 ] || fail "not 8 request lines after 5 s: $(cat "$HFS_LOG")"
    sleep 0.05
done
cp "$HFS_LOG" "$tmp/log"

check "every line is a JSON object with time and level; the requests have every field"
"$PY" - "$tmp/log" <<'PYEOF' || fail "the JSON log: $(cat "$tmp/log")"
import json, sys
reqs, msgs = [], []
for i, line in enumerate(open(sys.argv[1], encoding="utf-8"), 1):
    o = json.loads(line)
    assert isinstance(o, dict), f"line {i} is not an object"
    assert o["level"] in ("error", "warn", "info", "debug"), line
    assert o["time"].endswith("Z") and "T" in o["time"], line
    if "status" in o:
        reqs.append(o)
    else:
        assert isinstance(o["msg"], str), line
        msgs.append(o["msg"])
want = [  # method, path, status, role
    ("PUT", "/j/a.log?token=REDACTED", 201, "append"),
    ("GET", "/j/a.log?token=REDACTED", 200, "follow"),
    ("GET", None, 200, "follow"),
    ("GET", "/j/a.log", 200, "follow"),
    ("GET", "/j/a.log", 401, "follow"),
    ("GET", "/j/none?token=REDACTED", 404, "follow"),
    ("GET", "/j/b.log?token=REDACTED", 101, "append"),
    ("PUT", "/j/x%ffy.log?token=REDACTED", 201, "append"),
]
assert len(reqs) == len(want), reqs
for o, (method, path, status, role) in zip(reqs, want):
    for k, t in (("client", str), ("method", str), ("path", str), ("status", int), ("role", str),
                 ("bytes", int), ("duration", (int, float))):
        assert isinstance(o[k], t), (k, o)
    assert o["client"].startswith("127.0.0.1:"), o
    assert (o["method"], o["status"], o["role"]) == (method, status, role), o
    if path is None:  # the signed URL: expires and rights stay, sig goes
        assert o["path"].startswith("/j/a.log?") and "sig=REDACTED" in o["path"], o
    else:
        assert o["path"].split("?")[0] == path.split("?")[0], o
        assert sorted(o["path"].partition("?")[2].split("&")) == sorted(path.partition("?")[2].split("&")), o
    assert o["bytes"] > 0 and 0 <= o["duration"] < 30, o
# The reads sent the 6-byte file after their heads.
assert reqs[1]["bytes"] > 6 and reqs[2]["bytes"] > 6, reqs
# The append session lasted as long as its input (half a second), and was logged when it ended.
assert reqs[6]["duration"] >= 0.4, reqs[6]
assert any("/j/x\ufffdy.log ended" in m for m in msgs), msgs
PYEOF

check "no token, sig or key in the log"
sig=$(printf '%s' "$surl" | sed -n 's/.*[?&]sig=\([^&]*\).*/\1/p')
[ -n "$sig" ] || fail "no sig in $surl"
for secret in SECRET "$sig"; do
    ! grep -qF -- "$secret" "$tmp/log" || fail "$secret in the log: $(cat "$tmp/log")"
done
hfs_stop

check "-log-format=json -q: no request lines"
hfs_start -log-format=json -q
curl -sS -o /dev/null "$HFS_URL/none"
curl -sS -o /dev/null "$HFS_URL/none2"
sleep 0.3
! grep -q '"status"' "$HFS_LOG" || fail "request lines with -q: $(cat "$HFS_LOG")"
hfs_stop

check "-log-format=text (the default) keeps the text request line"
hfs_start
curl -sS -o /dev/null "$HFS_URL/none?token=t0k-SECRET"
n=0
until grep -q '"GET /none?token=REDACTED" 404' "$HFS_LOG"; do
    n=$((n + 1))
    [ $n -le 100 ] || fail "no text request line: $(cat "$HFS_LOG")"
    sleep 0.05
done
! grep -q '^{' "$HFS_LOG" || fail "JSON in the text log: $(cat "$HFS_LOG")"
hfs_stop
echo "ok: test_log_json"
