// hfs_server.js -- starts and stops build/bin/httpfstream-server for Node interop tests, like tests/lib.sh:
//   const { startServer, check, fail, runMain } = require('./hfs_server');
//   const srv = await startServer(['-ping=200ms']);  // free port, fresh temp root
//   srv.url, srv.wsUrl, srv.port, srv.root (the served folder), srv.log()
//   await srv.stop();  // SIGTERM; throws unless the exit code is 0 and the log has no sanitizer report
//   await srv.kill9(); await srv.restart();  // crash it (SIGKILL), then start it again on the same port and root
// Every server still running when the process exits (test failure, exception) is killed, so none is left
// behind; runMain() stops them properly (and checks them) before reporting a failure.
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const HFS_BIN = process.env.HFS_BIN || path.resolve(__dirname, '..', '..', 'build', 'bin');
const running = new Set();

function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

class TestFailure extends Error {}

function fail(message) {
    throw new TestFailure(message);
}

// Polls fn() (sync or async) until it returns a truthy value; fails with `what` (a string, or a function
// giving one at the time of the failure) after `ms`.
async function waitFor(what, fn, ms = 5000, step = 10) {
    const deadline = Date.now() + ms;
    for (;;) {
        const v = await fn();
        if (v) return v;
        if (Date.now() > deadline) fail(`timed out after ${ms} ms waiting for ${typeof what === 'function' ? what() : what}`);
        await sleep(step);
    }
}

// Races a promise against a deadline.
function within(what, promise, ms = 5000) {
    let timer;
    const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new TestFailure(`timed out after ${ms} ms: ${what}`)), ms);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const SANITIZER = /Sanitizer|runtime error/;

async function startServer(args = []) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hfs-node.'));
    const root = path.join(dir, 'root');
    const logFile = dir + '.log';
    const logFd = fs.openSync(logFile, 'w');
    const bin = path.join(HFS_BIN, 'httpfstream-server');
    let child;
    let exited = null;
    let exitPromise;
    // Spawns the binary with its output appended to the log (listen is the -http address).
    const launch = (listen, fd) => {
        child = spawn(bin, [`-root=${root}`, `-http=${listen}`, ...args], {
            stdio: ['ignore', fd, fd],
        });
        exited = null;
        const proc = child;
        exitPromise = new Promise((resolve) => {
            proc.on('exit', (code, signal) => {
                exited = { code, signal };
                resolve(exited);
            });
            proc.on('error', (err) => {
                exited = { code: null, signal: null, error: err };
                resolve(exited);
            });
        });
    };
    launch('127.0.0.1:0', logFd);
    fs.closeSync(logFd);
    const srv = {
        child,
        root,
        dir,
        logFile,
        log: () => {
            try {
                return fs.readFileSync(logFile, 'utf8');
            } catch {
                return '';
            }
        },
    };
    running.add(srv);
    let killed = false; // kill9 was the last thing done to it
    let port = null;
    const deadline = Date.now() + 10000;
    while (port === null) {
        const m = /listening on [^,\n]*:(\d+),/.exec(srv.log());
        if (m) {
            port = Number(m[1]);
            break;
        }
        if (exited) {
            running.delete(srv);
            fail(`server exited at start (${JSON.stringify(exited)}): ${srv.log()}`);
        }
        if (Date.now() > deadline) fail(`server did not start: ${srv.log()}`);
        await sleep(20);
    }
    srv.port = port;
    srv.url = `http://127.0.0.1:${port}`;
    srv.wsUrl = `ws://127.0.0.1:${port}`;
    srv.stop = async () => {
        if (!running.has(srv)) return;
        running.delete(srv);
        if (!exited) child.kill('SIGTERM');
        let timer;
        const res = await Promise.race([
            exitPromise,
            new Promise((resolve) => {
                timer = setTimeout(() => resolve(null), 10000);
            }),
        ]);
        clearTimeout(timer);
        const log = srv.log();
        if (killed && !SANITIZER.test(log)) {
            fs.rmSync(dir, { recursive: true, force: true });
            fs.rmSync(logFile, { force: true });
            return;
        }
        if (res === null) {
            child.kill('SIGKILL');
            fail(`server did not exit within 10 s of SIGTERM; its log:\n${log}`);
        }
        if (res.code !== 0 || SANITIZER.test(log)) {
            const how = res.code === null ? 'signal ' + res.signal : res.code;
            fail(`server exited with ${how}${SANITIZER.test(log) ? ' and a sanitizer report' : ''}; its log:\n${log}`);
        }
        fs.rmSync(dir, { recursive: true, force: true });
        fs.rmSync(logFile, { force: true });
    };
    // A crash: SIGKILL, and wait for the process to be gone. stop() afterwards only checks the log and cleans up.
    srv.kill9 = async () => {
        if (!exited) child.kill('SIGKILL');
        await exitPromise;
        killed = true;
    };
    // After kill9: the same binary, root, flags and port again (retrying while the port is still held), with its
    // output appended to the same log. Resolves once it listens.
    srv.restart = async () => {
        const deadline = Date.now() + 10000;
        for (;;) {
            const before = (srv.log().match(/listening on/g) || []).length;
            const fd = fs.openSync(logFile, 'a');
            launch(`127.0.0.1:${port}`, fd);
            srv.child = child;
            fs.closeSync(fd);
            killed = false;
            for (;;) {
                if ((srv.log().match(/listening on/g) || []).length > before) return;
                if (exited) break;
                if (Date.now() > deadline) fail(`server did not restart: ${srv.log()}`);
                await sleep(20);
            }
            if (Date.now() > deadline) fail(`server could not restart on port ${port}: ${srv.log()}`);
            await sleep(100);
        }
    };
    return srv;
}

// Last resort (process exiting without stop()): never leave a server behind.
process.on('exit', () => {
    for (const srv of running) {
        try {
            srv.child.kill('SIGKILL');
        } catch {
            /* already gone */
        }
    }
});

let current = '';
// Announces what the test checks next; a failure message names the last announced check.
function check(what) {
    current = what;
    console.log(`check: ${what}`);
}

function assert(cond, message) {
    if (!cond) fail(message);
}

function assertEq(what, got, want) {
    const g = Buffer.isBuffer(got) ? `<${got.length} bytes> ${JSON.stringify(got.toString('latin1'))}` : JSON.stringify(got);
    const w = Buffer.isBuffer(want) ? `<${want.length} bytes> ${JSON.stringify(want.toString('latin1'))}` : JSON.stringify(want);
    const same = Buffer.isBuffer(got) && Buffer.isBuffer(want) ? got.equals(want) : got === want;
    if (!same) fail(`${what}: got ${g.slice(0, 400)}, want ${w.slice(0, 400)}`);
}

// Runs the test body; on any failure stops (and checks) every server, prints the failure, exits 1.
// Succeeds only if every server stops cleanly.
function runMain(name, body, timeoutMs = 60000) {
    const started = Date.now();
    const watchdog = setTimeout(() => {
        console.error(`FAIL: ${name}: whole test timed out after ${timeoutMs} ms (during: ${current})`);
        for (const srv of running) console.error(`server log:\n${srv.log()}`);
        process.exit(1);
    }, timeoutMs);
    (async () => {
        let error = null;
        try {
            await body();
        } catch (err) {
            error = err;
        }
        for (const srv of [...running]) {
            try {
                await srv.stop();
            } catch (err) {
                if (!error) error = err;
                else console.error(String(err.message || err));
            }
        }
        clearTimeout(watchdog);
        if (error) {
            const msg = error instanceof TestFailure ? error.message : error.stack || String(error);
            console.error(`FAIL: ${name}: ${current}: ${msg}`);
            process.exit(1);
        }
        console.log(`ok: ${name} (${Date.now() - started} ms)`);
        process.exit(0);
    })();
}

module.exports = { HFS_BIN, startServer, sleep, waitFor, within, fail, check, assert, assertEq, runMain, TestFailure };
