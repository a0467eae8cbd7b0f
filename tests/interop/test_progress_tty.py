"""test_progress_tty.py -- the clients' -v progress line, with stderr on a pseudo-terminal (python3's pty, in raw
mode so that every carriage return seen is one the command wrote):
- httpfstream-append -v with stdin a pipe fed slowly: the line is redrawn in place (\\r) several times with the
  bytes sent, a rate and the time, ends with a newline and the usual "finished appending (wrote N bytes)";
- httpfstream-follow -v with stdout a file, following a live resource: bytes received, a rate, and how far
  behind the resource's size it is ("... behind" or "caught up"), then "finished following (read N bytes)";
- no progress line, only the plain log lines, when stderr is not a terminal (a file), when the follower's
  stdout is the terminal too, and when the appender's stdin is a terminal (someone typing).
Run with /usr/bin/python3 (tests/run.sh does)."""
import os
import pty
import re
import select
import subprocess
import sys
import tempfile
import threading
import time
import tty

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from hfs_server import HFS_BIN, Server, check, expect, expect_eq, fail, run_main  # noqa: E402

FOLLOW = os.path.join(HFS_BIN, "httpfstream-follow")
APPEND = os.path.join(HFS_BIN, "httpfstream-append")
T = 10  # seconds: the deadline of a command
SIZE = r"\d+(\.\d)? (B|KiB|MiB|GiB)"
LINE = re.compile(SIZE + r" (sent|received) +" + SIZE + r"/s +\d+:\d\d")


def read_pty(master, proc):
    """Everything written to the pty until the process has ended and its side is closed."""
    out = b""
    deadline = time.monotonic() + T
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every descriptor of the other side is closed
                break
            if not data:
                break
            out += data
        elif proc.poll() is not None:
            break
    try:
        proc.wait(T)
    except subprocess.TimeoutExpired:
        proc.kill()
        fail(f"{proc.args} still running after {T} s; stderr so far: {out!r}")
    os.close(master)
    return out.decode(errors="replace")


def on_pty(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, feed=None, stdout_pty=False):
    """Runs argv with stderr (and stdout if stdout_pty) on a raw pty; feed(proc) runs in a thread.
    Returns (exit status, what the pty received)."""
    master, slave = pty.openpty()
    tty.setraw(slave)
    proc = subprocess.Popen(argv, stdin=stdin, stdout=slave if stdout_pty else stdout, stderr=slave)
    os.close(slave)
    t = threading.Thread(target=feed, args=(proc,)) if feed else None
    if t:
        t.start()
    text = read_pty(master, proc)
    if t:
        t.join()
    return proc.returncode, text


def progress_lines(text):
    """The redraws of the progress line: what follows each carriage return up to the next one or a newline."""
    return [re.split(r"[\r\n]", piece)[0] for piece in text.split("\r")[1:]]


def feed_slowly(chunks, size, pause):
    def feed(proc):
        for _ in range(chunks):
            proc.stdin.write(b"x" * (size - 1) + b"\n")
            proc.stdin.flush()
            time.sleep(pause)
        proc.stdin.close()
    return feed


async def body():
    with Server() as srv, tempfile.TemporaryDirectory(prefix="hfs-tty.") as tmp:
        check("append -v, stdin a pipe, stderr a terminal: a progress line redrawn in place, then a newline")
        url = srv.url + "/progress/a.log"
        rc, text = on_pty([APPEND, "-v", url], stdin=subprocess.PIPE, feed=feed_slowly(10, 20480, 0.12))
        expect_eq(f"append exit status ({text!r})", rc, 0)
        lines = progress_lines(text)
        expect(len(lines) >= 3, f"fewer than 3 redraws of the progress line: {text!r}")
        for line in lines:
            expect(LINE.search(line), f"a progress line without bytes, rate and time: {line!r} in {text!r}")
        expect("200.0 KiB sent" in lines[-1], f"the last progress line does not show the total: {lines[-1]!r}")
        expect(re.search(r"\r[^\r\n]*200\.0 KiB sent[^\r\n]*\nfinished appending \(wrote 204800 bytes\)\n$", text),
               f"the progress line does not end with a newline before the final log line: {text!r}")
        expect(text.startswith(f"appending to {url}\n"), f"the start line: {text!r}")
        expect_eq("bytes on disk", os.path.getsize(os.path.join(srv.root, "progress", "a.log")), 204800)

        check("append -v, stderr a file: the plain log lines only, no carriage return")
        with open(os.path.join(tmp, "err"), "wb") as err:
            p = subprocess.run([APPEND, "-v", srv.url + "/progress/b.log"], input=b"hello\n", stderr=err,
                               timeout=T)
        with open(os.path.join(tmp, "err"), "rb") as f:
            logged = f.read().decode()
        expect_eq("append exit status", p.returncode, 0)
        expect_eq("append -v log", logged, f"appending to {srv.url}/progress/b.log\nfinished appending (wrote 6 bytes)\n")

        check("append -v, stdin a terminal too (someone typing): no progress line")
        kbd_master, kbd_slave = pty.openpty()  # canonical mode: ^D ends the input

        def type_in(proc):
            os.write(kbd_master, b"typed\n")
            time.sleep(0.6)
            os.write(kbd_master, b"\x04")
        rc, text = on_pty([APPEND, "-v", srv.url + "/progress/c.log"], stdin=kbd_slave, feed=type_in)
        os.close(kbd_slave)
        os.close(kbd_master)
        expect_eq(f"append exit status ({text!r})", rc, 0)
        expect("\r" not in text, f"a progress line while the input is typed: {text!r}")
        expect("finished appending (wrote 6 bytes)" in text, f"the final log line: {text!r}")

        check("follow -v of a live resource, stdout a file, stderr a terminal: bytes, rate, how far behind")
        url = srv.url + "/progress/f.log"
        app = subprocess.Popen([APPEND, url], stdin=subprocess.PIPE, stderr=subprocess.DEVNULL)
        app.stdin.write(b"y" * 99999 + b"\n")
        app.stdin.flush()
        path = os.path.join(srv.root, "progress", "f.log")
        deadline = time.monotonic() + T
        while not (os.path.exists(path) and os.path.getsize(path) == 100000):
            if time.monotonic() > deadline:
                fail("the first bytes never reached the disk")
            time.sleep(0.02)

        def feed_appender(proc):
            for _ in range(6):
                time.sleep(0.15)
                app.stdin.write(b"z" * 999 + b"\n")
                app.stdin.flush()
            app.stdin.close()
        with open(os.path.join(tmp, "out"), "wb") as out:
            rc, text = on_pty([FOLLOW, "-v", url], stdout=out, feed=feed_appender)
        expect_eq(f"appender exit status", app.wait(T), 0)
        expect_eq(f"follow exit status ({text!r})", rc, 0)
        expect_eq("bytes followed", os.path.getsize(os.path.join(tmp, "out")), 106000)
        lines = progress_lines(text)
        expect(len(lines) >= 3, f"fewer than 3 redraws of the progress line: {text!r}")
        for line in lines:
            expect(LINE.search(line), f"a progress line without bytes, rate and time: {line!r} in {text!r}")
        expect(any(re.search(SIZE + r" behind|caught up", line) for line in lines[:-1]),
               f"no progress line says how far behind it is: {text!r}")
        expect(re.search(r"\r[^\r\n]*103\.5 KiB received[^\r\n]*\nfinished following \(read 106000 bytes\)\n$", text),
               f"the progress line does not end with the total and a newline before the final log line: {text!r}")

        check("follow -v, stderr a file, or stdout the terminal too: the plain log lines only")
        with open(path, "rb") as f:
            whole = f.read()
        with open(os.path.join(tmp, "err"), "wb") as err:
            p = subprocess.run([FOLLOW, "-v", url], stdout=subprocess.DEVNULL, stderr=err, timeout=T)
        with open(os.path.join(tmp, "err"), "rb") as f:
            logged = f.read().decode()
        expect_eq("follow exit status", p.returncode, 0)
        expect_eq("follow -v log", logged, f"following {url}\nfinished following (read 106000 bytes)\n")
        rc, text = on_pty([FOLLOW, "-v", url], stdout_pty=True)
        expect_eq("follow exit status", rc, 0)
        expect("\r" not in text, "a progress line amid the followed bytes on the terminal")
        expect_eq("what the terminal shows", text,
                  f"following {url}\n" + whole.decode() + "finished following (read 106000 bytes)\n")


run_main("test_progress_tty", body)
