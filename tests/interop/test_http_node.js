// test_http_node.js -- the plain-HTTP extensions with third-party clients: Node's built-in fetch (undici) and the
// `ws` package. Checks, as PROTOCOL.md describes them:
// - ?follow read with fetch's streaming body reader: each line arrives while its appender is still open (checked
//   before the next is written), the body ends when the appender leaves; the stream headers;
// - PUT and POST appends from fetch with sized (Buffer, string) and chunked (ReadableStream, duplex 'half')
//   bodies: 201/200, X-Resource-Size and the size body; a chunked PUT fed slowly is seen live by a follower;
//   X-Append-Offset (409) and Content-Range (416) with the current size; 400; a second appender gets 403;
// - Server-Sent Events over fetch, parsed by a parser written from the WHATWG rules: text, multi-line and base64
//   events rebuild the bytes exactly, every id is the offset after its event, the end event; a reader that
//   aborts mid-stream and comes back with Last-Event-ID gets exactly the rest; at the end, 204;
// - ws: ?offset, ?lines, ?offset=now and ?wait (a fetch PUT creates the resource), 416 past the end, and the
//   X-Follow-Offset header of the 101;
// - the JSON directory listing, parsed with JSON.parse, with a live resource.
'use strict';

const WebSocket = require('ws');
const { startServer, sleep, waitFor, within, fail, check, assert, assertEq, runMain } = require('./hfs_server');

// ---- helpers -----------------------------------------------------------------------------------------------------

// A request body we feed by hand: push(bytes) sends a chunk now, end() finishes the body.
function pushStream() {
    let ctrl;
    const stream = new ReadableStream({
        start(c) {
            ctrl = c;
        },
    });
    return {
        stream,
        push: (b) => ctrl.enqueue(typeof b === 'string' ? new TextEncoder().encode(b) : new Uint8Array(b)),
        end: () => ctrl.close(),
    };
}

// Starts a streamed PUT/POST; resolves with { push, end, response } where response is fetch's promise.
function streamingAppend(url, { method = 'PUT', headers = {} } = {}) {
    const ps = pushStream();
    const response = fetch(url, { method, body: ps.stream, duplex: 'half', headers });
    response.catch(() => {}); // awaited later; never an unhandled rejection
    return { push: ps.push, end: ps.end, response };
}

// Reads a fetch response body as it streams.
class BodyReader {
    constructor(res) {
        this.reader = res.body.getReader();
        this.buf = Buffer.alloc(0);
        this.done = false;
    }

    async readMore(what, ms) {
        const r = await within(what, this.reader.read(), ms);
        if (r.done) this.done = true;
        else this.buf = Buffer.concat([this.buf, Buffer.from(r.value)]);
    }

    // Reads until the body holds at least n bytes.
    async until(what, n, ms = 5000) {
        const deadline = Date.now() + ms;
        while (this.buf.length < n) {
            if (this.done) fail(`${what}: the body ended after ${this.buf.length} bytes, want ${n}`);
            await this.readMore(`${what} (${this.buf.length} of ${n} bytes)`, Math.max(1, deadline - Date.now()));
        }
    }

    async end(what, ms = 5000) {
        const deadline = Date.now() + ms;
        while (!this.done) await this.readMore(`${what}: the end of the body`, Math.max(1, deadline - Date.now()));
    }

    cancel() {
        return this.reader.cancel().catch(() => {});
    }
}

// An EventSource-style parser (WHATWG HTML, "Interpreting an event stream"), fed decoded text.
class SseParser {
    constructor() {
        this.events = [];
        this.comments = 0;
        this.pending = '';
        this.lastEventId = '';
        this.reset();
        this.first = true;
    }

    reset() {
        this.data = '';
        this.type = '';
        this.sawField = false;
    }

    feed(text) {
        if (this.first && text.length) {
            if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
            this.first = false;
        }
        this.pending += text;
        for (;;) {
            const m = /\r\n|\r|\n/.exec(this.pending);
            if (!m) break;
            // a lone CR at the very end may be the first half of CRLF: wait for more
            if (m[0] === '\r' && m.index === this.pending.length - 1) break;
            const line = this.pending.slice(0, m.index);
            this.pending = this.pending.slice(m.index + m[0].length);
            this.line(line);
        }
    }

    line(line) {
        if (line === '') {
            // dispatch
            if (this.data === '') {
                this.reset();
                return;
            }
            const data = this.data.endsWith('\n') ? this.data.slice(0, -1) : this.data;
            this.events.push({ type: this.type || 'message', data, lastEventId: this.lastEventId });
            this.reset();
            return;
        }
        if (line.startsWith(':')) {
            this.comments++;
            return;
        }
        const colon = line.indexOf(':');
        let field = line;
        let value = '';
        if (colon >= 0) {
            field = line.slice(0, colon);
            value = line.slice(colon + 1);
            if (value.startsWith(' ')) value = value.slice(1);
        }
        if (field === 'event') this.type = value;
        else if (field === 'data') this.data += value + '\n';
        else if (field === 'id' && !value.includes('\0')) this.lastEventId = value;
        // retry and unknown fields are ignored
    }
}

// Reads an SSE response until `stop(parser)` is true or the body ends. Returns the parser.
async function readSse(what, res, parser, stop = () => false, ms = 8000) {
    const reader = res.body.getReader();
    const decoder = new TextDecoder('utf-8');
    const deadline = Date.now() + ms;
    for (;;) {
        if (stop(parser)) {
            await reader.cancel().catch(() => {});
            return parser;
        }
        const r = await within(`${what} (${parser.events.length} events so far)`, reader.read(), Math.max(1, deadline - Date.now()));
        if (r.done) {
            parser.feed(decoder.decode());
            return parser;
        }
        parser.feed(decoder.decode(r.value, { stream: true }));
    }
}

// Rebuilds the bytes from parsed events: text events as UTF-8, base64 events decoded; checks every id is the offset
// after its event's bytes. Returns { bytes, endId, ended }.
function sseBytes(what, events, start) {
    let off = start;
    const parts = [];
    let endId = null;
    for (const [i, e] of events.entries()) {
        assert(endId === null, `${what}: event ${i} (${e.type}) after the end event`);
        if (e.type === 'end') {
            assertEq(`${what}: end event data`, e.data, 'end');
            endId = Number(e.lastEventId);
            assertEq(`${what}: end event id`, endId, off);
            continue;
        }
        let b;
        if (e.type === 'message') b = Buffer.from(e.data, 'utf8');
        else if (e.type === 'base64') {
            assert(/^[A-Za-z0-9+/]*={0,2}$/.test(e.data) && e.data.length % 4 === 0, `${what}: bad base64 ${JSON.stringify(e.data)}`);
            b = Buffer.from(e.data, 'base64');
        } else fail(`${what}: unknown event type ${e.type}`);
        assert(b.length > 0, `${what}: event ${i} carries nothing`);
        off += b.length;
        assertEq(`${what}: id of event ${i}`, e.lastEventId, String(off));
        parts.push(b);
    }
    return { bytes: Buffer.concat(parts), endId, ended: endId !== null };
}

// Opens a ws follower (or appender). Resolves with { ws, messages, closed, closedP, headers } once open, or with
// { status, headers, body } when the handshake is answered otherwise.
function wsOpen(url, { append = false, headers = {} } = {}) {
    return within(`WebSocket handshake with ${url}`, new Promise((resolve, reject) => {
        const h = { ...headers };
        if (append) h['X-Verb'] = 'APPEND';
        const ws = new WebSocket(url, { headers: h });
        const rec = { ws, messages: [], closed: null };
        rec.closedP = new Promise((res) => ws.on('close', (code) => res((rec.closed = { code }))));
        ws.on('upgrade', (res) => {
            rec.headers = res.headers;
        });
        ws.on('message', (data) => rec.messages.push(Buffer.from(data)));
        ws.on('error', reject);
        ws.on('open', () => resolve(rec));
        ws.on('unexpected-response', (req, res) => {
            const chunks = [];
            res.on('data', (c) => chunks.push(c));
            res.on('end', () => {
                resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) });
                req.destroy();
            });
        });
    }));
}

const received = (rec) => Buffer.concat(rec.messages);

async function wsSend(rec, data) {
    await new Promise((resolve, reject) => rec.ws.send(data, { binary: true }, (err) => (err ? reject(err) : resolve())));
}

function fileOf(srv, name) {
    return require('node:fs').readFileSync(require('node:path').join(srv.root, name));
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

// ---- the checks -----------------------------------------------------------------------------------------------------

async function followWithFetch(srv) {
    check('fetch ?follow: the stream headers, and each line of a slow chunked PUT (fetch, ReadableStream) arrives live');
    const url = `${srv.url}/build/live.log`;
    const app = streamingAppend(url);
    app.push('line 0\n');
    await waitFile(srv, 'build/live.log', Buffer.from('line 0\n'));
    const res = await within('fetch ?follow', fetch(`${url}?follow`));
    assertEq('status', res.status, 200);
    assertEq('content-type', res.headers.get('content-type'), 'text/plain; charset=utf-8');
    assertEq('cache-control', res.headers.get('cache-control'), 'no-store');
    assertEq('x-accel-buffering', res.headers.get('x-accel-buffering'), 'no');
    assertEq('x-follow-offset', res.headers.get('x-follow-offset'), '0');
    assertEq('transfer-encoding', res.headers.get('transfer-encoding'), 'chunked');
    assertEq('content-length', res.headers.get('content-length'), null);
    const body = new BodyReader(res);
    let want = 'line 0\n';
    await body.until('first line', want.length);
    for (let i = 1; i <= 5; i++) {
        const line = `line ${i} \u20ac\n`;
        app.push(line);
        want += line;
        await body.until(`line ${i} while the PUT is still open`, Buffer.byteLength(want));
        assertEq(`body after line ${i}`, body.buf.toString(), want);
        assert(!body.done, 'the body ended while the appender was still there');
    }
    app.end();
    const put = await within('PUT response', app.response);
    assertEq('PUT status (created)', put.status, 201);
    assertEq('PUT X-Resource-Size', put.headers.get('x-resource-size'), String(Buffer.byteLength(want)));
    assertEq('PUT body', await put.text(), `${Buffer.byteLength(want)}\n`);
    await body.end('?follow after the PUT ended');
    assertEq('followed bytes', body.buf, Buffer.from(want));

    check('fetch ?follow of a resource with no appender: the bytes so far, then the end at once');
    const r2 = await fetch(`${url}?follow`);
    assertEq('status', r2.status, 200);
    assertEq('body', await within('text()', r2.text()), want);
    const r3 = await fetch(`${url}?follow&lines=2`);
    assertEq('?lines=2 x-follow-offset', r3.headers.get('x-follow-offset'), String(Buffer.byteLength(want) - Buffer.byteLength('line 4 \u20ac\nline 5 \u20ac\n')));
    assertEq('?lines=2 body', await r3.text(), 'line 4 \u20ac\nline 5 \u20ac\n');
}

async function appendWithFetch(srv) {
    const url = `${srv.url}/app/a.log`;
    check('fetch PUT/POST with sized bodies: 201 then 200, X-Resource-Size, and the size as the body');
    let r = await fetch(url, { method: 'PUT', body: Buffer.from('one\n') });
    assertEq('first PUT', r.status, 201);
    assertEq('first PUT size', r.headers.get('x-resource-size'), '4');
    assertEq('first PUT body', await r.text(), '4\n');
    r = await fetch(url, { method: 'POST', body: 'two\n' });
    assertEq('POST', r.status, 200);
    assertEq('POST size', r.headers.get('x-resource-size'), '8');
    await r.text();
    r = await fetch(`${srv.url}/app/new.log`, { method: 'POST', body: new Uint8Array([0, 1, 2, 255]) });
    assertEq('POST creating', r.status, 201);
    await r.text();
    assertEq('binary body on disk', fileOf(srv, 'app/new.log'), Buffer.from([0, 1, 2, 255]));

    check('fetch POST with a chunked body (ReadableStream) in several pieces');
    const app = streamingAppend(url, { method: 'POST' });
    for (const p of ['th', 'ree', '\n']) {
        app.push(p);
        await sleep(10);
    }
    app.end();
    r = await within('chunked POST', app.response);
    assertEq('chunked POST', r.status, 200);
    assertEq('chunked POST size', r.headers.get('x-resource-size'), '14');
    await r.text();
    assertEq('file', fileOf(srv, 'app/a.log').toString(), 'one\ntwo\nthree\n');

    check('expected offsets: X-Append-Offset and Content-Range: bytes N-*/* (match appends; stale 409/416; bad 400)');
    r = await fetch(url, { method: 'PUT', body: 'four\n', headers: { 'X-Append-Offset': '14' } });
    assertEq('matching X-Append-Offset', r.status, 200);
    await r.text();
    r = await fetch(url, { method: 'PUT', body: 'again\n', headers: { 'X-Append-Offset': '14' } });
    assertEq('stale X-Append-Offset', r.status, 409);
    assertEq('409 X-Resource-Size', r.headers.get('x-resource-size'), '19');
    await r.text();
    r = await fetch(url, { method: 'POST', body: 'five\n', headers: { 'Content-Range': 'bytes 19-*/*' } });
    assertEq('matching Content-Range', r.status, 200);
    await r.text();
    r = await fetch(url, { method: 'POST', body: 'again\n', headers: { 'Content-Range': 'bytes 0-*/*' } });
    assertEq('stale Content-Range', r.status, 416);
    assertEq('416 Content-Range', r.headers.get('content-range'), 'bytes */24');
    assertEq('416 X-Resource-Size', r.headers.get('x-resource-size'), '24');
    await r.text();
    r = await fetch(url, { method: 'PUT', body: 'x', headers: { 'X-Append-Offset': 'soon' } });
    assertEq('malformed X-Append-Offset', r.status, 400);
    await r.text();
    assertEq('file after the refusals', fileOf(srv, 'app/a.log').toString(), 'one\ntwo\nthree\nfour\nfive\n');

    check('one appender at a time: a PUT while a streamed PUT is open gets 403; a ws appender too');
    const holder = streamingAppend(url);
    holder.push('six\n');
    await waitFile(srv, 'app/a.log', Buffer.from('one\ntwo\nthree\nfour\nfive\nsix\n'));
    r = await fetch(url, { method: 'PUT', body: 'no\n' });
    assertEq('second PUT', r.status, 403);
    assertEq('403 body', await r.text(), 'addWriter: path already has an active writer\n');
    const wsApp = await wsOpen(`${srv.wsUrl}/app/a.log`, { append: true });
    assertEq('ws appender during a PUT', wsApp.status, 403);
    holder.end();
    r = await within('holder PUT', holder.response);
    assertEq('holder PUT', r.status, 200);
    assertEq('holder size', r.headers.get('x-resource-size'), '28');
    await r.text();
}

async function sseWithFetch(srv) {
    check('SSE over fetch (Accept: text/event-stream): text, multi-line and binary appends rebuild exactly, ids are offsets');
    const url = `${srv.url}/sse/s.log`;
    const app = await wsOpen(`${srv.wsUrl}/sse/s.log`, { append: true });
    assert(app.ws, 'ws appender refused');
    const res = await fetch(url, { headers: { Accept: 'text/event-stream' } });
    assertEq('status', res.status, 200);
    assertEq('content-type', res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    assertEq('cache-control', res.headers.get('cache-control'), 'no-store');
    const pieces = [
        Buffer.from('hello\n'),
        Buffer.from('multi\nline\n\ntext'),
        Buffer.from([0x00, 0x01, 0xff, 0xfe]),
        Buffer.from('crlf\r\nline\r\n'),
        Buffer.from(' leading space and : colon\n'),
        Buffer.from('\u00e9\u20ac\ud83d\ude00\n'),
        Buffer.from([0xe2, 0x82]), // half a character ...
        Buffer.from([0xac, 0x0a]), // ... and its end
        Buffer.alloc(40000, 'y'),
    ];
    let want = Buffer.alloc(0);
    const parser = new SseParser();
    const reading = readSse('SSE stream', res, parser, () => false, 15000);
    for (const [i, p] of pieces.entries()) {
        await wsSend(app, p);
        want = Buffer.concat([want, p]);
        if (i === 6) continue; // half a character: text waits for the rest
        await waitFor(() => `SSE events to cover piece ${i}`, () => {
            const last = parser.events[parser.events.length - 1];
            return last && Number(last.lastEventId) === want.length;
        }, 5000);
    }
    app.ws.close(1000);
    await within('appender close', app.closedP);
    await reading;
    const { bytes, endId } = sseBytes('SSE', parser.events, 0);
    assertEq('rebuilt bytes', bytes, want);
    assertEq('end id', endId, want.length);
    assert(parser.events.some((e) => e.type === 'base64'), 'no base64 event for the binary pieces');
    assert(parser.events.some((e) => e.type === 'message' && e.data.includes('\n')), 'no multi-line text event');
    assertEq('file', fileOf(srv, 'sse/s.log'), want);

    check('SSE: a reader aborts mid-stream and comes back with Last-Event-ID: exactly the rest, then the end; then 204');
    const url2 = `${srv.url}/sse/resume.log`;
    const app2 = streamingAppend(url2);
    const parts = [];
    for (let i = 0; i < 10; i++) parts.push(Buffer.from(`event line ${i}\n`));
    app2.push(parts[0]);
    await waitFile(srv, 'sse/resume.log', parts[0]);
    const ctrl = new AbortController();
    const first = await fetch(`${url2}?follow=sse`, { signal: ctrl.signal });
    assertEq('first status', first.status, 200);
    const p1 = new SseParser();
    const firstReading = readSse('first SSE connection', first, p1, () => false, 15000).catch((e) => {
        if (e.name !== 'AbortError') throw e;
        return p1;
    });
    let sent = parts[0];
    for (let i = 1; i < 5; i++) {
        app2.push(parts[i]);
        sent = Buffer.concat([sent, parts[i]]);
        await waitFor(() => `event ${i} on the first connection`, () => p1.lastEventId === String(sent.length), 5000);
    }
    ctrl.abort();
    await firstReading;
    const lastId = p1.lastEventId;
    // more is appended while the reader is away
    for (let i = 5; i < 8; i++) {
        app2.push(parts[i]);
        sent = Buffer.concat([sent, parts[i]]);
    }
    await waitFile(srv, 'sse/resume.log', sent);
    const second = await fetch(`${url2}?follow=sse`, { headers: { 'Last-Event-ID': lastId } });
    assertEq('resumed status', second.status, 200);
    assertEq('resumed x-follow-offset', second.headers.get('x-follow-offset'), lastId);
    const p2 = new SseParser();
    const secondReading = readSse('resumed SSE connection', second, p2, () => false, 15000);
    for (let i = 8; i < 10; i++) {
        app2.push(parts[i]);
        sent = Buffer.concat([sent, parts[i]]);
    }
    app2.end();
    assertEq('PUT status', (await within('PUT', app2.response)).status, 201);
    await secondReading;
    const a = sseBytes('before the abort', p1.events, 0);
    const b = sseBytes('after Last-Event-ID', p2.events, Number(lastId));
    assertEq('bytes before + after', Buffer.concat([a.bytes, b.bytes]), sent);
    assertEq('end id', b.endId, sent.length);
    const done = await fetch(`${url2}?follow=sse`, { headers: { 'Last-Event-ID': String(sent.length) } });
    assertEq('Last-Event-ID at the final size, nobody appending', done.status, 204);
}

async function offsetsAndWaitWithWs(srv) {
    check('ws: ?offset=-N, ?lines=N, ?offset=now on a live resource, with X-Follow-Offset in the 101');
    const url = `${srv.wsUrl}/o/o.log`;
    const app = await wsOpen(url, { append: true });
    assert(app.ws, 'appender refused');
    await wsSend(app, 'aa\nbb\ncc\n');
    await waitFile(srv, 'o/o.log', Buffer.from('aa\nbb\ncc\n'));
    const cases = [
        ['?offset=-3&frames=binary', 6],
        ['?lines=2', 3],
        ['?offset=now', 9],
        ['?offset=4', 4],
    ];
    const fs = [];
    for (const [q, at] of cases) {
        const f = await wsOpen(url + q);
        assert(f.ws, `${q}: handshake answered ${f.status}`);
        assertEq(`${q}: X-Follow-Offset`, f.headers['x-follow-offset'], String(at));
        fs.push([q, at, f]);
    }
    const past = await wsOpen(`${url}?offset=10`);
    assertEq('past the end', past.status, 416);
    assertEq('416 content-range', past.headers['content-range'], 'bytes */9');
    await wsSend(app, 'dd\n');
    app.ws.close(1000);
    await within('appender close', app.closedP);
    const all = Buffer.from('aa\nbb\ncc\ndd\n');
    for (const [q, at, f] of fs) {
        const c = await within(`${q}: close`, f.closedP);
        assertEq(`${q}: close code`, c.code, 1000);
        assertEq(`${q}: bytes`, received(f), all.subarray(at));
    }

    check('ws ?wait: 101 at once for a resource not written yet; a fetch PUT creates it; the follower gets it and 1000');
    const w = await wsOpen(`${srv.wsUrl}/o/later.log?wait&frames=binary`);
    assert(w.ws, `?wait handshake answered ${w.status}`);
    const nowait = await wsOpen(`${srv.wsUrl}/o/later2.log`);
    assertEq('no ?wait', nowait.status, 404);
    await sleep(100);
    assertEq('nothing while waiting', received(w).length, 0);
    const put = streamingAppend(`${srv.url}/o/later.log`);
    put.push('created by PUT\n');
    await waitFor('the waiting follower to get the first bytes', () => received(w).length >= 15, 5000);
    put.push('more\n');
    put.end();
    assertEq('PUT', (await within('PUT', put.response)).status, 201);
    const c = await within('waiting follower close', w.closedP);
    assertEq('close code', c.code, 1000);
    assertEq('waited bytes', received(w).toString(), 'created by PUT\nmore\n');
}

async function jsonListing(srv) {
    check('JSON listing (Accept: application/json) parses; sizes, types and the live flag are right');
    const app = streamingAppend(`${srv.url}/list/live.log`);
    app.push('12345');
    await waitFile(srv, 'list/live.log', Buffer.from('12345'));
    let r = await fetch(`${srv.url}/list/done.log`, { method: 'PUT', body: 'abc' });
    await r.text();
    r = await fetch(`${srv.url}/list/sub/x.log`, { method: 'PUT', body: 'x' });
    await r.text();
    r = await fetch(`${srv.url}/list/`, { headers: { Accept: 'application/json' } });
    assertEq('status', r.status, 200);
    assert(/^application\/json/.test(r.headers.get('content-type')), `content-type ${r.headers.get('content-type')}`);
    const j = JSON.parse(await r.text());
    assertEq('path', j.path, '/list/');
    const byName = Object.fromEntries(j.entries.map((e) => [e.name, e]));
    assertEq('names', j.entries.map((e) => e.name).join(','), 'done.log,live.log,sub');
    // each entry also has its modification time (RFC 3339, UTC, milliseconds)
    const noTime = (e) => JSON.stringify({ ...e, mtime: undefined });
    assertEq('done.log', noTime(byName['done.log']), JSON.stringify({ name: 'done.log', type: 'file', size: 3, live: false }));
    assertEq('live.log', noTime(byName['live.log']), JSON.stringify({ name: 'live.log', type: 'file', size: 5, live: true }));
    assertEq('sub type', byName.sub.type, 'dir');
    for (const e of j.entries) {
        assert(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(e.mtime), `${e.name} mtime ${e.mtime}`);
        const disk = Math.floor(require('node:fs').statSync(require('node:path').join(srv.root, 'list', e.name)).mtimeMs);
        assert(Math.abs(Date.parse(e.mtime) - disk) <= 1 || e.live, `${e.name} mtime ${e.mtime}, on disk ${new Date(disk).toISOString()}`);
    }
    app.end();
    await (await within('PUT', app.response)).text();
    r = await fetch(`${srv.url}/list/`, { headers: { Accept: 'application/json' } });
    const j2 = await r.json();
    assertEq('live.log after the PUT', j2.entries.find((e) => e.name === 'live.log').live, false);
}

runMain('test_http_node', async () => {
    const srv = await startServer();
    await followWithFetch(srv);
    await appendWithFetch(srv);
    await sseWithFetch(srv);
    await offsetsAndWaitWithWs(srv);
    await jsonListing(srv);
    await srv.stop();
});
