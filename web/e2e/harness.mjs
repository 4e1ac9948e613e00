// End-to-end harness: a real `sentinel up` (server and one local node) in a
// temporary directory, and Debian's Chromium driven by playwright-core.
// Each test file starts its own server (node --test runs files one at a
// time). A page watched with watch() fails its test on any console error,
// uncaught exception or failed request, unless the test declared it
// expected with allow(). shoot() saves 1440x900 and 390x844 screenshots
// under build/e2e/; audit() runs axe-core and fails on serious violations.
//
// Settings: SENTINEL_BIN (default ../sentinel), SENTINEL_WEB_DIR (default
// web/dist), CHROMIUM (default /usr/bin/chromium), E2E_OUT (screenshots).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const repo = resolve(here, '../..');
const require = createRequire(import.meta.url);

export const ADMIN = { username: 'admin', password: 'e2e-admin-password' };
export const OUT = process.env.E2E_OUT ?? join(repo, 'build/e2e');

/** Starts `sentinel up`; returns { url, dir, stop(), log() }. */
export async function startSentinel({ args = [], localNode = true } = {}) {
  const bin = process.env.SENTINEL_BIN ?? join(repo, 'sentinel');
  const web = process.env.SENTINEL_WEB_DIR ?? join(repo, 'web/dist');
  assert.ok(existsSync(bin), `no sentinel binary at ${bin} (run make)`);
  assert.ok(existsSync(join(web, 'index.html')), `no console build at ${web} (run make web)`);
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-e2e-'));
  const ready = join(dir, 'ready');
  const argv = ['up', '--listen', '127.0.0.1:0', '--data', join(dir, 'data'), '--admin-password', ADMIN.password,
    '--ready-file', ready, '--web-dir', web, ...(localNode ? [] : ['--no-local-node']), ...args];
  let log = '';
  const child = spawn(bin, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  let url = '';
  for (let i = 0; i < 400 && !url; i++) {
    if (existsSync(ready)) url = readFileSync(ready, 'utf8').trim();
    if (child.exitCode !== null) break;
    if (!url) await sleep(50);
  }
  if (!url) {
    child.kill('SIGKILL');
    throw new Error(`sentinel up did not start:\n${log.slice(-3000)}`);
  }
  return {
    url,
    dir,
    log: () => log,
    async stop() {
      child.kill('SIGTERM');
      for (let i = 0; i < 100 && child.exitCode === null; i++) await sleep(50);
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A REST client for seeding data: api.login(user, pw) then api.call(...). */
export function restClient(url) {
  let token = '';
  const call = async (method, path, body, { headers = {}, raw = false } = {}) => {
    const h = { ...headers };
    if (token) h.Authorization = `Bearer ${token}`;
    let b = body;
    if (body !== undefined && typeof body !== 'string' && !(body instanceof Uint8Array) && !(body instanceof Blob)) {
      b = JSON.stringify(body);
      h['Content-Type'] ??= 'application/json';
    }
    const res = await fetch(url + path, { method, headers: h, body: b });
    if (raw) return res;
    const text = await res.text();
    let json;
    try { json = text ? JSON.parse(text) : undefined; } catch { json = text; }
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
    return json;
  };
  return {
    call,
    get: (p) => call('GET', p),
    post: (p, b, o) => call('POST', p, b, o),
    async login(username = ADMIN.username, password = ADMIN.password) {
      const r = await call('POST', '/api/v1/auth/login', { username, password });
      token = r.token;
      return r;
    },
    token: () => token,
  };
}

const CHROME_FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'];

/** Launches Chromium with a fresh profile; returns { context, close() }. */
export async function launch({ viewport = { width: 1440, height: 900 } } = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'sentinel-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: CHROME_FLAGS,
    viewport,
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Records what goes wrong on a page. check() throws if anything happened
 * that no allow(regex) pattern covers; the test calls it at its end (or
 * whenever it wants the page clean so far).
 */
export function watch(page) {
  const problems = [];
  const allowed = [];
  const note = (s) => { if (!allowed.some((re) => re.test(s))) problems.push(s); };
  page.on('console', (m) => { if (m.type() === 'error') note(`console error: ${m.text()} (${m.location().url})`); });
  page.on('pageerror', (e) => note(`uncaught: ${e.message}`));
  page.on('requestfailed', (r) => {
    const f = r.failure()?.errorText ?? '';
    // A stream or fetch the page itself ended on navigation is not a failure.
    if (/ERR_ABORTED/.test(f)) return;
    note(`request failed: ${r.method()} ${r.url()} ${f}`);
  });
  page.on('response', (r) => { if (r.status() >= 400) note(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`); });
  return {
    allow(re) { allowed.push(re); },
    problems,
    check() {
      const left = problems.filter((s) => !allowed.some((re) => re.test(s)));
      problems.length = 0;
      assert.deepEqual(left, [], 'the page had errors');
    },
  };
}

/** Logs in through the login page and waits for the shell. */
export async function login(page, url, { username = ADMIN.username, password = ADMIN.password } = {}) {
  await page.goto(url + '/login');
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('button', { name: 'Log out' }).waitFor();
}

/** Screenshots of the current page at desktop and phone sizes. */
export async function shoot(page, name) {
  mkdirSync(OUT, { recursive: true });
  const was = page.viewportSize();
  for (const [tag, vp] of [['desktop', { width: 1440, height: 900 }], ['phone', { width: 390, height: 844 }]]) {
    await page.setViewportSize(vp);
    await page.waitForTimeout(150);
    await page.screenshot({ path: join(OUT, `${name}-${tag}.png`), fullPage: false });
  }
  if (was) await page.setViewportSize(was);
}

const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/**
 * axe-core on the page as it is (or only on the part that selector names,
 * e.g. an open dialog: the page behind a modal's mask is dimmed on purpose,
 * so its contrast is not the dialog's); fails on serious or critical
 * violations.
 */
export async function audit(page, name, selector) {
  // Not in the middle of an antd motion (rc-motion's classes NAME-enter,
  // -appear, -leave and their -prepare/-start/-active steps): a toast fading
  // out at the moment of the audit has, for those frames, text too faint to
  // read, and axe said so (once in a few runs, after the pages got faster).
  await page
    .waitForFunction(
      () =>
        ![...document.querySelectorAll('[class*="-appear"], [class*="-enter"], [class*="-leave"]')].some((e) =>
          [...e.classList].some((c) => /-(appear|enter|leave)(-(prepare|start|active))?$/.test(c)),
        ),
      null,
      { timeout: 3000 },
    )
    .catch(() => {});
  // evaluate() runs outside the page's CSP, so the policy stays as served.
  await page.evaluate(`${axeSource};0`);
  const res = await page.evaluate(async (sel) => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(sel ? { include: [[sel]] } : document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  }, selector);
  const bad = res.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad, [], `axe on ${name}: serious violations`);
  return res;
}

/** Visits a console path, waits for its heading, screenshots and audits it. */
export async function visit(page, url, path, heading, name) {
  await page.goto(url + path);
  await page.getByRole('heading', { level: 1, name: heading }).first().waitFor();
  await page.waitForLoadState('networkidle').catch(() => {});
  if (name) {
    await shoot(page, name);
    await audit(page, name);
  }
}
