// viewer_lib.js -- helpers for the viewer's browser tests (test_viewer_*.js) and bench/viewer.js:
// Chromium through playwright-core, pages that record errors, waits on conditions in the page, a
// WebSocket appender, and screenshots decoded to pixels (PNG, checked by the tests).
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const zlib = require('node:zlib');
const WebSocket = require('ws');
const { chromium } = require('playwright-core');
const { within, waitFor, fail, assert } = require('./hfs_server');

const CHROMIUM = process.env.HFS_CHROMIUM || '/usr/bin/chromium';
// Smooth scrolling off: a wheel scroll has ended when the wheel event has been handled.
const LAUNCH_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
    '--disable-component-update', '--no-first-run', '--disable-smooth-scrolling'];
const SHOTS = process.env.HFS_SHOTS || path.join(os.tmpdir(), 'hfs-viewer-shots');

async function launch(extraArgs = []) {
    return within('chromium.launch', chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...LAUNCH_ARGS, ...extraArgs] }), 30000);
}

// A page whose script errors and CSP refusals are collected in errors.
async function newPage(browser, errors, opts = {}) {
    const page = await browser.newPage({ viewport: { width: 900, height: 600 }, colorScheme: 'dark', ...opts });
    page.on('pageerror', (err) => errors.push(String(err)));
    page.on('console', (msg) => {
        if (/Content Security Policy|Refused to/.test(msg.text())) errors.push(`console: ${msg.text()}`);
    });
    return page;
}

// Waits in the page for fn(arg) to be truthy; on timeout fails with what and the viewer's state.
async function pageWait(page, what, fn, arg, ms = 10000) {
    try {
        await page.waitForFunction(fn, arg, { timeout: ms, polling: 20 });
    } catch (err) {
        const state = await page.evaluate(() => ({
            status: document.getElementById('status') && document.getElementById('status').textContent,
            lines: window.hfsViewer && window.hfsViewer.lines(),
            tail: window.hfsViewer && window.hfsViewer.text().slice(-200),
            count: document.getElementById('count') && document.getElementById('count').textContent,
        })).catch(() => ({}));
        fail(`${what}: ${err.message.split('\n')[0]} (page: ${JSON.stringify(state)})`);
    }
}

// A WebSocket appender: send(bytes) resolves once the file holds them; end() closes with 1000.
async function wsAppender(srv, name) {
    const ws = new WebSocket(`${srv.wsUrl}/${name}`, { headers: { 'X-Verb': 'APPEND' } });
    await within(`appender ${name} open`, new Promise((resolve, reject) => {
        ws.on('open', resolve);
        ws.on('error', reject);
        ws.on('unexpected-response', (req, res) => reject(new Error(`appender ${name}: HTTP ${res.statusCode}`)));
    }));
    const closed = new Promise((resolve) => ws.on('close', resolve));
    const file = path.join(srv.root, decodeURIComponent(name));
    let size = fs.existsSync(file) ? fs.statSync(file).size : 0;
    return {
        async send(data) {
            const b = Buffer.from(data);
            await new Promise((resolve, reject) => ws.send(b, { binary: true }, (err) => (err ? reject(err) : resolve())));
            size += b.length;
            await waitFor(() => `${name} to hold ${size} bytes`, () => fs.existsSync(file) && fs.statSync(file).size >= size);
        },
        sendNoWait(data) {
            ws.send(Buffer.from(data), { binary: true });
        },
        async end() {
            ws.close(1000);
            await within(`appender ${name} close`, closed);
        },
    };
}

function decodePng(buf) {
    let pos = 8;
    let w = 0, h = 0, depth = 0, ctype = 0;
    const idat = [];
    while (pos < buf.length) {
        const len = buf.readUInt32BE(pos);
        const type = buf.toString('latin1', pos + 4, pos + 8);
        const data = buf.subarray(pos + 8, pos + 8 + len);
        if (type === 'IHDR') {
            w = data.readUInt32BE(0);
            h = data.readUInt32BE(4);
            depth = data[8];
            ctype = data[9];
            assert(data[12] === 0, 'interlaced PNG');
        } else if (type === 'IDAT') {
            idat.push(data);
        } else if (type === 'IEND') {
            break;
        }
        pos += 12 + len;
    }
    assert(depth === 8 && (ctype === 2 || ctype === 6), `PNG depth ${depth} colour type ${ctype}`);
    const bpp = ctype === 6 ? 4 : 3;
    const stride = w * bpp;
    const raw = zlib.inflateSync(Buffer.concat(idat));
    const px = Buffer.alloc(h * stride);
    for (let y = 0; y < h; y++) {
        const f = raw[y * (stride + 1)];
        const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
        for (let x = 0; x < stride; x++) {
            const a = x >= bpp ? px[y * stride + x - bpp] : 0;
            const b = y ? px[(y - 1) * stride + x] : 0;
            const c = x >= bpp && y ? px[(y - 1) * stride + x - bpp] : 0;
            let v = line[x];
            if (f === 1) v += a;
            else if (f === 2) v += b;
            else if (f === 3) v += (a + b) >> 1;
            else if (f === 4) {
                const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
                v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
            }
            px[y * stride + x] = v & 255;
        }
    }
    return {
        w,
        h,
        at(x, y) {
            const i = (Math.round(y) * w + Math.round(x)) * bpp;
            return [px[i], px[i + 1], px[i + 2]];
        },
        // How many pixels of the box (CSS px; device scale 1) are near colour c.
        count(box, c, d = 12) {
            let n = 0;
            for (let y = Math.ceil(box.y); y < Math.floor(box.y + box.height); y++) {
                for (let x = Math.ceil(box.x); x < Math.floor(box.x + box.width); x++) if (near(this.at(x, y), c, d)) n++;
            }
            return n;
        },
    };
}

const near = (a, b, d = 24) => Math.abs(a[0] - b[0]) + Math.abs(a[1] - b[1]) + Math.abs(a[2] - b[2]) <= d;

async function shot(page, name) {
    fs.mkdirSync(SHOTS, { recursive: true });
    const file = path.join(SHOTS, name);
    const png = await page.screenshot({ path: file, animations: 'disabled' });
    console.log(`screenshot: ${file}`);
    return decodePng(png);
}

// The rows on screen: line number (1-based), text, classes and box (CSS px in the viewport). Read after two
// frames, so that what the model held when it was called is drawn (rows are drawn at the next frame).
function visibleRows(page) {
    return page.evaluate(async () => {
        await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
        const sc = document.getElementById('scroller').getBoundingClientRect();
        return [...document.querySelectorAll('#rows .row')].map((r) => {
            const b = r.getBoundingClientRect();
            return { n: +r.dataset.line + 1, text: r.querySelector('.t').textContent, cls: r.className,
                     box: { x: b.x, y: b.y, width: b.width, height: b.height } };
        }).filter((r) => r.box.y + r.box.height > sc.top && r.box.y < sc.bottom);
    });
}

const parseRgb = (s) => s.match(/\d+/g).slice(0, 3).map(Number);

module.exports = { launch, newPage, pageWait, wsAppender, decodePng, shot, near, visibleRows, parseRgb, SHOTS };
