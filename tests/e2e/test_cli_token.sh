#!/bin/sh
# test_cli_token.sh -- the bearer token of httpfstream-append and httpfstream-follow, against a tiny
# fake server (Python, 127.0.0.1, no network) that records every request head and wants a token:
# - -token=TOKEN and $HTTPFSTREAM_TOKEN reach the server as "Authorization: Bearer TOKEN" in every
#   request (WebSocket handshakes, and the one-byte GET a follow sends to learn a size), -token
#   wins over the variable, an empty -token= sends none;
# - a URL's query (a signed URL's expires, rights, sig; a token parameter) reaches the server as
#   given, with the follower's own parameters after it;
# - a missing or unknown token is "401 unauthorized: ...", a forbidden path "403 forbidden: ...",
#   exit 1; a token that cannot be sent is refused before any connection (exit 1);
# - the token never appears in what the commands print, even with -v, nor the URL's token and sig
#   values (REDACTED), nor a value given to a misspelt flag.
set -u
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

tmp=$(mktemp -d /tmp/hfs-token.XXXXXX)
fake_pid=""
bg_pids=""
cleanup() {
    for p in $fake_pid $bg_pids; do
        kill -TERM "$p" 2>/dev/null
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP PIPE INT TERM
F=$HFS_BIN/httpfstream-follow
A=$HFS_BIN/httpfstream-append
TOKEN=tok-S3CRET-7f9a.b_c~d+e/f=
unset HTTPFSTREAM_TOKEN

# The fake: one thread per connection; each request head is appended to heads.log followed by a
# line "--". A request with neither the right bearer token nor token=TOKEN in its query gets 401;
# paths under /forbidden/ get 403. With the token: a WebSocket APPEND gets 101 and its messages are
# appended to appended.data until CLOSE; a WebSocket FOLLOW gets 101, "hello\n" and CLOSE 1000; a
# plain GET (the size request) gets 206 with the size of "hello\n".
cat >"$tmp/fake.py" <<'EOF'
import base64, hashlib, os, socket, struct, sys, threading, urllib.parse

out, want = sys.argv[1], sys.argv[2]
lock = threading.Lock()

def recv_exact(c, n):
    b = b""
    while len(b) < n:
        k = c.recv(n - len(b))
        if not k:
            raise EOFError
        b += k
    return b

def read_frame(c):
    h = recv_exact(c, 2)
    op, n = h[0] & 15, h[1] & 127
    if n == 126:
        n = struct.unpack("!H", recv_exact(c, 2))[0]
    elif n == 127:
        n = struct.unpack("!Q", recv_exact(c, 8))[0]
    mask = recv_exact(c, 4) if h[1] & 128 else b"\0\0\0\0"
    data = bytes(b ^ mask[i % 4] for i, b in enumerate(recv_exact(c, n)))
    return op, data

def frame(op, data):
    return bytes([0x80 | op, len(data)]) + data

def answer(c, status, body, extra=""):
    c.sendall(("HTTP/1.1 %s\r\n%sContent-Length: %d\r\nConnection: close\r\n\r\n%s"
               % (status, extra, len(body), body)).encode())

def serve(c):
    head = b""
    while b"\r\n\r\n" not in head:
        k = c.recv(1)
        if not k:
            return
        head += k
    text = head.decode("latin-1")
    with lock:
        with open(os.path.join(out, "heads.log"), "a") as f:
            f.write(text + "--\n")
    lines = text.split("\r\n")
    target = lines[0].split(" ")[1]
    hdr = {}
    for l in lines[1:]:
        if ":" in l:
            k, v = l.split(":", 1)
            hdr[k.strip().lower()] = v.strip()
    query = urllib.parse.urlsplit(target).query.split("&")  # raw: compared as sent
    if hdr.get("authorization") != "Bearer " + want and "token=" + want not in query:
        answer(c, "401 Unauthorized", "unauthorized\n",
               'WWW-Authenticate: Bearer realm="httpfstream"\r\n')
        return
    if target.startswith("/forbidden/"):
        answer(c, "403 Forbidden", "forbidden\n")
        return
    if "sec-websocket-key" not in hdr:
        c.sendall(b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-0/6\r\n"
                  b"Content-Length: 1\r\nConnection: close\r\n\r\nh")
        return
    acc = base64.b64encode(hashlib.sha1((hdr["sec-websocket-key"] +
          "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
    c.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n" % acc).encode())
    if hdr.get("x-verb") != "APPEND":
        c.sendall(frame(1, b"hello\n") + frame(8, b"\x03\xe8"))
    while True:
        op, data = read_frame(c)
        if op == 8:
            c.sendall(frame(8, data[:2]))
            return
        if op in (0, 1, 2):
            with lock:
                with open(os.path.join(out, "appended.data"), "ab") as f:
                    f.write(data)

def run(c):
    try:
        serve(c)
    except (EOFError, OSError):
        pass
    finally:
        c.close()

s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(16)
with open(os.path.join(out, "port.tmp"), "w") as f:
    f.write(str(s.getsockname()[1]))
os.rename(os.path.join(out, "port.tmp"), os.path.join(out, "port"))
while True:
    c, _ = s.accept()
    threading.Thread(target=run, args=(c,), daemon=True).start()
EOF
: >"$tmp/heads.log"
/usr/bin/python3 "$tmp/fake.py" "$tmp" "$TOKEN" 2>"$tmp/fake.err" &
fake_pid=$!
wait_exists "$tmp/port" 10 "the fake server ($(cat "$tmp/fake.err" 2>/dev/null))"
U=http://127.0.0.1:$(cat "$tmp/port")
SIGNED='expires=1767225600&rights=read&sig=SIG-S3CRET-Ab9_-x'

runs=0
# run NAME [VAR=VALUE...] COMMAND ARGS...: runs a command (5 s at most) with stdin from $tmp/NAME.in
# when that exists; output in $tmp/NAME.out and .err, status in $rc; heads.log's new part (this
# run's request heads) in $tmp/NAME.heads.
run() {
    name=$1
    shift
    [ -f "$tmp/$name.in" ] || : >"$tmp/$name.in"
    before=$(wc -l <"$tmp/heads.log")
    env "$@" <"$tmp/$name.in" >"$tmp/$name.out" 2>"$tmp/$name.err" &
    wait_exit $! 5 "$*"
    tail -n +$((before + 1)) "$tmp/heads.log" >"$tmp/$name.heads"
    runs=$((runs + 1))
}

# heads NAME: how many request heads the run sent; auths NAME: how many carried our token.
heads() { grep -c '^--$' "$tmp/$1.heads"; }
auths() { grep -c "^Authorization: Bearer $TOKEN.$" "$tmp/$1.heads"; }

check "-token reaches the server on a follow; the URL's query is kept, ours after it"
run f1 "$F" -token="$TOKEN" -binary "$U/a.log?$SIGNED"
expect_eq "follow -token exit status ($(cat "$tmp/f1.err"))" "$rc" 0
expect_eq "follow -token output" "$(cat "$tmp/f1.out")" hello
expect_eq "follow -token: requests with the token" "$(auths f1)/$(heads f1)" 1/1
grep -q "^GET /a.log?$SIGNED&frames=binary HTTP/1.1.$" "$tmp/f1.heads" || fail "request line: $(head -1 "$tmp/f1.heads")"

check "HTTPFSTREAM_TOKEN when there is no -token; every request of a follow with -n carries it"
run f2 HTTPFSTREAM_TOKEN="$TOKEN" "$F" -n=1 "$U/b.log"
expect_eq "follow with HTTPFSTREAM_TOKEN exit status ($(cat "$tmp/f2.err"))" "$rc" 0
expect_eq "follow -n=1 output" "$(cat "$tmp/f2.out")" hello
expect_eq "follow -n: handshake and size request, both with the token" "$(auths f2)/$(heads f2)" 2/2
grep -q '^Range: bytes=0-0.$' "$tmp/f2.heads" || fail "no size request: $(cat "$tmp/f2.heads")"

check "-token wins over HTTPFSTREAM_TOKEN; only one Authorization header"
run f3 HTTPFSTREAM_TOKEN=wrong-from-env "$F" -token "$TOKEN" "$U/c.log"
expect_eq "follow -token over the variable ($(cat "$tmp/f3.err"))" "$rc" 0
expect_eq "Authorization headers" "$(grep -c '^Authorization:' "$tmp/f3.heads")" 1
expect_eq "ours among them" "$(auths f3)" 1

check "an empty -token= sends none, even with the variable set: 401 unauthorized"
run f4 HTTPFSTREAM_TOKEN="$TOKEN" "$F" -token= "$U/d.log"
expect_eq "follow -token= exit status" "$rc" 1
grep -q '^Authorization:' "$tmp/f4.heads" && fail "-token= sent: $(cat "$tmp/f4.heads")"
grep -q "httpfstream-follow: $U/d.log: 401 unauthorized: the server wants a token and none was given" \
    "$tmp/f4.err" || fail "message: $(cat "$tmp/f4.err")"

check "append: -token and HTTPFSTREAM_TOKEN reach the server, the bytes are appended"
printf 'one\n' >"$tmp/a1.in"
run a1 "$A" -token="$TOKEN" "$U/ci/job.log"
expect_eq "append -token exit status ($(cat "$tmp/a1.err"))" "$rc" 0
expect_eq "append -token: requests with the token" "$(auths a1)/$(heads a1)" 1/1
grep -q '^X-Verb: APPEND.$' "$tmp/a1.heads" || fail "not an APPEND: $(cat "$tmp/a1.heads")"
printf 'two\n' >"$tmp/a2.in"
run a2 HTTPFSTREAM_TOKEN="$TOKEN" "$A" -v "$U/ci/job.log"
expect_eq "append with HTTPFSTREAM_TOKEN exit status ($(cat "$tmp/a2.err"))" "$rc" 0
expect_eq "append with the variable: requests with the token" "$(auths a2)/$(heads a2)" 1/1
expect_eq "appended bytes" "$(cat "$tmp/appended.data")" "one
two"
grep -q "^appending to $U/ci/job.log (with the bearer token from HTTPFSTREAM_TOKEN)$" "$tmp/a2.err" ||
    fail "append -v: $(cat "$tmp/a2.err")"

check "a token in the URL works alone, and -v shows it REDACTED"
run f5 "$F" -v "$U/e.log?token=$TOKEN&$SIGNED"
expect_eq "follow ?token= exit status ($(cat "$tmp/f5.err"))" "$rc" 0
grep -q "^GET /e.log?token=$TOKEN&$SIGNED HTTP/1.1.$" "$tmp/f5.heads" || fail "request line: $(head -1 "$tmp/f5.heads")"
grep -q "^following $U/e.log?token=REDACTED&expires=1767225600&rights=read&sig=REDACTED$" "$tmp/f5.err" ||
    fail "follow -v: $(cat "$tmp/f5.err")"

check "an unknown token: 401 unauthorized, exit 1, for both commands, with -v"
run f6 HTTPFSTREAM_TOKEN=WRONG-S3CRET "$F" -v "$U/f.log?$SIGNED"
expect_eq "follow, unknown token: exit status" "$rc" 1
grep -q "httpfstream-follow: $U/f.log?expires=1767225600&rights=read&sig=REDACTED: 401 unauthorized: the server does not accept the credential given" \
    "$tmp/f6.err" || fail "message: $(cat "$tmp/f6.err")"
printf 'x\n' >"$tmp/a3.in"
run a3 "$A" -v -token=WRONG-S3CRET "$U/ci/job.log?sig=SIG-S3CRET"
expect_eq "append, unknown token: exit status" "$rc" 1
grep -q "401 unauthorized: the server does not accept the credential given" "$tmp/a3.err" ||
    fail "message: $(cat "$tmp/a3.err")"

check "a known token without the right: 403 forbidden, exit 1"
run f7 "$F" -v -token="$TOKEN" "$U/forbidden/x.log"
expect_eq "follow, forbidden: exit status" "$rc" 1
grep -q "403 forbidden: the credential given may not read this path; the server says \"forbidden\"" \
    "$tmp/f7.err" || fail "message: $(cat "$tmp/f7.err")"
printf 'x\n' >"$tmp/a4.in"
run a4 HTTPFSTREAM_TOKEN="$TOKEN" "$A" -v "$U/forbidden/x.log"
expect_eq "append, forbidden: exit status" "$rc" 1
grep -q "403 forbidden: the credential given may not append to this path" "$tmp/a4.err" ||
    fail "message: $(cat "$tmp/a4.err")"

check "a token that cannot be sent is refused before any connection"
nl='
'
i=0
for bad in "two words" "S3CRET${nl}X-Evil: 1" "tab	S3CRET"; do
    i=$((i + 1))
    run "bf$i" "$F" -v -token="$bad" "$U/g.log"
    expect_eq "follow with bad token $i: exit status" "$rc" 1
    expect_eq "follow with bad token $i: requests" "$(heads "bf$i")" 0
    grep -q "$U/g.log: invalid token: " "$tmp/bf$i.err" || fail "message: $(cat "$tmp/bf$i.err")"
    run "ba$i" HTTPFSTREAM_TOKEN="$bad" "$A" "$U/g.log"
    expect_eq "append with bad token $i: exit status" "$rc" 1
    expect_eq "append with bad token $i: requests" "$(heads "ba$i")" 0
done

check "a value given to a misspelt flag is not printed"
run u1 "$F" -tokn=S3CRET-TYPO "$U/h.log"
expect_eq "misspelt flag exit status" "$rc" 2
grep -q "unknown flag -tokn$" "$tmp/u1.err" || fail "message: $(cat "$tmp/u1.err")"

check "no secret in anything the commands printed ($runs runs)"
if grep -l "S3CRET" "$tmp"/*.err "$tmp"/*.out; then
    fail "a secret was printed: $(grep -h "S3CRET" "$tmp"/*.err "$tmp"/*.out | head -3)"
fi
alive "$fake_pid" "the fake server"
echo "ok: test_cli_token"
