// test_browser.js -- httpfstream in a real browser: Debian's Chromium, headless, driven by playwright-core.
// - EventSource (the browser's own SSE client, sending Accept: text/event-stream) on a same-origin page: text,
//   multi-line and base64 events rebuild the bytes exactly, ids are offsets, the end event arrives, and the
//   browser's automatic reconnect with Last-Event-ID gets 204 and stops. After a crash (SIGKILL) and restart of
//   the server the browser reconnects with Last-Event-ID by itself and gets exactly the bytes it had not seen.
// - WebSocket in the page with ?frames=binary: BINARY messages, the bytes in order, CLOSE 1000 at the end.
// - The viewer page (a browser navigating to a resource): lines appended with ANSI colour codes while the page is
//   open appear in the viewer in order (its model's text, and each row drawn on screen showing its line's text) with
//   the right computed colours and weights (16, 256 and 24-bit colours, bold),
//   a UTF-8 character and an escape sequence split across appends render whole, a lone CR rewrites the line;
//   auto-scroll follows the bottom and stops while the reader has scrolled up; the end of the stream is shown;
//   the raw link gives the bytes; a viewer opened before the resource exists shows it once it is appended; a
//   viewer of a finished resource shows it whole; a viewer resumes after the server crashed and came back.
// - A viewer of a resource whose name is not UTF-8 (%FF%FE...): the name and title show U+FFFD, the lines render
//   (finished and live) and the end of the stream is shown.
// The browser and the server are closed on every exit path (runMain, playwright's own exit handlers).
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const WebSocket = require('ws');
const { chromium } = require('playwright-core');
const { startServer, sleep, waitFor, within, fail, check, assert, assertEq, runMain } = require('./hfs_server');

const CHROMIUM = process.env.HFS_CHROMIUM || '/usr/bin/chromium';
const LAUNCH_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
    '--disable-component-update', '--no-first-run'];

let browser = null;
let pageErrors = [];

// ---- Node-side appenders ---------------------------------------------------------------------------------------------

// A ws appender: send(bytes) resolves once the server has the bytes in the file; end() closes with 1000.
async function wsAppender(srv, name) {
    const ws = new WebSocket(`${srv.wsUrl}/${name}`, { headers: { 'X-Verb': 'APPEND' } });
    await within(`appender ${name} open`, new Promise((resolve, reject) => {
        ws.on('open', resolve);
        ws.on('error', reject);
        ws.on('unexpected-response', (req, res) => reject(new Error(`appender ${name}: HTTP ${res.statusCode}`)));
    }));
    const closed = new Promise((resolve) => ws.on('close', resolve));
    let want = (() => {
        try {
            return fs.readFileSync(path.join(srv.root, name));
        } catch {
            return Buffer.alloc(0);
        }
    })();
    return {
        async send(data) {
            const b = Buffer.from(data);
            await new Promise((resolve, reject) => ws.send(b, { binary: true }, (err) => (err ? reject(err) : resolve())));
            want = Buffer.concat([want, b]);
            await waitFile(srv, name, want);
        },
        async end() {
            ws.close(1000);
            await within(`appender ${name} close`, closed);
        },
        drop() {
            ws.terminate();
        },
    };
}

// A streamed PUT from fetch (duplex 'half'): push(bytes) sends a chunk; end() finishes and returns the response.
function putAppender(srv, name) {
    let ctrl;
    const stream = new ReadableStream({
        start(c) {
            ctrl = c;
        },
    });
    const response = fetch(`${srv.url}/${name}`, { method: 'PUT', body: stream, duplex: 'half' });
    response.catch(() => {});
    return {
        push: (data) => ctrl.enqueue(new Uint8Array(Buffer.from(data))),
        async end() {
            ctrl.close();
            return within(`PUT ${name}`, response);
        },
    };
}

function fileOf(srv, name) {
    return fs.readFileSync(path.join(srv.root, name));
}

async function waitFile(srv, name, want, ms = 5000) {
    await waitFor(() => `${name} to hold ${want.length} bytes`, () => {
        try {
            return fileOf(srv, name).equals(want);
        } catch {
            return false;
        }
    }, ms);
}

// ---- pages -------------------------------------------------------------------------------------------------------------

let requests = []; // every URL a page asked for (HTTP and WebSocket)

async function newPage() {
    // dark: the viewer's colours checked below are its dark palette (it follows prefers-color-scheme)
    const page = await browser.newPage({ viewport: { width: 900, height: 600 }, colorScheme: 'dark' });
    page.on('pageerror', (err) => pageErrors.push(String(err)));
    page.on('request', (req) => requests.push(req.url()));
    page.on('websocket', (ws) => requests.push(ws.url()));
    page.on('console', (msg) => {
        if (/Content Security Policy|Refused to/.test(msg.text())) pageErrors.push(`console: ${msg.text()}`);
    });
    return page;
}

// Waits in the page for fn(arg) to be truthy; on timeout fails with what(), evaluated in the page when a function.
async function pageWait(page, what, fn, arg, ms = 8000) {
    try {
        await page.waitForFunction(fn, arg, { timeout: ms, polling: 20 });
    } catch (err) {
        const state = await page.evaluate(() => ({
            status: document.getElementById('status') && document.getElementById('status').className,
            log: window.hfsViewer && window.hfsViewer.text().slice(-300),
            debug: window.__dbg,
        })).catch(() => ({}));
        fail(`${what}: ${err.message.split('\n')[0]} (page: ${JSON.stringify(state)})`);
    }
}

function checkNoPageErrors(what) {
    if (pageErrors.length) fail(`${what}: errors in the page: ${pageErrors.join(' | ')}`);
}

// ---- EventSource --------------------------------------------------------------------------------------------------------

// Installs an EventSource in the page that records every event (message, base64, end), errors and state.
async function openEventSource(page, url) {
    await page.evaluate((u) => {
        const rec = { events: [], errors: 0, opens: 0 };
        window.__es = rec;
        const es = new EventSource(u);
        rec.es = es;
        const add = (type) => (e) => rec.events.push({ type, data: e.data, id: e.lastEventId });
        es.onmessage = add('message');
        es.addEventListener('base64', add('base64'));
        es.addEventListener('end', add('end'));
        es.onopen = () => rec.opens++;
        es.onerror = () => rec.errors++;
    }, url);
}

// The bytes the page's EventSource has seen: rebuilt in Node from its events, checking ids.
async function esBytes(page, what, start = 0) {
    const events = await page.evaluate(() => window.__es.events);
    let off = start;
    const parts = [];
    let endId = null;
    for (const [i, e] of events.entries()) {
        if (e.type === 'end') {
            assertEq(`${what}: end data`, e.data, 'end');
            endId = Number(e.id);
            assertEq(`${what}: end id`, endId, off);
            continue;
        }
        const b = e.type === 'base64' ? Buffer.from(e.data, 'base64') : Buffer.from(e.data, 'utf8');
        off += b.length;
        assertEq(`${what}: id of event ${i} (${e.type})`, e.id, String(off));
        parts.push(b);
    }
    return { bytes: Buffer.concat(parts), endId, events };
}

async function eventSourceChecks(srv) {
    check('EventSource in Chromium: text, multi-line and binary appends arrive as events whose ids are offsets');
    const page = await newPage();
    // A same-origin page of the server's own: the root's listing (resource bytes are served
    // sandboxed, as an opaque origin that may not read the server's streams).
    await page.goto(`${srv.url}/`);
    const app = await wsAppender(srv, 'es/a.log');
    await app.send('first line\n');
    await openEventSource(page, '/es/a.log');
    await pageWait(page, 'the first event', () => window.__es.events.length >= 1);
    const pieces = ['second\nthird\n', Buffer.from([0x00, 0xff, 0x0d, 0x0a]), 'caf\u00e9 \u20ac\n', '\u{1F600} no newline'];
    let want = Buffer.from('first line\n');
    for (const p of pieces) {
        await app.send(p);
        want = Buffer.concat([want, Buffer.from(p)]);
        await pageWait(page, `the event ending at ${want.length}`, (n) => {
            const ev = window.__es.events;
            return ev.length && Number(ev[ev.length - 1].id) === n;
        }, want.length);
    }
    check('EventSource: the end event when the appender leaves; the reconnect with Last-Event-ID gets 204 and it stops');
    await app.end();
    await pageWait(page, 'the end event', () => window.__es.events.some((e) => e.type === 'end'));
    const got = await esBytes(page, 'EventSource', 0);
    assertEq('EventSource bytes', got.bytes, want);
    assertEq('end id', got.endId, want.length);
    assert(got.events.some((e) => e.type === 'base64'), 'no base64 event');
    // the browser reconnects by itself (after its retry delay) with Last-Event-ID = the final size: 204 -> CLOSED
    await pageWait(page, 'EventSource to stop (readyState CLOSED) after the 204', () => window.__es.es.readyState === 2, null, 15000);
    assertEq('events after the 204', (await page.evaluate(() => window.__es.events.length)), got.events.length);
    await page.close();
    checkNoPageErrors('EventSource page');
}

async function eventSourceResume(srv) {
    check('EventSource resumes by itself after the server crashed: Last-Event-ID, exactly the missed bytes, then the end');
    const page = await newPage();
    await page.goto(`${srv.url}/`); // a same-origin page of the server's own (see above)
    const app = await wsAppender(srv, 'es/crash.log');
    await app.send('before the crash 1\n');
    await openEventSource(page, '/es/crash.log');
    await app.send('before the crash 2\n');
    const seen = fileOf(srv, 'es/crash.log').length;
    await pageWait(page, 'events before the crash', (n) => {
        const ev = window.__es.events;
        return ev.length && Number(ev[ev.length - 1].id) === n;
    }, seen);
    await srv.kill9();
    app.drop();
    // bytes the server had written and not yet sent when it died
    fs.appendFileSync(path.join(srv.root, 'es/crash.log'), 'after the crash \u20ac\nand more\n');
    await srv.restart();
    const want = fileOf(srv, 'es/crash.log');
    await pageWait(page, 'the resumed stream to end', () => window.__es.events.some((e) => e.type === 'end'), null, 20000);
    const got = await esBytes(page, 'resumed EventSource', 0);
    assertEq('bytes seen across the crash (none twice, none missing)', got.bytes, want);
    assert((await page.evaluate(() => window.__es.opens)) >= 2, 'EventSource did not reconnect');
    assert(/crash\.log/.test(srv.log().split('listening on').pop()), 'the restarted server saw no request');
    await page.close();
    checkNoPageErrors('EventSource resume page');
}

// ---- WebSocket in the page -----------------------------------------------------------------------------------------------

async function webSocketChecks(srv) {
    check('WebSocket in Chromium with ?frames=binary: BINARY messages, the bytes in order, CLOSE 1000 at the end');
    const page = await newPage();
    await page.goto(`${srv.url}/`); // a same-origin page of the server's own (see above)
    const app = await wsAppender(srv, 'ws/b.log');
    await app.send('start\n');
    await page.evaluate((u) => {
        const rec = { chunks: [], binary: true, close: null, open: false };
        window.__ws = rec;
        const ws = new WebSocket(u);
        ws.binaryType = 'arraybuffer';
        ws.onopen = () => (rec.open = true);
        ws.onmessage = (e) => {
            if (!(e.data instanceof ArrayBuffer)) rec.binary = false;
            else rec.chunks.push(Array.from(new Uint8Array(e.data)));
        };
        ws.onclose = (e) => (rec.close = { code: e.code, clean: e.wasClean });
    }, `${srv.wsUrl}/ws/b.log?frames=binary`);
    await pageWait(page, 'the WebSocket to open', () => window.__ws.open);
    let want = Buffer.from('start\n');
    const big = Buffer.alloc(30000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 255;
    for (const p of [Buffer.from([0, 1, 2, 0xff]), Buffer.from('\u20ac'.slice(0)), big, Buffer.from('end\n')]) {
        await app.send(p);
        want = Buffer.concat([want, p]);
        await pageWait(page, `${want.length} bytes over the WebSocket`, (n) => window.__ws.chunks.reduce((a, c) => a + c.length, 0) >= n, want.length);
    }
    await app.end();
    await pageWait(page, 'the WebSocket to close', () => window.__ws.close !== null);
    const rec = await page.evaluate(() => window.__ws);
    assert(rec.binary, 'a TEXT message arrived with ?frames=binary');
    assertEq('close code', rec.close.code, 1000);
    assertEq('bytes', Buffer.from(rec.chunks.flat()), want);
    await page.close();
    checkNoPageErrors('WebSocket page');
}

// ---- the viewer ----------------------------------------------------------------------------------------------------------

// The log's text and, per styled span, its text, computed colour and weight.
function viewerState(page) {
    return page.evaluate(() => {
        const log = document.getElementById('rows');
        const spans = [...log.querySelectorAll('span span')].map((s) => {
            const cs = getComputedStyle(s);
            return { text: s.textContent, color: cs.color, weight: cs.fontWeight, opacity: cs.opacity,
                     italic: cs.fontStyle, underline: cs.textDecorationLine };
        });
        const el = document.getElementById('scroller');
        const rows = [...log.querySelectorAll('.row')];
        return {
            text: window.hfsViewer.text(),
            lines: window.hfsViewer.lines(),
            // every row drawn shows its line of the model
            rowsWrong: rows.filter((r) => r.querySelector('.t').textContent !== window.hfsViewer.lineText(+r.dataset.line))
                .map((r) => [r.dataset.line, r.querySelector('.t').textContent]),
            rowsDrawn: rows.length,
            spans,
            status: document.getElementById('status').className,
            state: document.body.dataset.state || '',
            endHidden: document.getElementById('end').hidden,
            endText: document.getElementById('end').textContent,
            raw: document.getElementById('raw').href,
            atBottom: el.scrollTop + el.clientHeight >= el.scrollHeight - 8,
            scrollTop: el.scrollTop,
            scrollable: el.scrollHeight > el.clientHeight + 50,
        };
    });
}

function span(state, text) {
    const s = state.spans.find((x) => x.text === text);
    if (!s) fail(`no styled span with text ${JSON.stringify(text)} (spans: ${JSON.stringify(state.spans.slice(0, 20))})`);
    return s;
}

const plainOf = (s) => s.replace(/\x1b\[[0-9;?]*[@-~]/g, '');

async function waitLog(page, what, text, ms = 8000) {
    await pageWait(page, what, (t) => window.hfsViewer.text() === t, text, ms);
    // the rows are drawn at the next frame: wait for every row drawn to show its line of the model
    try {
        await page.waitForFunction((t) => {
            const rows = [...document.querySelectorAll('#rows .row')];
            return (rows.length > 0 || t === '') &&
                rows.every((r) => r.querySelector('.t').textContent === window.hfsViewer.lineText(+r.dataset.line));
        }, text, { timeout: ms, polling: 20 });
    } catch {
        const st = await viewerState(page);
        fail(`${what}: the rows drawn do not show their lines: ${JSON.stringify(st.rowsWrong)} (${st.rowsDrawn} rows drawn)`);
    }
}

async function viewerLive(srv) {
    check('viewer: lines with ANSI colours appended while the page is open appear in order, coloured, bold');
    const page = await newPage();
    requests = [];
    const app = await wsAppender(srv, 'view/build.log');
    await app.send('$ make\n');
    const res = await page.goto(`${srv.url}/view/build.log`);
    assertEq('viewer status', res.status(), 200);
    assert(/^text\/html/.test(res.headers()['content-type']), `viewer content-type ${res.headers()['content-type']}`);
    await pageWait(page, 'the viewer to be live', () => document.getElementById('status').className === 'live');
    let text = '$ make\n';
    await waitLog(page, 'the existing line', text);
    const lines = [
        '\x1b[31mred\x1b[0m plain\n',
        '\x1b[1mbold\x1b[0m and \x1b[32mgreen\x1b[0m\n',
        '\x1b[1;34mbold blue\x1b[22m not bold\x1b[0m\n',
        '\x1b[38;5;208morange\x1b[0m \x1b[38;2;10;20;30mrgb\x1b[0m \x1b[91mbright red\x1b[39m\n',
        '\x1b[2mdim\x1b[0m \x1b[3mitalic\x1b[23m \x1b[4munder\x1b[24m\n',
    ];
    for (const [i, l] of lines.entries()) {
        await app.send(l);
        text += plainOf(l);
        await waitLog(page, `line ${i} while the appender is open`, text);
    }
    // a character and an escape sequence split across appends
    await app.send(Buffer.from([0xe2, 0x82]));
    await sleep(50);
    await app.send(Buffer.concat([Buffer.from([0xac]), Buffer.from(' euro \x1b[3')]));
    await sleep(50);
    await app.send('5mmagenta\x1b[0m\n');
    text += '\u20ac euro magenta\n';
    await waitLog(page, 'the split character and escape', text);
    // a lone CR rewrites the line (a progress bar)
    await app.send('progress 10%\rprogress 50%\rprogress 100%\n');
    text += 'progress 100%\n';
    await waitLog(page, 'the progress line', text);
    const st = await viewerState(page);
    assert(!st.text.includes('\x1b') && !st.text.includes('[0m'), `escape codes in the text: ${JSON.stringify(st.text)}`);
    assertEq('red', span(st, 'red').color, 'rgb(255, 123, 114)');
    assertEq('bold weight', span(st, 'bold').weight, '700');
    assertEq('green', span(st, 'green').color, 'rgb(63, 185, 80)');
    assertEq('bold blue colour', span(st, 'bold blue').color, 'rgb(88, 166, 255)');
    assertEq('bold blue weight', span(st, 'bold blue').weight, '700');
    assertEq('not bold weight', span(st, ' not bold').weight, '400');
    assertEq('not bold colour (still blue)', span(st, ' not bold').color, 'rgb(88, 166, 255)');
    assertEq('256-colour 208', span(st, 'orange').color, 'rgb(255, 135, 0)');
    assertEq('24-bit colour', span(st, 'rgb').color, 'rgb(10, 20, 30)');
    assertEq('bright red', span(st, 'bright red').color, 'rgb(255, 161, 152)');
    assertEq('magenta after a split escape', span(st, 'magenta').color, 'rgb(188, 140, 255)');
    assert(Number(span(st, 'dim').opacity) < 1, `dim opacity ${span(st, 'dim').opacity}`);
    assertEq('italic', span(st, 'italic').italic, 'italic');
    assertEq('underline', span(st, 'under').underline, 'underline');
    // the log scrolls in its own box below the header: a line never goes under it (dim text makes its own layer)
    const layout = await page.evaluate(() => {
        const h = document.querySelector('header').getBoundingClientRect();
        const sc = document.getElementById('scroller').getBoundingClientRect();
        const dim = [...document.querySelectorAll('#rows span span')].find((x) => x.textContent === 'dim');
        const r = dim.getBoundingClientRect();
        const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
        return { below: sc.top >= h.bottom - 0.5, dimHit: hit === dim };
    });
    assert(layout.below, 'the log box starts above the bottom of the header');
    assert(layout.dimHit, 'the dim line is not the element drawn at its place');
    assertEq('status while live', st.status, 'live');
    assert(st.endHidden, 'the end is shown while the stream is live');
    // it follows over a WebSocket in binary mode, and loads nothing from anywhere else
    const wsReq = requests.filter((u) => u.startsWith(srv.wsUrl));
    assert(wsReq.length === 1 && /\/view\/build\.log\?(.*&)?frames=binary/.test(wsReq[0]), `viewer WebSocket requests: ${wsReq}`);
    const foreign = requests.filter((u) => !u.startsWith(srv.url) && !u.startsWith(srv.wsUrl));
    assert(foreign.length === 0, `the viewer loaded other things: ${foreign}`);
    assert(/view\/build\.log\?[^"]*frames=binary[^"]*" 101/.test(srv.log()), 'no 101 for the viewer\'s binary follow in the log');

    check('viewer: auto-scroll follows the bottom, stops while the reader has scrolled up, resumes at the bottom');
    let batch = '';
    for (let i = 0; i < 120; i++) batch += `filler line ${i}\n`;
    await app.send(batch);
    text += batch;
    await waitLog(page, 'the filler lines', text);
    // The model has the lines at once; the rows' height is laid out at the next frame.
    await pageWait(page, 'the page to scroll (120 more lines)', () => {
        const el = document.getElementById('scroller');
        return el.scrollHeight > el.clientHeight + 50;
    });
    let s = await viewerState(page);
    await pageWait(page, 'the page to follow the bottom', () => {
        const el = document.getElementById('scroller');
        return el.scrollTop + el.clientHeight >= el.scrollHeight - 8;
    });
    await page.evaluate(() => document.getElementById('scroller').scrollTo(0, 0));
    await pageWait(page, 'the scroll to the top', () => document.getElementById('scroller').scrollTop === 0);
    await app.send('while scrolled up 1\nwhile scrolled up 2\n');
    text += 'while scrolled up 1\nwhile scrolled up 2\n';
    await waitLog(page, 'lines while scrolled up', text);
    await sleep(100);
    s = await viewerState(page);
    assertEq('scroll position while the reader is up the page', s.scrollTop, 0);
    await page.evaluate(() => document.getElementById('scroller').scrollTo(0, document.getElementById('scroller').scrollHeight));
    await app.send('back at the bottom\n');
    text += 'back at the bottom\n';
    await waitLog(page, 'a line at the bottom', text);
    await pageWait(page, 'the page to follow the bottom again', () => {
        const el = document.getElementById('scroller');
        return el.scrollTop + el.clientHeight >= el.scrollHeight - 8;
    });

    check('viewer: the end of the stream is shown when the appender leaves; the raw link gives the bytes');
    await app.send('\x1b[32mdone\x1b[0m\n');
    text += 'done\n';
    await app.end();
    await pageWait(page, 'the viewer to show the end', () => document.body.dataset.state === 'ended');
    s = await viewerState(page);
    assertEq('log text at the end', s.text, text);
    assertEq('status at the end', s.status, 'ended');
    assert(!s.endHidden, '#end is hidden at the end');
    assert(/end of stream/.test(s.endText), `#end says ${JSON.stringify(s.endText)}`);
    assertEq('raw link', s.raw, `${srv.url}/view/build.log?raw`);
    const raw = await page.evaluate((u) => fetch(u).then((r) => r.arrayBuffer()).then((b) => Array.from(new Uint8Array(b))), s.raw);
    assertEq('raw bytes', Buffer.from(raw), fileOf(srv, 'view/build.log'));
    const nav = await Promise.all([page.waitForNavigation(), page.click('#raw')]);
    assertEq('raw link navigation status', nav[0].status(), 200);
    assertEq('raw link content-type', nav[0].headers()['content-type'], 'text/plain; charset=utf-8');
    assertEq('raw link body', await nav[0].body(), fileOf(srv, 'view/build.log'));
    await page.close();
    checkNoPageErrors('viewer page');
}

async function viewerBeforeAndAfter(srv) {
    check('viewer opened before the resource exists: waits, then shows it (PUT from fetch) live, then the end');
    const page = await newPage();
    const res = await page.goto(`${srv.url}/view/later.log`);
    assertEq('viewer of a resource not written yet', res.status(), 200);
    await sleep(300);
    let s = await viewerState(page);
    assertEq('nothing shown yet', s.text, '');
    assert(s.state !== 'ended' && s.status !== 'error', `viewer gave up: ${s.status}`);
    assert(!fs.existsSync(path.join(srv.root, 'view/later.log')), 'the viewer created the resource');
    const put = putAppender(srv, 'view/later.log');
    put.push('\x1b[33mfirst\x1b[0m\n');
    await waitLog(page, 'the first line of the new resource', 'first\n');
    assertEq('yellow', span(await viewerState(page), 'first').color, 'rgb(210, 153, 34)');
    put.push('second\n');
    await waitLog(page, 'the second line', 'first\nsecond\n');
    assertEq('PUT status', (await put.end()).status, 201);
    await pageWait(page, 'the end', () => document.body.dataset.state === 'ended');
    await page.close();

    check('viewer of a finished resource: all of it, then the end (no live stream to follow)');
    fs.writeFileSync(path.join(srv.root, 'view/done.log'), 'old \x1b[1mrun\x1b[0m\nfinished\n');
    const page2 = await newPage();
    await page2.goto(`${srv.url}/view/done.log`);
    await pageWait(page2, 'the finished resource to end', () => document.body.dataset.state === 'ended');
    s = await viewerState(page2);
    assertEq('finished text', s.text, 'old run\nfinished\n');
    assertEq('bold run', span(s, 'run').weight, '700');
    await page2.close();
    checkNoPageErrors('viewer pages');
}

// A name that is not UTF-8: 0xFF 0xFE, then the rest.
function badPath(srv, rest) {
    return Buffer.concat([Buffer.from(`${srv.root}/`), Buffer.from([0xff, 0xfe]), Buffer.from(rest)]);
}

// pageWait, but errors in the page (a viewer script that threw) are reported first.
async function pageWaitOrErrors(page, what, fn, arg, ms) {
    try {
        await pageWait(page, what, fn, arg, ms);
    } catch (err) {
        checkNoPageErrors(what);
        throw err;
    }
}

async function viewerBadName(srv) {
    check('viewer of a finished resource whose name is not UTF-8 (PUT /%FF%FEbad.log): lines, the end, a name with U+FFFD');
    const text = 'first line\nsecond \u20ac line\n\x1b[1mbold\x1b[0m last\n';
    const res = await within('PUT /%FF%FEbad.log', fetch(`${srv.url}/%FF%FEbad.log`, { method: 'PUT', body: text }));
    assertEq('PUT /%FF%FEbad.log status', res.status, 201);
    assertEq('the file under its byte name', fs.readFileSync(badPath(srv, 'bad.log')), Buffer.from(text));
    const page = await newPage();
    const resp = await page.goto(`${srv.url}/%FF%FEbad.log`);
    assertEq('viewer status', resp.status(), 200);
    assert(/^text\/html/.test(resp.headers()['content-type']), `viewer content-type ${resp.headers()['content-type']}`);
    await pageWaitOrErrors(page, 'the viewer of /%FF%FEbad.log to show the end', () => document.body.dataset.state === 'ended');
    let s = await viewerState(page);
    assertEq('log text', s.text, plainOf(text));
    assertEq('status at the end', s.status, 'ended');
    assert(!s.endHidden && /end of stream/.test(s.endText), `#end: hidden ${s.endHidden}, ${JSON.stringify(s.endText)}`);
    assertEq('raw link', s.raw, `${srv.url}/%FF%FEbad.log?raw`);
    const raw = await page.evaluate((u) => fetch(u).then((r) => r.arrayBuffer()).then((b) => Array.from(new Uint8Array(b))), s.raw);
    assertEq('raw bytes', Buffer.from(raw), Buffer.from(text));
    let name = await page.evaluate(() => document.getElementById('name').textContent);
    let title = await page.title();
    assert(name.includes('\uFFFD') && name.endsWith('bad.log'), `#name is ${JSON.stringify(name)}`);
    assert(title.includes('\uFFFD') && title.endsWith('bad.log'), `title is ${JSON.stringify(title)}`);
    await page.close();
    checkNoPageErrors('viewer of /%FF%FEbad.log');

    check('viewer of a live resource whose name is not UTF-8: follows it live over the WebSocket, then the end');
    const ws = new WebSocket(`${srv.wsUrl}/%FF%FElive.log`, { headers: { 'X-Verb': 'APPEND' } });
    await within('appender /%FF%FElive.log open', new Promise((resolve, reject) => {
        ws.on('open', resolve);
        ws.on('error', reject);
        ws.on('unexpected-response', (req, r) => reject(new Error(`appender /%FF%FElive.log: HTTP ${r.statusCode}`)));
    }));
    const closed = new Promise((resolve) => ws.on('close', resolve));
    const send = (t) => new Promise((resolve, reject) => ws.send(Buffer.from(t), { binary: true }, (e) => (e ? reject(e) : resolve())));
    await send('live one\n');
    await waitFor('/%FF%FElive.log to hold its first line', () => {
        try {
            return fs.readFileSync(badPath(srv, 'live.log')).equals(Buffer.from('live one\n'));
        } catch {
            return false;
        }
    });
    const page2 = await newPage();
    requests = [];
    await page2.goto(`${srv.url}/%FF%FElive.log`);
    await pageWaitOrErrors(page2, 'the first line of /%FF%FElive.log', () => window.hfsViewer && window.hfsViewer.text() === 'live one\n');
    await pageWait(page2, 'the viewer to be live', () => document.getElementById('status').className === 'live');
    await send('live \u00e9 two\n');
    await waitLog(page2, 'the line appended while the page is open', 'live one\nlive \u00e9 two\n');
    ws.close(1000);
    await within('appender /%FF%FElive.log close', closed);
    await pageWait(page2, 'the viewer of /%FF%FElive.log to show the end', () => document.body.dataset.state === 'ended');
    s = await viewerState(page2);
    assertEq('live log text', s.text, 'live one\nlive \u00e9 two\n');
    assert(!s.endHidden && /end of stream/.test(s.endText), `#end: ${JSON.stringify(s.endText)}`);
    const wsReq = requests.filter((u) => u.startsWith(srv.wsUrl));
    assert(wsReq.length >= 1 && wsReq.every((u) => u.startsWith(`${srv.wsUrl}/%FF%FElive.log?`)), `viewer WebSocket requests: ${wsReq}`);
    name = await page2.evaluate(() => document.getElementById('name').textContent);
    title = await page2.title();
    assert(name.includes('\uFFFD') && name.endsWith('live.log'), `#name is ${JSON.stringify(name)}`);
    assert(title.includes('\uFFFD') && title.endsWith('live.log'), `title is ${JSON.stringify(title)}`);
    await page2.close();
    checkNoPageErrors('viewer of /%FF%FElive.log');
}

async function viewerResume(srv) {
    check('viewer: the server crashes and comes back; the page resumes from the next byte (nothing twice) and ends');
    const page = await newPage();
    const app = await wsAppender(srv, 'view/crash.log');
    await app.send('line 1\n');
    await page.goto(`${srv.url}/view/crash.log`);
    await waitLog(page, 'line 1', 'line 1\n');
    await app.send('line 2 \u20ac\n');
    await waitLog(page, 'line 2', 'line 1\nline 2 \u20ac\n');
    await srv.kill9();
    app.drop();
    fs.appendFileSync(path.join(srv.root, 'view/crash.log'), 'line 3 (written while down)\n');
    await srv.restart();
    await pageWait(page, 'the viewer to end after the restart', () => document.body.dataset.state === 'ended', null, 20000);
    const s = await viewerState(page);
    assertEq('viewer text across the crash', s.text, fileOf(srv, 'view/crash.log').toString());
    await page.close();
    checkNoPageErrors('viewer resume page');
}

// A test killed from outside still exits (so that every exit handler runs: servers and Chromium are killed).
for (const sig of ['SIGTERM', 'SIGHUP']) process.on(sig, () => process.exit(1));

runMain('test_browser', async () => {
    const srv = await startServer(['-ping=1s']);
    check('Chromium starts headless');
    browser = await within('chromium.launch', chromium.launch({ executablePath: CHROMIUM, headless: true, args: LAUNCH_ARGS }), 30000);
    try {
        await eventSourceChecks(srv);
        await webSocketChecks(srv);
        await viewerLive(srv);
        await viewerBeforeAndAfter(srv);
        await viewerBadName(srv);
        await eventSourceResume(srv);
        await viewerResume(srv);
    } finally {
        const b = browser;
        browser = null;
        await within('browser.close', b.close(), 15000).catch(() => {});
    }
    await srv.stop();
}, 120000);
