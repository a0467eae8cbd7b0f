"""hfs_server.py -- starts and stops build/bin/httpfstream-server for Python interop tests, like tests/lib.sh.

    from hfs_server import Server, check, fail, run_main
    with Server("-ping=200ms") as srv:   # free port, fresh temp root
        srv.url, srv.ws_url, srv.port, srv.root (the served folder), srv.log()
    # leaving the block (normally or by an exception) sends SIGTERM and fails unless the server exits 0
    # with no sanitizer report in its log.
"""
import asyncio
import atexit
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HFS_BIN = os.environ.get("HFS_BIN") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "bin")
SANITIZER = re.compile(r"Sanitizer|runtime error")
_running = set()


class TestFailure(Exception):
    pass


def fail(message):
    raise TestFailure(message)


_current = [""]


def check(what):
    """Announces what the test checks next; a failure names the last announced check."""
    _current[0] = what
    print(f"check: {what}", flush=True)


def expect_eq(what, got, want):
    if got != want:
        g, w = repr(got), repr(want)
        fail(f"{what}: got {g[:400]}, want {w[:400]}")


def expect(cond, message):
    if not cond:
        fail(message)


class Server:
    def __init__(self, *args):
        self.args = list(args)
        self.proc = None

    def start(self):
        self.dir = tempfile.mkdtemp(prefix="hfs-py.")
        self.root = os.path.join(self.dir, "root")
        self.log_file = self.dir + ".log"
        with open(self.log_file, "wb") as log:
            self.proc = subprocess.Popen(
                [os.path.join(HFS_BIN, "httpfstream-server"), f"-root={self.root}", "-http=127.0.0.1:0", *self.args],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        _running.add(self)
        deadline = time.monotonic() + 10
        while True:
            m = re.search(r"listening on [^,\n]*:(\d+),", self.log())
            if m:
                self.port = int(m.group(1))
                break
            if self.proc.poll() is not None:
                _running.discard(self)
                fail(f"server exited at start with {self.proc.returncode}: {self.log()}")
            if time.monotonic() > deadline:
                fail(f"server did not start: {self.log()}")
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        return self

    def log(self):
        try:
            with open(self.log_file, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self not in _running:
            return
        _running.discard(self)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            fail(f"server did not exit within 10 s of SIGTERM; its log:\n{self.log()}")
        log = self.log()
        if rc != 0 or SANITIZER.search(log):
            fail(f"server exited with {rc}{' and a sanitizer report' if SANITIZER.search(log) else ''}; its log:\n{log}")
        shutil.rmtree(self.dir, ignore_errors=True)
        try:
            os.unlink(self.log_file)
        except OSError:
            pass

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        try:
            self.stop()
        except TestFailure:
            if exc_type is None:
                raise
            # the test already failed: report the server's failure too, keep the first error
            print(f"also: server stop failed:\n{self.log()}", file=sys.stderr)
        return False


@atexit.register
def _kill_leftovers():
    for srv in list(_running):
        try:
            srv.proc.kill()
        except OSError:
            pass


def run_main(name, coro_fn, timeout=60):
    """Runs an async test body with a whole-test deadline; prints FAIL and exits 1 on any failure."""
    started = time.monotonic()
    try:
        asyncio.run(asyncio.wait_for(coro_fn(), timeout))
    except TestFailure as e:
        print(f"FAIL: {name}: {_current[0]}: {e}", file=sys.stderr)
        sys.exit(1)
    except asyncio.TimeoutError:
        print(f"FAIL: {name}: {_current[0]}: timed out (whole test over {timeout} s)", file=sys.stderr)
        sys.exit(1)
    except BaseException as e:  # noqa: BLE001 -- any exception is a test failure with its traceback
        import traceback
        traceback.print_exc()
        print(f"FAIL: {name}: {_current[0]}: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {name} ({(time.monotonic() - started) * 1000:.0f} ms)")
