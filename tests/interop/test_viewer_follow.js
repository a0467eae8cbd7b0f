// test_viewer_follow.js -- follow, pause and the toggles of the viewer, in headless Chromium:
// - Follow (the default): lines appended live keep the newest line in view (DOM: the last row is on screen).
// - Scrolling up with the mouse wheel pauses: Follow is no longer pressed, new lines do not move the view, and a
//   bar says how many new lines arrived since (checked in the DOM and, in the screenshot, drawn over the log);
//   "Jump to end" resumes (the newest line in view, the bar gone); so do End and G after another pause.
// - Timestamps: lines that arrived live show the time they arrived, lines from the catch-up "unknown".
// - Wrapping: a long line takes several rows when wrapping and one row (and a horizontal scroll) when not.
// - \r: a line rewritten with \r shows its last state; with "raw \r" every state, separated by a visible mark.
'use strict';

const { startServer, within, check, assert, assertEq, fail, runMain } = require('./hfs_server');
const { launch, newPage, pageWait, wsAppender, shot, near } = require('./viewer_lib');

let browser = null;
const errors = [];
const BAR = [22, 27, 34]; // --bar, dark palette

// Whether the row of line n (1-based) is wholly on screen.
function lineOnScreen(page, n) {
    return page.evaluate((l) => {
        const r = document.querySelector(`#rows .row[data-line="${l - 1}"]`);
        const sc = document.getElementById('scroller').getBoundingClientRect();
        return !!r && r.getBoundingClientRect().top >= sc.top - 0.5 && r.getBoundingClientRect().bottom <= sc.bottom + 0.5;
    }, n);
}

async function waitOnScreen(page, n, what) {
    await pageWait(page, what, (l) => {
        const r = document.querySelector(`#rows .row[data-line="${l - 1}"]`);
        const sc = document.getElementById('scroller').getBoundingClientRect();
        return !!r && r.getBoundingClientRect().top >= sc.top - 0.5 && r.getBoundingClientRect().bottom <= sc.bottom + 0.5;
    }, n);
}

async function followAndPause(srv) {
    check('Follow: lines appended live keep the newest line in view');
    const app = await wsAppender(srv, 'f.log');
    let n = 0;
    const lines = (k) => {
        let t = '';
        for (let i = 0; i < k; i++) t += `line ${++n}\n`;
        return t;
    };
    await app.send(lines(100));
    const page = await newPage(browser, errors);
    await page.goto(`${srv.url}/f.log`);
    await pageWait(page, 'live', () => document.getElementById('status').className === 'live');
    await waitOnScreen(page, 100, 'line 100 in view');
    for (let k = 0; k < 5; k++) {
        await app.send(lines(20));
        await waitOnScreen(page, n, `line ${n} in view while following`);
    }
    assertEq('Follow pressed', await page.getAttribute('#follow', 'aria-pressed'), 'true');
    assert(await page.evaluate(() => document.getElementById('more').hidden), 'the paused bar shows while following');

    check('scrolling up pauses: the view stays, the bar counts the new lines (DOM and screenshot)');
    await page.mouse.move(450, 300);
    await page.mouse.wheel(0, -600);
    await pageWait(page, 'paused', () => document.getElementById('follow').getAttribute('aria-pressed') === 'false');
    await pageWait(page, 'the scroll to settle', () => {
        const sc = document.getElementById('scroller');
        return sc.scrollTop + sc.clientHeight < sc.scrollHeight - 200;
    });
    const top = await page.evaluate(() => document.getElementById('scroller').scrollTop);
    const before = n;
    await app.send(lines(7));
    await pageWait(page, 'the bar to count 7 new lines', () => document.getElementById('morecount').textContent === 'Paused \u2014 7 new lines');
    assertEq('scroll position while paused', await page.evaluate(() => document.getElementById('scroller').scrollTop), top);
    assert(!(await lineOnScreen(page, n)), `line ${n} came into view while paused`);
    assert(!(await lineOnScreen(page, before)), `line ${before} is in view while paused`);
    const box = await page.evaluate(() => {
        const b = document.getElementById('more').getBoundingClientRect();
        return { x: b.x, y: b.y, width: b.width, height: b.height };
    });
    const img = await shot(page, 'viewer-paused.png');
    // the bar is drawn over the log: inside it its own background, where the log's is elsewhere
    const inner = { x: box.x + 4, y: box.y + 4, width: 8, height: box.height - 8 };
    assert(img.count(inner, BAR, 6) >= inner.width * Math.floor(inner.height) * 0.8, 'the paused bar is not drawn');
    assert(near(img.at(box.x - 20, box.y + box.height / 2), [13, 17, 23], 6), 'the log background beside the bar');

    check('"Jump to end" resumes following: the newest line in view, the bar gone');
    await page.click('#jump');
    await waitOnScreen(page, n, `line ${n} in view after Jump to end`);
    await pageWait(page, 'the bar gone', () => document.getElementById('more').hidden);
    await app.send(lines(30));
    await waitOnScreen(page, n, `line ${n} in view, following again`);

    check('End and G resume too; Home pauses at the top');
    await page.click('#scroller', { position: { x: 600, y: 200 } });
    await page.keyboard.press('Home');
    await pageWait(page, 'at the top', () => document.getElementById('scroller').scrollTop === 0);
    await waitOnScreen(page, 1, 'line 1 in view');
    await app.send(lines(3));
    await pageWait(page, '3 new lines', () => document.getElementById('morecount').textContent === 'Paused \u2014 3 new lines');
    await page.keyboard.press('End');
    await waitOnScreen(page, n, `line ${n} in view after End`);
    await page.keyboard.press('Home');
    await waitOnScreen(page, 1, 'line 1 in view again');
    await page.keyboard.press('Shift+G');
    await waitOnScreen(page, n, `line ${n} in view after G`);
    assertEq('Follow pressed', await page.getAttribute('#follow', 'aria-pressed'), 'true');
    await app.end();
    await pageWait(page, 'the end', () => document.body.dataset.state === 'ended');
    await page.close();
}

async function toggles(srv) {
    check('timestamps: live lines show their arrival time, catch-up lines "unknown"');
    const app = await wsAppender(srv, 't.log');
    await app.send('caught up 1\ncaught up 2\n');
    const page = await newPage(browser, errors);
    await page.goto(`${srv.url}/t.log`);
    await pageWait(page, 'live', () => document.getElementById('status').className === 'live' && window.hfsViewer.lines() === 2);
    const long = 'long '.repeat(100).trim();
    await app.send(`arrived live\n${long}\nprogress 10%\rprogress 50%\rprogress 100%\ndone\n`);
    await pageWait(page, '6 lines', () => window.hfsViewer.lines() === 6 && document.querySelectorAll('#rows .row').length === 6);
    assertEq('no time column by default', await page.evaluate(() => getComputedStyle(document.querySelector('#rows .ts')).display), 'none');
    await page.check('#opt-time');
    // the column shows at once, its times with the next frame's rows
    await pageWait(page, 'the time column, filled', () => getComputedStyle(document.querySelector('#rows .ts')).display !== 'none' &&
        [...document.querySelectorAll('#rows .row .ts')].every((e) => e.textContent !== ''));
    const ts = await page.evaluate(() => [...document.querySelectorAll('#rows .row .ts')].map((e) => e.textContent));
    assertEq('catch-up times', ts.slice(0, 2).join(), 'unknown,unknown');
    for (const t of ts.slice(2)) assert(/^\d\d:\d\d:\d\d\.\d\d\d$/.test(t), `a live line's time is ${JSON.stringify(t)}`);
    const [h, m] = ts[2].split(':').map(Number);
    const now = await page.evaluate(() => [new Date().getHours(), new Date().getMinutes()]);
    assert(h === now[0] && Math.abs(m - now[1]) <= 1 || Math.abs(m - now[1]) === 59, `time ${ts[2]} is not now (${now})`);
    await shot(page, 'viewer-times.png');

    check('wrapping: the long line takes several rows, one row (and a horizontal scroll) when not wrapping');
    const rowH = () => page.evaluate(() => document.querySelector('#rows .row[data-line="3"]').getBoundingClientRect().height);
    const one = await page.evaluate(() => document.querySelector('#rows .row[data-line="0"]').getBoundingClientRect().height);
    assert(await rowH() >= 3 * one, `the long line is ${await rowH()} px high wrapped (a line: ${one} px)`);
    await page.uncheck('#opt-wrap');
    await pageWait(page, 'one row', (h1) => document.querySelector('#rows .row[data-line="3"]').getBoundingClientRect().height === h1, one);
    assert(await page.evaluate(() => document.getElementById('scroller').scrollWidth > document.getElementById('scroller').clientWidth + 100),
        'no horizontal scroll without wrapping');
    await page.check('#opt-wrap');
    await pageWait(page, 'wrapped again', (h1) => document.querySelector('#rows .row[data-line="3"]').getBoundingClientRect().height >= 3 * h1, one);

    check('\\r: the last state of a rewritten line; with raw \\r every state');
    const cr = () => page.evaluate(() => document.querySelector('#rows .row[data-line="4"] .t').textContent);
    assertEq('the progress line', await cr(), 'progress 100%');
    await page.check('#opt-cr');
    await pageWait(page, 'raw states', () => document.querySelector('#rows .row[data-line="4"] .t').textContent.includes('10%'));
    assertEq('the progress line, raw', await cr(), 'progress 10%\u240dprogress 50%\u240dprogress 100%');
    await page.uncheck('#opt-cr');
    await pageWait(page, 'last state again', () => document.querySelector('#rows .row[data-line="4"] .t').textContent === 'progress 100%');
    await app.end();
    await page.close();
}

for (const sig of ['SIGTERM', 'SIGHUP']) process.on(sig, () => process.exit(1));

runMain('test_viewer_follow', async () => {
    const srv = await startServer();
    check('Chromium starts headless');
    browser = await launch();
    try {
        await followAndPause(srv);
        await toggles(srv);
        if (errors.length) fail(`errors in the page: ${errors.join(' | ')}`);
    } finally {
        const b = browser;
        browser = null;
        await within('browser.close', b.close(), 15000).catch(() => {});
    }
    await srv.stop();
}, 90000);
