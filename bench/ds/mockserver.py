#!/usr/bin/env python3
"""mockserver.py -- a small in-memory Durable Streams server for checking bench/dsload itself
(bench/ds/selftest.sh): it speaks the parts of the protocol dsload uses, in wire forms other than
the reference server's, and can be told to get something wrong so that dsload must notice.

    mockserver.py --port P [--style S,...] [--fault F]

Styles (all valid, dsload must accept them): crlf (SSE lines end in CRLF), space ("data: x"),
late-event (an event's data lines before its event line), tiny-chunks (the SSE response in
5-byte HTTP chunks), comments (": keep-alive" lines), close (every long-poll and POST answer
ends its connection), pages (catch-up reads return at most 4 KiB), pretty (JSON reads spaced
and on several lines).

Faults (dsload must report verify=FAIL): sse-corrupt, sse-drop, sse-dup, lp-corrupt, lp-dup,
read-corrupt, read-short, offset-stall, producer-dup, sse-end, lp-stale-204.
Each fault hits once: the third reader's second delivery, or the fifth POST.
"""
import argparse
import asyncio
import json

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, required=True)
p.add_argument("--style", default="")
p.add_argument("--fault", default="")
args = p.parse_args()
STYLE = set(s for s in args.style.split(",") if s)
FAULT = args.fault

streams = {}  # path -> Stream
readers_seen = 0
posts_seen = 0


def off(n):
    return "%016d_%016d" % (0, n)


def parse_off(s):
    if s == "-1":
        return 0
    a, b = s.split("_")
    return int(b)


class Stream:
    def __init__(self, ctype):
        self.ctype = ctype
        self.json = ctype.split(";")[0].strip().lower() == "application/json"
        self.data = bytearray()  # text/bytes: the content; JSON: messages joined, each + ","
        self.bounds = [0]  # JSON: end offset of each message
        self.cond = asyncio.Condition()
        self.producers = {}

    @property
    def tail(self):
        return len(self.data)

    def read(self, start, limit=None):
        """Bytes (or JSON messages) from start, up to limit; returns (payload, end)."""
        end = self.tail
        if limit is not None and end - start > limit:
            end = start + limit
            if self.json:
                end = max([b for b in self.bounds if b <= end and b > start] or [self.tail])
        chunk = bytes(self.data[start:end])
        if self.json:
            msgs = chunk.decode().rstrip(",")
            sep = ",\n  " if "pretty" in STYLE else ","
            body = "[" + sep.join(m for m in split_msgs(msgs)) + "]"
            if "pretty" in STYLE:
                body = "[\n  " + body[1:-1] + "\n]\n"
            return body.encode(), end
        return chunk, end


def split_msgs(s):
    out, depth, start, in_str, esc = [], 0, 0, False, False
    for i, ch in enumerate(s):
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(s[start:i])
            start = i + 1
    if s[start:]:
        out.append(s[start:])
    return out


async def read_request(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    hdrs = {}
    for ln in lines[1:]:
        if ln:
            k, v = ln.split(":", 1)
            hdrs[k.strip().lower()] = v.strip()
    body = b""
    n = int(hdrs.get("content-length", "0"))
    if n:
        body = await reader.readexactly(n)
    path, _, query = target.partition("?")
    q = {}
    for kv in query.split("&"):
        if kv:
            k, _, v = kv.partition("=")
            q[k] = v
    return method, path, q, hdrs, body


def response(status, headers=None, body=b"", close=False):
    reason = {200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request", 404: "Not Found"}
    h = ["HTTP/1.1 %d %s" % (status, reason.get(status, "X"))]
    for k, v in (headers or {}).items():
        h.append("%s: %s" % (k, v))
    if status != 204:
        h.append("Content-Length: %d" % len(body))
    if close:
        h.append("Connection: close")
    return ("\r\n".join(h) + "\r\n\r\n").encode() + (body if status != 204 else b"")


def sse_event(kind, payload):
    nl = "\r\n" if "crlf" in STYLE else "\n"
    sp = " " if "space" in STYLE else ""
    lines = payload.split("\n")
    data = "".join("data:%s%s%s" % (sp, ln, nl) for ln in lines)
    ev = "event: %s%s" % (kind, nl)
    out = (data + ev) if "late-event" in STYLE else (ev + data)
    if "comments" in STYLE:
        out = ": keep-alive" + nl + out
    return (out + nl).encode()


def chunk(b):
    if "tiny-chunks" in STYLE:
        return b"".join(b"%x\r\n%s\r\n" % (len(b[i : i + 5]), b[i : i + 5]) for i in range(0, len(b), 5))
    return b"%x\r\n%s\r\n" % (len(b), b)


async def handle_sse(s, start, writer, rid):
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    cur, deliveries, first = start, 0, True
    while True:
        if not first:
            async with s.cond:
                await s.cond.wait_for(lambda: s.tail > cur)
        first = False
        data, end = s.read(cur)
        out = b""
        if data:
            deliveries += 1
            text = data.decode()
            hit = rid == 2 and deliveries == 2
            if hit and FAULT == "sse-drop":
                text = None
            elif hit and FAULT == "sse-corrupt":
                text = text[:10] + ("x" if text[10] != "x" else "y") + text[11:]
            if text is not None:
                out += sse_event("data", text)
                if hit and FAULT == "sse-dup":
                    out += sse_event("data", text)
        ctl = {"streamNextOffset": off(end), "streamCursor": "123", "upToDate": True}
        out += sse_event("control", json.dumps(ctl))
        writer.write(chunk(out))
        await writer.drain()
        if FAULT == "sse-end" and rid == 2 and deliveries == 2:
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            return
        cur = end


async def client(reader, writer):
    global readers_seen, posts_seen
    sse_id = None
    try:
        while True:
            try:
                method, path, q, h, body = await read_request(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            close = False
            if method == "PUT":
                streams[path] = Stream(h.get("content-type", "application/octet-stream"))
                writer.write(response(201, {"Stream-Next-Offset": off(0), "Content-Type": streams[path].ctype}))
            elif method == "POST":
                s = streams.get(path)
                posts_seen += 1
                if s.json:
                    v = json.loads(body)
                    msgs = v if isinstance(v, list) else [v]
                    for m in msgs:
                        s.data += json.dumps(m, separators=(",", ":")).encode() + b","
                        s.bounds.append(len(s.data))
                else:
                    s.data += body
                async with s.cond:
                    s.cond.notify_all()
                hd = {"Stream-Next-Offset": off(s.tail)}
                status = 204
                if "producer-id" in h:
                    status = 200
                    hd["Producer-Epoch"] = h["producer-epoch"]
                    hd["Producer-Seq"] = h["producer-seq"]
                    if FAULT == "producer-dup" and posts_seen == 5:
                        status = 204
                if FAULT == "offset-stall" and posts_seen == 5:
                    hd["Stream-Next-Offset"] = off(0)
                close = "close" in STYLE
                writer.write(response(status, hd, close=close))
            elif method == "GET" and q.get("live") == "sse":
                s = streams[path]
                sse_id = readers_seen
                readers_seen += 1
                await handle_sse(s, parse_off(q["offset"]), writer, sse_id)
                return
            elif method == "GET" and q.get("live") == "long-poll":
                s = streams[path]
                start = parse_off(q["offset"])
                if not hasattr(writer, "rid"):
                    writer.rid = readers_seen
                    writer.n = 0
                    readers_seen += 1
                async with s.cond:
                    try:
                        await asyncio.wait_for(s.cond.wait_for(lambda: s.tail > start), 30)
                    except asyncio.TimeoutError:
                        pass
                data, end = s.read(start)
                close = "close" in STYLE
                if not data:
                    writer.write(response(204, {"Stream-Next-Offset": off(start), "Stream-Up-To-Date": "true", "Stream-Cursor": "7"}, close=close))
                else:
                    writer.n += 1
                    hit = writer.rid == 2 and writer.n == 2
                    if hit and FAULT == "lp-corrupt":
                        data = data[:5] + b"?" + data[6:]
                    if hit and FAULT == "lp-dup":
                        end = start  # the same bytes again next time
                    if hit and FAULT == "lp-stale-204":
                        writer.write(response(204, {"Stream-Next-Offset": off(end), "Stream-Up-To-Date": "true", "Stream-Cursor": "7"}, close=close))
                    else:
                        writer.write(response(200, {"Stream-Next-Offset": off(end), "Stream-Up-To-Date": "true", "Stream-Cursor": "7", "Content-Type": s.ctype}, data, close=close))
            elif method == "GET":
                s = streams[path]
                start = parse_off(q.get("offset", "-1"))
                data, end = s.read(start, 4096 if "pages" in STYLE else None)
                if FAULT == "read-corrupt" and data and start == 0:
                    data = data[:3] + (b"Z" if data[3:4] != b"Z" else b"Y") + data[4:]
                if FAULT == "read-short" and end == s.tail and end > 100:
                    end -= 64
                    data = data[:-64]
                hd = {"Stream-Next-Offset": off(end), "Content-Type": s.ctype}
                if end == s.tail:
                    hd["Stream-Up-To-Date"] = "true"
                writer.write(response(200, hd, data))
            else:
                writer.write(response(400, {}, b"no"))
            await writer.drain()
            if close:
                writer.close()
                return
    except (ConnectionError, asyncio.CancelledError):
        return
    finally:
        try:
            writer.close()
        except Exception:
            pass


async def main():
    srv = await asyncio.start_server(client, "127.0.0.1", args.port, backlog=2048)
    print("listening on 127.0.0.1:%d" % srv.sockets[0].getsockname()[1], flush=True)
    async with srv:
        await srv.serve_forever()


asyncio.run(main())
