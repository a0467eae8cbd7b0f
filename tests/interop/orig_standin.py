"""orig_standin.py -- a stand-in for the ORIGINAL server (sourcegraph/httpfstream, Go, 2013) as
../shared/PROTOCOL.md measured it, for testing our client against it. python3 standard library only.

    python3 orig_standin.py ROOT [--no-length]
    prints "listening on PORT" (a free loopback port) on stdout, then one line per request on stderr.

What it does, like the original:
- the verb is X-Verb, or the query's verb when the header is absent or empty; only GET is served (405 else);
- APPEND: 403 "addWriter: path already has an active writer" when the resource has an appender; else the
  file and its folders are created, 101, and TEXT messages are appended (BINARY dropped, PING answered,
  CLOSE echoed); the resource is live until the session ends;
- FOLLOW of a file that does not exist: 404 "404 page not found" (no waiting: ?wait means nothing);
- FOLLOW with no appender, or any plain GET: the file as a static response (Content-Length, Range: 206 /
  416 with Content-Range), for WebSocket handshakes too; never an X-Follow-Offset;
- FOLLOW of a live resource with a handshake: 101 (no X-Follow-Offset), then the file from byte 0 and every
  byte appended as TEXT frames, then CLOSE 1000 once the appender has gone and every byte was sent.
Every query parameter (offset, lines, wait, frames) is ignored, as the original ignored them.
With --no-length, static responses are chunked and ignore Range (the size is never told): the paths of a
client that must do without it.
"""
import base64
import hashlib
import http.server
import os
import posixpath
import select
import socket
import struct
import sys
import threading
import time
import urllib.parse

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
FRAME_MAX = 8192
ROOT = ""
NO_LENGTH = False
live = set()
lock = threading.Lock()


def frame(opcode, payload=b""):
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return head + payload


def read_exact(f, n):
    data = b""
    while len(data) < n:
        chunk = f.read(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def read_frame(f):
    """One client frame: (fin, opcode, payload), or None at EOF."""
    head = read_exact(f, 2)
    if head is None:
        return None
    fin, opcode = head[0] & 0x80, head[0] & 0x0F
    n = head[1] & 0x7F
    if n == 126:
        n = struct.unpack("!H", read_exact(f, 2) or b"\0\0")[0]
    elif n == 127:
        n = struct.unpack("!Q", read_exact(f, 8) or b"\0" * 8)[0]
    key = read_exact(f, 4) if head[1] & 0x80 else b"\0\0\0\0"
    payload = read_exact(f, n) if n else b""
    if key is None or payload is None:
        return None
    return fin, opcode, bytes(b ^ key[i % 4] for i, b in enumerate(payload))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "standin"

    def log_message(self, fmt, *args):
        pass  # one line per request is written by do_GET and not_get instead

    def note(self):
        sys.stderr.write("%s %s %s\n" % (self.command, self.path, self.headers.get("X-Verb", "-")))
        sys.stderr.flush()

    def text(self, status, body, extra=()):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def not_get(self):
        self.note()
        self.text(405, "method not supported\n")

    do_HEAD = do_PUT = do_POST = do_DELETE = not_get

    def is_handshake(self):
        return "websocket" in self.headers.get("Upgrade", "").lower()

    def upgrade(self):
        key = self.headers.get("Sec-WebSocket-Key", "").encode()
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()
        self.wfile.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Accept: %s\r\n\r\n" % accept).encode())
        self.wfile.flush()
        self.close_connection = True

    def do_GET(self):
        self.note()
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        verb = self.headers.get("X-Verb") or query.get("verb", [""])[0]
        name = posixpath.normpath("/" + urllib.parse.unquote(url.path))
        path = os.path.join(ROOT, name.lstrip("/"))
        if verb == "APPEND":
            self.append(name, path)
        else:
            self.follow(name, path)

    # ---- APPEND ----

    def append(self, name, path):
        with lock:
            if name in live:
                self.text(403, "addWriter: path already has an active writer\n")
                return
            live.add(name)
        try:
            os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
            with open(path, "ab") as out:
                if not self.is_handshake():
                    self.text(200, "")
                    return
                self.upgrade()
                self.append_frames(out)
        finally:
            with lock:
                live.discard(name)

    def append_frames(self, out):
        message, message_op = b"", 0
        while True:
            f = read_frame(self.rfile)
            if f is None:
                return
            fin, opcode, payload = f
            if opcode == 0x8:
                self.wfile.write(frame(0x8, payload[:2]))
                self.wfile.flush()
                return
            if opcode == 0x9:
                self.wfile.write(frame(0xA, payload))
                self.wfile.flush()
            elif opcode in (0x0, 0x1, 0x2):
                if opcode != 0x0:
                    message, message_op = b"", opcode
                message += payload
                if fin and message_op == 0x1:  # BINARY messages are dropped, as the original did
                    out.write(message)
                    out.flush()

    # ---- FOLLOW ----

    def follow(self, name, path):
        if not os.path.isfile(path):
            self.text(404, "404 page not found\n")
            return
        with lock:
            is_live = name in live
        if is_live and self.is_handshake():
            self.upgrade()
            self.stream(name, path)
        else:
            self.static(path)

    def static(self, path):
        with open(path, "rb") as f:
            data = f.read()
        size = len(data)
        if NO_LENGTH:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, size, 5):  # small chunks: the client meets the body in pieces
                piece = data[i:i + 5]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
            return
        status, body, extra = 200, data, []
        rng = self.headers.get("Range", "")
        if rng.startswith("bytes=") and "," not in rng:
            a, _, b = rng[6:].partition("-")
            try:
                if a == "":
                    start, end = max(size - int(b), 0), size - 1
                else:
                    start, end = int(a), min(int(b), size - 1) if b else size - 1
                if start >= size or (a == "" and int(b) == 0):
                    self.text(416, "invalid range: failed to overlap\n", [("Content-Range", "bytes */%d" % size)])
                    return
                status, body = 206, data[start:end + 1]
                extra = [("Content-Range", "bytes %d-%d/%d" % (start, end, size))]
            except ValueError:
                pass
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Last-Modified", self.date_time_string(os.path.getmtime(path)))
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def stream(self, name, path):
        sock = self.connection
        pos = 0
        with open(path, "rb") as f:
            while True:
                f.seek(pos)
                chunk = f.read(FRAME_MAX)
                if chunk:
                    try:
                        self.wfile.write(frame(0x1, chunk))
                        self.wfile.flush()
                    except OSError:
                        return
                    pos += len(chunk)
                    continue
                with lock:
                    gone = name not in live
                if gone and pos >= os.path.getsize(path):
                    try:
                        self.wfile.write(frame(0x8, struct.pack("!H", 1000)))
                        self.wfile.flush()
                        sock.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    return
                # the follower's CLOSE (or its going away) ends the stream early
                ready, _, _ = select.select([sock], [], [], 0.02)
                if ready:
                    f2 = read_frame(self.rfile)
                    if f2 is None or f2[1] == 0x8:
                        try:
                            self.wfile.write(frame(0x8, f2[2][:2] if f2 else b""))
                            self.wfile.flush()
                        except OSError:
                            pass
                        return


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    global ROOT, NO_LENGTH
    ROOT = os.path.abspath(sys.argv[1])
    NO_LENGTH = "--no-length" in sys.argv[2:]
    os.makedirs(ROOT, exist_ok=True)
    srv = Server(("127.0.0.1", 0), Handler)
    print("listening on %d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever(poll_interval=0.05)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
