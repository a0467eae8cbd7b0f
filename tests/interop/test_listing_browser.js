// test_listing_browser.js -- the directory listing page in a real browser: Debian's Chromium, headless, driven by
// playwright-core.
// - In both colour schemes (emulated prefers-color-scheme, switched on the open page): the listing and the viewer
//   take the scheme's palette (checked in the page and in decoded screenshot pixels); the header's parts, the
//   column buttons and every row's name, size, time and live marker are visible, readable (contrast at least 4.5),
//   inside the window and overlap nothing, at a desktop and a phone width.
// - Sizes in units with the exact count on hover, times in local time (a fixed time zone) with the age on hover.
// - Sorting by name (natural order), size and time, with the column buttons (mouse and keyboard); aria-sort follows.
// - Without a reload: a live marker appears when an appender starts and goes when it leaves, sizes and times follow
//   the appends, a new resource appears (also under a sort by time, in its place) and a removed one goes.
// - Names are text: a name made of markup shows as itself, in the server's rows and in rows the page adds.
// - The page loads nothing from elsewhere, breaks no Content-Security-Policy rule, throws nothing.
// Screenshots go to $HFS_SHOTS (default: a folder under the system's temporary folder), named in the output.
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const WebSocket = require('ws');
const { chromium } = require('playwright-core');
const { startServer, waitFor, within, fail, check, assert, assertEq, runMain } = require('./hfs_server');
// Screenshots are checked pixel by pixel.
const { decodePng } = require('./viewer_lib');

const CHROMIUM = process.env.HFS_CHROMIUM || '/usr/bin/chromium';
const LAUNCH_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
    '--disable-component-update', '--no-first-run'];
const SHOTS = process.env.HFS_SHOTS || path.join(os.tmpdir(), 'hfs-listing-shots');
const ZONE = 'Asia/Kolkata'; // UTC+05:30 all year: local times are predictable
const ZONE_MS = 5.5 * 3600 * 1000;

// The two palettes (listing.html and viewer.html share them).
const SCHEMES = {
    dark: { bg: [13, 17, 23], bar: [22, 27, 34], live: [63, 185, 80], red: 'rgb(255, 123, 114)' },
    light: { bg: [255, 255, 255], bar: [246, 248, 250], live: [26, 127, 55], red: 'rgb(207, 34, 46)' },
};
const rgb = (c) => `rgb(${c.join(', ')})`;
const assertSame = (what, got, want) => assertEq(what, JSON.stringify(got), JSON.stringify(want)); // lists

let browser = null;
let pageErrors = [];
let requests = [];

// ---- the directory ----------------------------------------------------------------------------------------------------

const XSS = '<img src=x onerror=window.__xss=1>.txt';
const LONG = 'l' + '-long'.repeat(50) + '.log';
const NEW = '<b>new<i>.log'; // appended while the page is open
const MIN = 60 * 1000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
// name -> [size, age]
const FILES = {
    'build.log': [1500, MIN],
    'a.txt': [10, 2 * HOUR],
    'older.log': [5000, 3 * DAY],
    'n9.log': [9, 30 * MIN],
    'n10.log': [100, 45 * MIN],
    'big.bin': [3 * 1024 * 1024 + 200 * 1024, 7 * DAY],
    [XSS]: [3, 10 * MIN],
    [LONG]: [1, 5000],
};

function makeDir(srv) {
    const dir = path.join(srv.root, 'logs');
    fs.mkdirSync(path.join(dir, 'sub'), { recursive: true });
    const now = Date.now();
    for (const [name, [size, age]] of Object.entries(FILES)) {
        const body = name === 'build.log' ? Buffer.from('\x1b[31mred\x1b[0m line\n'.padEnd(size, '.')) : Buffer.alloc(size, 0x61);
        fs.writeFileSync(path.join(dir, name), body);
        fs.utimesSync(path.join(dir, name), new Date(now - age), new Date(now - age));
    }
    fs.utimesSync(path.join(dir, 'sub'), new Date(now - DAY), new Date(now - DAY));
}

// "YYYY-MM-DD HH:MM:SS" in ZONE for a file's mtime (milliseconds cut, as the listing does).
function zoneTime(file) {
    const ms = Math.floor(fs.statSync(file).mtimeMs);
    return new Date(ms + ZONE_MS).toISOString().slice(0, 19).replace('T', ' ');
}

const near = (a, b, d = 24) => Math.abs(a[0] - b[0]) + Math.abs(a[1] - b[1]) + Math.abs(a[2] - b[2]) <= d;

async function shot(page, name) {
    fs.mkdirSync(SHOTS, { recursive: true });
    const file = path.join(SHOTS, name);
    const png = await page.screenshot({ path: file, animations: 'disabled' });
    console.log(`screenshot: ${file}`);
    return decodePng(png);
}

// ---- pages --------------------------------------------------------------------------------------------------------------

async function newPage(opts = {}) {
    const page = await browser.newPage({ viewport: { width: 900, height: 600 }, timezoneId: ZONE, ...opts });
    page.on('pageerror', (err) => pageErrors.push(String(err)));
    page.on('request', (req) => requests.push(req.url()));
    page.on('websocket', (ws) => requests.push(ws.url()));
    page.on('console', (msg) => {
        if (/Content Security Policy|Refused to/.test(msg.text())) pageErrors.push(`console: ${msg.text()}`);
    });
    return page;
}

async function pageWait(page, what, fn, arg, ms = 10000) {
    try {
        await page.waitForFunction(fn, arg, { timeout: ms, polling: 50 });
    } catch (err) {
        const state = await page.evaluate(() => ({
            rows: [...document.querySelectorAll('#rows tr')].map((tr) => tr.innerText.replace(/\s+/g, ' ').slice(0, 80)),
            status: document.getElementById('status').textContent,
        })).catch(() => ({}));
        fail(`${what}: ${err.message.split('\n')[0]} (page: ${JSON.stringify(state)})`);
    }
}

function checkNoPageErrors(what) {
    if (pageErrors.length) fail(`${what}: errors in the page: ${pageErrors.join(' | ')}`);
}

// What the page shows: per row, its name and cells' text, titles, the live marker; the sort state.
function listingState(page) {
    return page.evaluate(() => {
        const rows = [...document.querySelectorAll('#rows tr')].filter((tr) => !tr.classList.contains('up')).map((tr) => {
            const a = tr.querySelector('a');
            const time = tr.querySelector('td.time time');
            return {
                name: a.textContent,
                href: a.getAttribute('href'),
                size: tr.cells[1].textContent,
                sizeTitle: tr.cells[1].title,
                time: time ? time.textContent : '',
                datetime: time ? time.dateTime : '',
                age: tr.cells[2].title,
                live: !!tr.querySelector('td.mark .live'),
            };
        });
        const sort = [...document.querySelectorAll('th[aria-sort]')].map((th) => `${th.dataset.key}:${th.getAttribute('aria-sort')}`);
        return { rows, sort, summary: document.getElementById('summary').textContent, status: document.getElementById('status').className };
    });
}

const names = (st) => st.rows.map((r) => r.name);
const row = (st, name) => st.rows.find((r) => r.name === name) || fail(`no row ${name} in ${JSON.stringify(names(st))}`);

// Boxes and colours of everything that must be seen: header parts, column buttons, each row's cells' contents.
function layout(page) {
    return page.evaluate(() => {
        const rect = (el) => {
            const b = el.getBoundingClientRect();
            return { x: b.left, y: b.top, r: b.right, b: b.bottom, w: b.width, h: b.height };
        };
        const textRect = (el) => {
            const range = document.createRange();
            range.selectNodeContents(el);
            const b = range.getBoundingClientRect();
            return { x: b.left, y: b.top, r: b.right, b: b.bottom, w: b.width, h: b.height };
        };
        const color = (el) => getComputedStyle(el).color;
        const item = (what, el, box) => ({ what, box, color: color(el), visibility: getComputedStyle(el).visibility, opacity: getComputedStyle(el).opacity });
        const header = ['#path', '#status', '#summary'].map((s) => item(s, document.querySelector(s), rect(document.querySelector(s))));
        const buttons = [...document.querySelectorAll('th button')].map((b) => item(`button ${b.textContent}`, b, rect(b)));
        const rows = [...document.querySelectorAll('#rows tr')].map((tr) => {
            const parts = [item(`link ${tr.querySelector('a').textContent.slice(0, 20)}`, tr.querySelector('a'), rect(tr.querySelector('a')))];
            if (tr.cells[1].textContent) parts.push(item('size', tr.cells[1], textRect(tr.cells[1])));
            const time = tr.querySelector('time');
            if (time) parts.push(item('time', time, rect(time)));
            const live = tr.querySelector('.live');
            if (live) parts.push(item('live', live, rect(live)));
            return { box: rect(tr), parts };
        });
        return {
            header,
            headerBox: rect(document.querySelector('header')),
            theadBox: rect(document.querySelector('thead')),
            buttons,
            rows,
            bg: getComputedStyle(document.body).backgroundColor,
            bar: getComputedStyle(document.querySelector('header')).backgroundColor,
            width: window.innerWidth,
            scrollWidth: document.scrollingElement.scrollWidth,
            clientWidth: document.scrollingElement.clientWidth,
        };
    });
}

function luminance(c) {
    const [r, g, b] = c.map((v) => {
        v /= 255;
        return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}
const parseRgb = (s) => (/rgba?\((\d+), (\d+), (\d+)/.exec(s) || fail(`colour ${s}`)).slice(1, 4).map(Number);
function contrast(a, b) {
    const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05);
}
const overlap = (a, b) => a.x < b.r - 0.5 && b.x < a.r - 0.5 && a.y < b.b - 0.5 && b.y < a.b - 0.5;

// Every part visible (a size, opaque, inside the window, readable against the background) and no two overlapping.
function checkLayout(L, scheme, what) {
    assertEq(`${what}: page background`, L.bg, rgb(SCHEMES[scheme].bg));
    assertEq(`${what}: header background`, L.bar, rgb(SCHEMES[scheme].bar));
    assert(L.scrollWidth <= L.clientWidth, `${what}: the page scrolls sideways (${L.scrollWidth} > ${L.clientWidth})`);
    const seen = (it, on) => {
        const b = it.box;
        assert(b.w > 1 && b.h > 1, `${what}: ${it.what} has no size (${JSON.stringify(b)})`);
        assert(b.x >= 0 && b.r <= L.width + 0.5, `${what}: ${it.what} is outside the window (${JSON.stringify(b)})`);
        assert(it.visibility === 'visible' && Number(it.opacity) === 1, `${what}: ${it.what} is hidden`);
        const c = contrast(parseRgb(it.color), parseRgb(on));
        assert(c >= 4.5, `${what}: ${it.what} (${it.color} on ${on}) has contrast ${c.toFixed(2)}`);
    };
    const disjoint = (items) => {
        for (let i = 0; i < items.length; i++)
            for (let j = i + 1; j < items.length; j++)
                assert(!overlap(items[i].box, items[j].box), `${what}: ${items[i].what} ${JSON.stringify(items[i].box)} overlaps ${items[j].what} ${JSON.stringify(items[j].box)}`);
    };
    for (const it of L.header) seen(it, L.bar);
    disjoint(L.header);
    for (const it of L.buttons) seen(it, L.bg);
    disjoint(L.buttons);
    assert(L.headerBox.b <= L.theadBox.y + 0.5, `${what}: the header covers the column heads`);
    for (const [i, r] of L.rows.entries()) {
        for (const it of r.parts) {
            seen(it, L.bg);
            assert(it.box.y >= r.box.y - 0.5 && it.box.b <= r.box.b + 0.5, `${what}: ${it.what} sticks out of its row`);
        }
        disjoint(r.parts);
        if (i > 0) assert(L.rows[i - 1].box.b <= r.box.y + 0.5, `${what}: rows ${i - 1} and ${i} overlap`);
    }
}

// ---- appenders ------------------------------------------------------------------------------------------------------------

async function wsAppender(srv, name) {
    const ws = new WebSocket(`${srv.wsUrl}/${name}`, { headers: { 'X-Verb': 'APPEND' } });
    await within(`appender ${name} open`, new Promise((resolve, reject) => {
        ws.on('open', resolve);
        ws.on('error', reject);
        ws.on('unexpected-response', (req, res) => reject(new Error(`appender ${name}: HTTP ${res.statusCode}`)));
    }));
    const closed = new Promise((resolve) => ws.on('close', resolve));
    return {
        async send(data, size) {
            await new Promise((resolve, reject) => ws.send(Buffer.from(data), { binary: true }, (err) => (err ? reject(err) : resolve())));
            await waitFor(`${name} to hold ${size} bytes`, () => {
                try {
                    return fs.statSync(path.join(srv.root, name)).size === size;
                } catch {
                    return false;
                }
            });
        },
        async end() {
            ws.close(1000);
            await within(`appender ${name} close`, closed);
        },
    };
}

// ---- checks ---------------------------------------------------------------------------------------------------------------

async function schemesAndLayout(srv) {
    check('listing: both colour schemes (switched on the open page), every part visible, readable and apart; screenshots');
    const page = await newPage();
    requests = [];
    const res = await page.goto(`${srv.url}/logs/`);
    assertEq('listing status', res.status(), 200);
    const csp = res.headers()['content-security-policy'] || '';
    assert(/default-src 'none'/.test(csp) && /connect-src 'self'/.test(csp), `listing CSP: ${csp}`);
    await pageWait(page, 'the script to run', () => /entries/.test(document.getElementById('summary').textContent));
    for (const scheme of ['dark', 'light']) {
        await page.emulateMedia({ colorScheme: scheme });
        await page.mouse.move(890, 590); // no row hovered
        const L = await layout(page);
        assertEq(`${scheme}: rows (../ and 9 entries)`, L.rows.length, 10);
        checkLayout(L, scheme, `listing, ${scheme}`);
        const img = await shot(page, `listing-${scheme}.png`);
        const S = SCHEMES[scheme];
        assert(near(img.at(img.w - 4, img.h - 4), S.bg, 3), `${scheme}: screenshot background ${img.at(img.w - 4, img.h - 4)}`);
        assert(near(img.at(img.w - 4, 3), S.bar, 3), `${scheme}: screenshot header ${img.at(img.w - 4, 3)}`);
        // the name column's text is drawn (some pixel far from the background in every row's link)
        for (const r of L.rows) {
            const b = r.parts[0].box;
            let inked = false;
            for (let x = Math.ceil(b.x); x < Math.min(b.r, img.w) && !inked; x++)
                for (let y = Math.ceil(b.y); y < b.b && !inked; y++) inked = !near(img.at(x, y), S.bg, 60);
            assert(inked, `${scheme}: nothing drawn for ${r.parts[0].what}`);
        }
    }
    check('listing: at a phone\'s width, nothing overlaps or runs off the side (long names wrap)');
    await page.setViewportSize({ width: 390, height: 760 });
    for (const scheme of ['light', 'dark']) {
        await page.emulateMedia({ colorScheme: scheme });
        checkLayout(await layout(page), scheme, `narrow listing, ${scheme}`);
        await shot(page, `listing-narrow-${scheme}.png`);
    }
    const foreign = requests.filter((u) => !u.startsWith(srv.url));
    assert(foreign.length === 0, `the listing loaded other things: ${foreign}`);
    await page.close();
    checkNoPageErrors('listing page');
}

async function sizesTimesNames(srv) {
    check('listing: sizes in units (exact count on hover), local times, ages on hover, names shown as text');
    const page = await newPage();
    await page.goto(`${srv.url}/logs/`);
    await pageWait(page, 'the script to run', () => /entries/.test(document.getElementById('summary').textContent));
    const st = await listingState(page);
    assertEq('size of build.log', row(st, 'build.log').size, '1.5 KiB');
    assertEq('exact size of build.log', row(st, 'build.log').sizeTitle, '1,500 bytes');
    assertEq('size of a.txt', row(st, 'a.txt').size, '10 B');
    assertEq('size of big.bin', row(st, 'big.bin').size, '3.2 MiB');
    assertEq('size of sub/', row(st, 'sub/').size, '');
    for (const name of [...Object.keys(FILES), 'sub']) {
        const r = row(st, name === 'sub' ? 'sub/' : name);
        assertEq(`local time of ${name}`, r.time, zoneTime(path.join(srv.root, 'logs', name)));
    }
    assertEq('XSS name shown as text', row(st, XSS).name, XSS);
    assert(await page.evaluate(() => !document.querySelector('#rows img') && window.__xss === undefined), 'a name became markup');
    // ages: on hover, fresh whatever the time since the page loaded
    const ageOf = async (name) => {
        const cell = page.locator('#rows tr', { has: page.locator('a', { hasText: name }) }).locator('td.time');
        await cell.hover();
        return cell.getAttribute('title');
    };
    assertEq('age of older.log', await ageOf('older.log'), '3 days ago');
    assertEq('age of a.txt', await ageOf('a.txt'), '2 hours ago');
    assertEq('age of sub/', await ageOf('sub/'), 'yesterday');
    const newest = await ageOf(LONG.slice(0, 30));
    assert(/^(\d+ seconds ago|1 minute ago)$/.test(newest), `age of the newest: ${newest}`);
    await page.close();
    checkNoPageErrors('sizes and times');
}

async function sorting(srv) {
    check('listing: sorting by name (natural), size and time with the column buttons; aria-sort follows; keys work');
    const page = await newPage();
    await page.goto(`${srv.url}/logs/`);
    await pageWait(page, 'the script to run', () => /entries/.test(document.getElementById('summary').textContent));
    const byName = [XSS, 'a.txt', 'big.bin', 'build.log', LONG, 'n9.log', 'n10.log', 'older.log', 'sub/'];
    const bySize = ['big.bin', 'older.log', 'build.log', 'n10.log', 'a.txt', 'n9.log', XSS, LONG, 'sub/'];
    const byTime = [LONG, 'build.log', XSS, 'n9.log', 'n10.log', 'a.txt', 'sub/', 'older.log', 'big.bin'];
    let st = await listingState(page);
    assertSame('first order: by name', names(st), byName);
    assertSame('first aria-sort', st.sort, ['name:ascending']);
    const first = await page.evaluate(() => document.querySelector('#rows tr').textContent);
    assertEq('"../" first', first, '../');
    const click = (key) => page.click(`th[data-key=${key}] button`);
    await click('size');
    st = await listingState(page);
    assertSame('by size, largest first', names(st), bySize);
    assertSame('aria-sort by size', st.sort, ['size:descending']);
    await click('size');
    st = await listingState(page);
    assertSame('by size, smallest first', names(st), [...bySize].reverse());
    assertSame('aria-sort by size, reversed', st.sort, ['size:ascending']);
    await click('time');
    st = await listingState(page);
    assertSame('by time, newest first', names(st), byTime);
    assertSame('aria-sort by time', st.sort, ['time:descending']);
    await page.focus('th[data-key=name] button');
    await page.keyboard.press('Enter');
    st = await listingState(page);
    assertSame('by name with the keyboard', names(st), byName);
    await page.keyboard.press('Space');
    st = await listingState(page);
    assertSame('by name, reversed', names(st), [...byName].reverse());
    assertSame('aria-sort by name, reversed', st.sort, ['name:descending']);
    assertEq('"../" still first', await page.evaluate(() => document.querySelector('#rows tr').textContent), '../');
    const roles = await page.evaluate(() => [...document.querySelectorAll('th[data-key] button')].map((b) => b.type + ':' + b.textContent));
    assertSame('column buttons', roles, ['button:Name', 'button:Size', 'button:Modified']);
    // the choice holds when the reader comes back to the page
    await click('time');
    await page.reload();
    await pageWait(page, 'the script to run again', () => /entries/.test(document.getElementById('summary').textContent));
    st = await listingState(page);
    assertSame('sort kept after a reload', st.sort, ['time:descending']);
    assertSame('order kept after a reload', names(st), byTime);
    await page.close();
    checkNoPageErrors('sorting');
}

async function liveUpdates(srv) {
    check('listing: without a reload, live markers come and go with appenders, sizes and times follow, entries come and go');
    const page = await newPage();
    requests = [];
    let loads = 0;
    page.on('load', () => loads++);
    await page.goto(`${srv.url}/logs/`);
    await pageWait(page, 'the script to run', () => /entries/.test(document.getElementById('summary').textContent));
    await page.evaluate(() => (window.__same = 'same page'));
    await page.click('th[data-key=time] button'); // newest first: the appended ones move to the top
    let st = await listingState(page);
    assert(!st.rows.some((r) => r.live), 'a live marker before any appender');
    assert(!/live/.test(st.summary), `summary before: ${st.summary}`);

    const app = await wsAppender(srv, 'logs/build.log');
    await app.send('x'.repeat(3000), 4500);
    const fresh = await wsAppender(srv, `logs/${NEW}`);
    await fresh.send('hello\n', 6);
    await pageWait(page, 'the live markers and the new row', (n) => {
        const live = [...document.querySelectorAll('#rows tr')].filter((tr) => tr.querySelector('.live')).map((tr) => tr.querySelector('a').textContent);
        return live.length === 2 && live.includes('build.log') && live.includes(n);
    }, NEW);
    await pageWait(page, 'the new size', () => [...document.querySelectorAll('#rows tr')].some((tr) => tr.querySelector('a').textContent === 'build.log' && tr.cells[1].textContent === '4.4 KiB'));
    st = await listingState(page);
    assertSame('the two newest first', names(st).slice(0, 2).sort(), [NEW, 'build.log']);
    assertEq('time of build.log', row(st, 'build.log').time, zoneTime(path.join(srv.root, 'logs', 'build.log')));
    assertEq('new row\'s link', row(st, NEW).href, encodeURIComponent(NEW));
    assert(await page.evaluate(() => !document.querySelector('#rows b, #rows i')), 'a new name became markup');
    assert(/2 live/.test(st.summary), `summary while live: ${st.summary}`);
    await page.mouse.move(890, 590);
    for (const scheme of ['dark', 'light']) {
        await page.emulateMedia({ colorScheme: scheme });
        const L = await layout(page);
        checkLayout(L, scheme, `live listing, ${scheme}`);
        const img = await shot(page, `listing-live-${scheme}.png`);
        // the markers are drawn in the scheme's green
        const marks = L.rows.flatMap((r) => r.parts.filter((p) => p.what === 'live'));
        assertEq(`${scheme}: live markers`, marks.length, 2);
        for (const m of marks) {
            let green = 0;
            for (let x = Math.ceil(m.box.x); x < m.box.r; x++)
                for (let y = Math.ceil(m.box.y); y < m.box.b; y++) if (near(img.at(x, y), SCHEMES[scheme].live, 30)) green++;
            assert(green >= 10, `${scheme}: the live marker has ${green} pixels of its colour`);
        }
    }
    // a link to a live resource opens its viewer (its URL, the page's own encoding)
    const href = await page.evaluate((n) => [...document.querySelectorAll('#rows a')].find((a) => a.textContent === n).href, NEW);
    assertEq('the new link resolves', href, `${srv.url}/logs/%3Cb%3Enew%3Ci%3E.log`);

    await app.end();
    await pageWait(page, 'build.log no longer live', () => [...document.querySelectorAll('#rows tr')].some((tr) => tr.querySelector('a').textContent === 'build.log' && !tr.querySelector('.live')));
    await fresh.end();
    await pageWait(page, 'no live marker', () => !document.querySelector('#rows .live'));
    fs.unlinkSync(path.join(srv.root, 'logs', 'a.txt'));
    await pageWait(page, 'a.txt gone', () => ![...document.querySelectorAll('#rows a')].some((a) => a.textContent === 'a.txt'));
    st = await listingState(page);
    assert(!/live/.test(st.summary), `summary after: ${st.summary}`);
    assertEq('entries after', st.rows.length, 9);
    assertEq('still the same page', await page.evaluate(() => window.__same), 'same page');
    assertEq('page loads', loads, 1);
    const polls = requests.filter((u) => u === `${srv.url}/logs/`).length;
    assert(polls >= 3, `only ${polls} requests of the listing`);
    const foreign = requests.filter((u) => !u.startsWith(srv.url));
    assert(foreign.length === 0, `the listing loaded other things: ${foreign}`);
    await page.close();
    checkNoPageErrors('live listing');
}

async function viewerSchemes(srv) {
    check('viewer: dark and light palettes follow prefers-color-scheme; screenshots');
    const page = await newPage();
    const sgr = [31, 32, 33, 34, 35, 36, 37, 90, 91, 92, 93, 94, 95, 96, 97];
    let text = '$ make \x1b[1mall\x1b[0m\n';
    for (const n of sgr) text += `\x1b[${n}mcolour ${n}\x1b[0m \x1b[1;${n}mbold ${n}\x1b[0m \x1b[2;${n}mdim ${n}\x1b[0m\n`;
    text += '\x1b[31mred\x1b[0m: 1 warning, \x1b[4munderlined\x1b[0m, \x1b[3mitalic\x1b[0m, \x1b[38;5;208m256-colour orange\x1b[0m\n';
    fs.writeFileSync(path.join(srv.root, 'logs', 'colours.log'), text);
    await page.goto(`${srv.url}/logs/colours.log`);
    await pageWait(page, 'the viewer to end', () => document.body.dataset.state === 'ended');
    for (const scheme of ['dark', 'light']) {
        await page.emulateMedia({ colorScheme: scheme });
        const st = await page.evaluate(() => ({
            bg: getComputedStyle(document.body).backgroundColor,
            bar: getComputedStyle(document.querySelector('header')).backgroundColor,
            red: getComputedStyle([...document.querySelectorAll('#log span span')].find((s) => s.textContent === 'red')).color,
            fg: getComputedStyle(document.getElementById('log')).color,
            link: getComputedStyle(document.getElementById('raw')).color,
        }));
        const S = SCHEMES[scheme];
        assertEq(`viewer ${scheme}: background`, st.bg, rgb(S.bg));
        assertEq(`viewer ${scheme}: header`, st.bar, rgb(S.bar));
        assertEq(`viewer ${scheme}: ANSI red`, st.red, S.red);
        for (const k of ['fg', 'link', 'red']) {
            const c = contrast(parseRgb(st[k]), S.bg);
            assert(c >= 4.5, `viewer ${scheme}: ${k} ${st[k]} has contrast ${c.toFixed(2)}`);
        }
        const img = await shot(page, `viewer-${scheme}.png`);
        assert(near(img.at(img.w - 4, img.h - 4), S.bg, 3), `viewer ${scheme}: screenshot background ${img.at(img.w - 4, img.h - 4)}`);
    }
    await page.close();
    checkNoPageErrors('viewer schemes');
}

for (const sig of ['SIGTERM', 'SIGHUP']) process.on(sig, () => process.exit(1));

runMain('test_listing_browser', async () => {
    const srv = await startServer();
    makeDir(srv);
    check('Chromium starts headless');
    browser = await within('chromium.launch', chromium.launch({ executablePath: CHROMIUM, headless: true, args: LAUNCH_ARGS }), 30000);
    try {
        await schemesAndLayout(srv);
        await sizesTimesNames(srv);
        await sorting(srv);
        await liveUpdates(srv);
        await viewerSchemes(srv);
    } finally {
        const b = browser;
        browser = null;
        await within('browser.close', b.close(), 15000).catch(() => {});
    }
    await srv.stop();
}, 120000);
