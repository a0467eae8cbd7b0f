"""test_auth_python.py -- access control (docs/SECURITY.md, "Access control") with Debian's python3-websockets (10.4)
and urllib:
- an appender with the token in an Authorization header, followers with the header and with ?token= (TEXT and
  BINARY), every byte reaching each, CLOSE 1000 at the end;
- handshakes refused with InvalidStatusCode: 401 (no credential, an unknown token) with WWW-Authenticate, 403 (a
  token without the right, a signed URL moved or expired), 400 (a malformed Authorization header);
- urllib reads with a sha256: rule's token and with a signed URL made with hmac/hashlib; a prefix-signed URL reads a
  listing (JSON) whose entries it may open, and the HTML listing's links carry the signature;
- a bad rules file sent with SIGHUP keeps the rules in force (the log names the line), and the follower streams on.
Run with /usr/bin/python3 (tests/run.sh does)."""
import asyncio
import base64
import hashlib
import hmac
import json
import os
import re
import signal
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import websockets  # noqa: E402
from websockets.exceptions import InvalidStatusCode  # noqa: E402

from hfs_server import Server, check, expect, expect_eq, fail, run_main  # noqa: E402

T = 5
KEY = b"python key for signed URLs"


async def connect(url, **kw):
    return await asyncio.wait_for(websockets.connect(url, open_timeout=T, close_timeout=T, **kw), T)


async def refused(url, status, **kw):
    try:
        ws = await connect(url, **kw)
    except InvalidStatusCode as e:
        expect_eq(f"handshake status for {url}", e.status_code, status)
        auth = e.headers.get("WWW-Authenticate")
        if status == 401:
            expect_eq("WWW-Authenticate", auth, 'Bearer realm="httpfstream"')
        else:
            expect(auth is None, f"WWW-Authenticate on a {status}")
        return
    await ws.close()
    fail(f"handshake with {url}: got 101, want HTTP {status}")


def http(url, headers=None, method="GET", data=None):
    req = urllib.request.Request(url, headers=headers or {}, method=method, data=data)
    try:
        with urllib.request.urlopen(req, timeout=T) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


SIGS = []  # every signature made: none may reach the log


def sign(rights, expires, path):
    msg = f"httpfstream-sign-v1\n{rights}\n{expires}\n{path}".encode()
    sig = base64.urlsafe_b64encode(hmac.new(KEY, msg, hashlib.sha256).digest()).rstrip(b"=").decode()
    SIGS.append(sig)
    return f"expires={expires}&rights={rights}&sig={sig}"


async def wait_for(what, fn, timeout=T):
    deadline = time.monotonic() + timeout
    while not fn():
        if time.monotonic() > deadline:
            fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def collect(ws, into):
    async for m in ws:
        into.append(m.encode() if isinstance(m, str) else m)


async def main():
    with tempfile.TemporaryDirectory(prefix="hfs-auth-py.") as tmp:
        rules = os.path.join(tmp, "rules")
        key = os.path.join(tmp, "key")
        hashed = hashlib.sha256(b"py-reader-c3").hexdigest()
        with open(rules, "w") as f:
            f.write(f"read,append /py/ py-writer-a1\nread /py/ sha256:{hashed}\n")
        with open(key, "wb") as f:
            f.write(KEY + b"\n")
        with Server(f"-auth={rules}", f"-sign-key={key}") as srv:
            url = f"{srv.ws_url}/py/live.log"

            check("an appender with the header, followers with the header (TEXT) and ?token= (BINARY)")
            app = await connect(url, extra_headers={"X-Verb": "APPEND", "Authorization": "Bearer py-writer-a1"})
            await app.send("one\n")
            await asyncio.wait_for(await app.ping(), T)
            f1 = await connect(url, extra_headers={"Authorization": "Bearer py-reader-c3"})
            f2 = await connect(f"{url}?token=py-reader-c3", subprotocols=["binary"])
            expect_eq("subprotocol", f2.subprotocol, "binary")
            got1, got2 = [], []
            t1 = asyncio.ensure_future(collect(f1, got1))
            t2 = asyncio.ensure_future(collect(f2, got2))
            await wait_for("the followers' first line", lambda: b"".join(got1) == b"one\n" == b"".join(got2))

            check("handshakes refused: 401 with WWW-Authenticate, 403, 400")
            await refused(url, 401)
            await refused(f"{url}?token=who-knows-py", 401)
            await refused(url, 403, extra_headers={"X-Verb": "APPEND", "Authorization": "Bearer py-reader-c3"})
            await refused(url, 400, extra_headers={"Authorization": "Basic cHk6cHk="})
            exp = int(time.time()) + 600
            await refused(f"{url}?{sign('read', exp, '/py/other.log')}", 403)
            await refused(f"{url}?{sign('read', int(time.time()) - 5, '/py/live.log')}", 403)
            f3 = await connect(f"{url}?{sign('read', exp, '/py/live.log')}")
            got3 = []
            t3 = asyncio.ensure_future(collect(f3, got3))

            check("urllib: the sha256: rule's token reads; a signed URL reads; a prefix-signed listing and its links")
            st, _, body = http(f"{srv.url}/py/live.log", {"Authorization": "Bearer py-reader-c3"})
            expect_eq("GET with the token", (st, body), (200, b"one\n"))
            st, _, body = http(f"{srv.url}/py/live.log", {"Authorization": f"Bearer {hashed}"})
            expect_eq("GET with the digest as a token", st, 401)
            st, _, body = http(f"{srv.url}/py/live.log?{sign('read', exp, '/py/live.log')}")
            expect_eq("GET signed", (st, body), (200, b"one\n"))
            pq = sign("read", exp, "/py/")
            st, _, body = http(f"{srv.url}/py/?{pq}", {"Accept": "application/json"})
            expect_eq("JSON listing, prefix-signed", st, 200)
            names = [e["name"] for e in json.loads(body)["entries"]]
            expect_eq("listing entries", names, ["live.log"])
            st, _, body = http(f"{srv.url}/py/{names[0]}?{pq}")
            expect_eq("an entry, prefix-signed", st, 200)
            st, _, body = http(f"{srv.url}/py/?{pq}", {"Accept": "text/html"})
            expect_eq("HTML listing", st, 200)
            expect(f'href="live.log?{pq.replace("&", "&amp;")}"' in body.decode(), f"no signed link in {body[:2000]!r}")
            st, _, _ = http(f"{srv.url}/py/x.log?{pq}", method="PUT", data=b"x")
            expect_eq("PUT with a read signature", st, 403)

            check("SIGHUP with a bad rules file: the rules in force stay, the log names the line; followers stream on")
            with open(rules, "w") as f:
                f.write("read /py/ fine\n# a comment\nread,append py/ no-slash\n")
            os.kill(srv.proc.pid, signal.SIGHUP)
            await wait_for("the failed reload in the log", lambda: "reload failed" in srv.log())
            expect(re.search(re.escape(rules) + r":3: ", srv.log()), f"the log does not name line 3:\n{srv.log()}")
            st, _, _ = http(f"{srv.url}/py/live.log", {"Authorization": "Bearer fine"})
            expect_eq("a token of the bad file", st, 401)
            st, _, _ = http(f"{srv.url}/py/live.log?token=py-reader-c3")
            expect_eq("a token of the rules in force", st, 200)
            await app.send(b"two\n")
            want = b"one\ntwo\n"
            await wait_for("every follower's second line",
                           lambda: b"".join(got1) == want == b"".join(got2) and b"".join(got3) == want)

            check("the appender leaves: CLOSE 1000 for every follower")
            await app.close()
            for name, ws, task in (("header", f1, t1), ("?token=", f2, t2), ("signed", f3, t3)):
                await asyncio.wait_for(task, T)
                expect_eq(f"{name} close code", ws.close_code, 1000)

            check("the log holds no token, digest, signature or Authorization header")
            log = srv.log()
            expect("token=REDACTED" in log and "sig=REDACTED" in log, f"no redacted lines:\n{log}")
            for secret in ("py-writer-a1", "py-reader-c3", hashed, "who-knows-py", "Bearer", "Authorization", "Basic", *SIGS):
                expect(secret not in log, f"{secret!r} in the log:\n{log}")


run_main("test_auth_python", main)
