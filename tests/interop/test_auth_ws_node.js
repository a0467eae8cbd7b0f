// test_auth_ws_node.js -- access control (docs/SECURITY.md, "Access control") with the `ws` package:
// - an appender and followers admitted with the token in an Authorization header and in ?token= (TEXT and BINARY
//   followers, one over ?follow with Node's fetch), every byte appended reaching each of them, CLOSE 1000 at the end;
// - handshakes refused before any upgrade: 401 with WWW-Authenticate (no credential, an unknown token), 403 (a
//   reader appending, a writer reading outside its prefix), 400 (two tokens), each with a short body that does not
//   echo the token;
// - a Durable Streams stream followed over a WebSocket with a signed URL made with node:crypto;
// - SIGHUP with new rules while the follower streams: it keeps streaming, the old token is refused from then on.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const WebSocket = require('ws');
const { startServer, waitFor, within, fail, check, assert, assertEq, runMain } = require('./hfs_server');

const KEY = 'node key for signed URLs';

// Opens a WebSocket: resolves with { ws, messages, closedP } once open, or { status, headers, body } when the
// handshake is answered with anything but 101.
function connect(url, headers = {}, protocols) {
    return new Promise((resolve, reject) => {
        const ws = new WebSocket(url, protocols, { headers });
        const rec = { ws, messages: [], closed: null };
        rec.closedP = new Promise((res) => ws.on('close', (code) => res((rec.closed = code))));
        ws.on('message', (data) => rec.messages.push(Buffer.from(data)));
        ws.on('error', reject);
        ws.on('open', () => resolve(rec));
        ws.on('unexpected-response', (req, res) => {
            const chunks = [];
            res.on('data', (c) => chunks.push(c));
            res.on('end', () => {
                resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() });
                req.destroy();
            });
        });
    });
}

async function open(url, headers, protocols) {
    const r = await within(`handshake with ${url}`, connect(url, headers, protocols));
    if (!r.ws) fail(`handshake with ${url}: HTTP ${r.status} ${JSON.stringify(r.body)}, want 101`);
    return r;
}

async function refused(url, headers, status) {
    const r = await within(`handshake with ${url}`, connect(url, headers));
    if (r.ws) {
        r.ws.terminate();
        fail(`handshake with ${url}: 101, want ${status}`);
    }
    assertEq(`status for ${url}`, r.status, status);
    if (status === 401) assertEq('WWW-Authenticate', r.headers['www-authenticate'], 'Bearer realm="httpfstream"');
    else assert(!r.headers['www-authenticate'], `WWW-Authenticate on a ${status}`);
    assert(r.body.length > 0 && r.body.length < 64, `body of ${r.body.length} bytes`);
    assert(!/tok|ci\//.test(r.body), `the body echoes the request: ${r.body}`);
    return r;
}

const joined = (rec) => Buffer.concat(rec.messages).toString();

const sigs = []; // every signature made: none may reach the log

function sign(rights, expires, p) {
    const sig = crypto.createHmac('sha256', KEY).update(`httpfstream-sign-v1\n${rights}\n${expires}\n${p}`).digest('base64url');
    sigs.push(sig);
    return `expires=${expires}&rights=${rights}&sig=${sig}`;
}

runMain('test_auth_ws_node', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hfs-auth-node.'));
    const rules = path.join(dir, 'rules');
    const keyFile = path.join(dir, 'key');
    fs.writeFileSync(rules, 'read,append /ci/ writer-tok\nread /ci/ reader-tok\nread,append /other/ other-tok\n');
    fs.writeFileSync(keyFile, KEY + '\n');
    const srv = await startServer([`-auth=${rules}`, `-sign-key=${keyFile}`]);
    const url = `${srv.wsUrl}/ci/build.log`;

    check('an appender with the token in the header; followers with the header and with ?token=');
    const app = await open(url, { 'X-Verb': 'APPEND', Authorization: 'Bearer writer-tok' });
    await new Promise((resolve, reject) => app.ws.send('line 1\n', (err) => (err ? reject(err) : resolve())));
    await waitFor('line 1 on disk', () => fs.existsSync(path.join(srv.root, 'ci/build.log')) &&
        fs.readFileSync(path.join(srv.root, 'ci/build.log'), 'utf8') === 'line 1\n');
    const f1 = await open(url, { Authorization: 'Bearer reader-tok' });
    const f2 = await open(`${url}?token=reader-tok`, {}, ['binary']);
    assertEq('subprotocol', f2.ws.protocol, 'binary');
    const fetched = fetch(`${srv.url}/ci/build.log?follow&token=reader-tok`);
    const res = await within('fetch ?follow', fetched);
    assertEq('fetch ?follow status', res.status, 200);
    const reader = res.body.getReader();
    let httpText = '';
    const pump = (async () => {
        for (;;) {
            const { done, value } = await reader.read();
            if (done) return;
            httpText += Buffer.from(value).toString();
        }
    })();
    await waitFor('the followers have line 1', () => joined(f1) === 'line 1\n' && joined(f2) === 'line 1\n' && httpText === 'line 1\n');

    check('handshakes refused before any upgrade: 401, 403, 400');
    await refused(url, {}, 401);
    await refused(`${url}?token=nobody`, {}, 401);
    await refused(url, { Authorization: 'Bearer nobody' }, 401);
    await refused(url, { 'X-Verb': 'APPEND', Authorization: 'Bearer reader-tok' }, 403);
    await refused(`${url}?verb=APPEND&token=reader-tok`, {}, 403);
    await refused(url, { Authorization: 'Bearer other-tok' }, 403);
    await refused(`${url}?token=a&token=b`, {}, 400);
    await refused(url, { Authorization: 'Token reader-tok' }, 400);

    check('SIGHUP with new rules: the followers go on, the old reader token is refused, a new one admitted');
    fs.writeFileSync(rules, 'read,append /ci/ writer-tok\nread /ci/ new-reader\n');
    srv.child.kill('SIGHUP');
    await waitFor('the reload in the log', () => /reload: access rules read/.test(srv.log()));
    await refused(`${url}?token=reader-tok`, {}, 401);
    const f3 = await open(`${url}?token=new-reader`);
    await waitFor('the new follower has line 1', () => joined(f3) === 'line 1\n');
    await new Promise((resolve, reject) => app.ws.send(Buffer.from('line 2\n'), (err) => (err ? reject(err) : resolve())));
    const want = 'line 1\nline 2\n';
    await waitFor('every follower has line 2', () => joined(f1) === want && joined(f2) === want && joined(f3) === want &&
        httpText === want);

    check('the appender leaves: every follower ends with CLOSE 1000 (the HTTP one with its last chunk)');
    app.ws.close(1000);
    await within('appender close', app.closedP);
    for (const [name, f] of [['header', f1], ['?token=', f2], ['after the reload', f3]]) {
        assertEq(`${name} close code`, await within(`${name} close`, f.closedP), 1000);
        assertEq(`${name} bytes`, joined(f), want);
    }
    await within('the HTTP follower ends', pump);
    assertEq('HTTP follower bytes', httpText, want);

    check('a Durable Streams stream followed over a WebSocket with a signed URL (node:crypto)');
    fs.writeFileSync(rules, 'read,append /v1/stream/ writer-tok\n');
    srv.child.kill('SIGHUP');
    await waitFor('the second reload', () => (srv.log().match(/reload: access rules read/g) || []).length === 2);
    const put = await fetch(`${srv.url}/v1/stream/job`, {
        method: 'PUT', headers: { 'Content-Type': 'text/plain', Authorization: 'Bearer writer-tok' }, body: 'first',
    });
    assertEq('DS PUT', put.status, 201);
    const exp = Math.floor(Date.now() / 1000) + 600;
    const ds = await open(`${srv.wsUrl}/v1/stream/job?frames=binary&${sign('read', exp, '/v1/stream/job')}`);
    await waitFor('the stream follower has its bytes', () => joined(ds) === 'first');
    const post = await fetch(`${srv.url}/v1/stream/job?token=writer-tok`, {
        method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: ' second',
    });
    assertEq('DS POST', post.status, 204);
    await waitFor('the stream follower has the append', () => joined(ds) === 'first second');
    await refused(`${srv.wsUrl}/v1/stream/job?${sign('read', exp, '/v1/stream/other')}`, {}, 403);
    await refused(`${srv.wsUrl}/v1/stream/job?${sign('read', exp - 1000, '/v1/stream/job')}`, {}, 403);
    ds.ws.close(1000);
    await within('stream follower close', ds.closedP);

    check('the log holds no token, no signature, no Authorization header');
    const log = srv.log();
    assert(/token=REDACTED/.test(log) && /sig=REDACTED/.test(log), `no redacted lines in the log:\n${log}`);
    for (const secret of ['writer-tok', 'reader-tok', 'new-reader', 'other-tok', 'nobody', 'Bearer', 'Authorization', ...sigs]) {
        assert(!log.includes(secret), `"${secret}" in the log:\n${log}`);
    }
    await srv.stop();
    fs.rmSync(dir, { recursive: true, force: true });
});
