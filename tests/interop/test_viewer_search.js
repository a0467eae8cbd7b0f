// test_viewer_search.js -- the viewer's search, in headless Chromium, on a log of 30,000 lines of which only a
// screenful is ever drawn:
// - `/` focuses the search box; typing a word that is only in three far-apart lines (never drawn) finds all three
//   in the model ("1 of 3 matches"), case-insensitively and not inside ANSI escapes, and scrolls to the first;
//   the match is marked in its row (mark.cur, and in the screenshot the current-match colour is there).
// - Enter, n, Shift-Enter and N step through the matches (each on screen in turn), wrapping around.
// - Lines appended while the search is open are searched as they arrive (the count grows to 4).
// - Ctrl-F focuses the box too (not the browser's find, which would not see undrawn lines); the count is announced
//   in the polite live region.
'use strict';

const { startServer, within, check, assert, assertEq, fail, runMain } = require('./hfs_server');
const { launch, newPage, pageWait, wsAppender, shot, visibleRows } = require('./viewer_lib');

const CUR = [176, 125, 18]; // --cur, dark palette
let browser = null;
const errors = [];
const WHERE = [2500, 17000, 29000]; // lines (1-based) holding the word

async function onScreen(page, line) {
    await pageWait(page, `line ${line} on screen`, (l) => {
        const r = document.querySelector(`#rows .row[data-line="${l - 1}"]`);
        const sc = document.getElementById('scroller').getBoundingClientRect();
        return r && r.getBoundingClientRect().top >= sc.top && r.getBoundingClientRect().bottom <= sc.bottom;
    }, line);
}

async function current(page, what, k, n) {
    await pageWait(page, `${what}: "${k} of ${n} matches"`, (want) => document.getElementById('count').textContent === want,
        `${k} of ${n} matches`);
    await onScreen(page, WHERE[k - 1] || 0);
    // typed a key at a time, the box may still be searching a prefix ("need" has the same 3 lines): wait for
    // the row to mark the whole word as the current match
    const marksOf = (l) => [...document.querySelectorAll(`#rows .row[data-line="${l - 1}"] mark`)]
        .map((m) => ({ text: m.textContent, cur: m.classList.contains('cur') }));
    const want = JSON.stringify([{ text: 'NeedLe', cur: true }]);
    try {
        await page.waitForFunction(([l, w]) => JSON.stringify([...document.querySelectorAll(`#rows .row[data-line="${l - 1}"] mark`)]
            .map((m) => ({ text: m.textContent, cur: m.classList.contains('cur') }))) === w, [WHERE[k - 1], want], { timeout: 10000, polling: 20 });
    } catch {
        assertEq(`${what}: marks in line ${WHERE[k - 1]}`, JSON.stringify(await page.evaluate(marksOf, WHERE[k - 1])), want);
    }
    assertEq(`${what}: the count once the word is marked`, await page.evaluate(() => document.getElementById('count').textContent),
        `${k} of ${n} matches`);
}

runMain('test_viewer_search', async () => {
    const srv = await startServer();
    check('Chromium starts headless');
    browser = await launch();
    try {
        const app = await wsAppender(srv, 'big.log');
        let t = '';
        for (let i = 1; i <= 30000; i++) {
            if (WHERE.includes(i)) t += `line ${i}: the \x1b[1mNeedLe\x1b[0m is here\n`;
            // "needle" split by an escape is not the word as shown... and this one is shown as "nee dle"
            else if (i === 100) t += 'line 100: nee\x1b[31m dle\x1b[0m\n';
            else t += `line ${i}: \x1b[32mok\x1b[0m hay ${'h'.repeat(i % 60)}\n`;
        }
        await app.send(t);
        const page = await newPage(browser, errors);
        await page.goto(`${srv.url}/big.log`);
        await pageWait(page, 'the 30,000 lines', () => window.hfsViewer.lines() === 30000 && document.getElementById('status').className === 'live');
        const drawn = await page.evaluate(() => [...document.querySelectorAll('#rows .row')].map((r) => +r.dataset.line + 1));
        for (const l of WHERE) assert(!drawn.includes(l), `line ${l} is drawn before the search`);

        check('"/" focuses the search box; "needle" finds the three lines in the model and shows the first');
        await page.click('#scroller');
        await page.keyboard.press('/');
        assertEq('focus after /', await page.evaluate(() => document.activeElement.id), 'q');
        await page.keyboard.type('needle');
        await current(page, 'typed', 1, 3);
        const rows = await visibleRows(page);
        const row = rows.find((r) => r.n === WHERE[0]);
        assertEq('the row of the first match', row.text, `line ${WHERE[0]}: the NeedLe is here`);
        const img = await shot(page, 'viewer-search.png');
        const hit = img.count(row.box, CUR, 10);
        assert(hit > 200, `the current match has ${hit} pixels of its colour in the screenshot`);
        const other = rows.find((r) => r.n !== WHERE[0]);
        assertEq(`pixels of the match colour in row ${other.n}`, img.count(other.box, CUR, 10), 0);

        check('Enter, n, Shift-Enter and N step through the matches, wrapping around');
        await page.keyboard.press('Enter');
        await current(page, 'Enter', 2, 3);
        await page.click('#scroller');
        await page.keyboard.press('n');
        await current(page, 'n', 3, 3);
        await page.keyboard.press('n');
        await current(page, 'n (wraps)', 1, 3);
        await page.keyboard.press('Shift+N');
        await current(page, 'N (wraps back)', 3, 3);
        await page.focus('#q');
        await page.keyboard.press('Shift+Enter');
        await current(page, 'Shift-Enter', 2, 3);

        check('a line appended while searching is searched as it arrives');
        await app.send('appended: one more NEEDLE\n');
        await pageWait(page, 'the count of 4', () => /of 4 matches$/.test(document.getElementById('count').textContent));
        assertEq('matches in the model', await page.evaluate(() => window.hfsViewer.matches()), 4);

        check('Ctrl-F focuses the search box; the count is announced politely');
        await page.click('#scroller');
        await page.keyboard.press('Control+f');
        assertEq('focus after Ctrl-F', await page.evaluate(() => document.activeElement.id), 'q');
        await pageWait(page, 'an announcement of the count', () => /matches/.test(document.getElementById('announce').textContent));
        assertEq('aria-live', await page.evaluate(() => document.getElementById('announce').getAttribute('aria-live')), 'polite');
        check('a word not in the log: "no matches"');
        await page.fill('#q', 'absent-word');
        await pageWait(page, '"no matches"', () => document.getElementById('count').textContent === 'no matches');
        await app.end();
        await page.close();
        if (errors.length) fail(`errors in the page: ${errors.join(' | ')}`);
    } finally {
        const b = browser;
        browser = null;
        await within('browser.close', b.close(), 15000).catch(() => {});
    }
    await srv.stop();
}, 90000);
