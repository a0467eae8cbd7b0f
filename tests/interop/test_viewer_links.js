// test_viewer_links.js -- the viewer's line numbers and line links, in headless Chromium:
// - #L30-L32 on a finished log of 3,000 lines: those rows are on screen and highlighted (class sel, and in the
//   screenshot their pixels have the selection colour, a plain row's have none); every other row is not.
// - #L900 on a live log of 20 lines: the page waits, and when line 900 arrives it scrolls to it and highlights it.
// - Clicking a line number sets #L40; shift-clicking another extends it to #L40-L43 (four rows highlighted).
// - #L5000 on that finished log: the end of the stream says line 5000 is not in it.
// - A resource whose name is not UTF-8 (/%FF%FEnames.log) with bytes that are not UTF-8 in it: the name shows
//   U+FFFD, the bad bytes show as U+FFFD, a link to its line 3 highlights the line, the raw and download links
//   keep the name's bytes.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { startServer, within, check, assert, assertEq, fail, runMain } = require('./hfs_server');
const { launch, newPage, pageWait, wsAppender, shot, visibleRows } = require('./viewer_lib');

const SEL = [59, 46, 0]; // --sel, dark palette
let browser = null;
const errors = [];

function noErrors(what) {
    if (errors.length) fail(`${what}: errors in the page: ${errors.join(' | ')}`);
}

// Rows on screen in [a, b] (1-based) must be highlighted, on the screenshot too; the others not.
async function checkHighlight(page, name, a, b) {
    const rows = await visibleRows(page);
    const inside = rows.filter((r) => r.n >= a && r.n <= b);
    const outside = rows.filter((r) => r.n < a || r.n > b);
    assertEq(`${name}: highlighted rows on screen`, inside.map((r) => r.n).join(','),
        Array.from({ length: b - a + 1 }, (_, i) => a + i).join(','));
    for (const r of inside) assert(/\bsel\b/.test(r.cls), `${name}: row ${r.n} is not highlighted (${r.cls})`);
    for (const r of outside) assert(!/\bsel\b/.test(r.cls), `${name}: row ${r.n} is highlighted`);
    assert(outside.length > 0, `${name}: no plain row on screen to compare with`);
    const img = await shot(page, `${name}.png`);
    for (const r of inside) {
        const n = img.count(r.box, SEL, 6);
        assert(n > r.box.width * r.box.height * 0.5, `${name}: row ${r.n} has ${n} pixels of the selection colour`);
    }
    const plain = outside[0];
    assertEq(`${name}: selection-coloured pixels in plain row ${plain.n}`, img.count(plain.box, SEL, 6), 0);
}

async function finishedLog(srv) {
    check('#L30-L32 on a finished log of 3,000 lines: the rows on screen, highlighted (DOM and screenshot)');
    let t = '';
    for (let i = 1; i <= 3000; i++) t += `\x1b[3${i % 8}mline ${i}\x1b[0m of the finished log\n`;
    fs.writeFileSync(path.join(srv.root, 'links.log'), t);
    const page = await newPage(browser, errors);
    await page.goto(`${srv.url}/links.log#L30-L32`);
    await pageWait(page, 'the end', () => document.body.dataset.state === 'ended');
    await pageWait(page, 'line 30 on screen', () => {
        const r = document.querySelector('#rows .row[data-line="29"]');
        const sc = document.getElementById('scroller').getBoundingClientRect();
        return r && r.getBoundingClientRect().top >= sc.top && r.getBoundingClientRect().bottom <= sc.bottom;
    });
    await checkHighlight(page, 'viewer-link-range', 30, 32);
    const rows = await visibleRows(page);
    assertEq('row 31 text', rows.find((r) => r.n === 31).text, 'line 31 of the finished log');
    assert(rows.length < 60, `${rows.length} rows drawn on screen`);
    const drawn = await page.evaluate(() => document.querySelectorAll('#rows .row').length);
    assert(drawn < 200, `${drawn} rows in the DOM for a log of 3,000 lines (not virtualised?)`);

    check('clicking a line number sets #L40; shift-click on 43 makes it #L40-L43');
    await page.click('#rows .row[data-line="39"] .ln');
    await pageWait(page, 'the hash #L40', () => location.hash === '#L40');
    await page.click('#rows .row[data-line="42"] .ln', { modifiers: ['Shift'] });
    await pageWait(page, 'the hash #L40-L43', () => location.hash === '#L40-L43');
    await pageWait(page, 'rows 40-43 highlighted', () => document.querySelectorAll('#rows .row.sel').length === 4);
    await checkHighlight(page, 'viewer-link-click', 40, 43);
    await page.close();

    check('#L5000 on the finished log of 3,000 lines: the end says the line is not in it');
    const past = await newPage(browser, errors);
    await past.goto(`${srv.url}/links.log#L5000`);
    await pageWait(past, 'the end', () => document.body.dataset.state === 'ended');
    assertEq('the end line', await past.evaluate(() => document.getElementById('end').textContent),
        '\u2014 end of stream (' + t.length + ' bytes) \u2014 line 5000 is not in it');
    await past.close();
    noErrors('finished log');
}

async function lineNotYetArrived(srv) {
    check('#L900 on a live log of 20 lines: once line 900 arrives, it is scrolled to and highlighted');
    const app = await wsAppender(srv, 'grow.log');
    let t = '';
    for (let i = 1; i <= 20; i++) t += `early line ${i}\n`;
    await app.send(t);
    const page = await newPage(browser, errors);
    await page.goto(`${srv.url}/grow.log#L900`);
    await pageWait(page, 'the first 20 lines', () => window.hfsViewer.lines() === 20 && document.getElementById('status').className === 'live');
    const none = await page.evaluate(() => document.querySelectorAll('#rows .row.sel').length);
    assertEq('highlighted rows before line 900 exists', none, 0);
    for (let k = 0; k < 4; k++) {
        let more = '';
        for (let i = 21 + k * 300; i <= 20 + (k + 1) * 300; i++) more += `later line ${i}\n`;
        await app.send(more);
    }
    await pageWait(page, 'line 900 on screen, highlighted', () => {
        const r = document.querySelector('#rows .row[data-line="899"]');
        const sc = document.getElementById('scroller').getBoundingClientRect();
        return r && r.classList.contains('sel') && r.getBoundingClientRect().top >= sc.top && r.getBoundingClientRect().bottom <= sc.bottom;
    });
    await checkHighlight(page, 'viewer-link-later', 900, 900);
    const rows = await visibleRows(page);
    assertEq('row 900 text', rows.find((r) => r.n === 900).text, 'later line 900');
    check('the link keeps line 900 in view while more lines arrive');
    await app.send('yet another line\n'.repeat(200));
    await pageWait(page, '1,420 lines', () => window.hfsViewer.lines() === 1420);
    assert((await visibleRows(page)).some((r) => r.n === 900), 'line 900 left the screen as lines arrived');
    await app.end();
    await page.close();
    noErrors('live log');
}

async function badName(srv) {
    check('a name and bytes that are not UTF-8: U+FFFD shown, #L3 highlighted, raw and download links keep the bytes');
    const body = Buffer.concat([Buffer.from('first\nsecond \xff\xfe bytes\n', 'latin1'), Buffer.from('third \u20ac line\nfourth\n')]);
    const res = await within('PUT', fetch(`${srv.url}/%FF%FEnames.log`, { method: 'PUT', body }));
    assertEq('PUT status', res.status, 201);
    const page = await newPage(browser, errors);
    await page.goto(`${srv.url}/%FF%FEnames.log#L3`);
    await pageWait(page, 'the end', () => document.body.dataset.state === 'ended');
    assertEq('model text', await page.evaluate(() => window.hfsViewer.text()), 'first\nsecond \ufffd\ufffd bytes\nthird \u20ac line\nfourth\n');
    const rows = await visibleRows(page);
    assertEq('row 2 (bad bytes)', rows.find((r) => r.n === 2).text, 'second \ufffd\ufffd bytes');
    assertEq('row 3', rows.find((r) => r.n === 3).text, 'third \u20ac line');
    await checkHighlight(page, 'viewer-link-badname', 3, 3);
    const st = await page.evaluate(() => ({
        name: document.getElementById('name').textContent,
        raw: document.getElementById('raw').href,
        dl: document.getElementById('download').href,
        dlName: document.getElementById('download').getAttribute('download'),
    }));
    assert(st.name.includes('\ufffd') && st.name.endsWith('names.log'), `name ${JSON.stringify(st.name)}`);
    assertEq('raw link', st.raw, `${srv.url}/%FF%FEnames.log?raw`);
    assertEq('download link', st.dl, `${srv.url}/%FF%FEnames.log?raw`);
    assert(st.dlName.endsWith('names.log'), `download name ${JSON.stringify(st.dlName)}`);
    const got = await page.evaluate((u) => fetch(u).then((r) => r.arrayBuffer()).then((b) => Array.from(new Uint8Array(b))), st.dl);
    assertEq('downloaded bytes', Buffer.from(got), body);
    await page.close();
    noErrors('bad name');
}

for (const sig of ['SIGTERM', 'SIGHUP']) process.on(sig, () => process.exit(1));

runMain('test_viewer_links', async () => {
    const srv = await startServer();
    check('Chromium starts headless');
    browser = await launch();
    try {
        await finishedLog(srv);
        await lineNotYetArrived(srv);
        await badName(srv);
    } finally {
        const b = browser;
        browser = null;
        await within('browser.close', b.close(), 15000).catch(() => {});
    }
    await srv.stop();
}, 90000);
