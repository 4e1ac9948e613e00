// The web console's benchmark (run by bench/web.sh against a running
// `sentinel up` that serves the console): seeds data through the API, then
// drives Debian's Chromium with playwright-core and prints one line per
// measure, tab-separated: name, value, goal, met (yes / no / n/a).
//
//   node bench/web/measure.mjs URL ADMIN_PASSWORD WEB_DIR
//
// Measures:
//   overview first load   navigation start → the Overview's data on screen
//                         (the page's performance mark sentinel:overview-data),
//                         median of 5 cold loads (a new browser context each:
//                         empty cache), goal < 1 s
//   initial JS (gzip)     the scripts index.html loads itself plus its
//                         modulepreloads, gzip sizes (DIR/NAME.gz, else gzip -9
//                         here), goal < 300 kB
//   job log, 100k lines   the longest task (PerformanceObserver 'longtask')
//                         while /jobs/:id loads a finished job's 100,000-line
//                         log into its terminal and the log is scrolled,
//                         goal <= 200 ms
//   chart, 100k samples   the same while /monitoring draws one series of
//                         100,000 samples (the last 24 h) and is zoomed by
//                         dragging, goal <= 200 ms
// A page another part of the console has not built yet reads "n/a (page not
// built)" instead of failing the run.
import { readFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { gzipSync, constants as zc } from 'node:zlib';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const require = createRequire(join(root, 'web/package.json'));
const { chromium } = require('playwright-core');

const [URL, PASSWORD, WEB_DIR] = process.argv.slice(2);
if (!URL || !PASSWORD || !WEB_DIR) {
  console.error('usage: node bench/web/measure.mjs URL ADMIN_PASSWORD WEB_DIR');
  process.exit(2);
}
const LOG_LINES = Number(process.env.BENCH_LOG_LINES ?? 100_000);
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 100_000);
const LOADS = Number(process.env.BENCH_LOADS ?? 5);
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'];
const log = (s) => process.stderr.write(`bench/web: ${s}\n`);
const rows = [];
const row = (name, value, goal, met) => rows.push([name, value, goal, met]);

// ---- the API, as admin ----
let token = '';
async function call(method, path, body, headers = {}) {
  const h = { Authorization: `Bearer ${token}`, ...headers };
  let b = body;
  if (body !== undefined && typeof body !== 'string') {
    b = JSON.stringify(body);
    h['Content-Type'] = 'application/json';
  }
  const res = await fetch(URL + path, { method, headers: h, body: b });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 200)}`);
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
const login = await fetch(URL + '/api/v1/auth/login', {
  method: 'POST',
  headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify({ username: 'admin', password: PASSWORD }),
});
if (!login.ok) throw new Error(`login: ${login.status}`);
token = (await login.json()).token;

// ---- seed: a job printing LOG_LINES lines, SAMPLES samples of one series ----
log(`seeding a job of ${LOG_LINES} log lines and ${SAMPLES} samples`);
await call('POST', '/api/v1/scripts/bench-lines/versions',
  `#!/bin/sh\nseq 1 ${LOG_LINES} | sed 's/^/log line number /'\n`,
  { 'Content-Type': 'text/plain' });
const job = await call('POST', '/api/v1/jobs', { name: 'bench-log', script: 'bench-lines', max_attempts: 1 });
const AGENT = 'bench-agent';
const METRIC = 'bench.value';
const now = Date.now();
const span = 24 * 3600_000 - 60_000;
for (let i = 0; i < SAMPLES; i += 50_000) {
  const samples = [];
  for (let k = i; k < Math.min(SAMPLES, i + 50_000); k++) {
    samples.push({ agent: AGENT, metric: METRIC, value: Math.sin(k / 500) * 50 + 50 + (k % 97) / 10, ts: now - span + Math.floor((k * span) / SAMPLES) });
  }
  await call('POST', '/api/v1/metrics', { samples });
}
// a few jobs so that the Overview has something to count
for (let i = 0; i < 3; i++) await call('POST', '/api/v1/jobs', { name: `bench-pi-${i}`, program: 'montecarlo-pi', total_iterations: 20_000, chunk_size: 1000 });
let jobState = '';
for (let i = 0; i < 600 && !['completed', 'failed', 'cancelled'].includes(jobState); i++) {
  jobState = (await call('GET', `/api/v1/jobs/${job.id}`)).state;
  if (!['completed', 'failed', 'cancelled'].includes(jobState)) await new Promise((r) => setTimeout(r, 200));
}
const logText = await call('GET', `/api/v1/jobs/${job.id}/logs`);
const logLines = String(logText).split('\n').filter(Boolean).length;
log(`job ${job.id} ${jobState}, ${logLines} log lines kept`);

// ---- initial JS ----
const html = readFileSync(join(WEB_DIR, 'index.html'), 'utf8');
const scripts = new Set();
for (const m of html.matchAll(/<script[^>]*\ssrc="([^"]+)"/g)) scripts.add(m[1]);
for (const m of html.matchAll(/<link[^>]*rel="modulepreload"[^>]*href="([^"]+)"/g)) scripts.add(m[1]);
for (const m of html.matchAll(/<link[^>]*href="([^"]+)"[^>]*rel="modulepreload"/g)) scripts.add(m[1]);
let gz = 0;
for (const s of scripts) {
  const f = join(WEB_DIR, s.replace(/^\//, ''));
  gz += existsSync(f + '.gz') ? readFileSync(f + '.gz').length : gzipSync(readFileSync(f), { level: zc.Z_BEST_COMPRESSION }).length;
}
const kB = gz / 1000;
row(`initial JS, gzip (${scripts.size} files)`, `${kB.toFixed(1)} kB`, '< 300 kB', kB < 300 ? 'yes' : 'no');

// ---- the browser ----
// launch() runs on a fresh temporary profile of its own (it refuses
// --user-data-dir); each measure also gets a new context (empty cache).
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: FLAGS,
});

/** A fresh context (empty cache) logged in with a session cookie. */
async function freshContext(viewport = { width: 1440, height: 900 }) {
  const ctx = await browser.newContext({ viewport });
  const r = await ctx.request.post(URL + '/api/v1/auth/login', { data: { username: 'admin', password: PASSWORD, session: 'cookie' } });
  if (!r.ok()) throw new Error(`cookie login: ${r.status()}`);
  // the longest task from the first byte of the page on
  await ctx.addInitScript(() => {
    window.__longest = 0;
    window.__tasks = 0;
    window.__all = [];
    try {
      new PerformanceObserver((l) => {
        for (const e of l.getEntries()) {
          window.__tasks++;
          window.__longest = Math.max(window.__longest, e.duration);
          window.__all.push(`${Math.round(e.startTime)}+${Math.round(e.duration)}`);
        }
      }).observe({ type: 'longtask', buffered: true });
    } catch {
      /* no longtask support */
    }
  });
  return ctx;
}
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor((a.length - 1) / 2)];

// Overview: cold loads.
try {
  const times = [];
  for (let i = 0; i < LOADS; i++) {
    const ctx = await freshContext();
    const page = await ctx.newPage();
    await page.goto(URL + '/', { waitUntil: 'commit' });
    await page.waitForFunction(() => performance.getEntriesByName('sentinel:overview-data').length > 0, null, { timeout: 30_000 });
    const t = await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      const mark = performance.getEntriesByName('sentinel:overview-data')[0];
      return mark.startTime - (nav ? nav.startTime : 0);
    });
    times.push(t);
    await ctx.close();
  }
  const m = median(times);
  log(`overview loads (ms): ${times.map((t) => t.toFixed(0)).join(' ')}`);
  row(`Overview first load (median of ${LOADS} cold)`, `${m.toFixed(0)} ms`, '< 1000 ms', m < 1000 ? 'yes' : 'no');
} catch (e) {
  log(`overview: ${e.message}`);
  row('Overview first load', 'failed', '< 1000 ms', 'no');
}

// Job log: load and scroll.
try {
  const ctx = await freshContext();
  const page = await ctx.newPage();
  await page.goto(`${URL}/jobs/${job.id}`);
  const built = await page.locator('[role="log"], .xterm').first().waitFor({ timeout: 15_000 }).then(() => true, () => false);
  if (!built) {
    row(`job log, ${LOG_LINES} lines: longest task`, 'n/a (page not built)', '<= 200 ms', 'n/a');
  } else {
    const t0 = Date.now();
    await page.waitForFunction((n) => {
      const el = document.querySelector('[data-testid="log-lines"]');
      return el && Number(el.textContent.replace(/[^0-9]/g, '')) >= n;
    }, logLines, { timeout: 120_000 }).catch(() => log('the log did not reach its full length in 120 s'));
    const shown = Date.now() - t0;
    const before = await page.evaluate(() => [performance.now(), window.__all.join(' ')]);
    log(`job log: long tasks before scrolling (at ${Math.round(before[0])} ms): ${before[1]}`);
    const box = await page.locator('.xterm-viewport, .xterm, [role="log"]').first().boundingBox();
    if (box) {
      await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
      for (let i = 0; i < 30; i++) await page.mouse.wheel(0, -4000);
      for (let i = 0; i < 30; i++) await page.mouse.wheel(0, 4000);
      await page.keyboard.press('Home').catch(() => {});
    }
    await page.waitForTimeout(500);
    const lt = await page.evaluate(() => [window.__longest, window.__tasks]);
    log(`job log: ${logLines} lines shown after ${shown} ms; ${lt[1]} long tasks`);
    row(`job log, ${logLines.toLocaleString('en')} lines: longest task`, `${lt[0].toFixed(0)} ms`, '<= 200 ms', lt[0] <= 200 ? 'yes' : 'no');
  }
  await ctx.close();
} catch (e) {
  log(`job log: ${e.message}`);
  row('job log: longest task', 'failed', '<= 200 ms', 'no');
}

// Chart: load and zoom.
try {
  const ctx = await freshContext();
  const page = await ctx.newPage();
  let points = 0;
  page.on('response', async (r) => {
    if (!r.url().includes('/api/v1/metrics/query') || !r.ok()) return;
    try {
      const j = await r.json();
      const series = Array.isArray(j) ? j : (j.series ?? j.items ?? []);
      points = Math.max(points, series.reduce((n, s) => n + (s.points?.length ?? 0), 0));
    } catch {
      /* not JSON */
    }
  });
  await page.goto(`${URL}/monitoring?agent=${AGENT}&metric=${METRIC}&range=24h`);
  const built = await page.locator('.time-chart canvas, .uplot canvas').first().waitFor({ timeout: 20_000 }).then(() => true, () => false);
  if (!built) {
    row(`chart, ${SAMPLES.toLocaleString('en')} samples: longest task`, 'n/a (page not built)', '<= 200 ms', 'n/a');
  } else {
    await page.waitForTimeout(1000);
    const over = await page.locator('.u-over').first().boundingBox();
    if (over) {
      for (let i = 0; i < 3; i++) {
        await page.mouse.move(over.x + over.width * 0.2, over.y + over.height / 2);
        await page.mouse.down();
        await page.mouse.move(over.x + over.width * 0.6, over.y + over.height / 2, { steps: 10 });
        await page.mouse.up();
        await page.waitForTimeout(300);
        await page.mouse.dblclick(over.x + over.width / 2, over.y + over.height / 2);
        await page.waitForTimeout(300);
      }
    }
    const lt = await page.evaluate(() => [window.__longest, window.__tasks]);
    log(`chart: ${points} points drawn (the page's query), ${lt[1]} long tasks`);
    row(`chart, ${SAMPLES.toLocaleString('en')} samples (${points} pts): longest task`, `${lt[0].toFixed(0)} ms`, '<= 200 ms', lt[0] <= 200 ? 'yes' : 'no');
  }
  await ctx.close();
} catch (e) {
  log(`chart: ${e.message}`);
  row('chart: longest task', 'failed', '<= 200 ms', 'no');
}

await browser.close();
for (const r of rows) console.log(r.join('\t'));
