#!/usr/bin/env node
// viewer.js -- the live viewer on a huge log, in headless Chromium (playwright-core, from
// tests/interop/node_modules). Not part of the test suite (it takes a minute or two and a GiB of
// memory); run it with
//
//   node bench/viewer.js [BUILD]            (or: make bench BENCH_ARGS=viewer)
//
// It starts build/bin/httpfstream-server on a loopback port of its own (port 0) with a fresh temp
// root, writes a log of 100 MB (1.5 million lines, ANSI colours on every line, a ::group:: every
// 5,000 lines), holds it open with a WebSocket appender (so the page follows it live), and
// measures, in the page:
//   - time to first lines on screen (from the start of the navigation; goal < 1 s)
//   - time until the whole log is loaded (all of it in the model), and then until a search for a
//     word in the last line has its answer (goal: both < 10 s)
//   - the JS heap after loading (CDP Runtime.getHeapUsage after a garbage collection; goal < 400 MB)
//   - a scroll from the top to the bottom, a step per frame (600 frames): frame times and long tasks
//     (PerformanceObserver 'longtask'; goal: none over 100 ms)
//   - the same while 1,000 lines/s are appended live, and 5 s of following the bottom at that rate
// The server is stopped by its pid (SIGTERM) at the end; the root is removed. Prints a markdown
// table with MET/MISSED against the goals, and the figures as JSON.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const ROOT = path.resolve(__dirname, '..');
const build = path.resolve(ROOT, process.argv[2] || 'build');
process.env.HFS_BIN = process.env.HFS_BIN || path.join(build, 'bin');
const { startServer, within } = require(path.join(ROOT, 'tests/interop/hfs_server'));
const { wsAppender } = require(path.join(ROOT, 'tests/interop/viewer_lib'));
const { chromium } = require(path.join(ROOT, 'tests/interop/node_modules/playwright-core'));

const LINES = +(process.env.LINES || 1500000);
const TARGET = +(process.env.BYTES || 100 * 1000 * 1000);
const CHROMIUM = process.env.HFS_CHROMIUM || '/usr/bin/chromium';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// 1.5 M lines of about 67 bytes: a time, a coloured level, a worker, a message, padding.
function writeLog(file) {
    const fd = fs.openSync(file, 'w');
    const levels = ['\x1b[32mINFO\x1b[0m', '\x1b[33mWARN\x1b[0m', '\x1b[36mDEBUG\x1b[0m', '\x1b[1;31mERROR\x1b[0m'];
    const avg = TARGET / LINES;
    let parts = [];
    let size = 0;
    let total = 0;
    for (let i = 1; i <= LINES; i++) {
        let line;
        if (i % 5000 === 1) line = `::group::batch ${(i - 1) / 5000 + 1}`;
        else if (i % 5000 === 0) line = '::endgroup::';
        else if (i === LINES - 1) line = 'the last word: zanzibar';
        else {
            const s = i % 86400;
            const t = `${String(Math.floor(s / 3600)).padStart(2, '0')}:${String(Math.floor(s / 60) % 60).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
            line = `${t} ${levels[i % 7 === 0 ? 1 : i % 13 === 0 ? 2 : i % 101 === 0 ? 3 : 0]} [w${i % 8}] item ${i} done`;
            const want = Math.round(avg * i) - total - 1 - Buffer.byteLength(line);
            if (want > 0) line += ' ' + 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(3).slice(0, want - 1);
        }
        line += '\n';
        parts.push(line);
        size += line.length;
        total += line.length;
        if (size > 1 << 20) {
            fs.writeSync(fd, parts.join(''));
            parts = [];
            size = 0;
        }
    }
    fs.writeSync(fd, parts.join(''));
    fs.closeSync(fd);
    return total;
}

// In the page: steps the scroller from top to bottom, one step per frame; frame times and long tasks.
async function scrollRun(page, frames) {
    return page.evaluate(async (n) => {
        const sc = document.getElementById('scroller');
        const long = [];
        const longAt = [];
        const obs = new PerformanceObserver((list) => { for (const e of list.getEntries()) { long.push(e.duration); longAt.push(e.startTime); } });
        obs.observe({ type: 'longtask', buffered: false });
        const frame = () => new Promise((r) => requestAnimationFrame(r));
        const startAt = performance.now();
        await frame();
        const times = [];
        let last = performance.now();
        const max = () => sc.scrollHeight - sc.clientHeight;
        let shown = 0;
        for (let i = 0; i <= n; i++) {
            sc.scrollTop = Math.round((max() * i) / n);
            await frame();
            const now = performance.now();
            times.push(now - last);
            last = now;
            if (document.querySelectorAll('#rows .row').length) shown++;
        }
        await new Promise((r) => setTimeout(r, 200));
        obs.disconnect();
        const endAt = performance.now();
        times.sort((a, b) => a - b);
        const q = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))];
        // where in the run the long tasks were: 0 the first frame, 1 the last
        const where = longAt.map((t) => Math.round(((t - startAt) / (endAt - startAt)) * 100) / 100);
        const lastRow = document.querySelector('#rows .row:last-child');
        return { frames: times.length, p50: q(0.5), p95: q(0.95), max: times[times.length - 1], longTasks: long.length,
            longMax: long.length ? Math.max(...long) : 0, longWhere: where, framesWithRows: shown, lastLine: lastRow ? +lastRow.dataset.line + 1 : 0 };
    }, frames);
}

async function followRun(page, ms) {
    return page.evaluate(async (dur) => {
        const long = [];
        const obs = new PerformanceObserver((list) => { for (const e of list.getEntries()) long.push(e.duration); });
        obs.observe({ type: 'longtask', buffered: false });
        const times = [];
        let last = performance.now();
        const end = last + dur;
        while (performance.now() < end) {
            await new Promise((r) => requestAnimationFrame(r));
            const now = performance.now();
            times.push(now - last);
            last = now;
        }
        obs.disconnect();
        times.sort((a, b) => a - b);
        return { frames: times.length, p50: times[times.length >> 1], p95: times[Math.floor(times.length * 0.95)], max: times[times.length - 1],
            longTasks: long.length, longMax: long.length ? Math.max(...long) : 0 };
    }, ms);
}

// PROFILE=load or PROFILE=scroll: the 25 functions with the most self time in that phase (stderr).
function printProfile(profile) {
    const self = new Map();
    const dt = profile.timeDeltas;
    const byId = new Map(profile.nodes.map((nd) => [nd.id, nd]));
    profile.samples.forEach((id, i) => {
        const nd = byId.get(id);
        const k = `${nd.callFrame.functionName || '(anon)'}:${nd.callFrame.lineNumber}`;
        self.set(k, (self.get(k) || 0) + (dt[i] || 0) / 1000);
    });
    console.error([...self].sort((x, y) => y[1] - x[1]).slice(0, 25).map(([k, v]) => `${v.toFixed(0)} ms ${k}`).join('\n'));
}

(async () => {
    const srv = await startServer(['-q']);
    let browser = null;
    let appending = false;
    let exitCode = 0;
    try {
        const t0 = Date.now();
        const bytes = writeLog(path.join(srv.root, 'huge.log'));
        console.error(`wrote ${bytes} bytes, ${LINES} lines in ${Date.now() - t0} ms (server pid ${srv.child.pid}, ${srv.url})`);
        const app = await wsAppender(srv, 'huge.log'); // live from here on
        browser = await within('chromium.launch', chromium.launch({ executablePath: CHROMIUM, headless: true,
            args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--no-first-run'] }), 30000);
        const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, colorScheme: 'dark' });
        const errors = [];
        page.on('pageerror', (e) => errors.push(String(e)));
        const cdp = await page.context().newCDPSession(page);
        if (process.env.PROFILE === 'load') { await cdp.send('Profiler.enable'); await cdp.send('Profiler.start'); }
        await page.goto(`${srv.url}/huge.log`, { waitUntil: 'commit' });
        await page.waitForFunction(() => window.hfsViewer && window.hfsViewer.perf.firstRows > 0, null, { timeout: 60000, polling: 10 });
        await page.waitForFunction(() => window.hfsViewer.perf.loaded > 0, null, { timeout: 300000, polling: 50 });
        const perf = await page.evaluate(() => ({ ...window.hfsViewer.perf, lines: window.hfsViewer.lines() }));
        if (process.env.PROFILE === 'load') printProfile((await cdp.send('Profiler.stop')).profile);
        // searchable: a word in the last line, counted over the whole model
        const s0 = await page.evaluate(() => performance.now());
        await page.fill('#q', 'zanzibar');
        await page.waitForFunction(() => document.body.dataset.search === 'done' && window.hfsViewer.matches() === 1, null, { timeout: 120000, polling: 10 });
        const searched = await page.evaluate(() => performance.now());
        const searchMs = searched - s0;
        await page.fill('#q', '');
        await cdp.send('HeapProfiler.enable');
        await cdp.send('HeapProfiler.collectGarbage');
        const heap = await cdp.send('Runtime.getHeapUsage');
        await page.keyboard.press('Home');
        if (process.env.PROFILE === 'scroll') { await cdp.send('Profiler.enable'); await cdp.send('Profiler.start'); }
        const scroll = await scrollRun(page, 600);
        if (process.env.PROFILE === 'scroll') printProfile((await cdp.send('Profiler.stop')).profile);
        // 1,000 lines/s appended live: 50 lines every 50 ms
        appending = true;
        let n = 0;
        const pump = (async () => {
            const start = Date.now();
            while (appending) {
                let t = '';
                for (let i = 0; i < 50; i++) t += `live line ${++n} \x1b[32mok\x1b[0m ${'x'.repeat(40)}\n`;
                app.sendNoWait(t);
                const next = start + (n / 1000) * 1000;
                await sleep(Math.max(0, next - Date.now()));
            }
        })();
        await page.keyboard.press('Home');
        const scrollLive = await scrollRun(page, 600);
        await page.keyboard.press('End');
        const follow = await followRun(page, 5000);
        appending = false;
        await pump;
        const sent = n;
        await page.waitForFunction((want) => window.hfsViewer.lines() >= want, perf.lines + sent, { timeout: 30000 });
        const heapAfter = await cdp.send('Runtime.getHeapUsage');
        await app.end();
        const r = {
            bytes, lines: perf.lines, firstRowsMs: perf.firstRows, loadedMs: perf.loaded, searchMs, searchableMs: perf.loaded + searchMs,
            heapMB: (heap.usedSize + (heap.backingStorageSize || 0)) / 1048576, heapOnlyMB: heap.usedSize / 1048576,
            backingMB: (heap.backingStorageSize || 0) / 1048576, heapAfterLiveMB: (heapAfter.usedSize + (heapAfter.backingStorageSize || 0)) / 1048576, scroll, scrollLive, follow, liveLines: sent,
            errors,
        };
        const f = (x, d = 0) => x.toFixed(d);
        const ok = (c) => (c ? 'MET' : 'MISSED');
        console.log(`| viewer, ${f(bytes / 1e6)} MB, ${perf.lines} lines | figure | goal | |`);
        console.log('|---|---|---|---|');
        console.log(`| first lines on screen | ${f(r.firstRowsMs)} ms | < 1 s | ${ok(r.firstRowsMs < 1000)} |`);
        console.log(`| whole log loaded | ${f(r.loadedMs)} ms | < 10 s | ${ok(r.loadedMs < 10000)} |`);
        console.log(`| loaded and searched (a word in the last line, counted over all lines) | ${f(r.searchableMs)} ms (search ${f(searchMs)} ms) | < 10 s | ${ok(r.searchableMs < 10000)} |`);
        console.log(`| JS heap after loading (with the typed arrays' backing stores) | ${f(r.heapMB)} MB (${f(r.heapOnlyMB)} MB heap + ${f(r.backingMB)} MB arrays) | < 400 MB | ${ok(r.heapMB < 400)} |`);
        console.log(`| scroll top to bottom, 600 frames | frame p50 ${f(scroll.p50, 1)} ms, p95 ${f(scroll.p95, 1)} ms, max ${f(scroll.max, 1)} ms; long tasks ${scroll.longTasks}, longest ${f(scroll.longMax)} ms | no long task > 100 ms | ${ok(scroll.longMax <= 100)} |`);
        console.log(`| the same, 1,000 lines/s appended | frame p50 ${f(scrollLive.p50, 1)} ms, p95 ${f(scrollLive.p95, 1)} ms, max ${f(scrollLive.max, 1)} ms; long tasks ${scrollLive.longTasks}, longest ${f(scrollLive.longMax)} ms | no long task > 100 ms | ${ok(scrollLive.longMax <= 100)} |`);
        console.log(`| following the bottom 5 s, 1,000 lines/s | frame p50 ${f(follow.p50, 1)} ms, p95 ${f(follow.p95, 1)} ms, max ${f(follow.max, 1)} ms; long tasks ${follow.longTasks}, longest ${f(follow.longMax)} ms | no long task > 100 ms | ${ok(follow.longMax <= 100)} |`);
        console.log(`| JS heap after the live part (${sent} more lines) | ${f(r.heapAfterLiveMB)} MB | | |`);
        console.log(JSON.stringify(r));
        if (errors.length) { console.error(`errors in the page: ${errors.join(' | ')}`); exitCode = 1; }
        if (scroll.lastLine < perf.lines - 5) { console.error(`the scroll ended at line ${scroll.lastLine}, not the end`); exitCode = 1; }
    } catch (err) {
        console.error(err.stack || String(err));
        exitCode = 1;
    } finally {
        appending = false;
        if (browser) await browser.close().catch(() => {});
        await srv.stop().catch((e) => { console.error(String(e.message || e)); exitCode = 1; });
    }
    process.exit(exitCode);
})();
