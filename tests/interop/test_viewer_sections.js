// test_viewer_sections.js -- collapsible sections in the viewer, in headless Chromium:
// - GitHub's ::group::NAME / ::endgroup:: (with the timestamps GitHub puts before each line): a header row titled
//   NAME, expanded, with the group's duration; clicking it collapses it (its lines leave the DOM and the screen, the
//   next line moves up under it; in the screenshot the header row has its own background).
// - GitLab's section_start:TIME:NAME[collapsed=true] / section_end:TIME:NAME inside \e[0K escapes: the header shows
//   the text after the \r, the duration from the two times, starts collapsed with its line count, and opens with
//   Enter on the focused header (aria-expanded follows); Space closes it again.
// - Sections nest (a GitLab section inside another) and line numbers stay those of the file.
// - A search hit inside a collapsed section opens it; a sections' lines arriving live join the open section.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { startServer, within, check, assert, assertEq, fail, runMain } = require('./hfs_server');
const { launch, newPage, pageWait, wsAppender, shot, visibleRows } = require('./viewer_lib');

const SEC = [28, 35, 48]; // --sec, dark palette
const BG = [13, 17, 23];
let browser = null;
const errors = [];

const rowOf = (rows, n) => rows.find((r) => r.n === n);

async function github(srv) {
    check('GitHub ::group:: with timestamps: a header titled with the name, its duration, expanded; a click collapses it');
    const log = [
        '2024-05-01T10:00:00.0000000Z Run make',                    // 1
        '2024-05-01T10:00:01.0000000Z ::group::Install dependencies', // 2
        '2024-05-01T10:00:02.0000000Z fetching a',                   // 3
        '2024-05-01T10:00:03.0000000Z fetching b',                   // 4
        '2024-05-01T10:01:06.0000000Z ::endgroup::',                 // 5
        '2024-05-01T10:01:07.0000000Z after the group',              // 6
    ].join('\n') + '\n';
    fs.writeFileSync(path.join(srv.root, 'gh.log'), log);
    const page = await newPage(browser, errors);
    await page.goto(`${srv.url}/gh.log`);
    await pageWait(page, 'the end', () => document.body.dataset.state === 'ended');
    let rows = await visibleRows(page);
    const head = rowOf(rows, 2);
    assert(head && /\bsec\b/.test(head.cls), `row 2 is not a section header: ${JSON.stringify(head)}`);
    assertEq('header text', head.text, '\u25beInstall dependencies1m 5s');
    assertEq('aria-expanded', await page.getAttribute('#rows .row[data-line="1"]', 'aria-expanded'), 'true');
    assertEq('rows shown', rows.map((r) => r.n).join(','), '1,2,3,4,5,6');
    let img = await shot(page, 'viewer-gh-open.png');
    assert(img.count(head.box, SEC, 6) > head.box.width * head.box.height * 0.5, 'the header row has not its background');
    assertEq('section background in row 3', img.count(rowOf(rows, 3).box, SEC, 6), 0);

    await page.click('#rows .row[data-line="1"]');
    await pageWait(page, 'the group collapsed', () => !document.querySelector('#rows .row[data-line="2"]'));
    rows = await visibleRows(page);
    assertEq('rows shown when collapsed', rows.map((r) => r.n).join(','), '1,2,6');
    assertEq('collapsed header text', rowOf(rows, 2).text, '\u25b8Install dependencies1m 5s3 lines');
    assert(Math.abs(rowOf(rows, 6).box.y - (rowOf(rows, 2).box.y + rowOf(rows, 2).box.height)) < 1, 'line 6 is not right under the header');
    img = await shot(page, 'viewer-gh-closed.png');
    // line 6 is drawn where line 3 was: text there, not only background
    const six = rowOf(rows, 6).box;
    assert(six.width * Math.floor(six.height) - img.count(six, BG, 6) > 50, 'no text drawn for line 6 under the collapsed header');
    await page.close();
}

async function gitlab(srv) {
    check('GitLab section_start [collapsed=true] in \\e[0K escapes: collapsed, titled, timed; Enter opens it, Space closes it');
    const E = '\x1b[0K';
    const log = [
        'Running with gitlab-runner',                                                        // 1
        `${E}section_start:1700000000:build[collapsed=true]\r${E}\x1b[36;1mBuilding the thing\x1b[0;m`, // 2
        'compiling a.c',                                                                      // 3
        `${E}section_start:1700000010:inner\r${E}Inner step`,                                 // 4
        'inner work',                                                                         // 5
        `${E}section_end:1700000020:inner\r${E}`,                                             // 6
        'linking',                                                                            // 7
        `${E}section_end:1700000125:build\r${E}`,                                             // 8
        'Job succeeded',                                                                      // 9
    ].join('\n') + '\n';
    fs.writeFileSync(path.join(srv.root, 'gl.log'), log);
    const page = await newPage(browser, errors);
    await page.goto(`${srv.url}/gl.log`);
    await pageWait(page, 'the end', () => document.body.dataset.state === 'ended');
    let rows = await visibleRows(page);
    assertEq('rows shown (collapsed)', rows.map((r) => r.n).join(','), '1,2,9');
    assertEq('collapsed header text', rowOf(rows, 2).text, '\u25b8Building the thing2m 5s6 lines');
    assertEq('aria-expanded', await page.getAttribute('#rows .row[data-line="1"]', 'aria-expanded'), 'false');
    await shot(page, 'viewer-gl-closed.png');

    await page.focus('#rows .row[data-line="1"]');
    await page.keyboard.press('Enter');
    await pageWait(page, 'the section open', () => !!document.querySelector('#rows .row[data-line="2"]'));
    rows = await visibleRows(page);
    assertEq('rows shown (open)', rows.map((r) => r.n).join(','), '1,2,3,4,5,6,7,8,9');
    assertEq('header text', rowOf(rows, 2).text, '\u25beBuilding the thing2m 5s');
    assertEq('inner header text', rowOf(rows, 4).text, '\u25beInner step10s');
    assertEq('end marker rows show nothing', rowOf(rows, 6).text + rowOf(rows, 8).text, '');
    assertEq('aria-expanded once open', await page.getAttribute('#rows .row[data-line="1"]', 'aria-expanded'), 'true');
    assertEq('focus kept on the header', await page.evaluate(() => document.activeElement.dataset.line), '1');
    const img = await shot(page, 'viewer-gl-open.png');
    assert(img.count(rowOf(rows, 4).box, SEC, 6) > 1000, 'the inner header row has not its background');

    check('the inner section collapses alone (Space); the outer one then hides it with the rest');
    await page.focus('#rows .row[data-line="3"]');
    await page.keyboard.press(' ');
    await pageWait(page, 'the inner section closed', () => !document.querySelector('#rows .row[data-line="4"]'));
    assertEq('rows shown', (await visibleRows(page)).map((r) => r.n).join(','), '1,2,3,4,7,8,9');
    await page.focus('#rows .row[data-line="1"]');
    await page.keyboard.press(' ');
    await pageWait(page, 'the outer section closed', () => !document.querySelector('#rows .row[data-line="2"]'));
    assertEq('rows shown', (await visibleRows(page)).map((r) => r.n).join(','), '1,2,9');

    check('a search hit inside the collapsed sections opens them and shows the line');
    await page.fill('#q', 'inner work');
    await page.focus('#q');
    await page.keyboard.press('Enter');
    await pageWait(page, 'line 5 shown', () => !!document.querySelector('#rows .row[data-line="4"] mark.cur'));
    assertEq('both headers open', await page.evaluate(() => ['1', '3'].map((l) =>
        document.querySelector(`#rows .row[data-line="${l}"]`).getAttribute('aria-expanded')).join()), 'true,true');
    await page.close();
}

async function live(srv) {
    check('a section arriving live: its lines join it as they come; its duration shows once it ends');
    const app = await wsAppender(srv, 'live.log');
    await app.send('start\n\x1b[0Ksection_start:1700000000:step\r\x1b[0KStep one\n');
    const page = await newPage(browser, errors);
    await page.goto(`${srv.url}/live.log`);
    await pageWait(page, 'the header', () => !!document.querySelector('#rows .row.sec'));
    await app.send('work 1\nwork 2\n');
    await pageWait(page, 'the work lines', () => window.hfsViewer.lines() === 4 && !!document.querySelector('#rows .row[data-line="3"]'));
    assertEq('header while running', (await visibleRows(page)).find((r) => r.n === 2).text, '\u25beStep one');
    await app.send('\x1b[0Ksection_end:1700000007:step\r\x1b[0K\nafter\n');
    await pageWait(page, 'the duration', () => /7s$/.test(document.querySelector('#rows .row.sec').textContent));
    await page.click('#rows .row.sec');
    await pageWait(page, 'collapsed', () => !document.querySelector('#rows .row[data-line="2"]'));
    await app.send('more after\n');
    await pageWait(page, 'a line after the closed section, shown', () => !!document.querySelector('#rows .row[data-line="6"]'));
    assertEq('rows shown', (await visibleRows(page)).map((r) => r.n).join(','), '1,2,6,7');
    await app.end();
    await page.close();
}

for (const sig of ['SIGTERM', 'SIGHUP']) process.on(sig, () => process.exit(1));

runMain('test_viewer_sections', async () => {
    const srv = await startServer();
    check('Chromium starts headless');
    browser = await launch();
    try {
        await github(srv);
        await gitlab(srv);
        await live(srv);
        if (errors.length) fail(`errors in the page: ${errors.join(' | ')}`);
    } finally {
        const b = browser;
        browser = null;
        await within('browser.close', b.close(), 15000).catch(() => {});
    }
    await srv.stop();
}, 90000);
