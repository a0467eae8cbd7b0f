// test_ws_node.js -- interoperability with the `ws` package (a strict, widely used Node WebSocket client)
// and Node's built-in fetch. Checks APPEND and FOLLOW as specified in PROTOCOL.md: text and binary
// followers, text and binary (and fragmented) appends, close codes, 403/200/404 handshake answers (101 for a finished
// resource when a frame type is asked for), ping/pong,
// UTF-8 never split inside a character in text frames, the message size limit (1009), and the static
// responses for plain GETs.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const WebSocket = require('ws');
const { startServer, sleep, waitFor, within, fail, check, assert, assertEq, runMain } = require('./hfs_server');

// Opens a WebSocket. Resolves with a record { ws, messages, errors, closed, closedP } once open, or with
// { status, headers, body } when the server answers the handshake with anything but 101. Rejects on error.
function connect(url, { append = false, protocols, headers = {}, ...options } = {}) {
    return new Promise((resolve, reject) => {
        const h = { ...headers };
        if (append) h['X-Verb'] = 'APPEND';
        const ws = new WebSocket(url, protocols, { headers: h, ...options });
        const rec = { ws, messages: [], errors: [], closed: null };
        rec.closedP = new Promise((res) => {
            ws.on('close', (code, reason) => {
                rec.closed = { code, reason: reason.toString() };
                res(rec.closed);
            });
        });
        ws.on('message', (data, isBinary) => rec.messages.push({ data: Buffer.from(data), isBinary }));
        ws.on('error', (err) => {
            rec.errors.push(err);
            reject(err);
        });
        ws.on('open', () => resolve(rec));
        ws.on('unexpected-response', (req, res) => {
            const chunks = [];
            res.on('data', (c) => chunks.push(c));
            res.on('end', () => {
                resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) });
                req.destroy();
            });
            res.on('error', reject);
        });
    });
}

async function open(url, opts) {
    const r = await within(`WebSocket handshake with ${url}`, connect(url, opts));
    if (!r.ws) fail(`handshake with ${url}: want 101, got HTTP ${r.status} ${JSON.stringify(r.body.toString())}`);
    return r;
}

async function refused(url, opts) {
    const r = await within(`WebSocket handshake with ${url}`, connect(url, opts));
    if (r.ws) {
        r.ws.terminate();
        fail(`handshake with ${url}: got 101 (protocol '${r.ws.protocol}'), want an HTTP answer`);
    }
    return r;
}

function received(rec) {
    return Buffer.concat(rec.messages.map((m) => m.data));
}

// Waits until the record has received at least `want` (a prefix check, then an exact one at the end).
async function waitReceived(what, rec, want, ms = 5000) {
    await waitFor(() => `${what} to receive ${want.length} bytes (has ${received(rec).length})`, () => {
        if (rec.errors.length) fail(`${what}: ws error: ${rec.errors[0].message}`);
        return received(rec).length >= want.length;
    }, ms);
    assertEq(`${what}: bytes received`, received(rec), want);
}

// Sends a ping and waits for the matching pong: afterwards every frame sent before it has been read by the
// server (the server handles a connection's frames in order).
let pingSeq = 0;
function roundTrip(rec, ms = 5000) {
    const payload = Buffer.from(`rt-${++pingSeq}`);
    return within(`pong for ping ${payload}`, new Promise((resolve, reject) => {
        const onPong = (data) => {
            if (Buffer.from(data).equals(payload)) {
                rec.ws.off('pong', onPong);
                resolve();
            }
        };
        rec.ws.on('pong', onPong);
        rec.ws.ping(payload, undefined, (err) => err && reject(err));
    }), ms);
}

function send(rec, data, options = {}) {
    return new Promise((resolve, reject) => rec.ws.send(data, options, (err) => (err ? reject(err) : resolve())));
}

async function closeOf(what, rec, ms = 5000) {
    return within(`${what} to be closed`, rec.closedP, ms);
}

function allText(what, rec) {
    rec.messages.forEach((m, i) => assert(!m.isBinary, `${what}: message ${i} is BINARY, want TEXT`));
}

function allBinary(what, rec) {
    rec.messages.forEach((m, i) => assert(m.isBinary, `${what}: message ${i} is TEXT, want BINARY`));
}

async function main() {
    await fetchChecks();
    const srv = await startServer();
    const ws = srv.wsUrl;

    check('ws appender (text, binary, empty, fragmented messages) and a ws TEXT follower without subprotocol');
    const url = `${ws}/live/dir/text.txt`;
    const app = await open(url, { append: true });
    assertEq('appender subprotocol', app.ws.protocol, '');
    assertEq('extensions negotiated (ws offers permessage-deflate; the server has none)', app.ws.extensions, '');
    let want = Buffer.alloc(0);
    const appendAll = async (parts) => {
        for (const p of parts) {
            await send(app, p.data, p.options);
            want = Buffer.concat([want, Buffer.from(p.data)]);
        }
    };
    await appendAll([
        { data: 'hello from ws\n' },
        { data: Buffer.from('a binary frame\n'), options: { binary: true } },
        { data: '' },
    ]);
    await roundTrip(app);
    assert(fs.existsSync(path.join(srv.root, 'live/dir/text.txt')), 'APPEND did not create live/dir/text.txt');
    const fol = await open(url);
    assertEq('follower subprotocol', fol.ws.protocol, '');
    assertEq('follower extensions', fol.ws.extensions, '');
    const folBin = await open(`${url}?frames=binary`);
    await waitReceived('text follower (bytes appended before it joined)', fol, want);
    await appendAll([
        { data: 'fragment one|', options: { fin: false } },
        { data: 'fragment two|', options: { fin: false } },
        { data: 'fragment three\n', options: { fin: true } },
        { data: Buffer.from('binary again, after the follower joined\n'), options: { binary: true } },
        { data: 'x'.repeat(100000) + '\n' },
        { data: 'last line\n' },
    ]);
    await waitReceived('text follower', fol, want);
    allText('text follower', fol);
    await waitReceived('?frames=binary follower', folBin, want);
    allBinary('?frames=binary follower', folBin);
    for (const [who, rec] of [['text follower', fol], ['binary follower', folBin]]) {
        rec.messages.forEach((m, i) =>
            assert(m.data.length <= 8192, `${who}: message ${i} has ${m.data.length} bytes, want <= 8 KiB (default -frame-max)`));
    }

    check('a plain GET (fetch) of a live resource answers 200 with the snapshot so far');
    let r = await fetch(`${srv.url}/live/dir/text.txt`);
    assertEq('status', r.status, 200);
    assertEq('snapshot body', Buffer.from(await r.arrayBuffer()), want);

    check('a second ws appender gets HTTP 403 (unexpected-response) with the conflict body, and the first keeps working');
    r = await refused(url, { append: true });
    assertEq('second appender status', r.status, 403);
    assertEq('403 body', r.body.toString(), 'addWriter: path already has an active writer\n');
    assertEq('403 content-type', r.headers['content-type'], 'text/plain; charset=utf-8');
    await appendAll([{ data: 'after the 403\n' }]);
    await waitReceived('text follower after the 403', fol, want);

    check('ws ping gets a pong with the same payload, from an appender and from a follower');
    for (const [who, rec] of [['appender', app], ['follower', fol]]) {
        for (const payload of [Buffer.from('ping-' + who), Buffer.alloc(0), Buffer.alloc(125, 0xa5)]) {
            const got = await within(`${who} pong`, new Promise((resolve) => {
                rec.ws.once('pong', (d) => resolve(Buffer.from(d)));
                rec.ws.ping(payload);
            }));
            assertEq(`${who} pong payload`, got, payload);
        }
    }

    check('data frames from a follower are discarded (nothing appended)');
    await send(fol, 'follower junk that must not be appended');
    await roundTrip(fol);
    await appendAll([{ data: 'tail\n' }]);
    await waitReceived('text follower', fol, want);

    check('appender close(4000) is echoed with 4000; then every follower gets every byte and CLOSE 1000');
    app.ws.close(4000, 'appender done');
    assertEq('appender close code', (await closeOf('appender', app)).code, 4000);
    assertEq('text follower close code', (await closeOf('text follower', fol)).code, 1000);
    assertEq('text follower: everything appended', received(fol), want);
    assertEq('binary follower close code', (await closeOf('binary follower', folBin)).code, 1000);
    assertEq('binary follower: everything appended', received(folBin), want);
    assertEq('file on disk', fs.readFileSync(path.join(srv.root, 'live/dir/text.txt')), want);
    assert(fol.errors.length === 0 && folBin.errors.length === 0, 'a follower saw a ws error');

    check('a ws follower of a resource without appender that asks for no frame type gets HTTP 200 with the whole file');
    for (const u of [url, `${url}?frames=bogus`]) {
        r = await refused(u);
        assertEq(`status for ${u}`, r.status, 200);
        assertEq(`body for ${u}`, r.body, want);
        assertEq(`content-length for ${u}`, r.headers['content-length'], String(want.length));
    }

    check('one that asks for a frame type (query or subprotocol) gets 101, the whole file, then CLOSE 1000');
    for (const [u, opts, protocol, binary] of [
        [`${url}?frames=binary`, {}, '', true],
        [`${url}?frames=text`, {}, '', false],
        [url, { protocols: ['binary'] }, 'binary', true],
        [url, { protocols: ['text'] }, 'text', false],
    ]) {
        const what = `${u} ${JSON.stringify(opts)}`;
        const rec = await open(u, opts);
        assertEq(`${what}: subprotocol chosen by the server`, rec.ws.protocol, protocol);
        assertEq(`${what}: close code`, (await closeOf(what, rec)).code, 1000);
        assertEq(`${what}: bytes`, received(rec), want);
        (binary ? allBinary : allText)(what, rec);
    }

    check('a ws follower of a never-written resource gets HTTP 404 "404 page not found"');
    for (const u of [`${ws}/never/written.txt`, `${ws}/never/written.txt?frames=binary`]) {
        r = await refused(u);
        assertEq(`status for ${u}`, r.status, 404);
        assertEq(`body for ${u}`, r.body.toString(), '404 page not found\n');
        assertEq(`content-type for ${u}`, r.headers['content-type'], 'text/plain; charset=utf-8');
    }
    assert(!fs.existsSync(path.join(srv.root, 'never')), 'a follower handshake created something');

    check('BINARY followers via ?frames=binary and via subprotocol "binary" get arbitrary bytes');
    const burl = `${ws}/bin/all-bytes`;
    const bapp = await open(burl, { append: true });
    const bytes = Buffer.alloc(256 * 4);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + 3) & 0xff;
    await send(bapp, bytes.subarray(0, 300), { binary: true });
    await roundTrip(bapp);
    const bq = await open(`${burl}?frames=binary`);
    const bp = await open(burl, { protocols: ['binary'] });
    assertEq('subprotocol chosen by the server', bp.ws.protocol, 'binary');
    await send(bapp, bytes.subarray(300, 700), { binary: true });
    await send(bapp, bytes.subarray(700), { binary: false }); // raw bytes in a TEXT frame: appended unchecked
    bapp.ws.close(1000);
    assertEq('binary appender close code', (await closeOf('binary appender', bapp)).code, 1000);
    for (const [who, rec] of [['?frames=binary follower', bq], ['subprotocol follower', bp]]) {
        assertEq(`${who} close code`, (await closeOf(who, rec)).code, 1000);
        assertEq(`${who} bytes`, received(rec), bytes);
        allBinary(who, rec);
    }

    check('multi-byte UTF-8 appended one byte per message arrives at a ws TEXT follower as valid text');
    const text = 'aé€𝄞üñ漢字😀z\u07ff\u0800\uffff\u{10000}\u{10ffff}end';
    const tb = Buffer.from(text, 'utf8');
    const uurl = `${ws}/utf8/split.txt`;
    const uapp = await open(uurl, { append: true });
    const ufol = await open(uurl);
    let ufolLate = null;
    for (let i = 0; i < tb.length; i++) {
        // alternate BINARY and TEXT frames; a TEXT frame holding part of a character is fine for the server
        await send(uapp, tb.subarray(i, i + 1), { binary: i % 2 === 0 });
        await roundTrip(uapp); // the server has this byte before the next one is sent
        if (tb[i] === 0xf0 && ufolLate === null) {
            // a follower that joins while the file ends inside a character
            ufolLate = await open(uurl);
        }
    }
    uapp.ws.close(1000);
    await closeOf('utf8 appender', uapp);
    for (const [who, rec] of [['follower', ufol], ['follower that joined mid-character', ufolLate]]) {
        const c = await closeOf(who, rec);
        assert(rec.errors.length === 0, `${who}: ws error (invalid UTF-8 in a TEXT frame?): ${rec.errors[0] && rec.errors[0].message}`);
        assertEq(`${who} close code`, c.code, 1000);
        allText(who, rec);
        assertEq(`${who} text`, received(rec).toString('utf8'), text);
        // ws validated every message; check it independently too
        rec.messages.forEach((m, i) =>
            assertEq(`${who} message ${i} is whole characters`, Buffer.from(m.data.toString('utf8'), 'utf8'), m.data));
    }

    check('a data frame sent by a ws follower and its close(4001) are answered (CLOSE echoed, no 1006)');
    const eurl = `${ws}/echo/close.txt`;
    const eapp = await open(eurl, { append: true });
    const efol = await open(eurl);
    efol.ws.close(4001, 'follower leaves');
    const ec = await closeOf('follower closing itself', efol);
    assert(ec.code !== 1006, `follower close: got 1006 (no CLOSE from the server)`);
    await send(eapp, 'still appending after a follower left\n');
    await roundTrip(eapp);
    eapp.ws.close();
    await closeOf('appender closing without code', eapp);

    check('a follower still behind when the appender closes gets every byte, then CLOSE 1000 (10 rounds)');
    for (let round = 0; round < 10; round++) {
        const lurl = `${srv.wsUrl}/lag/round${round}.txt`;
        const lapp = await open(lurl, { append: true });
        const lfol = await open(lurl);
        // odd rounds: a small last message and the CLOSE in the same write, so the server reads both at once;
        // even rounds: a big one the follower is still receiving when the CLOSE arrives
        const lwant = Buffer.alloc(round % 2 ? 10 : 256 * 1024, 0x30 + round);
        lapp.ws.send(lwant);
        lapp.ws.close(1000);
        await closeOf('lagging appender', lapp);
        const lc = await within(`round ${round}: CLOSE 1000 after the last byte`, lfol.closedP).catch((err) => {
            fail(`${err.message} (follower has ${received(lfol).length} of ${lwant.length} bytes, no CLOSE)`);
        });
        assertEq(`round ${round}: follower close code`, lc.code, 1000);
        assertEq(`round ${round}: follower bytes`, received(lfol), lwant);
    }
    await srv.stop();

    check('-max-message: an appender message over the limit closes with 1009; bytes before it stay');
    const small = await startServer(['-max-message=1000']);
    const murl = `${small.wsUrl}/max/msg.txt`;
    const mapp = await open(murl, { append: true });
    const mfol = await open(murl);
    await send(mapp, 'ok\n');
    await send(mapp, Buffer.alloc(1000, 0x61), { binary: true }); // exactly the limit: accepted
    await send(mapp, 'y'.repeat(2000));
    assertEq('appender close code for an oversized message', (await closeOf('oversized appender', mapp)).code, 1009);
    const mwant = Buffer.concat([Buffer.from('ok\n'), Buffer.alloc(1000, 0x61)]);
    assertEq('follower close code after the appender was cut off', (await closeOf('follower', mfol)).code, 1000);
    assertEq('follower bytes', received(mfol), mwant);
    assertEq('file after the 1009', fs.readFileSync(path.join(small.root, 'max/msg.txt')), mwant);
    check('-max-message: a fragmented message over the limit also closes with 1009; the slot is released');
    const mapp2 = await open(murl, { append: true });
    await send(mapp2, 'z'.repeat(600), { fin: false });
    await send(mapp2, 'z'.repeat(600), { fin: true });
    assertEq('close code for an oversized fragmented message', (await closeOf('fragmented', mapp2)).code, 1009);
    const mapp3 = await open(murl, { append: true });
    mapp3.ws.close(1000);
    await closeOf('third appender', mapp3);
    await small.stop();

    check('-ping=100ms: idle appender and follower get server PINGs, ws answers them, both stay connected');
    const ps = await startServer(['-ping=100ms']);
    const purl = `${ps.wsUrl}/ping/idle.txt`;
    const papp = await open(purl, { append: true });
    const pfol = await open(purl);
    const pings = { appender: 0, follower: 0 };
    papp.ws.on('ping', () => pings.appender++);
    pfol.ws.on('ping', () => pings.follower++);
    await waitFor(() => `two server pings to each idle peer (got ${JSON.stringify(pings)})`,
        () => pings.appender >= 2 && pings.follower >= 2, 5000);
    assert(papp.closed === null && pfol.closed === null, 'an idle peer was disconnected');
    await send(papp, 'after idling\n');
    await waitReceived('follower after idling', pfol, Buffer.from('after idling\n'));
    papp.ws.close(1000);
    assertEq('idle follower close code', (await closeOf('idle follower', pfol)).code, 1000);
    await ps.stop();

    check('-frame-max=7: a TEXT follower of 4-byte characters gets frames of at most 7 bytes, never split characters');
    const fm = await startServer(['-frame-max=7']);
    const furl = `${fm.wsUrl}/frame/max.txt`;
    const fapp = await open(furl, { append: true });
    const ffol = await open(furl);
    const ftext = ('😀é€a' + '𝄞'.repeat(5) + 'bc').repeat(50);
    await send(fapp, ftext);
    await send(fapp, Buffer.from(ftext), { binary: true });
    fapp.ws.close(1000);
    assertEq('follower close code', (await closeOf('frame-max follower', ffol)).code, 1000);
    assert(ffol.errors.length === 0, `frame-max follower: ws error: ${ffol.errors[0] && ffol.errors[0].message}`);
    assertEq('frame-max follower text', received(ffol).toString('utf8'), ftext + ftext);
    ffol.messages.forEach((m, i) =>
        assert(m.data.length >= 1 && m.data.length <= 7, `message ${i} has ${m.data.length} bytes, want 1..7`));
    allText('frame-max follower', ffol);
    await fm.stop();
}

async function fetchChecks() {
    const srv = await startServer();
    const base = srv.url;
    const ws = srv.wsUrl;
    check('fetch: a finished resource is served as a static file (200 and its headers)');
    const body = 'line one\nline two\n';
    const app = await open(`${ws}/static/file.txt`, { append: true });
    await send(app, body);
    app.ws.close(1000);
    await closeOf('appender', app);
    let r = await fetch(`${base}/static/file.txt`);
    assertEq('status', r.status, 200);
    assertEq('body', await r.text(), body);
    assertEq('content-length', r.headers.get('content-length'), String(body.length));
    assertEq('content-type', r.headers.get('content-type'), 'text/plain; charset=utf-8');
    assertEq('accept-ranges', r.headers.get('accept-ranges'), 'bytes');
    const lastModified = r.headers.get('last-modified');
    const etag = r.headers.get('etag');
    assert(lastModified && !Number.isNaN(Date.parse(lastModified)), `bad last-modified: ${lastModified}`);
    assert(etag && /^(W\/)?"[^"]*"$/.test(etag), `bad etag: ${etag}`);

    check('fetch: HEAD answers 200 with the headers of GET and no body');
    r = await fetch(`${base}/static/file.txt`, { method: 'HEAD' });
    assertEq('HEAD status', r.status, 200);
    assertEq('HEAD content-length', r.headers.get('content-length'), String(body.length));
    assertEq('HEAD etag', r.headers.get('etag'), etag);
    assertEq('HEAD body', await r.text(), '');

    check('fetch: Range gives 206 with Content-Range; an unsatisfiable one 416 with bytes */SIZE');
    r = await fetch(`${base}/static/file.txt`, { headers: { Range: 'bytes=5-7' } });
    assertEq('range status', r.status, 206);
    assertEq('range body', await r.text(), body.slice(5, 8));
    assertEq('content-range', r.headers.get('content-range'), `bytes 5-7/${body.length}`);
    r = await fetch(`${base}/static/file.txt`, { headers: { Range: 'bytes=-4' } });
    assertEq('suffix range status', r.status, 206);
    assertEq('suffix range body', await r.text(), body.slice(-4));
    r = await fetch(`${base}/static/file.txt`, { headers: { Range: 'bytes=1000-' } });
    assertEq('unsatisfiable range status', r.status, 416);
    assertEq('416 content-range', r.headers.get('content-range'), `bytes */${body.length}`);
    await r.arrayBuffer();

    check('fetch: If-None-Match with the ETag and If-Modified-Since with Last-Modified give 304');
    r = await fetch(`${base}/static/file.txt`, { headers: { 'If-None-Match': etag } });
    assertEq('If-None-Match status', r.status, 304);
    assertEq('304 body', await r.text(), '');
    r = await fetch(`${base}/static/file.txt`, { headers: { 'If-Modified-Since': lastModified } });
    assertEq('If-Modified-Since status', r.status, 304);
    await r.arrayBuffer();
    r = await fetch(`${base}/static/file.txt`, { headers: { 'If-None-Match': '"something-else"' } });
    assertEq('If-None-Match with another tag', r.status, 200);
    await r.arrayBuffer();

    check('fetch: a never-written resource gives 404 "404 page not found"');
    r = await fetch(`${base}/static/missing.txt`);
    assertEq('404 status', r.status, 404);
    assertEq('404 body', await r.text(), '404 page not found\n');
    assertEq('404 content-type', r.headers.get('content-type'), 'text/plain; charset=utf-8');

    check('fetch: DELETE, PATCH and OPTIONS give 405 with an Allow header (PUT and POST append)');
    for (const method of ['DELETE', 'PATCH', 'OPTIONS']) {
        r = await fetch(`${base}/static/file.txt`, { method, body: method === 'PATCH' ? 'x' : undefined });
        assertEq(`${method} status`, r.status, 405);
        const allow = (r.headers.get('allow') || '').split(',').map((s) => s.trim());
        assert(allow.includes('GET') && allow.includes('HEAD'), `${method}: Allow is [${r.headers.get('allow')}]`);
        await r.arrayBuffer();
    }
    assertEq('file unchanged by the 405s', fs.readFileSync(path.join(srv.root, 'static/file.txt'), 'utf8'), body);

    check('fetch: a plain GET with verb APPEND gets 426 with Upgrade: websocket and creates nothing');
    for (const [u, headers] of [[`${base}/static/new.txt?verb=APPEND`, {}], [`${base}/static/new2.txt`, { 'X-Verb': 'APPEND' }]]) {
        r = await fetch(u, { headers });
        assertEq(`${u} status`, r.status, 426);
        assertEq(`${u} Upgrade header`, (r.headers.get('upgrade') || '').toLowerCase(), 'websocket');
        await r.arrayBuffer();
    }
    assert(!fs.existsSync(path.join(srv.root, 'static/new.txt')), '426 created static/new.txt');
    assert(!fs.existsSync(path.join(srv.root, 'static/new2.txt')), '426 created static/new2.txt');

    check('fetch: binary content without extension is application/octet-stream; text is text/plain');
    const bapp = await open(`${ws}/static/blob`, { append: true });
    await send(bapp, Buffer.from([0, 1, 2, 0xff, 0xfe, 0, 0x80]), { binary: true });
    bapp.ws.close(1000);
    await closeOf('blob appender', bapp);
    r = await fetch(`${base}/static/blob`);
    assertEq('blob content-type', r.headers.get('content-type'), 'application/octet-stream');
    assertEq('blob body', Buffer.from(await r.arrayBuffer()), Buffer.from([0, 1, 2, 0xff, 0xfe, 0, 0x80]));

    check('fetch: a directory redirects to dir/ and dir/ lists its entries');
    r = await fetch(`${base}/static`, { redirect: 'manual' });
    assertEq('directory status', r.status, 301);
    // "static/" (relative, as the seed) or "/static/": both must resolve to the directory URL
    assertEq('directory location', new URL(r.headers.get('location') || '', `${base}/static`).href, `${base}/static/`);
    await r.arrayBuffer();
    r = await fetch(`${base}/static/`);
    assertEq('listing status', r.status, 200);
    const listing = await r.text();
    for (const name of ['file.txt', 'blob']) {
        assert(listing.includes(`href="${name}"`), `listing lacks ${name}: ${listing}`);
    }
    await srv.stop();
}

runMain('test_ws_node', main);
