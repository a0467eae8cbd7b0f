// test_ds_client.js -- the Durable Streams endpoint with the protocol's own client, @durable-streams/client
// (pinned in package-lock.json). Checks, through its public API only:
// - a JSON stream: create, append (one message each, as the client wraps them), a catch-up read of the messages,
//   a live reader over SSE and one over long-poll that see later appends and end when the stream is closed;
// - a text stream read live with textStream(), a binary one (every byte value) with body(), both equal to what the
//   native GET /NAME serves;
// - the idempotent producer: many appends, batched and pipelined, each stored once and in order; after a SIGKILL
//   and a restart the producer's state is still there: a zombie with the old epoch is fenced (StaleEpochError),
//   a restarted producer (next epoch) appends; HEAD reports the closed state;
// - a live long-poll reader that outlives a server crash: it retries, and gets what is appended after the restart.
'use strict';

const { startServer, within, fail, assert, assertEq, runMain } = require('./hfs_server');
const { DurableStream, IdempotentProducer, StaleEpochError, stream } = require('@durable-streams/client');

const quiet = { warnOnHttp: false };

// Collects a StreamResponse's JSON batches until one says the stream is closed. (Its `closed` promise may settle
// before the subscriber has seen the last batch: it only counts for a failure.)
function collectJson(res) {
    const items = [];
    let closedSeen = false;
    const done = new Promise((resolve, reject) => {
        res.subscribeJson(async (batch) => {
            items.push(...batch.items);
            if (batch.streamClosed) {
                closedSeen = true;
                resolve();
            }
        });
        res.closed.catch(reject);
    });
    return { items, done, closed: () => closedSeen };
}

async function jsonStream(srv) {
    const url = `${srv.url}/v1/stream/client-json`;
    const h = await DurableStream.create({ url, contentType: 'application/json', ...quiet });
    await h.append(JSON.stringify({ n: 1 }));
    await h.append(JSON.stringify([1, 2, 3])); // one message: the client wraps it
    await h.append(JSON.stringify('three'));
    const res = await stream({ url, live: false, ...quiet });
    const got = await within('catch-up json', res.json());
    assertEq('catch-up messages', JSON.stringify(got), JSON.stringify([{ n: 1 }, [1, 2, 3], 'three']));

    const sse = collectJson(await stream({ url, live: 'sse', offset: '-1', ...quiet }));
    const lp = collectJson(await stream({ url, live: 'long-poll', offset: '-1', ...quiet }));
    await h.append(JSON.stringify({ n: 4 }));
    await h.append(JSON.stringify({ n: 5 }));
    await h.close({ body: JSON.stringify({ last: true }) });
    await within('SSE reader to end', sse.done, 10000);
    await within('long-poll reader to end', lp.done, 10000);
    const want = JSON.stringify([{ n: 1 }, [1, 2, 3], 'three', { n: 4 }, { n: 5 }, { last: true }]);
    assertEq('SSE messages', JSON.stringify(sse.items), want);
    assertEq('long-poll messages', JSON.stringify(lp.items), want);
    assert(sse.closed() && lp.closed(), 'both readers saw the stream closed');
    const head = await DurableStream.head({ url, ...quiet });
    assert(head.exists && head.streamClosed, `HEAD after close: ${JSON.stringify(head)}`);
    let refused = false;
    try {
        await h.append(JSON.stringify({ late: 1 }));
    } catch {
        refused = true;
    }
    assert(refused, 'an append to the closed stream was accepted');
    // the native view: one compact message a line
    const native = await (await fetch(`${srv.url}/client-json`)).text();
    assertEq('native bytes', native, '{"n":1}\n[1,2,3]\n"three"\n{"n":4}\n{"n":5}\n{"last":true}\n');
}

async function textAndBinary(srv) {
    const turl = `${srv.url}/v1/stream/client-text`;
    const t = await DurableStream.create({ url: turl, contentType: 'text/plain', body: 'first\n', ...quiet });
    const res = await stream({ url: turl, live: 'long-poll', ...quiet });
    const reader = res.textStream().getReader();
    let text = '';
    const readAll = (async () => {
        for (;;) {
            const r = await reader.read();
            if (r.done) return;
            text += r.value;
        }
    })();
    for (let i = 0; i < 20; i++) await t.append(`line ${i} é\n`);
    await t.close();
    await within('text reader to end', readAll, 10000);
    let want = 'first\n';
    for (let i = 0; i < 20; i++) want += `line ${i} é\n`;
    assertEq('text read live', text, want);
    assertEq('text natively', await (await fetch(`${srv.url}/client-text`)).text(), want);

    const burl = `${srv.url}/v1/stream/client-bin`;
    const b = await DurableStream.create({ url: burl, contentType: 'application/octet-stream', ...quiet });
    const bytes = new Uint8Array(4096);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + (i >> 8)) & 255;
    await b.append(bytes.subarray(0, 1000));
    await b.append(bytes.subarray(1000));
    const got = await (await stream({ url: burl, live: false, ...quiet })).body();
    assert(Buffer.compare(Buffer.from(got), Buffer.from(bytes)) === 0, `binary read back (${got.length} bytes)`);
    const nat = Buffer.from(await (await fetch(`${srv.url}/client-bin`)).arrayBuffer());
    assert(Buffer.compare(nat, Buffer.from(bytes)) === 0, 'binary natively');
}

async function producerAcrossACrash(srv) {
    const url = `${srv.url}/v1/stream/client-prod`;
    const h = await DurableStream.create({ url, contentType: 'application/json', ...quiet });
    const errors = [];
    const p = new IdempotentProducer(h, 'writer-1', { epoch: 0, lingerMs: 1, maxInFlight: 4, onError: (e) => errors.push(e) });
    for (let i = 0; i < 500; i++) p.append(JSON.stringify({ i }));
    await within('producer flush', p.flush(), 20000);
    assertEq('producer errors', errors.map(String).join('; '), '');
    let got = await (await stream({ url, live: false, ...quiet })).json();
    assertEq('messages stored', got.length, 500);
    got.forEach((m, k) => {
        if (m.i !== k) fail(`message ${k} is ${JSON.stringify(m)}`);
    });

    await srv.kill9();
    await srv.restart();

    // the old producer (epoch 0) after a new one took over (epoch 1) is fenced, across the restart
    const h2 = new DurableStream({ url, contentType: 'application/json', ...quiet });
    const p2 = new IdempotentProducer(h2, 'writer-1', { epoch: 1, lingerMs: 1 });
    p2.append(JSON.stringify({ i: 500 }));
    await within('new epoch flush', p2.flush(), 10000);
    const zombieErrors = [];
    const zombie = new IdempotentProducer(h2, 'writer-1', { epoch: 0, lingerMs: 1, onError: (e) => zombieErrors.push(e) });
    zombie.append(JSON.stringify({ zombie: true }));
    let fenced = false;
    try {
        await within('zombie flush', zombie.flush(), 10000);
    } catch (e) {
        fenced = e instanceof StaleEpochError;
    }
    fenced = fenced || zombieErrors.some((e) => e instanceof StaleEpochError);
    assert(fenced, `the zombie producer was not fenced: ${zombieErrors.map(String).join('; ')}`);
    await within('producer close', p2.close(JSON.stringify({ i: 501 })), 10000);
    got = await (await stream({ url, live: false, ...quiet })).json();
    assertEq('messages after the restart', got.length, 502);
    assert(!got.some((m) => m.zombie), 'the zombie append is in the stream');
    assertEq('last message', JSON.stringify(got[501]), JSON.stringify({ i: 501 }));
    const head = await DurableStream.head({ url, ...quiet });
    assert(head.exists && head.streamClosed, `HEAD: ${JSON.stringify(head)}`);
}

async function readerAcrossACrash(srv) {
    const url = `${srv.url}/v1/stream/client-crash`;
    const h = await DurableStream.create({ url, contentType: 'text/plain', body: 'before;', ...quiet });
    const res = await stream({
        url,
        live: 'long-poll',
        ...quiet,
        backoffOptions: { initialDelay: 50, maxDelay: 500, multiplier: 2, maxRetries: 200 },
    });
    let text = '';
    let notify = null;
    res.subscribeText(async (chunk) => {
        text += chunk.text;
        if (notify) notify();
    });
    const waitText = (want, ms) =>
        within(`the reader to have "${want}" (has "${text}")`, new Promise((resolve) => {
            const check = () => {
                if (text.includes(want)) resolve();
            };
            notify = check;
            check();
        }), ms);
    await waitText('before;', 5000);
    await srv.kill9();
    await srv.restart();
    await h.append('after;');
    await waitText('after;', 15000);
    assertEq('reader text', text, 'before;after;');
    res.cancel();
}

runMain('test_ds_client', async () => {
    const srv = await startServer(['-long-poll=1s']);
    await jsonStream(srv);
    await textAndBinary(srv);
    await producerAcrossACrash(srv);
    await readerAcrossACrash(srv);
    await srv.stop();
});
