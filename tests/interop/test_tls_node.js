// test_tls_node.js -- https:// and wss:// (-https, -tls-cert, -tls-key) with Node's https, tls and the `ws` package,
// against a test CA made with openssl in a temporary folder:
// - the handshake: TLS 1.2 or later, ALPN http/1.1, the certificate verified against the CA for 127.0.0.1;
// - a GET of a 3 MiB file over TLS, byte for byte (queued file writes), beside the same GET over plain HTTP;
// - an appender over wss:// and followers over wss:// (TEXT and BINARY) and ws://, every byte reaching each,
//   messages of 16 KiB and 1 MiB (batches larger than one record, and than the socket takes at once);
// - a wss:// follower that stops reading while 8 MiB are appended, then reads again: every byte, in order (the
//   server's queued ciphertext and its output bound);
// - SIGHUP with a new certificate (another CA) while the followers stream: they go on, new connections get the new
//   certificate; then a broken certificate file: the reload fails, the log says why, the new one stays;
// - the appender leaves: every follower ends with CLOSE 1000 holding every byte.
'use strict';

const { execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const https = require('node:https');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const tls = require('node:tls');
const WebSocket = require('ws');
const { startServer, waitFor, within, fail, check, assert, assertEq, runMain } = require('./hfs_server');

// A CA and a certificate it signs for 127.0.0.1 and localhost, in dir: NAME-ca.pem, NAME.pem, NAME.key.
function makeCert(dir, name) {
    const f = (s) => path.join(dir, `${name}${s}`);
    const ossl = (args) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    ossl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('-ca.key'), '-out', f('-ca.pem'),
        '-days', '2', '-subj', `/CN=${name} test CA`]);
    ossl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('.key'), '-out', f('.csr'), '-subj', '/CN=localhost']);
    fs.writeFileSync(f('.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
    ossl(['x509', '-req', '-in', f('.csr'), '-CA', f('-ca.pem'), '-CAkey', f('-ca.key'), '-CAcreateserial',
        '-out', f('.pem'), '-days', '2', '-extfile', f('.ext')]);
    return { ca: fs.readFileSync(f('-ca.pem')), cert: f('.pem'), key: f('.key') };
}

function open(url, ca, protocols, headers = {}) {
    return within(`handshake with ${url}`, new Promise((resolve, reject) => {
        const ws = new WebSocket(url, protocols, { ca, headers });
        const rec = { ws, messages: [] };
        rec.closedP = new Promise((res) => ws.on('close', (code) => res(code)));
        ws.on('message', (data) => rec.messages.push(Buffer.from(data)));
        ws.on('error', reject);
        ws.on('open', () => resolve(rec));
        ws.on('unexpected-response', (req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    }));
}

function get(mod, url, ca) {
    return within(`GET ${url}`, new Promise((resolve, reject) => {
        mod.get(url, { ca }, (res) => {
            const chunks = [];
            res.on('data', (c) => chunks.push(c));
            res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks) }));
        }).on('error', reject);
    }), 20000);
}

// The handshake alone: resolves with the socket's protocol, ALPN and the peer certificate's issuer, or rejects.
function handshake(port, ca) {
    return within('TLS handshake', new Promise((resolve, reject) => {
        const s = tls.connect({ host: '127.0.0.1', port, ca, ALPNProtocols: ['h2', 'http/1.1'] }, () => {
            const r = { protocol: s.getProtocol(), alpn: s.alpnProtocol, issuer: s.getPeerCertificate().issuer.CN };
            s.end();
            resolve(r);
        });
        s.on('error', reject);
    }));
}

const send = (ws, data) => new Promise((resolve, reject) => ws.send(data, (err) => (err ? reject(err) : resolve())));
const joined = (rec) => Buffer.concat(rec.messages);

runMain('test_tls_node', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hfs-tls-node.'));
    const one = makeCert(dir, 'one');
    const two = makeCert(dir, 'two');
    const certFile = path.join(dir, 'server.pem');
    const keyFile = path.join(dir, 'server.key');
    fs.copyFileSync(one.cert, certFile);
    fs.copyFileSync(one.key, keyFile);
    const srv = await startServer(['-https=127.0.0.1:0', `-tls-cert=${certFile}`, `-tls-key=${keyFile}`]);
    const m = /listening on https:\/\/[^,\n]*:(\d+),/.exec(srv.log());
    assert(m, `no https listening line in the log: ${srv.log()}`);
    const port = Number(m[1]);
    const base = `https://127.0.0.1:${port}`;
    const wss = `wss://127.0.0.1:${port}`;

    check('the handshake: TLS 1.2 or later, ALPN http/1.1, the certificate of CA one');
    const hs = await handshake(port, one.ca);
    assert(hs.protocol === 'TLSv1.3' || hs.protocol === 'TLSv1.2', `protocol ${hs.protocol}`);
    assertEq('ALPN', hs.alpn, 'http/1.1');
    assertEq('issuer', hs.issuer, 'one test CA');

    check('a 3 MiB file over https:// and over http://, byte for byte');
    const big = crypto.randomBytes(3 << 20);
    fs.writeFileSync(path.join(srv.root, 'big.bin'), big);
    const g1 = await get(https, `${base}/big.bin`, one.ca);
    assertEq('https status', g1.status, 200);
    assert(g1.body.equals(big), `https body: ${g1.body.length} bytes differ`);
    const g2 = await get(http, `${srv.url}/big.bin`);
    assert(g2.body.equals(big), 'http body differs');

    check('an appender over wss://, followers over wss:// (TEXT, BINARY) and ws://');
    const url = '/live/feed.log';
    const app = await open(`${wss}${url}`, one.ca, undefined, { 'X-Verb': 'APPEND' });
    await send(app.ws, 'first\n');
    await waitFor('first on disk', () => fs.existsSync(path.join(srv.root, 'live/feed.log')));
    const fText = await open(`${wss}${url}`, one.ca);
    const fBin = await open(`${wss}${url}`, one.ca, ['binary']);
    const fPlain = await open(`${srv.wsUrl}${url}`);
    const pieces = [Buffer.from('first\n')];
    const chunk16 = Buffer.from('x'.repeat(16383) + '\n');
    for (let i = 0; i < 20; i++) pieces.push(chunk16);
    const mega = Buffer.from(crypto.randomBytes(1 << 19).toString('hex')); // 1 MiB of text
    pieces.push(mega);
    for (const p of pieces.slice(1)) await send(app.ws, p);
    let want = Buffer.concat(pieces);
    const all = () => [fText, fBin, fPlain].every((f) => joined(f).equals(want));
    await waitFor(() => `every follower has ${want.length} bytes (${[fText, fBin, fPlain].map((f) => joined(f).length)})`,
        all, 20000);

    check('a wss:// follower that stops reading while 8 MiB are appended, then reads again, gets every byte');
    const fSlow = await open(`${wss}${url}`, one.ca);
    await waitFor('the slow follower has caught up', () => joined(fSlow).equals(want), 10000);
    fSlow.ws.pause();
    const line = Buffer.from('y'.repeat(65535) + '\n');
    for (let i = 0; i < 128; i++) {
        pieces.push(line);
        await send(app.ws, line);
    }
    want = Buffer.concat(pieces);
    await waitFor('the other followers have the 8 MiB', all, 20000);
    assert(joined(fSlow).length < want.length, 'the paused follower got everything while paused');
    fSlow.ws.resume();
    await waitFor(() => `the slow follower has ${want.length} bytes (${joined(fSlow).length})`,
        () => joined(fSlow).equals(want), 20000);

    check('SIGHUP with the certificate of CA two: the followers go on, new connections get it');
    fs.copyFileSync(two.cert, certFile);
    fs.copyFileSync(two.key, keyFile);
    srv.child.kill('SIGHUP');
    await waitFor('the reload in the log', () => /reload: TLS certificate read/.test(srv.log()));
    const hs2 = await handshake(port, two.ca);
    assertEq('issuer after the reload', hs2.issuer, 'two test CA');
    let refused = null;
    await handshake(port, one.ca).catch((err) => (refused = err));
    assert(refused, 'a client trusting only CA one still connects after the reload');
    const fAfter = await open(`${wss}${url}`, two.ca);
    await send(app.ws, 'after the reload\n');
    pieces.push(Buffer.from('after the reload\n'));
    want = Buffer.concat(pieces);
    await waitFor('every follower has the line after the reload', () => all() && joined(fAfter).equals(want), 10000);

    check('SIGHUP with a broken certificate file: the reload fails and says why, the certificate of CA two stays');
    fs.writeFileSync(certFile, '-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n');
    srv.child.kill('SIGHUP');
    await waitFor('the failed reload in the log', () => /reload failed: the TLS certificate in force stays/.test(srv.log()));
    assert(/TLS: .*server\.pem/.test(srv.log()), `the log does not say why: ${srv.log()}`);
    const hs3 = await handshake(port, two.ca);
    assertEq('issuer after the failed reload', hs3.issuer, 'two test CA');
    await send(app.ws, 'end\n');
    pieces.push(Buffer.from('end\n'));
    want = Buffer.concat(pieces);
    await waitFor('every follower has the last line', () => all() && joined(fAfter).equals(want), 10000);

    check('the appender leaves: every follower ends with CLOSE 1000 and every byte');
    app.ws.close(1000);
    for (const [name, f] of [['wss TEXT', fText], ['wss BINARY', fBin], ['ws', fPlain], ['after the reload', fAfter],
        ['slow', fSlow]]) {
        assertEq(`${name} close code`, await within(`${name} close`, f.closedP), 1000);
        assert(joined(f).equals(want), `${name}: ${joined(f).length} bytes, want ${want.length}`);
    }
    await srv.stop();
    fs.rmSync(dir, { recursive: true, force: true });
});
