"""test_metrics_prom.py -- the -metrics listener's /metrics read by Prometheus' own parser (Debian's
python3-prometheus-client, text_string_to_metric_families) after known traffic: N appends of known bytes over a
WebSocket, M followers that read every byte, K requests answered 404; every value checked exactly, every family named
httpfstream_*, with the type docs/OPERATIONS.md gives it. /healthz answers "ok".
Run with /usr/bin/python3 (tests/run.sh does)."""
import asyncio
import os
import re
import sys
import time
import urllib.error
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import websockets  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from hfs_server import Server, check, expect, expect_eq, fail, run_main  # noqa: E402

T = 5
N, M, K = 7, 3, 4
MSG = [f"line {i}: " .encode() + bytes([97 + i]) * (100 * (i + 1)) + b"\n" for i in range(N)]
TOTAL = sum(len(m) for m in MSG)

TYPES = {
    "httpfstream_connections": "gauge",
    "httpfstream_followers": "gauge",
    "httpfstream_followers_lagging": "gauge",
    "httpfstream_appenders": "gauge",
    "httpfstream_resources_live": "gauge",
    "httpfstream_appended_bytes": "counter",
    "httpfstream_follower_sent_bytes": "counter",
    "httpfstream_requests": "counter",
    "httpfstream_followers_dropped": "counter",
    "httpfstream_dead_peers": "counter",
    "httpfstream_connections_refused": "counter",
    "httpfstream_accept_errors": "counter",
    "httpfstream_open_fds": "gauge",
    "httpfstream_max_fds": "gauge",
    "httpfstream_write_errors": "counter",
    "httpfstream_sync_errors": "counter",
    "httpfstream_up": "gauge",
    "httpfstream_store_connected": "gauge",
}


def metrics_port(srv):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        m = re.search(r"metrics on [^\n]*:(\d+)\n", srv.log())
        if m:
            return int(m.group(1))
        time.sleep(0.02)
    fail(f"no 'metrics on' line in the log: {srv.log()}")


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=T) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()


def scrape(port):
    """Every sample of a scrape, parsed by prometheus_client: {(name, labels as a sorted tuple): value}, and the
    families' types."""
    status, ctype, text = get(f"http://127.0.0.1:{port}/metrics")
    expect_eq("/metrics status", status, 200)
    expect(ctype.startswith("text/plain; version=0.0.4"), f"Content-Type {ctype}")
    samples, types = {}, {}
    for fam in text_string_to_metric_families(text):
        expect(fam.name.startswith("httpfstream_"), f"family {fam.name} is not prefixed httpfstream_")
        types[fam.name] = fam.type
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples, types


def value(samples, name, **labels):
    key = (name, tuple(sorted(labels.items())))
    expect(key in samples, f"no sample {name}{labels}")
    return samples[key]


async def wait_value(port, name, want, **labels):
    deadline = time.monotonic() + T
    while True:
        got = value(scrape(port)[0], name, **labels)
        if got == want or time.monotonic() > deadline:
            expect_eq(f"{name}{labels}", got, want)
            return
        await asyncio.sleep(0.02)


async def connect(url, **kw):
    return await asyncio.wait_for(websockets.connect(url, open_timeout=T, close_timeout=T, **kw), T)


async def read_all(ws, n):
    got = b""
    while len(got) < n:
        m = await asyncio.wait_for(ws.recv(), T)
        got += m.encode() if isinstance(m, str) else m
    return got


async def main():
    with Server("-metrics=127.0.0.1:0", "-ping=0") as srv:
        mp = metrics_port(srv)

        check("before any traffic, the parser reads every family with its type, counters at 0")
        samples, types = scrape(mp)
        expect_eq("families and types", types, TYPES)
        for code in ("1xx", "2xx", "3xx", "4xx", "5xx"):
            expect_eq(f"requests {code}", value(samples, "httpfstream_requests_total", code=code), 0)
        expect_eq("up", value(samples, "httpfstream_up"), 1)
        expect(value(samples, "httpfstream_open_fds") > 0, "open_fds > 0")
        expect(value(samples, "httpfstream_max_fds") >= value(samples, "httpfstream_open_fds"), "max_fds >= open_fds")

        check(f"{M} followers and an appender: gauges by role")
        url = f"{srv.ws_url}/p/log.txt"
        followers = [await connect(url + "?wait") for _ in range(M)]
        app = await connect(url, extra_headers={"X-Verb": "APPEND"})
        await wait_value(mp, "httpfstream_followers", M)
        samples, _ = scrape(mp)
        expect_eq("appenders", value(samples, "httpfstream_appenders"), 1)
        expect_eq("follower connections", value(samples, "httpfstream_connections", role="follower"), M)
        expect_eq("appender connections", value(samples, "httpfstream_connections", role="appender"), 1)
        expect_eq("metrics connections", value(samples, "httpfstream_connections", role="metrics"), 1)
        expect_eq("live resources", value(samples, "httpfstream_resources_live"), 1)

        check(f"{N} appends of {TOTAL} bytes reach every follower; the counters say so exactly")
        for m in MSG:
            await app.send(m.decode())
        for f in followers:
            expect_eq("a follower's bytes", await read_all(f, TOTAL), b"".join(MSG))
        await wait_value(mp, "httpfstream_appended_bytes_total", TOTAL)
        await wait_value(mp, "httpfstream_follower_sent_bytes_total", M * TOTAL)
        expect_eq("lagging", value(scrape(mp)[0], "httpfstream_followers_lagging"), 0)

        check(f"{K} requests answered 404, counted by class; the scrapes are not counted")
        for i in range(K):
            expect_eq("404", get(f"{srv.url}/nothing-{i}")[0], 404)
        await wait_value(mp, "httpfstream_requests_total", K, code="4xx")
        samples, _ = scrape(mp)
        expect_eq("1xx (handshakes)", value(samples, "httpfstream_requests_total", code="1xx"), M + 1)
        expect_eq("2xx", value(samples, "httpfstream_requests_total", code="2xx"), 0)
        expect_eq("5xx", value(samples, "httpfstream_requests_total", code="5xx"), 0)

        check("the appender leaves, the followers end: nothing live, nothing dropped, no storage error")
        await app.close()
        for f in followers:
            try:
                await asyncio.wait_for(f.recv(), T)
                fail("a follower got more bytes")
            except websockets.exceptions.ConnectionClosedOK:
                pass
        await wait_value(mp, "httpfstream_followers", 0)
        await wait_value(mp, "httpfstream_resources_live", 0)
        samples, _ = scrape(mp)
        expect_eq("appended", value(samples, "httpfstream_appended_bytes_total"), TOTAL)
        expect_eq("sent", value(samples, "httpfstream_follower_sent_bytes_total"), M * TOTAL)
        for name in ("followers_dropped", "dead_peers", "connections_refused", "accept_errors", "write_errors",
                     "sync_errors"):
            expect_eq(name, value(samples, f"httpfstream_{name}_total"), 0)

        check("/healthz: 200 ok; other paths 404")
        expect_eq("healthz", get(f"http://127.0.0.1:{mp}/healthz")[::2], (200, "ok\n"))
        expect_eq("other path", get(f"http://127.0.0.1:{mp}/p/log.txt")[0], 404)


run_main("test_metrics_prom", main)
