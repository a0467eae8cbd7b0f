// test_readme.js -- the examples of README.md's "From any HTTP or WebSocket client" section, run as written
// against a real server: each code block there carries a marker (<!-- readme-test: NAME -->) and is taken from
// the README at run time; the only change made to it is localhost:8080 becoming the test server's address.
// - curl: every line of the block (a line the test does not know fails it), each against a server set up
//   for it (a live resource, one that does not exist yet, a finished one, local files for the uploads), its
//   output checked: the follows end when the writer leaves, SSE events rebuild the bytes, the PUT pipe and
//   the append at an expected size land in the file, the listing is JSON.
// - node: the snippet as a file run by node (require("ws") found through NODE_PATH), following a finished
//   resource and a live one: stdout is exactly the bytes, stderr says "stream ended 1000".
// - python: the snippet run by Debian's python3 and its websockets: the same checks.
// - browser, browser-append: the snippets as page scripts in headless Chromium (playwright-core): the console
//   shows the text and "stream ended 1000"; the appender's "hello\n" lands in the file.
// - ds-curl (section "Durable Streams"): the lines in order against one server, the SSE follow left running
//   while the next ones go: the read shows the appended line and where it ends, the follow gets it as a data
//   event and ends after the close's control event, the native GET gives the same bytes.
// Every server and child process is stopped on every exit path.
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const WebSocket = require('ws');
const { chromium } = require('playwright-core');
const { startServer, waitFor, within, fail, check, assert, assertEq, runMain } = require('./hfs_server');

const README = path.resolve(__dirname, '..', '..', 'README.md');
const SECTION = '## From any HTTP or WebSocket client';
const CHROMIUM = process.env.HFS_CHROMIUM || '/usr/bin/chromium';
const PY = '/usr/bin/python3';
const T = 10000; // ms: the deadline of a single wait

// ---- the README's blocks -----------------------------------------------------------------------------------

// name -> { lang, code } for every fenced block of the section; a block without a marker fails the test.
function readmeBlocks(title = SECTION) {
    const SECTION = title;
    const text = fs.readFileSync(README, 'utf8');
    const at = text.indexOf(`\n${SECTION}\n`);
    assert(at >= 0, `README.md has no "${SECTION}" section`);
    let section = text.slice(at + SECTION.length + 2);
    const next = section.search(/^## /m);
    if (next >= 0) section = section.slice(0, next);
    const blocks = new Map();
    for (const m of section.matchAll(/^(?:<!-- readme-test: ([\w-]+) -->\n)?```(\w*)\n([\s\S]*?)^```$/gm)) {
        if (!m[1]) fail(`a code block of "${SECTION}" has no <!-- readme-test: NAME --> marker: ${m[3].slice(0, 80)}`);
        assert(!blocks.has(m[1]), `two README blocks are called ${m[1]}`);
        blocks.set(m[1], { lang: m[2], code: m[3] });
    }
    return blocks;
}

// The block's code for this server: localhost:8080 becomes its address, nothing else changes.
function forServer(block, srv) {
    assert(block.code.includes('localhost:8080'), `a README block does not use localhost:8080:\n${block.code}`);
    return block.code.replaceAll('localhost:8080', `127.0.0.1:${srv.port}`);
}

// ---- processes ---------------------------------------------------------------------------------------------

const children = new Set();

// Starts a command in a process group of its own, collecting its output.
function run(cmd, args, opts = {}) {
    const child = spawn(cmd, args, {
        cwd: opts.cwd,
        env: { ...process.env, ...(opts.env || {}) },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
    });
    const p = { child, out: [], err: [] };
    child.stdout.on('data', (d) => p.out.push(d));
    child.stderr.on('data', (d) => p.err.push(d));
    p.stdout = () => Buffer.concat(p.out);
    p.stderr = () => Buffer.concat(p.err).toString();
    p.exit = new Promise((resolve) => {
        child.on('close', (code, signal) => {
            children.delete(p);
            resolve({ code, signal });
        });
        child.on('error', (err) => {
            children.delete(p);
            resolve({ code: null, signal: null, error: String(err) });
        });
    });
    p.kill = (sig = 'SIGKILL') => {
        try {
            process.kill(-child.pid, sig);
        } catch {
            /* already gone */
        }
    };
    children.add(p);
    return p;
}

process.on('exit', () => {
    for (const p of children) p.kill();
});

// Waits for the process to exit 0; fails with its output otherwise.
async function exitedOk(what, p) {
    const r = await within(`${what} to exit (stdout ${JSON.stringify(p.stdout().toString().slice(-200))}, ` +
        `stderr ${JSON.stringify(p.stderr().slice(-300))})`, p.exit, T);
    assert(r.code === 0, `${what} exited with ${JSON.stringify(r)}; stderr: ${p.stderr()}`);
}

async function outputIs(what, p, want) {
    await waitFor(() => `${what}: stdout ${JSON.stringify(p.stdout().toString())} to be ${JSON.stringify(want.toString())}` +
        ` (stderr ${JSON.stringify(p.stderr())})`, () => p.stdout().equals(want), T);
}

// ---- the server side ---------------------------------------------------------------------------------------

function fileOf(srv, name) {
    try {
        return fs.readFileSync(path.join(srv.root, name));
    } catch {
        return null;
    }
}

async function fileIs(srv, name, want) {
    await waitFor(() => `${name} on the server to hold ${JSON.stringify(want.toString())}, ` +
        `has ${JSON.stringify(String(fileOf(srv, name)))}`, () => {
        const f = fileOf(srv, name);
        return f && f.equals(want);
    }, T);
}

function writeResource(srv, name, data) {
    fs.mkdirSync(path.dirname(path.join(srv.root, name)), { recursive: true });
    fs.writeFileSync(path.join(srv.root, name), data);
}

function openAppender(srv, name) {
    const ws = new WebSocket(`${srv.wsUrl}/${name}`, { headers: { 'X-Verb': 'APPEND' } });
    return within(`appender ${name} open`, new Promise((resolve, reject) => {
        ws.on('open', () => resolve(ws));
        ws.on('error', reject);
        ws.on('unexpected-response', (req, res) => reject(new Error(`appender ${name}: HTTP ${res.statusCode}`)));
    }));
}

// A WebSocket appender (X-Verb: APPEND): send() resolves once the bytes are in the file. With retry, a 403
// (the previous writer's end not processed yet) is tried again for a while.
async function appender(srv, name, retry = false) {
    let ws;
    for (const deadline = Date.now() + T; ;) {
        try {
            ws = await openAppender(srv, name);
            break;
        } catch (err) {
            if (!retry || !/HTTP 403/.test(String(err)) || Date.now() > deadline) throw err;
            await new Promise((resolve) => setTimeout(resolve, 50));
        }
    }
    const closed = new Promise((resolve) => ws.on('close', resolve));
    let want = fileOf(srv, name) || Buffer.alloc(0);
    return {
        async send(data) {
            const b = Buffer.from(data);
            ws.send(b);
            want = Buffer.concat([want, b]);
            await fileIs(srv, name, want);
        },
        async end() {
            ws.close(1000);
            await within(`appender ${name} close`, closed);
        },
    };
}

// Waits until the server logged its answer to a GET of target (a follower is attached once it is).
async function logged(srv, target, status) {
    const needle = `"GET ${target}" ${status} `;
    await waitFor(() => `the server to log ${needle}:\n${srv.log()}`, () => srv.log().includes(needle), T);
}

async function withServer(body) {
    const srv = await startServer([]);
    try {
        await body(srv);
    } finally {
        await srv.stop();
    }
}

function scratchDir() {
    return fs.mkdtempSync(path.join(os.tmpdir(), 'hfs-readme.'));
}

// ---- curl ----------------------------------------------------------------------------------------------------

const A = Buffer.from('first line\nsecond line, é and ✓\n');
const B = Buffer.from('third line\nfourth line\n');

// Splits an SSE body into the bytes its events carry (text events joined with \n, base64 decoded).
function sseBytes(text) {
    const parts = [];
    let ended = false;
    for (const ev of text.split('\n\n')) {
        let type = 'message';
        const data = [];
        for (const line of ev.split('\n')) {
            if (line === '' || line.startsWith(':')) continue;
            const i = line.indexOf(':');
            const field = i < 0 ? line : line.slice(0, i);
            let value = i < 0 ? '' : line.slice(i + 1);
            if (value.startsWith(' ')) value = value.slice(1);
            if (field === 'event') type = value;
            else if (field === 'data') data.push(value);
        }
        if (type === 'end') ended = true;
        else if (type === 'base64') parts.push(Buffer.from(data.join(''), 'base64'));
        else if (data.length) parts.push(Buffer.from(data.join('\n'), 'utf8'));
    }
    return { bytes: Buffer.concat(parts), ended };
}

// What each curl line needs and gives, keyed by a pattern of the line as the README has it.
const CURL_CASES = [
    {
        name: 'follow live',
        match: /'http:\/\/localhost:8080\/build\.log\?follow'/,
        async run(srv, line, cwd) {
            const w = await appender(srv, 'build.log');
            await w.send(A);
            const p = run('sh', ['-c', line], { cwd });
            await outputIs('follow', p, A);
            await w.send(B);
            await w.end();
            await exitedOk('follow', p);
            assertEq('follow output', p.stdout(), Buffer.concat([A, B]));
        },
    },
    {
        name: 'follow from the last 20 lines',
        match: /\?follow&lines=20'/,
        async run(srv, line, cwd) {
            const lines = Array.from({ length: 30 }, (_, i) => `line ${i + 1}\n`);
            const w = await appender(srv, 'build.log');
            await w.send(lines.join(''));
            const p = run('sh', ['-c', line], { cwd });
            await outputIs('lines=20', p, Buffer.from(lines.slice(10).join('')));
            await w.send(B);
            await w.end();
            await exitedOk('lines=20', p);
            assertEq('lines=20 output', p.stdout(), Buffer.concat([Buffer.from(lines.slice(10).join('')), B]));
        },
    },
    {
        name: 'follow only what comes next',
        match: /\?follow&offset=now'/,
        async run(srv, line, cwd) {
            const w = await appender(srv, 'build.log');
            await w.send(A);
            const p = run('sh', ['-c', line], { cwd });
            await logged(srv, '/build.log?follow&offset=now', 200);
            await w.send(B);
            await w.end();
            await exitedOk('offset=now', p);
            assertEq('offset=now output', p.stdout(), B);
        },
    },
    {
        name: 'follow before it exists',
        match: /\?follow&wait'/,
        async run(srv, line, cwd) {
            const p = run('sh', ['-c', line], { cwd });
            await logged(srv, '/build.log?follow&wait', 200);
            assert(fileOf(srv, 'build.log') === null, 'build.log exists before the appender');
            const w = await appender(srv, 'build.log');
            await w.send(A);
            await outputIs('wait', p, A);
            await w.send(B);
            await w.end();
            await exitedOk('wait', p);
            assertEq('wait output', p.stdout(), Buffer.concat([A, B]));
        },
    },
    {
        name: 'Server-Sent Events',
        match: /-H 'Accept: text\/event-stream' http:\/\/localhost:8080\/build\.log/,
        async run(srv, line, cwd) {
            const w = await appender(srv, 'build.log');
            await w.send(A);
            const p = run('sh', ['-c', line], { cwd });
            await logged(srv, '/build.log', 200);
            const progress = Buffer.from('progress 50%\rprogress 100%\n'); // a CR: a base64 event
            await w.send(progress);
            await w.send(B);
            await w.end();
            await exitedOk('SSE', p);
            const sse = sseBytes(p.stdout().toString());
            assertEq('SSE events rebuild the bytes', sse.bytes, Buffer.concat([A, progress, B]));
            assert(sse.ended, `no end event: ${p.stdout().toString()}`);
            assert(/^id: \d+$/m.test(p.stdout().toString()), 'no id: lines');
        },
    },
    {
        name: 'append a pipe (PUT)',
        match: /^tail -f build\.log \| curl -T - http:\/\/localhost:8080\/build\.log/,
        async run(srv, line, cwd) {
            fs.writeFileSync(path.join(cwd, 'build.log'), A);
            const p = run('sh', ['-c', line], { cwd });
            await fileIs(srv, 'build.log', A);
            fs.appendFileSync(path.join(cwd, 'build.log'), B);
            await fileIs(srv, 'build.log', Buffer.concat([A, B]));
            p.kill('SIGTERM'); // tail -f never ends: the pipe is stopped as a user would
            await within('the pipe to stop', p.exit, T);
            await fileIs(srv, 'build.log', Buffer.concat([A, B]));
            // The writer is gone: the next one gets the resource.
            const w = await appender(srv, 'build.log', true);
            await w.send('after\n');
            await w.end();
        },
    },
    {
        name: 'append at an expected size',
        match: /--data-binary @part2\.log -H 'X-Append-Offset: 1024'/,
        async run(srv, line, cwd) {
            const first = Buffer.alloc(1024, 'x');
            first[1023] = 10;
            writeResource(srv, 'build.log', first);
            const part2 = Buffer.from('part two\n');
            fs.writeFileSync(path.join(cwd, 'part2.log'), part2);
            const p = run('sh', ['-c', line], { cwd });
            await exitedOk('X-Append-Offset', p);
            assertEq('X-Append-Offset answer', p.stdout().toString(), `${1024 + part2.length}\n`);
            assertEq('file after the append', fileOf(srv, 'build.log'), Buffer.concat([first, part2]));
        },
    },
    {
        name: 'the file so far',
        match: /^curl http:\/\/localhost:8080\/build\.log\s/,
        async run(srv, line, cwd) {
            writeResource(srv, 'build.log', A);
            const p = run('sh', ['-c', line], { cwd });
            await exitedOk('GET', p);
            assertEq('GET output', p.stdout(), A);
            const w = await appender(srv, 'build.log'); // live: the bytes so far
            await w.send(B);
            const q = run('sh', ['-c', line], { cwd });
            await exitedOk('GET while live', q);
            assertEq('GET output while live', q.stdout(), Buffer.concat([A, B]));
            await w.end();
        },
    },
    {
        name: 'list a directory as JSON',
        match: /-H 'Accept: application\/json' http:\/\/localhost:8080\/\s/,
        async run(srv, line, cwd) {
            writeResource(srv, 'build.log', A);
            writeResource(srv, 'job/42.log', B);
            const p = run('sh', ['-c', line], { cwd });
            await exitedOk('JSON listing', p);
            let j;
            try {
                j = JSON.parse(p.stdout().toString());
            } catch (err) {
                fail(`the listing is not JSON (${err.message}): ${p.stdout().toString()}`);
            }
            assertEq('listing path', j.path, '/');
            // Every entry carries its modification time (RFC 3339, UTC); the rest is exact.
            for (const e of j.entries) {
                if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(e.mtime || '')) fail(`listing mtime of ${e.name}: ${e.mtime}`);
                delete e.mtime;
            }
            assertEq('listing entries', JSON.stringify(j.entries),
                JSON.stringify([{ name: 'build.log', type: 'file', size: A.length, live: false }, { name: 'job', type: 'dir' }]));
        },
    },
];

async function testCurl(block) {
    const lines = block.code.split('\n').filter((l) => l.trim() !== '');
    const used = new Set();
    for (const readmeLine of lines) {
        const cases = CURL_CASES.filter((c) => c.match.test(readmeLine));
        assert(cases.length === 1, `README curl line matches ${cases.length} known cases (want 1): ${readmeLine}`);
        const c = cases[0];
        assert(!used.has(c), `two README curl lines are "${c.name}"`);
        used.add(c);
        check(`README curl, ${c.name}: ${readmeLine}`);
        const cwd = scratchDir();
        try {
            await withServer((srv) => c.run(srv, forServer({ code: readmeLine }, srv), cwd));
        } finally {
            fs.rmSync(cwd, { recursive: true, force: true });
        }
    }
    const missing = CURL_CASES.filter((c) => !used.has(c)).map((c) => c.name);
    assert(missing.length === 0, `curl examples no longer in the README: ${missing.join(', ')}`);
}

// ---- Durable Streams with curl ---------------------------------------------------------------------------

async function testDsCurl(block) {
    const lines = block.code.split('\n').filter((l) => l.trim() !== '');
    const want = ['PUT', 'printf', '?offset=-1\'', 'live=sse', 'Stream-Closed', '/job-42 '];
    assertEq('README ds-curl lines', lines.length, want.length);
    lines.forEach((l, i) => assert(l.includes(want[i]), `README ds-curl line ${i + 1} is not the expected one: ${l}`));
    const cwd = scratchDir();
    try {
        await withServer(async (srv) => {
            const cmd = forServer(block, srv).split('\n').filter((l) => l.trim() !== '');
            const sh = (line) => run('sh', ['-c', line], { cwd });
            check('README ds-curl: create, append');
            const put = sh(cmd[0]);
            await exitedOk('create', put);
            const post = sh(cmd[1]);
            await exitedOk('append', post);
            check('README ds-curl: the read shows the line and its end offset');
            const get = sh(cmd[2]);
            await exitedOk('read', get);
            const out = get.stdout().toString();
            assert(/^HTTP\/1\.1 200/.test(out), `read: ${out}`);
            assert(/Stream-Next-Offset: 0000000000000000_0000000000000010\r\n/i.test(out), `read: ${out}`);
            assert(out.endsWith('\r\n\r\ncompiling\n'), `read: ${JSON.stringify(out)}`);
            check('README ds-curl: the SSE follow gets the line, then ends when the stream is closed');
            const sse = sh(cmd[3]);
            await waitFor(() => `the SSE follow to show the line: ${JSON.stringify(sse.stdout().toString())}`,
                () => sse.stdout().toString().includes('data:compiling\ndata:\n'), T);
            assert(!sse.stdout().toString().includes('streamClosed'), 'closed before the close');
            const close = sh(cmd[4]);
            await exitedOk('close', close);
            await exitedOk('SSE follow', sse);
            const events = sse.stdout().toString();
            assert(/event: control\ndata:\{"streamNextOffset":"0000000000000000_0000000000000010","streamClosed":true/.test(events),
                `SSE events: ${events}`);
            check('README ds-curl: the native GET gives the same bytes');
            const nat = sh(cmd[5]);
            await exitedOk('native GET', nat);
            assertEq('native GET', nat.stdout().toString(), 'compiling\n');
        });
    } finally {
        fs.rmSync(cwd, { recursive: true, force: true });
    }
}

// ---- followers in node and python --------------------------------------------------------------------------

const TEXT = Buffer.from('héllo wörld ✓\n'.repeat(3));

// Runs the snippet file on a finished foo.txt, on a live one and on a missing one: stdout is the bytes, stderr
// the end. serve(body) starts a server, writes the snippet for it into file, runs body(srv), stops the server.
async function testFollower(name, serve, cmd, file, env, endLine) {
    check(`README ${name}: a finished resource: the whole file, then the end`);
    await serve(async (srv) => {
        writeResource(srv, 'foo.txt', TEXT);
        const p = run(cmd, [file], { env });
        await exitedOk(name, p);
        assertEq(`${name} output (finished)`, p.stdout(), TEXT);
        assert(p.stderr().includes(endLine) || endLine === '', `${name} stderr: ${p.stderr()}`);
    });
    check(`README ${name}: a live resource: the bytes so far, what is appended, the end when the writer leaves`);
    await serve(async (srv) => {
        const w = await appender(srv, 'foo.txt');
        await w.send(A);
        const p = run(cmd, [file], { env });
        await outputIs(name, p, A);
        await w.send(B);
        await w.end();
        await exitedOk(name, p);
        assertEq(`${name} output (live)`, p.stdout(), Buffer.concat([A, B]));
        assert(p.stderr().includes(endLine) || endLine === '', `${name} stderr: ${p.stderr()}`);
    });
    check(`README ${name}: a resource that does not exist fails`);
    await serve(async (srv) => {
        const p = run(cmd, [file], { env });
        const r = await within(`${name} to exit`, p.exit, T);
        assert(r.code !== 0, `${name} exited 0 for a missing resource`);
        assertEq(`${name} output (missing)`, p.stdout(), Buffer.alloc(0));
    });
}

// ---- the browser -----------------------------------------------------------------------------------------------

let browser = null;

// Runs a snippet as a script of a page of the server's own (Chromium refuses connections to local addresses from
// about:blank); returns the page's console lines as they come.
async function pageRun(srv, code) {
    const page = await browser.newPage();
    const lines = [];
    const errors = [];
    page.on('console', (msg) => msg.type() === 'log' && lines.push(msg.text())); // (not the favicon's 404)
    page.on('pageerror', (err) => errors.push(String(err)));
    await page.goto(`${srv.url}/`);
    await page.addScriptTag({ content: code });
    return { page, lines, errors };
}

async function ended(what, run) {
    await waitFor(() => `${what}: "stream ended 1000" in the console: ${JSON.stringify(run.lines)} ${run.errors}`,
        () => run.lines.includes('stream ended 1000'), T);
    const at = run.lines.indexOf('stream ended 1000');
    assertEq(`${what}: console after the end`, run.lines.length, at + 1);
    assertEq(`${what}: page errors`, run.errors.join('\n'), '');
    return Buffer.from(run.lines.slice(0, at).join(''));
}

async function testBrowser(block) {
    check('README browser: a finished resource: the whole text, then "stream ended 1000"');
    await withServer(async (srv) => {
        writeResource(srv, 'foo.txt', TEXT);
        const r = await pageRun(srv, forServer(block, srv));
        assertEq('browser text (finished)', await ended('finished', r), TEXT);
        await r.page.close();
    });
    check('README browser: a live resource: the text so far, what is appended, then "stream ended 1000"');
    await withServer(async (srv) => {
        const w = await appender(srv, 'foo.txt');
        await w.send(A);
        const r = await pageRun(srv, forServer(block, srv));
        await waitFor(() => `the page to show A: ${JSON.stringify(r.lines)}`, () => r.lines.join('') === A.toString(), T);
        await w.send(B);
        await w.end();
        assertEq('browser text (live)', await ended('live', r), Buffer.concat([A, B]));
        await r.page.close();
    });
}

async function testBrowserAppend(block) {
    check('README browser-append: "hello\\n" is appended to foo.txt (new, then existing)');
    await withServer(async (srv) => {
        const r = await pageRun(srv, forServer(block, srv));
        await fileIs(srv, 'foo.txt', Buffer.from('hello\n'));
        await r.page.close();
        const r2 = await pageRun(srv, forServer(block, srv));
        await fileIs(srv, 'foo.txt', Buffer.from('hello\nhello\n'));
        await r2.page.close();
        assertEq('page errors', r.errors.concat(r2.errors).join('\n'), '');
    });
}

// ---- main ------------------------------------------------------------------------------------------------------

runMain('test_readme', async () => {
    check('README.md: every block of the section has a marker, and each marker is one this test runs');
    const blocks = readmeBlocks();
    const known = ['curl', 'node', 'browser', 'browser-append', 'python'];
    assertEq('README blocks', [...blocks.keys()].sort().join(' '), [...known].sort().join(' '));
    await testCurl(blocks.get('curl'));
    const ds = readmeBlocks('## Durable Streams');
    assertEq('README Durable Streams blocks', [...ds.keys()].join(' '), 'ds-curl');
    await testDsCurl(ds.get('ds-curl'));

    const dir = scratchDir();
    try {
        const nodeEnv = { NODE_PATH: path.join(__dirname, 'node_modules') };
        const pyEnv = { PYTHONIOENCODING: 'utf-8' };
        for (const [name, ext, cmd, env, endLine] of [
            ['node', 'js', process.execPath, nodeEnv, 'stream ended 1000'],
            ['python', 'py', PY, pyEnv, ''],
        ]) {
            const file = path.join(dir, `${name}.${ext}`);
            const serve = (body) => withServer(async (srv) => {
                fs.writeFileSync(file, forServer(blocks.get(name), srv));
                await body(srv);
            });
            await testFollower(name, serve, cmd, file, env, endLine);
        }
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }

    browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
            '--disable-component-update', '--no-first-run'],
    });
    try {
        await testBrowser(blocks.get('browser'));
        await testBrowserAppend(blocks.get('browser-append'));
    } finally {
        await browser.close();
        browser = null;
    }
}, 180000);
