#!/bin/sh
# test_curl.sh -- plain HTTP behaviours of httpfstream-server as seen by curl (PROTOCOL.md, "FOLLOW" and
# "Resources and paths"): 404, 405 + Allow, HEAD, Range/206/416, If-Modified-Since / If-None-Match 304,
# 301 for unclean paths, directory redirect and listing, 426 for a plain GET with verb APPEND, a WebSocket
# handshake to a non-live resource answered 200 with the body (never 101), keep-alive reuse, pipelining.
# Resources are plain files put into the server's root: a finished resource is just a file.
set -u
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
PY=/usr/bin/python3

tmp=$(mktemp -d /tmp/hfs-curl.XXXXXX)
# shellcheck disable=SC2119 # no server flags
hfs_start
trap 'rm -rf "$tmp"; hfs_stop' EXIT # replaces the trap hfs_start set
trap 'exit 1' HUP PIPE
root=$HFS_ROOT/root
[ -d "$root" ] || fail "server did not create its root $root"

# code URL [curl args...]: the status code only
code() {
    u=$1
    shift
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" "$u"
}
# fetch NAME URL [curl args...]: headers to $tmp/NAME.h, body to $tmp/NAME.b, status printed
fetch() {
    n=$1
    u=$2
    shift 2
    curl -s -D "$tmp/$n.h" -o "$tmp/$n.b" -w '%{http_code}' --max-time 5 "$@" "$u"
}
# hdr NAME HEADER: the value of a response header (first one), without CR
hdr() {
    tr -d '\r' <"$tmp/$1.h" | sed -n "s/^$2: *//Ip" | head -n 1
}

printf 'hello, curl\nsecond line\n' >"$root/a.txt"
mkdir -p "$root/d/sub"
printf 'x' >"$root/d/x.bin"
printf 'in sub\n' >"$root/d/sub/s.txt"
size=$(wc -c <"$root/a.txt" | tr -d ' ')

check "GET of a finished resource: 200, body, Content-Length, Content-Type, Last-Modified, Accept-Ranges, ETag"
expect_eq "status" "$(fetch get "$HFS_URL/a.txt")" 200
cmp -s "$tmp/get.b" "$root/a.txt" || fail "body differs: $(cat "$tmp/get.b")"
expect_eq "Content-Length" "$(hdr get Content-Length)" "$size"
expect_eq "Content-Type" "$(hdr get Content-Type)" "text/plain; charset=utf-8"
expect_eq "Accept-Ranges" "$(hdr get Accept-Ranges)" "bytes"
lastmod=$(hdr get Last-Modified)
etag=$(hdr get ETag)
[ -n "$lastmod" ] || fail "no Last-Modified"
case "$etag" in \"*\" | W/\"*\") ;; *) fail "bad ETag [$etag]" ;; esac

check "404 for a never-written resource, with body '404 page not found'"
expect_eq "status" "$(fetch nf "$HFS_URL/never.txt")" 404
expect_eq "404 body" "$(cat "$tmp/nf.b")" "404 page not found"
expect_eq "404 Content-Type" "$(hdr nf Content-Type)" "text/plain; charset=utf-8"

check "405 with an Allow header listing GET and HEAD for DELETE, PATCH, OPTIONS (PUT and POST append)"
for m in DELETE PATCH OPTIONS; do
    expect_eq "$m status" "$(fetch m405 "$HFS_URL/a.txt" -X "$m" -d data)" 405
    allow=$(hdr m405 Allow)
    case ", $allow," in *", GET,"* | *" GET,"*) ;; *) fail "$m: Allow [$allow] lacks GET" ;; esac
    case "$allow" in *HEAD*) ;; *) fail "$m: Allow [$allow] lacks HEAD" ;; esac
done
cmp -s "$tmp/get.b" "$root/a.txt" || fail "a 405 changed the file"

check "HEAD (curl -I): 200 with the GET headers and no body"
curl -s -I --max-time 5 "$HFS_URL/a.txt" >"$tmp/head.h" || fail "curl -I failed"
head -n 1 "$tmp/head.h" | grep -q "^HTTP/1.1 200" || fail "HEAD status: $(head -n 1 "$tmp/head.h")"
expect_eq "HEAD Content-Length" "$(hdr head Content-Length)" "$size"
expect_eq "HEAD ETag" "$(hdr head ETag)" "$etag"

check "Range (curl -r): 206 with Content-Range; suffix range; unsatisfiable 416 with bytes */SIZE"
expect_eq "range status" "$(fetch r "$HFS_URL/a.txt" -r 7-10)" 206
expect_eq "range body" "$(cat "$tmp/r.b")" "curl"
expect_eq "Content-Range" "$(hdr r Content-Range)" "bytes 7-10/$size"
expect_eq "Content-Length of the range" "$(hdr r Content-Length)" 4
expect_eq "suffix range status" "$(fetch rs "$HFS_URL/a.txt" -r -5)" 206
expect_eq "suffix range body" "$(cat "$tmp/rs.b")" "line"
expect_eq "416 status" "$(fetch r416 "$HFS_URL/a.txt" -r 1000-2000)" 416
expect_eq "416 Content-Range" "$(hdr r416 Content-Range)" "bytes */$size"

check "If-Modified-Since (curl -z DATE) and If-None-Match (curl --etag-compare) give 304"
expect_eq "curl -z Last-Modified" "$(fetch ims "$HFS_URL/a.txt" -z "$lastmod")" 304
[ ! -s "$tmp/ims.b" ] || fail "304 with a body: $(cat "$tmp/ims.b")"
expect_eq "If-Modified-Since in the past" "$(code "$HFS_URL/a.txt" -H "If-Modified-Since: Mon, 02 Jan 2006 15:04:05 GMT")" 200
expect_eq "If-None-Match: ETag" "$(code "$HFS_URL/a.txt" -H "If-None-Match: $etag")" 304
curl -s --max-time 5 --etag-save "$tmp/etag" -o /dev/null "$HFS_URL/a.txt" || fail "curl --etag-save failed"
expect_eq "curl --etag-compare" "$(code "$HFS_URL/a.txt" --etag-compare "$tmp/etag")" 304
expect_eq "If-None-Match: another tag" "$(code "$HFS_URL/a.txt" -H 'If-None-Match: "nope"')" 200
expect_eq "If-None-Match: *" "$(code "$HFS_URL/a.txt" -H 'If-None-Match: *')" 304

check "unclean paths get 301 to the cleaned path (curl --path-as-is)"
for p in "/a/../x" "/d/./x.bin" "//a.txt" "/%2e%2e/a.txt"; do
    case "$p" in
    /a/../x) want=/x ;;
    /d/./x.bin) want=/d/x.bin ;;
    *) want=/a.txt ;;
    esac
    expect_eq "status for $p" "$(fetch clean "$HFS_URL$p" --path-as-is)" 301
    expect_eq "Location for $p" "$(hdr clean Location)" "$want"
done
expect_eq "NUL in the path" "$(code "$HFS_URL/a%00b")" 400

check "a directory redirects to dir/ and dir/ is an HTML listing of links (curl -L follows)"
expect_eq "directory status" "$(fetch dir "$HFS_URL/d")" 301
case "$(hdr dir Location)" in d/ | /d/) ;; *) fail "directory Location [$(hdr dir Location)]" ;; esac
expect_eq "listing status" "$(fetch list "$HFS_URL/d" -L)" 200
case "$(hdr list Content-Type)" in text/html*) ;; *) fail "listing Content-Type [$(hdr list Content-Type)]" ;; esac
grep -q '<pre>' "$tmp/list.b" || fail "listing has no <pre>: $(cat "$tmp/list.b")"
grep -q 'href="x.bin"' "$tmp/list.b" || fail "listing lacks x.bin: $(cat "$tmp/list.b")"
grep -q 'href="sub/"' "$tmp/list.b" || fail "listing lacks sub/: $(cat "$tmp/list.b")"

check "a plain GET with verb APPEND (query or X-Verb) gets 426 with Upgrade: websocket and creates nothing"
expect_eq "?verb=APPEND status" "$(fetch up "$HFS_URL/new/q.txt?verb=APPEND")" 426
expect_eq "426 Upgrade" "$(hdr up Upgrade | tr '[:upper:]' '[:lower:]')" websocket
expect_eq "X-Verb: APPEND status" "$(code "$HFS_URL/new/h.txt" -H 'X-Verb: APPEND')" 426
[ ! -e "$root/new" ] || fail "a 426 created $root/new"
expect_eq "?verb=append (lower case) is FOLLOW" "$(code "$HFS_URL/a.txt?verb=append")" 200

check "a WebSocket handshake (curl headers) that asks for no frame type, to a non-live resource, gets 200 with the whole body, never 101"
ws_h() {
    u=$1
    shift
    fetch ws "$u" -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
        -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' "$@"
}
expect_eq "handshake status" "$(ws_h "$HFS_URL/a.txt")" 200
cmp -s "$tmp/ws.b" "$root/a.txt" || fail "handshake body differs: $(cat "$tmp/ws.b")"
expect_eq "handshake Content-Length" "$(hdr ws Content-Length)" "$size"
expect_eq "handshake with an unknown subprotocol" "$(ws_h "$HFS_URL/a.txt" -H 'Sec-WebSocket-Protocol: chat')" 200
expect_eq "handshake with an unknown ?frames" "$(ws_h "$HFS_URL/a.txt?frames=bogus")" 200
expect_eq "handshake to a missing resource" "$(ws_h "$HFS_URL/never.txt")" 404
expect_eq "handshake 404 body" "$(cat "$tmp/ws.b")" "404 page not found"

check "keep-alive: two URLs in one curl invocation reuse the connection"
curl -sv --max-time 5 "$HFS_URL/a.txt" "$HFS_URL/d/x.bin" >"$tmp/ka.b" 2>"$tmp/ka.err" || fail "curl failed: $(cat "$tmp/ka.err")"
grep -q "Re-using existing connection" "$tmp/ka.err" || fail "connection not reused: $(grep '^\*' "$tmp/ka.err")"
expect_eq "keep-alive bodies" "$(cat "$tmp/ka.b")" "$(cat "$root/a.txt" "$root/d/x.bin")"
expect_eq "connections opened" "$(grep -c '^\* Connected to' "$tmp/ka.err")" 1
expect_eq "404 then 200 on one connection" \
    "$(curl -s --max-time 5 -o /dev/null -o /dev/null -w '%{http_code} %{num_connects}\n' "$HFS_URL/nope" "$HFS_URL/a.txt" | tr '\n' ' ')" \
    "404 1 200 0 "

check "pipelining: five requests (GET, HEAD, 404, Range, close) sent in one write are answered in order on one connection"
# The requests go out in one send; the answers are split by their Content-Length (none for HEAD, 304).
out=$("$PY" - "$HFS_PORT" <<'EOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
reqs = [("GET", "/a.txt", ""), ("HEAD", "/d/x.bin", ""), ("GET", "/nope", ""), ("GET", "/d/sub/s.txt", "Range: bytes=3-5\r\n"),
        ("GET", "/d/x.bin", "Connection: close\r\n")]
s.sendall(b"".join(f"{m} {p} HTTP/1.1\r\nHost: x\r\n{h}\r\n".encode() for m, p, h in reqs))
data = b""
deadline = time.monotonic() + 5
while time.monotonic() < deadline:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
out = []
for m, p, h in reqs:
    head, sep, data = data.partition(b"\r\n\r\n")
    if not sep:
        out.append("truncated")
        break
    lines = head.decode("latin1").split("\r\n")
    status = lines[0].split(" ")[1]
    length = 0
    for l in lines[1:]:
        k, _, v = l.partition(":")
        if k.strip().lower() == "content-length":
            length = int(v)
    if m == "HEAD":
        body = b""
    else:
        body, data = data[:length], data[length:]
    out.append(f"{m} {p} {status} {body.decode('latin1')!r}")
out.append(f"left {len(data)}")
print(" | ".join(out))
EOF
) || fail "pipelining helper failed"
expect_eq "pipelined answers" "$out" \
    "GET /a.txt 200 'hello, curl\\nsecond line\\n' | HEAD /d/x.bin 200 '' | GET /nope 404 '404 page not found\\n' | GET /d/sub/s.txt 206 'sub' | GET /d/x.bin 200 'x' | left 0"

check "symbolic links never lead outside the root"
ln -s /etc "$root/etc-link"
c=$(fetch sl "$HFS_URL/etc-link/hostname")
[ "$c" != 200 ] || fail "a symlink to /etc was followed: 200 $(cat "$tmp/sl.b")"

echo "ok: test_curl"
