// test_auth_browser.js -- access control (docs/SECURITY.md, "Access control") in a real browser: Debian's Chromium,
// headless, driven by playwright-core, against a server with -auth and -sign-key.
// - The viewer opened through a signed read URL (made with node:crypto): lines appended by a Node appender (with its
//   own token in the Authorization header) appear in the viewer as they are appended, the end of the stream is shown; every
//   request the page made for the resource (its WebSocket, its raw link) carries the signature, and none was refused.
//   A viewer opened with ?token= after the stream ended reads it whole. A viewer whose token is revoked while it is
//   open (new rules, then a server crash and restart) says access was denied when it reconnects (its catch-up
//   fetch carrying the token it had).
// - A viewer opened through a tampered signature is refused (403) with a short text.
// - The listing opened with ?token=: every link (files, subdirectory, parent) carries the token; a file created while
//   the page is open shows up (its update fetches carry the token and succeed) with a link that carries it too;
//   following links (a subdirectory, then a file) keeps working, down to the viewer showing the file.
// - No page throws, breaks its Content-Security-Policy or asks for anything without the credential.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const WebSocket = require('ws');
const { chromium } = require('playwright-core');
const { startServer, waitFor, within, fail, check, assert, assertEq, runMain } = require('./hfs_server');

const CHROMIUM = process.env.HFS_CHROMIUM || '/usr/bin/chromium';
const LAUNCH_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
    '--disable-component-update', '--no-first-run'];
const KEY = 'browser test key';

let browser = null;
let pageErrors = [];
let requests = []; // { url, status } of every HTTP request and WebSocket a page made

function sign(rights, expires, p) {
    const sig = crypto.createHmac('sha256', KEY).update(`httpfstream-sign-v1\n${rights}\n${expires}\n${p}`).digest('base64url');
    return `expires=${expires}&rights=${rights}&sig=${sig}`;
}

async function newPage() {
    const page = await browser.newPage({ viewport: { width: 900, height: 600 } });
    page.on('pageerror', (err) => pageErrors.push(String(err)));
    page.on('response', (res) => requests.push({ url: res.url(), status: res.status() }));
    page.on('websocket', (ws) => requests.push({ url: ws.url(), status: 'ws' }));
    page.on('console', (msg) => {
        if (/Content Security Policy|Refused to/.test(msg.text())) pageErrors.push(`console: ${msg.text()}`);
    });
    return page;
}

async function pageWait(page, what, fn, arg, ms = 8000) {
    try {
        await page.waitForFunction(fn, arg, { timeout: ms, polling: 20 });
    } catch (err) {
        const state = await page.evaluate(() => ({
            status: document.getElementById('status') && document.getElementById('status').textContent,
            log: document.getElementById('log') && window.hfsViewer && window.hfsViewer.text().slice(-300),
            body: document.body.innerHTML.slice(0, 400),
        })).catch(() => ({}));
        fail(`${what}: ${err.message.split('\n')[0]} (page: ${JSON.stringify(state)})`);
    }
}

// Every request for the server since `from` carried `cred` and none was refused.
function checkRequests(srv, from, cred, what) {
    const mine = requests.slice(from).filter((r) => r.url.includes(`127.0.0.1:${srv.port}`));
    assert(mine.length > 0, `${what}: no requests seen`);
    for (const r of mine) {
        assert(r.url.includes(cred), `${what}: ${r.url} lacks the credential`);
        assert(r.status !== 401 && r.status !== 403 && r.status !== 400, `${what}: ${r.url} was refused (${r.status})`);
    }
    return mine;
}

async function wsAppender(srv, name, token) {
    const ws = new WebSocket(`${srv.wsUrl}/${name}`, { headers: { 'X-Verb': 'APPEND', Authorization: `Bearer ${token}` } });
    await within(`appender ${name} open`, new Promise((resolve, reject) => {
        ws.on('open', resolve);
        ws.on('error', reject);
        ws.on('unexpected-response', (req, res) => reject(new Error(`appender ${name}: HTTP ${res.statusCode}`)));
    }));
    const closed = new Promise((resolve) => ws.on('close', resolve));
    let want = Buffer.alloc(0);
    return {
        async send(text) {
            const b = Buffer.from(text);
            await new Promise((resolve, reject) => ws.send(b, { binary: true }, (err) => (err ? reject(err) : resolve())));
            want = Buffer.concat([want, b]);
            await waitFor(`${name} to hold ${want.length} bytes`, () => {
                try {
                    return fs.readFileSync(path.join(srv.root, name)).equals(want);
                } catch {
                    return false;
                }
            });
        },
        async end() {
            ws.close(1000);
            await within(`appender ${name} close`, closed);
        },
    };
}

async function viewerSigned(srv) {
    check('the viewer opened through a signed read URL shows the lines as they are appended, then the end');
    const app = await wsAppender(srv, 'ci/build.log', 'writer-tok');
    await app.send('line 1: configure\n');
    const q = sign('read', Math.floor(Date.now() / 1000) + 600, '/ci/build.log');
    const sig = q.slice(q.indexOf('sig='));
    const page = await newPage();
    const from = requests.length;
    const res = await page.goto(`${srv.url}/ci/build.log?${q}`);
    assertEq('viewer status', res.status(), 200);
    await pageWait(page, 'line 1 shown', () => window.hfsViewer.text().includes('line 1: configure'));
    await pageWait(page, 'status live', () => document.getElementById('status').className === 'live');
    await app.send('line 2: \x1b[32mbuild\x1b[0m\n');
    await pageWait(page, 'line 2 shown live', () => window.hfsViewer.text().includes('line 2: build'));
    await app.send('line 3: test\n');
    await pageWait(page, 'line 3 shown live', () => window.hfsViewer.text().includes('line 3: test'));
    await app.end();
    await pageWait(page, 'the end shown', () => document.body.dataset.state === 'ended');
    assertEq('log text', await page.evaluate(() => window.hfsViewer.text()),
        'line 1: configure\nline 2: build\nline 3: test\n');
    const raw = await page.evaluate(() => document.getElementById('raw').getAttribute('href'));
    assert(raw.includes(sig) && raw.includes('expires=') && raw.includes('rights=read'), `raw link ${raw} lacks the signature`);
    const dl = await page.evaluate(() => document.getElementById('download').getAttribute('href'));
    assertEq('the download link (the raw link, to be saved)', dl, raw);
    const seen = checkRequests(srv, from, sig, 'the signed viewer');
    assert(seen.some((r) => r.status === 'ws' && r.url.startsWith('ws://')), 'the viewer opened no WebSocket');
    check('the raw link carries the signature and gives the bytes');
    const rawRes = await page.goto(new URL(raw, `${srv.url}/ci/build.log`).href);
    assertEq('raw status', rawRes.status(), 200);
    assertEq('raw bytes', await rawRes.text(), fs.readFileSync(path.join(srv.root, 'ci/build.log'), 'utf8'));
    await page.close();

    check('a viewer opened with ?token= after the end reads the stream whole');
    const p2 = await newPage();
    const from2 = requests.length;
    await p2.goto(`${srv.url}/ci/build.log?token=list-tok`);
    await pageWait(p2, 'the whole stream', () => document.body.dataset.state === 'ended' &&
        window.hfsViewer.text().includes('line 3: test'));
    checkRequests(srv, from2, 'token=list-tok', 'the ?token= viewer');
    await p2.close();

    check('a viewer opened through a tampered signature is refused with a short text');
    const bad = q.replace(/sig=(.)/, (m, c) => `sig=${c === 'A' ? 'B' : 'A'}`);
    const p3 = await newPage();
    const r3 = await p3.goto(`${srv.url}/ci/build.log?${bad}`);
    assertEq('tampered viewer status', r3.status(), 403);
    assertEq('tampered viewer text', (await p3.textContent('body')).trim(), '403 forbidden');
    await p3.close();
}

async function listingToken(srv) {
    check('the listing opened with ?token=: every link carries the token');
    fs.mkdirSync(path.join(srv.root, 'ci/sub'), { recursive: true });
    fs.writeFileSync(path.join(srv.root, 'ci/sub/inner.log'), 'inner line\n');
    fs.writeFileSync(path.join(srv.root, 'ci/a b.log'), 'spaced\n');
    const page = await newPage();
    const from = requests.length;
    const res = await page.goto(`${srv.url}/ci/?token=list-tok`);
    assertEq('listing status', res.status(), 200);
    const hrefs = await page.evaluate(() => [...document.querySelectorAll('#rows a')].map((a) => a.getAttribute('href')));
    assert(hrefs.length >= 4, `links: ${JSON.stringify(hrefs)}`);
    for (const h of hrefs) assert(h.endsWith('?token=list-tok'), `link ${h} lacks the token`);
    assert(hrefs.includes('sub/?token=list-tok') && hrefs.includes('../?token=list-tok'), `links: ${JSON.stringify(hrefs)}`);

    check('a file created while the page is open appears, its link carrying the token (updates carry it too)');
    fs.writeFileSync(path.join(srv.root, 'ci/new.log'), 'new\n');
    await pageWait(page, 'the new row', () => [...document.querySelectorAll('#rows a')].some((a) => a.textContent === 'new.log'), null, 10000);
    const newHref = await page.evaluate(() => [...document.querySelectorAll('#rows a')].find((a) => a.textContent === 'new.log').getAttribute('href'));
    assertEq('the new row\'s link', newHref, 'new.log?token=list-tok');
    await pageWait(page, 'status watching', () => document.getElementById('status').className === 'ok');
    const seen = checkRequests(srv, from, 'token=list-tok', 'the listing');
    assert(seen.some((r) => r.url.includes('/ci/?token=list-tok') && r.status === 200), 'no update fetch seen');

    check('following the links: the subdirectory, then a file in the viewer');
    await Promise.all([page.waitForNavigation(), page.click('#rows a[href^="sub/"]')]);
    assertEq('subdirectory URL', new URL(page.url()).search, '?token=list-tok');
    await Promise.all([page.waitForNavigation(), page.click('#rows a[href^="inner.log"]')]);
    await pageWait(page, 'the viewer shows the file', () => document.body.dataset.state === 'ended' &&
        window.hfsViewer.text() === 'inner line\n');
    checkRequests(srv, from, 'token=list-tok', 'the listing and the pages it led to');
    await page.close();
}

async function viewerRevoked(srv, rulesFile) {
    check('a viewer whose token is revoked while it is open says access was denied when it reconnects');
    const app = await wsAppender(srv, 'ci/revoked.log', 'writer-tok');
    await app.send('before\n');
    const page = await newPage();
    await page.goto(`${srv.url}/ci/revoked.log?token=list-tok`);
    await pageWait(page, 'the first line', () => window.hfsViewer.text() === 'before\n');
    fs.writeFileSync(rulesFile, 'append /ci/ writer-tok\n');
    await srv.kill9();
    await srv.restart();
    await pageWait(page, 'access denied shown', () => document.body.dataset.state === 'error' &&
        /access denied \(HTTP 401\)/.test(document.getElementById('status').textContent), null, 15000);
    assertEq('the log kept', await page.evaluate(() => window.hfsViewer.text()), 'before\n');
    const catchUp = requests.filter((r) => r.url.includes('/ci/revoked.log?raw&offset='));
    assert(catchUp.length > 0, 'the viewer made no catch-up fetch');
    for (const r of catchUp) assert(r.url.includes('token=list-tok'), `the catch-up fetch ${r.url} lacks the token`);
    await page.close();
}

runMain('test_auth_browser', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hfs-auth-browser.'));
    fs.writeFileSync(path.join(dir, 'rules'), 'append /ci/ writer-tok\nread /ci/ list-tok\n');
    fs.writeFileSync(path.join(dir, 'key'), KEY);
    const srv = await startServer([`-auth=${path.join(dir, 'rules')}`, `-sign-key=${path.join(dir, 'key')}`]);
    fs.mkdirSync(path.join(srv.root, 'ci'), { recursive: true });
    check('Chromium starts headless');
    browser = await within('chromium.launch', chromium.launch({ executablePath: CHROMIUM, headless: true, args: LAUNCH_ARGS }), 30000);
    try {
        await viewerSigned(srv);
        await listingToken(srv);
        await viewerRevoked(srv, path.join(dir, 'rules'));
        if (pageErrors.length) fail(`errors in the pages: ${pageErrors.join(' | ')}`);
    } finally {
        const b = browser;
        browser = null;
        await within('browser.close', b.close(), 15000).catch(() => {});
    }
    const log = srv.log();
    for (const secret of ['writer-tok', 'list-tok', 'Bearer']) assert(!log.includes(secret), `"${secret}" in the log`);
    await srv.stop();
    fs.rmSync(dir, { recursive: true, force: true });
}, 120000);
