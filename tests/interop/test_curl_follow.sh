#!/bin/sh
# test_curl_follow.sh -- following and appending over plain HTTP with curl (PROTOCOL.md, "Extensions"):
# - `curl -N URL?follow` is a live tail -f: each line appended by `curl -T -` (fed from a pipe, one line at a
#   time) shows in the follower's output while the uploader is still running, checked line by line; both curls
#   exit 0 when the upload ends (201 and the size);
# - the `tail -f build.log | curl -T - URL` shape, with the follower started first (?follow&wait): lines written
#   to a local file reach the follower live; stopping tail ends the upload and the follow;
# - SSE with `curl -N -H 'Accept: text/event-stream'`: exact events (text, base64, end), Last-Event-ID, 204;
# - `curl --data-binary` with X-Append-Offset / Content-Range: 200 with the size, 409 / 416 when stale;
# - ?offset, ?lines, ?offset=now on a live follow, 416 and 400; the JSON listing (checked by python3's json);
#   the viewer for a browser's Accept and ?raw.
set -u
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
PY=/usr/bin/python3
BROWSER='text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'

tmp=$(mktemp -d /tmp/hfs-curlf.XXXXXX)
hfs_start -ping=300ms
bg_pids=""
cleanup() {
    exec 3>&- 4>&-
    [ ! -s "$tmp/tail.pid" ] || kill -TERM "$(cat "$tmp/tail.pid")" 2>/dev/null
    for p in $bg_pids; do
        kill -TERM "$p" 2>/dev/null
    done
    rm -rf "$tmp"
}
trap 'cleanup; hfs_stop' EXIT # replaces the trap hfs_start set
trap 'exit 1' HUP PIPE INT TERM
root=$HFS_ROOT/root

# hdr FILE NAME: a header's value from a curl -D dump, without CR.
hdr() {
    tr -d '\r' <"$1" | sed -n "s/^$2: *//Ip" | head -n 1
}
# wait_hdr FILE SECONDS WHAT: waits until a curl -D dump holds a complete head.
wait_hdr() {
    n=0
    until tr -d '\r' 2>/dev/null <"$1" | grep -q '^$'; do
        n=$((n + 1))
        [ $n -le $(($2 * 20)) ] || fail "$3: no response head after $2 s"
        sleep 0.05
    done
}

check "curl -N ?follow shows each line of a curl -T - upload (fed from a pipe) while both are running"
url=$HFS_URL/ci/build.log
mkfifo "$tmp/in"
curl -sS -T - -o "$tmp/put.body" -w '%{http_code}' "$url" <"$tmp/in" >"$tmp/put.code" 2>"$tmp/put.err" &
put_pid=$!
bg_pids="$bg_pids $put_pid"
exec 3>"$tmp/in"
printf 'step 1: configure\n' >&3
printf 'step 1: configure\n' >"$tmp/want"
wait_same "$root/ci/build.log" "$tmp/want" 5 "the first line on disk"
curl -sSN -D "$tmp/follow.h" "$url?follow" >"$tmp/follow.out" 2>"$tmp/follow.err" 3>&- &
fol_pid=$!
bg_pids="$bg_pids $fol_pid"
wait_same "$tmp/follow.out" "$tmp/want" 5 "curl -N ?follow: the bytes so far"
wait_hdr "$tmp/follow.h" 5 "curl -N ?follow"
head -n 1 "$tmp/follow.h" | grep -q "^HTTP/1.1 200" || fail "?follow status: $(head -n 1 "$tmp/follow.h")"
expect_eq "Transfer-Encoding" "$(hdr "$tmp/follow.h" Transfer-Encoding)" chunked
expect_eq "Cache-Control" "$(hdr "$tmp/follow.h" Cache-Control)" no-store
expect_eq "X-Accel-Buffering" "$(hdr "$tmp/follow.h" X-Accel-Buffering)" no
expect_eq "X-Follow-Offset" "$(hdr "$tmp/follow.h" X-Follow-Offset)" 0
expect_eq "Content-Type" "$(hdr "$tmp/follow.h" Content-Type)" "text/plain; charset=utf-8"
for i in 2 3 4 5; do
    printf 'step %d: \342\202\254 compiling unit %d\n' "$i" "$i" >&3
    printf 'step %d: \342\202\254 compiling unit %d\n' "$i" "$i" >>"$tmp/want"
    wait_same "$tmp/follow.out" "$tmp/want" 5 "curl -N ?follow after line $i (uploader still running)"
    alive "$put_pid" "curl -T - (its input is still open)"
    alive "$fol_pid" "curl -N ?follow (the upload is still going)"
done
exec 3>&-
wait_exit "$put_pid" 5 "curl -T - after its input ended"
expect_eq "curl -T - exit status ($(cat "$tmp/put.err"))" "$rc" 0
size=$(wc -c <"$tmp/want" | tr -d ' ')
expect_eq "PUT status" "$(cat "$tmp/put.code")" 201
expect_eq "PUT body" "$(cat "$tmp/put.body")" "$size"
wait_exit "$fol_pid" 5 "curl -N ?follow after the upload ended"
expect_eq "curl -N ?follow exit status ($(cat "$tmp/follow.err"))" "$rc" 0
cmp -s "$tmp/follow.out" "$tmp/want" || fail "follower output differs: [$(cat "$tmp/follow.out")]"
cmp -s "$root/ci/build.log" "$tmp/want" || fail "file differs: [$(cat "$root/ci/build.log")]"

check "tail -f build.log | curl -T - URL, with a curl -N ?follow&wait follower started before anything exists"
url=$HFS_URL/ci/tail.log
: >"$tmp/build.log"
: >"$tmp/want2"
curl -sSN "$url?follow&wait" >"$tmp/follow2.out" 2>"$tmp/follow2.err" &
fol_pid=$!
bg_pids="$bg_pids $fol_pid"
sleep 0.2
alive "$fol_pid" "curl -N ?follow&wait before the resource exists"
[ ! -e "$root/ci/tail.log" ] || fail "a waiting follower created the resource"
(
    tail -n +1 -f "$tmp/build.log" &
    echo $! >"$tmp/tail.pid"
    wait
) | curl -sS -T - -o "$tmp/put2.body" -w '%{http_code}' "$url" >"$tmp/put2.code" 2>"$tmp/put2.err" &
pipe_pid=$!
bg_pids="$bg_pids $pipe_pid"
for i in 1 2 3 4; do
    printf '[%d/4] build target %d\n' "$i" "$i" >>"$tmp/build.log"
    printf '[%d/4] build target %d\n' "$i" "$i" >>"$tmp/want2"
    wait_same "$tmp/follow2.out" "$tmp/want2" 5 "the follower after line $i of the tailed log"
    alive "$pipe_pid" "tail -f | curl -T -"
    alive "$fol_pid" "the ?follow&wait follower"
done
kill -TERM "$(cat "$tmp/tail.pid")"
wait_exit "$pipe_pid" 5 "curl -T - after tail was stopped"
expect_eq "tail | curl -T - exit status ($(cat "$tmp/put2.err"))" "$rc" 0
expect_eq "PUT status" "$(cat "$tmp/put2.code")" 201
expect_eq "PUT body" "$(cat "$tmp/put2.body")" "$(wc -c <"$tmp/want2" | tr -d ' ')"
wait_exit "$fol_pid" 5 "the follower after the upload ended"
expect_eq "follower exit status ($(cat "$tmp/follow2.err"))" "$rc" 0
cmp -s "$tmp/follow2.out" "$tmp/want2" || fail "follower output differs: [$(cat "$tmp/follow2.out")]"

check "SSE with curl -N -H 'Accept: text/event-stream': exact events (text, base64 for a NUL, end)"
# sse_events: the SSE reader's output (sse.raw) without its keep-alive comments (":" lines, sent
# whenever the stream is idle for -ping, so their number depends on how busy the machine is), into
# sse.out. wait_events WHAT: waits up to 5 s for sse.out to be sse.want.
sse_events() { sed '/^:$/d' "$tmp/sse.raw" >"$tmp/sse.out"; }
wait_events() {
    n=0
    until sse_events && cmp -s "$tmp/sse.out" "$tmp/sse.want"; do
        n=$((n + 1))
        [ $n -le 100 ] || fail "$1: after 5 s [$(cat "$tmp/sse.out")], want [$(cat "$tmp/sse.want")]"
        sleep 0.05
    done
}
url=$HFS_URL/sse/s.log
mkfifo "$tmp/in3"
curl -sS -T - -o /dev/null "$url" <"$tmp/in3" 2>"$tmp/put3.err" &
put_pid=$!
bg_pids="$bg_pids $put_pid"
exec 3>"$tmp/in3"
printf 'alpha\n' >&3
printf 'alpha\n' >"$tmp/want3"
wait_same "$root/sse/s.log" "$tmp/want3" 5 "the first line on disk"
curl -sSN -D "$tmp/sse.h" -H 'Accept: text/event-stream' "$url" >"$tmp/sse.raw" 2>"$tmp/sse.err" 3>&- &
sse_pid=$!
bg_pids="$bg_pids $sse_pid"
printf 'id: 6\ndata: alpha\ndata: \n\n' >"$tmp/sse.want"
wait_events "the first event"
expect_eq "SSE Content-Type" "$(hdr "$tmp/sse.h" Content-Type)" "text/event-stream; charset=utf-8"
expect_eq "SSE Cache-Control" "$(hdr "$tmp/sse.h" Cache-Control)" "no-store"
printf 'a\000b' >&3
printf 'event: base64\nid: 9\ndata: YQBi\n\n' >>"$tmp/sse.want"
wait_events "the base64 event"
printf 'two\nlines' >&3
printf 'id: 18\ndata: two\ndata: lines\n\n' >>"$tmp/sse.want"
wait_events "the multi-line event"
exec 3>&-
wait_exit "$put_pid" 5 "the uploader"
printf 'event: end\nid: 18\ndata: end\n\n' >>"$tmp/sse.want"
wait_exit "$sse_pid" 5 "the SSE follower after the upload ended"
expect_eq "SSE curl exit status ($(cat "$tmp/sse.err"))" "$rc" 0
sse_events
cmp -s "$tmp/sse.out" "$tmp/sse.want" || fail "SSE output: [$(cat "$tmp/sse.out")]"
curl -sS --max-time 5 -H 'Last-Event-ID: 6' "$url?follow=sse" >"$tmp/sse2.out" || fail "curl with Last-Event-ID failed"
# how the rest is cut into events is the server's business: rebuild the bytes and check the ids
out=$("$PY" - "$tmp/sse2.out" 6 <<'EOF'
import base64, sys
text = open(sys.argv[1], encoding="utf-8").read()
off, out, ok = int(sys.argv[2]), b"", True
for block in text.split("\n\n")[:-1]:
    ev, data, eid = "message", [], None
    for line in block.split("\n"):
        k, _, v = line.partition(": ")
        if k == "event": ev = v
        elif k == "data": data.append(v)
        elif k == "id": eid = int(v)
    if ev == "end":
        ok = ok and eid == off and data == ["end"]
        continue
    b = base64.b64decode(data[0]) if ev == "base64" else "\n".join(data).encode()
    off += len(b)
    out += b
    ok = ok and eid == off
print(out.hex(), off, ok)
EOF
) || fail "SSE decoder failed"
expect_eq "resumed with Last-Event-ID: 6" "$out" "$(tail -c +7 "$root/sse/s.log" | od -An -v -tx1 | tr -d ' \n') 18 True"
expect_eq "Last-Event-ID at the end" "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H 'Last-Event-ID: 18' "$url?follow=sse")" 204

check "curl --data-binary with an expected offset: 200 with the size; stale X-Append-Offset 409, Content-Range 416"
url=$HFS_URL/parts.log
printf 'part one\n' >"$tmp/part1"
printf 'part two\n' >"$tmp/part2"
expect_eq "first part" "$(curl -s --max-time 5 -o "$tmp/p.out" -w '%{http_code}' --data-binary @"$tmp/part1" -H 'X-Append-Offset: 0' "$url")" 201
expect_eq "first part body" "$(cat "$tmp/p.out")" 9
expect_eq "second part" "$(curl -s --max-time 5 -o "$tmp/p.out" -w '%{http_code}' --data-binary @"$tmp/part2" -H 'X-Append-Offset: 9' "$url")" 200
expect_eq "second part body" "$(cat "$tmp/p.out")" 18
expect_eq "second part again" "$(curl -s --max-time 5 -D "$tmp/p.h" -o /dev/null -w '%{http_code}' --data-binary @"$tmp/part2" -H 'X-Append-Offset: 9' "$url")" 409
expect_eq "409 X-Resource-Size" "$(hdr "$tmp/p.h" X-Resource-Size)" 18
expect_eq "stale Content-Range" "$(curl -s --max-time 5 -D "$tmp/p.h" -o /dev/null -w '%{http_code}' -T "$tmp/part2" -H 'Content-Range: bytes 9-*/*' "$url")" 416
expect_eq "416 Content-Range" "$(hdr "$tmp/p.h" Content-Range)" "bytes */18"
expect_eq "malformed X-Append-Offset" "$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' --data-binary x -H 'X-Append-Offset: x' "$url")" 400
cat "$tmp/part1" "$tmp/part2" >"$tmp/parts"
cmp -s "$root/parts.log" "$tmp/parts" || fail "parts.log: [$(cat "$root/parts.log")]"

check "curl with ?offset, ?lines, 416 past the end, 400 when malformed"
printf 'l1\nl2\nl3\n' >"$root/lines.txt"
expect_eq "?offset=3" "$(curl -s --max-time 5 "$HFS_URL/lines.txt?offset=3" | tr '\n' ' ')" "l2 l3 "
expect_eq "?offset=-3" "$(curl -s --max-time 5 "$HFS_URL/lines.txt?offset=-3" | tr '\n' ' ')" "l3 "
expect_eq "?lines=2" "$(curl -s --max-time 5 "$HFS_URL/lines.txt?follow&lines=2" | tr '\n' ' ')" "l2 l3 "
expect_eq "?offset=10" "$(curl -s --max-time 5 -D "$tmp/o.h" -o /dev/null -w '%{http_code}' "$HFS_URL/lines.txt?offset=10")" 416
expect_eq "416 Content-Range" "$(hdr "$tmp/o.h" Content-Range)" "bytes */9"
expect_eq "?offset=ten" "$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "$HFS_URL/lines.txt?offset=ten")" 400

check "curl -N ?follow&offset=now on a live resource shows only what comes next"
url=$HFS_URL/now.log
mkfifo "$tmp/in4"
curl -sS -T - -o /dev/null "$url" <"$tmp/in4" 2>/dev/null &
put_pid=$!
bg_pids="$bg_pids $put_pid"
exec 4>"$tmp/in4"
printf 'old line\n' >&4
printf 'old line\n' >"$tmp/old"
wait_same "$root/now.log" "$tmp/old" 5 "the old line on disk"
curl -sSN -D "$tmp/now.h" "$url?follow&offset=now" >"$tmp/now.out" 2>/dev/null 4>&- &
now_pid=$!
bg_pids="$bg_pids $now_pid"
wait_hdr "$tmp/now.h" 5 "?follow&offset=now"
expect_eq "X-Follow-Offset" "$(hdr "$tmp/now.h" X-Follow-Offset)" 9
printf 'new line\n' >&4
printf 'new line\n' >"$tmp/new"
wait_same "$tmp/now.out" "$tmp/new" 5 "?offset=now follower"
exec 4>&-
wait_exit "$put_pid" 5 "the uploader"
wait_exit "$now_pid" 5 "the ?offset=now follower"
cmp -s "$tmp/now.out" "$tmp/new" || fail "?offset=now output: [$(cat "$tmp/now.out")]"

check "listings: JSON (valid for python3's json, sizes), HTML for a browser's Accept, the original <pre> for curl"
json=$(curl -s --max-time 5 -H 'Accept: application/json' "$HFS_URL/ci/")
out=$(printf '%s' "$json" | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
print(d["path"], " ".join("%s:%s:%s:%s" % (e["name"], e["type"], e.get("size"), e.get("live")) for e in d["entries"]))
') || fail "JSON listing does not parse: $json"
expect_eq "JSON listing" "$out" "/ci/ build.log:file:$size:False tail.log:file:$(wc -c <"$tmp/want2" | tr -d ' '):False"
curl -s --max-time 5 -H "Accept: $BROWSER" "$HFS_URL/ci/" >"$tmp/list.html"
grep -q '<table' "$tmp/list.html" || fail "HTML listing has no table: $(cat "$tmp/list.html")"
grep -q "build.log" "$tmp/list.html" || fail "HTML listing lacks build.log"
curl -s --max-time 5 "$HFS_URL/ci/" >"$tmp/list.pre"
printf '<pre>\n<a href="build.log">build.log</a>\n<a href="tail.log">tail.log</a>\n</pre>\n' >"$tmp/list.want"
cmp -s "$tmp/list.pre" "$tmp/list.want" || fail "curl's listing: [$(cat "$tmp/list.pre")]"

check "the viewer for a browser's Accept (text/html, CSP), ?raw for the bytes"
expect_eq "viewer status" "$(curl -s --max-time 5 -D "$tmp/v.h" -o "$tmp/v.html" -w '%{http_code}' -H "Accept: $BROWSER" "$HFS_URL/ci/build.log")" 200
case "$(hdr "$tmp/v.h" Content-Type)" in text/html*) ;; *) fail "viewer Content-Type [$(hdr "$tmp/v.h" Content-Type)]" ;; esac
case "$(hdr "$tmp/v.h" Content-Security-Policy)" in *"default-src 'none'"*) ;; *) fail "viewer CSP [$(hdr "$tmp/v.h" Content-Security-Policy)]" ;; esac
grep -q 'id="log"' "$tmp/v.html" || fail "viewer page has no #log"
curl -s --max-time 5 -H "Accept: $BROWSER" "$HFS_URL/ci/build.log?raw" >"$tmp/raw"
cmp -s "$tmp/raw" "$tmp/want" || fail "?raw: [$(cat "$tmp/raw")]"
curl -s --max-time 5 "$HFS_URL/ci/build.log" >"$tmp/plain"
cmp -s "$tmp/plain" "$tmp/want" || fail "curl's own Accept gets the bytes: [$(cat "$tmp/plain")]"

echo "ok: test_curl_follow"
