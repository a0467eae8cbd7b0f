"""test_follow_original.py -- our httpfstream-follow (and httpfstream-append) against a stand-in for the ORIGINAL
server (orig_standin.py: never an X-Follow-Offset, 404 until a resource exists, 200 with the whole file when
nobody appends, 101 + TEXT frames from byte 0 + CLOSE when live; ?offset, ?lines and ?wait ignored). The
follower honours its options by itself, or fails saying why; it never silently does something else:
- a finished resource (200 with a length): -offset=N, -offset=-N, -offset=now, -n=LINES; past the end: exit 1;
- the same without a length (--no-length: chunked, no ranges): the start is found at the end of the body;
- a live resource (101; the size is asked with a one-byte range request): -offset=now, -n=1, -offset=-3 and
  -offset=3 give the right bytes, then the live ones; a start past the size fails at once;
- a live resource whose size cannot be had (--no-length): -n, -offset=-N and -offset=now fail clearly (exit 1,
  naming why); -offset=N still works;
- -wait: the follower asks again while the stand-in answers 404 (several requests), then streams, exit 0;
- -resume with a server that reports no offsets: the dropped connection is reported with why it was not
  resumed (exit 1).
Each stand-in is started on a loopback port of its own and stopped by its pid.
Run with /usr/bin/python3 (tests/run.sh does)."""
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from hfs_server import TestFailure, check, expect, expect_eq, fail  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
HFS_BIN = os.environ.get("HFS_BIN") or os.path.join(HERE, "..", "..", "build", "bin")
FOLLOW = os.path.join(HFS_BIN, "httpfstream-follow")
APPEND = os.path.join(HFS_BIN, "httpfstream-append")
T = 5  # seconds: the deadline of every single wait
procs = []  # every process started, killed (by pid) at the end if still running


class Standin:
    """orig_standin.py on a free loopback port with a fresh root."""

    def __init__(self, *args):
        self.dir = tempfile.mkdtemp(prefix="hfs-orig.")
        self.root = os.path.join(self.dir, "root")
        self.log_path = os.path.join(self.dir, "standin.log")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "orig_standin.py"), self.root, *args],
                                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log)
        procs.append(self.proc)
        ready, _, _ = select.select([self.proc.stdout], [], [], T)
        line = self.proc.stdout.readline().decode() if ready else ""
        if not line.startswith("listening on "):
            fail(f"the stand-in did not start: {line!r} {self.log()}")
        self.url = f"http://127.0.0.1:{int(line.split()[-1])}"

    def log(self):
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
        self.proc.wait(T)
        self.proc.stdout.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def follow(*args):
    """Runs httpfstream-follow to its end: (exit status, stdout bytes, stderr text)."""
    p = subprocess.run([FOLLOW, *args], stdin=subprocess.DEVNULL, capture_output=True, timeout=T)
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


class Background:
    """A command in the background, its stdout and stderr in files."""

    def __init__(self, tmp, name, argv, stdin=subprocess.DEVNULL):
        self.out_path = os.path.join(tmp, name + ".out")
        self.err_path = os.path.join(tmp, name + ".err")
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(argv, stdin=stdin, stdout=out, stderr=err)
        procs.append(self.proc)
        self.name = name

    def out(self):
        with open(self.out_path, "rb") as f:
            return f.read()

    def err(self):
        with open(self.err_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def wait_out(self, want):
        wait_for(lambda: self.out() == want, lambda: f"{self.name}: output {self.out()!r}, want {want!r} ({self.err()})")

    def wait_exit(self):
        try:
            return self.proc.wait(T)
        except subprocess.TimeoutExpired:
            fail(f"{self.name} still running after {T} s: {self.err()}")


def wait_for(cond, what):
    deadline = time.monotonic() + T
    while not cond():
        if time.monotonic() > deadline:
            fail(what() if callable(what) else what)
        time.sleep(0.02)


def file_bytes(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


FILE = b"one\ntwo\nthree\nfour\n"  # 19 bytes


def finished_resource(srv, label):
    """A file nobody appends to: the stand-in answers 200 with the whole of it."""
    os.makedirs(srv.root, exist_ok=True)
    with open(os.path.join(srv.root, "f.txt"), "wb") as f:
        f.write(FILE)
    url = srv.url + "/f.txt"
    check(f"{label}: -offset, -n and now on a finished resource (200), honoured by the client")
    for args, want in [(["-offset=4"], b"two\nthree\nfour\n"), (["-offset=-5"], b"four\n"),
                       (["--offset", "8"], b"three\nfour\n"), (["-offset=19"], b""), (["-offset=0"], FILE),
                       (["-offset=-100"], FILE), (["-n=1"], b"four\n"), (["-n", "2"], b"three\nfour\n"),
                       (["-n=0"], b""), (["-n=99"], FILE), (["-offset=now"], b""), ([], FILE)]:
        rc, out, err = follow(*args, url)
        expect_eq(f"follow {args} exit status ({err})", rc, 0)
        expect_eq(f"follow {args} output", out, want)
    check(f"{label}: a start past the end of a finished resource exits 1 and says so, naming the URL")
    rc, out, err = follow("-offset=20", url)
    expect_eq(f"-offset=20 exit status ({err})", rc, 1)
    expect_eq("-offset=20 output", out, b"")
    expect("past the end of the resource (19 bytes)" in err and url in err, f"-offset=20 message: {err}")


def start_appender(srv, tmp, name, first):
    """Our httpfstream-append on srv's name, fed through a pipe; first is written and waited for on disk."""
    url = srv.url + "/" + name
    a = Background(tmp, "append-" + name.replace("/", "-"), [APPEND, url], stdin=subprocess.PIPE)
    a.proc.stdin.write(first)
    a.proc.stdin.flush()
    wait_for(lambda: file_bytes(os.path.join(srv.root, name)) == first, f"{name}: {first!r} never reached the disk")
    return a, url


def live_resource(srv, tmp):
    check("live resource (101): -offset=now, -n=1, -offset=-3 and -offset=3 start right, then go on live")
    a, url = start_appender(srv, tmp, "live.txt", b"old 1\nold 2\n")
    followers = {
        "now": (["-offset=now"], b""),
        "n1": (["-n=1"], b"old 2\n"),
        "neg3": (["-offset=-3"], b" 2\n"),
        "abs3": (["-offset=3"], b" 1\nold 2\n"),
        "all": (["-v"], b"old 1\nold 2\n"),
    }
    bg = {k: Background(tmp, k, [FOLLOW, *args, url]) for k, (args, _) in followers.items()}
    for k, (_, want) in followers.items():
        bg[k].wait_out(want)
    wait_for(lambda: srv.log().count("GET /live.txt -\n") >= 4,
             lambda: f"the followers counted back from the end asked the size (one-byte GETs): {srv.log()}")
    time.sleep(0.2)
    expect_eq("-offset=now before anything new", bg["now"].out(), b"")
    check("a start past the size of a live resource fails at once (exit 1), naming the size")
    rc, out, err = follow("-offset=100", url)
    expect_eq(f"-offset=100 exit status ({err})", rc, 1)
    expect("past the end of the resource (12 bytes)" in err, f"-offset=100 message: {err}")
    check("the live followers get the new bytes, and exit 0 when the appender leaves")
    a.proc.stdin.write(b"new\n")
    a.proc.stdin.flush()
    for k, (_, want) in followers.items():
        bg[k].wait_out(want + b"new\n")
    a.proc.stdin.close()
    expect_eq(f"appender exit status ({a.err()})", a.wait_exit(), 0)
    for k in followers:
        expect_eq(f"follower {k} exit status ({bg[k].err()})", bg[k].wait_exit(), 0)
    expect("finished following (read 16 bytes)" in bg["all"].err(), f"-v log: {bg['all'].err()}")


def live_without_size(srv, tmp):
    check("--no-length, live: a start from the end cannot be found: exit 1 with why; -offset=N still works")
    a, url = start_appender(srv, tmp, "live.txt", b"old 1\nold 2\n")
    for args, what in [(["-n=1"], "the last 1 line"), (["-n=3"], "the last 3 lines"),
                       (["-offset=-3"], "a start 3 bytes before the end"), (["-offset=now"], "a start at the end (now)")]:
        rc, out, err = follow(*args, url)
        expect_eq(f"follow {args} exit status ({err})", rc, 1)
        expect_eq(f"follow {args} output", out, b"")
        expect(f"cannot honour {what}" in err and "size" in err and url in err, f"follow {args} message: {err}")
    f = Background(tmp, "abs", [FOLLOW, "-offset=3", url])
    f.wait_out(b" 1\nold 2\n")
    a.proc.stdin.write(b"new\n")
    a.proc.stdin.close()
    f.wait_out(b" 1\nold 2\nnew\n")
    expect_eq(f"appender exit status ({a.err()})", a.wait_exit(), 0)
    expect_eq(f"-offset=3 exit status ({f.err()})", f.wait_exit(), 0)


def wait_option(srv, tmp):
    check("-wait: the follower asks again while the stand-in answers 404, then streams what is appended")
    url = srv.url + "/later/w.txt"
    f = Background(tmp, "wait", [FOLLOW, "-v", "-wait", url])
    # It asks again and again (100 ms doubling to 2 s apart): wait for the second ask, however
    # slowly a loaded machine starts the follower.
    deadline = time.monotonic() + 10
    polls = 0
    while polls < 2 and time.monotonic() < deadline and f.proc.poll() is None:
        time.sleep(0.05)
        polls = srv.log().count("GET /later/w.txt?wait FOLLOW\n")
    expect(f.proc.poll() is None, f"the -wait follower ended: {f.err()}")
    expect(polls >= 2, f"the -wait follower asked {polls} times in 10 s: {srv.log()}")
    expect_eq("the waiting follower's output", f.out(), b"")
    a, _ = start_appender(srv, tmp, "later/w.txt", b"hello\n")
    f.wait_out(b"hello\n")
    a.proc.stdin.write(b"world\n")
    a.proc.stdin.close()
    f.wait_out(b"hello\nworld\n")
    expect_eq(f"appender exit status ({a.err()})", a.wait_exit(), 0)
    expect_eq(f"-wait follower exit status ({f.err()})", f.wait_exit(), 0)
    check("without -wait, a resource not written yet fails at once with 'file does not exist'")
    rc, out, err = follow(srv.url + "/never.txt")
    expect_eq("exit status", rc, 1)
    expect("does not exist" in err, f"message: {err}")


def resume_option(srv, tmp):
    check("-resume with a server that reports no offsets: the drop is reported with why it was not resumed")
    a, url = start_appender(srv, tmp, "r.txt", b"before\n")
    f = Background(tmp, "resume", [FOLLOW, "-resume=3", url])
    f.wait_out(b"before\n")
    os.kill(srv.proc.pid, signal.SIGKILL)
    srv.proc.wait(T)
    expect_eq(f"-resume follower exit status ({f.err()})", f.wait_exit(), 1)
    expect("not resumed: the server does not report offsets" in f.err() and url in f.err(),
           f"-resume follower message: {f.err()}")
    a.proc.stdin.close()
    a.wait_exit()


def main():
    started = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="hfs-orig-test.")
    servers = []
    try:
        srv = Standin()
        servers.append(srv)
        finished_resource(srv, "the original")
        live_resource(srv, tmp)
        wait_option(srv, tmp)
        plain = Standin("--no-length")
        servers.append(plain)
        finished_resource(plain, "--no-length")
        live_without_size(plain, tmp)
        resume_option(srv, tmp)
    except TestFailure as e:
        print(f"FAIL: test_follow_original: {e}", file=sys.stderr)
        sys.exit(1)
    finally:
        for p in procs:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
        for s in servers:
            s.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"ok: test_follow_original ({(time.monotonic() - started) * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
