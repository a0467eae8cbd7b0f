"""test_ws_python.py -- interoperability with Debian's python3-websockets (10.4, asyncio API), a strict client:
it fails the connection on invalid frames, fragmented or oversized control frames, bad close codes and invalid
UTF-8 in TEXT messages. Checks APPEND and FOLLOW as specified in PROTOCOL.md.
Run with /usr/bin/python3 (tests/run.sh does)."""
import asyncio
import os
import sys
import urllib.error
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import websockets  # noqa: E402
from websockets.exceptions import ConnectionClosed, InvalidStatusCode  # noqa: E402

from hfs_server import Server, check, expect, expect_eq, fail, run_main  # noqa: E402

APPEND = {"X-Verb": "APPEND"}
T = 5  # seconds: the deadline of every single wait


async def connect(url, **kw):
    return await asyncio.wait_for(websockets.connect(url, open_timeout=T, close_timeout=T, **kw), T)


async def expect_status(url, status, **kw):
    try:
        ws = await connect(url, **kw)
    except InvalidStatusCode as e:
        expect_eq(f"handshake status for {url}", e.status_code, status)
        return e
    await ws.close()
    fail(f"handshake with {url}: got 101 (subprotocol {ws.subprotocol!r}), want HTTP {status}")


async def round_trip(ws, payload=b"sync"):
    """Ping and wait for the pong: the server has read every frame sent before."""
    waiter = await ws.ping(payload)
    await asyncio.wait_for(waiter, T)


class Reader:
    """Collects a follower's messages in the background until the connection closes."""

    def __init__(self, ws):
        self.ws = ws
        self.messages = []
        self.error = None
        self.task = asyncio.ensure_future(self._run())

    async def _run(self):
        try:
            async for m in self.ws:
                self.messages.append(m)
        except ConnectionClosed as e:  # closed with an error (1002, 1007, 1006...): recorded, checked later
            self.error = e

    def data(self):
        return b"".join(m.encode("utf-8") if isinstance(m, str) else m for m in self.messages)

    async def wait_bytes(self, what, n):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + T
        while len(self.data()) < n:
            if self.task.done():
                fail(f"{what}: connection ended with {len(self.data())} of {n} bytes "
                     f"(code {self.ws.close_code}, {self.error!r})")
            if loop.time() > deadline:
                fail(f"{what}: timed out with {len(self.data())} of {n} bytes")
            await asyncio.sleep(0.01)

    async def closed(self, what):
        try:
            await asyncio.wait_for(asyncio.shield(self.task), T)
        except asyncio.TimeoutError:
            fail(f"{what}: no CLOSE within {T} s (has {len(self.data())} bytes)")
        expect(self.error is None, f"{what}: connection failed: {self.error!r}")
        return self.ws.close_code


def all_types(what, reader, typ):
    for i, m in enumerate(reader.messages):
        expect(isinstance(m, typ), f"{what}: message {i} is {type(m).__name__}, want {typ.__name__}")


def http_get(url, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=T) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


async def main():
    with Server() as srv:
        url = f"{srv.ws_url}/py/live.txt"

        check("python appender (text, binary, empty and fragmented messages) and a TEXT follower")
        app = await connect(url, extra_headers=APPEND)
        expect_eq("appender subprotocol", app.subprotocol, None)
        want = b""

        async def append(data):
            nonlocal want
            await app.send(data)
            if isinstance(data, list):
                data = type(data[0])().join(data)
            want += data.encode("utf-8") if isinstance(data, str) else data

        await append("hello from python\n")
        await append(b"a binary message\n")
        await append("")
        await round_trip(app)
        expect(os.path.exists(os.path.join(srv.root, "py/live.txt")), "APPEND did not create py/live.txt")
        fol = Reader(await connect(url))
        expect_eq("follower subprotocol", fol.ws.subprotocol, None)
        folb = Reader(await connect(url, subprotocols=["binary"]))
        expect_eq("subprotocol chosen by the server", folb.ws.subprotocol, "binary")
        folq = Reader(await connect(url + "?frames=binary"))
        await fol.wait_bytes("text follower (bytes appended before it joined)", len(want))
        await append(["fragmented ", "text ", "message\n"])
        await append([b"fragmented ", b"binary\n"])
        await append("é€𝄞 " * 3000 + "\n")
        await append(b"last line\n")
        await fol.wait_bytes("text follower", len(want))
        expect_eq("text follower bytes so far", fol.data(), want)

        check("a second python appender gets InvalidStatusCode 403")
        await expect_status(url, 403, extra_headers=APPEND)
        await append("after the 403\n")

        check("ping gets a pong from the server, for an appender and for a follower")
        for who, ws in (("appender", app), ("follower", fol.ws), ("binary follower", folb.ws)):
            for payload in (b"ping-" + who.encode(), b"", bytes(range(125))):
                await round_trip(ws, payload)

        check("appender close (1000) is echoed; followers get every byte then CLOSE 1000")
        await asyncio.wait_for(app.close(), T)
        expect_eq("appender close code", app.close_code, 1000)
        expect_eq("text follower close code", await fol.closed("text follower"), 1000)
        expect_eq("text follower bytes", fol.data(), want)
        all_types("text follower", fol, str)
        for who, r in (("subprotocol follower", folb), ("?frames=binary follower", folq)):
            expect_eq(f"{who} close code", await r.closed(who), 1000)
            expect_eq(f"{who} bytes", r.data(), want)
            all_types(who, r, bytes)

        check("a follower of a resource without appender gets HTTP 200 (InvalidStatusCode), of a missing one 404")
        await expect_status(url, 200)
        await expect_status(url + "?frames=bogus", 200)
        e = await expect_status(f"{srv.ws_url}/py/missing.txt", 404)
        expect_eq("404 content-type", e.headers.get("Content-Type"), "text/plain; charset=utf-8")
        status, headers, body = http_get(srv.url + "/py/live.txt")
        expect_eq("plain GET status", status, 200)
        expect_eq("plain GET body", body, want)

        check("one that asks for a frame type (subprotocol or query) gets 101, the whole file, then CLOSE 1000")
        for u, protos, chosen, kind in ((url, ["text"], "text", str), (url, ["binary"], "binary", bytes),
                                        (url + "?frames=text", None, None, str),
                                        (url + "?frames=binary", None, None, bytes)):
            r = Reader(await connect(u, subprotocols=protos, max_size=None))
            expect_eq(f"{u} {protos}: subprotocol chosen by the server", r.ws.subprotocol, chosen)
            expect_eq(f"{u} {protos}: close code", await r.closed(u), 1000)
            expect_eq(f"{u} {protos}: bytes", r.data(), want)
            all_types(u, r, kind)

        check("valid multi-byte text appended one byte per message arrives as valid str messages")
        text = "aé€𝄞üñ漢字😀z\u07ff\u0800\uffff\U00010000\U0010ffffend"
        tb = text.encode("utf-8")
        uurl = f"{srv.ws_url}/py/utf8.txt"
        app = await connect(uurl, extra_headers=APPEND)
        fol = Reader(await connect(uurl))
        late = None
        for i in range(len(tb)):
            await app.send(tb[i:i + 1])
            await round_trip(app)
            if tb[i] == 0xF0 and late is None:
                late = Reader(await connect(uurl))  # joins while the file ends inside a character
        # and split across TEXT appends at every position of one character sequence
        part = "€𝄞é"
        pb = part.encode("utf-8")
        for cut in range(1, len(pb)):
            for piece in (pb[:cut], pb[cut:]):
                await app.send(piece)  # a BINARY append; the server joins the bytes, whatever the boundary
                await round_trip(app)
            text += part
        await asyncio.wait_for(app.close(), T)
        for who, r in (("follower", fol), ("follower that joined mid-character", late)):
            expect_eq(f"{who} close code", await r.closed(who), 1000)
            all_types(who, r, str)
            expect_eq(f"{who} text", "".join(r.messages), text)

        check("appender close(4000) is echoed with 4000")
        curl_ = f"{srv.ws_url}/py/close4000.txt"
        app = await connect(curl_, extra_headers=APPEND)
        fol = Reader(await connect(curl_))
        await app.send("x\n")
        await asyncio.wait_for(app.close(4000, "done"), T)
        expect_eq("appender close code", app.close_code, 4000)
        expect_eq("follower close code", await fol.closed("follower"), 1000)
        expect_eq("follower bytes", fol.data(), b"x\n")

        check("a follower closing itself (4001) gets a CLOSE back; data it sends is discarded")
        eurl = f"{srv.ws_url}/py/echo.txt"
        app = await connect(eurl, extra_headers=APPEND)
        f1 = await connect(eurl)
        await f1.send("junk from a follower")
        await round_trip(f1)
        await asyncio.wait_for(f1.close(4001, "bye"), T)
        expect(f1.close_code not in (1006, None), f"follower close: got {f1.close_code}")
        await app.send("data\n")
        await round_trip(app)
        await asyncio.wait_for(app.close(), T)
        status, _, body = http_get(srv.url + "/py/echo.txt")
        expect_eq("file after a follower sent data", body, b"data\n")

    check("server pings (-ping=100ms) are well-formed: idle python peers stay connected and answer them")
    with Server("-ping=100ms", "-max-message=1000") as srv:
        purl = f"{srv.ws_url}/py/ping.txt"
        app = await connect(purl, extra_headers=APPEND)
        fol = Reader(await connect(purl))
        await asyncio.sleep(0.6)  # several ping periods (a strict client fails on a malformed ping)
        expect(app.open and not fol.task.done(), "an idle peer was disconnected")
        await app.send("still here\n")
        await fol.wait_bytes("follower after idling", len(b"still here\n"))

        check("an appender message over -max-message=1000 closes with 1009; bytes before it stay")
        await app.send(b"y" * 2000)
        try:
            await asyncio.wait_for(app.wait_closed(), T)
        except asyncio.TimeoutError:
            fail("appender not closed after an oversized message")
        expect_eq("oversized message close code", app.close_code, 1009)
        expect_eq("follower close code", await fol.closed("follower"), 1000)
        expect_eq("follower bytes", fol.data(), b"still here\n")
        app = await connect(purl, extra_headers=APPEND)  # the slot was released
        await asyncio.wait_for(app.close(), T)

    with Server() as srv:
        check("a follower still behind when the appender closes gets every byte, then CLOSE 1000")
        for rnd, size in enumerate((100, 20 * 1024, 100 * 1024, 512 * 1024) * 2):
            lurl = f"{srv.ws_url}/py/lag{rnd}.bin"
            app = await connect(lurl, extra_headers=APPEND)
            fol = Reader(await connect(lurl, subprotocols=["binary"] if rnd % 2 else None, max_size=None))
            big = bytes([0x41 + rnd]) * size
            # the last message and the CLOSE are queued together, so the server tends to read both at once
            await asyncio.wait_for(asyncio.gather(app.send(big), app.close()), T)
            expect_eq(f"round {rnd} ({size} bytes): follower close code", await fol.closed(f"round {rnd} follower"), 1000)
            expect_eq(f"round {rnd}: follower bytes", fol.data(), big)

if __name__ == "__main__":
    run_main("test_ws_python", main)
