// Jobs: a script made through the API, launched through the wizard (its
// checks refuse bad values in words), then followed on the job page: live
// output in the terminal, progress to 100%, the chunk map all completed, the
// merged statistics and the artifacts; the list updates live; cancel and
// retry answer with toasts.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { audit, launch, login, restClient, shoot, startSentinel, watch } from './harness.mjs';

// Four chunks of ten iterations: each prints lines over about a second, then
// its samples and one artifact.
const SCRIPT = `import json, os, random, time
chunk = os.environ["SENTINEL_CHUNK"]
n = int(os.environ["SENTINEL_ITERATIONS"])
# (the agent names the one file of a single-file input after the dataset)
with open("/data/nums/" + os.listdir("/data/nums")[0]) as f:
    print("input rows", len(f.read().splitlines()) - 1, flush=True)
for i in range(3):
    print("pi-demo", chunk, "step", i, flush=True)
    time.sleep(0.3)
out = os.environ["SENTINEL_OUTPUT"]
with open(out + "/result.json", "w") as f:
    json.dump({"samples": {"x": [float(k) for k in range(n)]}}, f)
with open(out + "/note.txt", "w") as f:
    f.write("chunk " + chunk)
`;

let sv, br, rest;

/** Logs in unless the browser's session cookie is still good (tests share one context). */
async function ensureLogin(page) {
  await page.goto(sv.url + '/');
  const out = page.getByRole('button', { name: 'Log out' });
  await out.or(page.getByRole('button', { name: 'Log in' })).first().waitFor();
  if (!(await out.isVisible())) await login(page, sv.url);
}
before(async () => {
  sv = await startSentinel();
  br = await launch();
  rest = restClient(sv.url);
  await rest.login();
  await rest.call('POST', '/api/v1/scripts/pi-demo.py/versions?message=e2e', SCRIPT, { headers: { 'Content-Type': 'text/plain' } });
  await rest.call('POST', '/api/v1/datasets/nums/versions?message=first', 'a,b\n1,2\n3,4\n', { headers: { 'Content-Type': 'text/csv' } });
  await rest.call('POST', '/api/v1/datasets/nums/versions?message=second', 'a,b\n1,2\n3,4\n5,6\n', { headers: { 'Content-Type': 'text/csv' } });
});
after(async () => {
  await br?.close();
  await sv?.stop();
});

test('the wizard launches a script job, the job page follows it to its result', async () => {
  const page = await br.context.newPage();
  const w = watch(page);
  // Before the login the console asks who is there: 401.
  w.allow(/HTTP 401: GET .*\/api\/v1\/me/);
  w.allow(/status of 401/);
  await login(page, sv.url);

  await page.goto(sv.url + '/jobs');
  await page.getByRole('heading', { level: 1, name: 'Jobs' }).waitFor();
  await page.getByText('No jobs yet').waitFor();
  await shoot(page, 'jobs-empty');
  await audit(page, 'jobs-empty');

  // The Script Lab's link: the script and version are filled in.
  await page.goto(sv.url + '/jobs/new?script=pi-demo.py&version=1');
  await page.getByRole('heading', { level: 1, name: 'New job' }).waitFor();
  const step1 = page.getByRole('group', { name: 'Script & runtime' });
  await step1.getByText('pi-demo.py').first().waitFor();
  await step1.getByText('v1 · e2e').waitFor();
  assert.equal(await page.getByLabel('Job name').inputValue(), 'pi-demo.py');
  await shoot(page, 'wizard-1-script');
  await audit(page, 'wizard-1-script');
  // A job needs a name: the step refuses to go on without one.
  await page.getByLabel('Job name').fill('');
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByText('Name the job').waitFor();
  await page.getByLabel('Job name').fill('pi e2e');
  await page.getByLabel('Environment').fill('SENTINEL_X=1');
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByText('line 1: SENTINEL_ variables are reserved').waitFor();
  await page.getByLabel('Environment').fill('MODE=e2e');
  await page.getByRole('button', { name: 'Next' }).click();

  // Version 1 of the dataset (two rows), not the latest (three).
  const inputs = page.getByRole('group', { name: 'Inputs' });
  await inputs.getByRole('button', { name: 'Add an input' }).click();
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByText('Pick a dataset or remove this row').waitFor();
  await inputs.getByLabel('Dataset 1').click();
  await page.locator('.ant-select-item-option').filter({ hasText: /^nums$/ }).click();
  await inputs.locator('.ant-select:has(#inputs_0_version)').click();
  await page.locator('.ant-select-item-option').filter({ hasText: 'v1 · first' }).click();
  await page.getByLabel('Config (JSON object, optional)').fill('[1, 2]');
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByText('the config must be a JSON object').waitFor();
  await page.getByLabel('Config (JSON object, optional)').fill('{"rate": 0.5}');
  await shoot(page, 'wizard-2-inputs');
  await audit(page, 'wizard-2-inputs');
  await page.getByRole('button', { name: 'Next' }).click();

  const res = page.getByRole('group', { name: 'Resources' });
  await res.getByLabel('Iterations in all').waitFor();
  await res.getByLabel('Iterations a chunk').fill('1');
  await res.getByLabel('Iterations in all').fill('5000000');
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByText(/That makes 5,000,000 chunks; at most 1,000,000/).waitFor();
  await res.getByLabel('Iterations in all').fill('40');
  await res.getByLabel('Iterations a chunk').fill('10');
  await res.getByTestId('chunk-count').filter({ hasText: /^4$/ }).waitFor();
  await shoot(page, 'wizard-3-resources');
  await audit(page, 'wizard-3-resources');
  await page.getByRole('button', { name: 'Next' }).click();

  const acc = page.getByRole('group', { name: 'Access' });
  await acc.getByText('Private: my own nodes').waitFor();
  await acc.getByText('Nodes of these users and groups').click();
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByText('Name at least one user or group').waitFor();
  await acc.getByText('Private: my own nodes').click();
  await shoot(page, 'wizard-4-access');
  await audit(page, 'wizard-4-access');
  await page.getByRole('button', { name: 'Next' }).click();

  const review = page.getByRole('group', { name: 'Review' });
  await review.getByText('pi-demo.py@1', { exact: true }).waitFor();
  await review.getByText('4 (40 iterations, 10 each), 3 attempts each', { exact: true }).waitFor();
  await review.getByText('MODE=e2e', { exact: true }).waitFor();
  await review.getByText('nums@1', { exact: true }).waitFor();
  await shoot(page, 'wizard-5-review');
  await audit(page, 'wizard-5-review');
  await page.getByRole('button', { name: 'Launch' }).click();

  await page.getByText('Job pi e2e launched (4 chunks)').waitFor();
  await page.waitForURL(/\/jobs\/jb_[0-9a-f]+$/);
  const id = page.url().split('/').pop();
  await page.getByRole('heading', { level: 1, name: 'pi e2e' }).waitFor();

  // Live output reaches the terminal (while the job runs, through the follow stream).
  const term = page.locator('.xterm-rows');
  await term.filter({ hasText: 'pi-demo' }).waitFor({ timeout: 30_000 });
  // Progress to 100%, every chunk completed on the local node.
  await page.getByTestId('chunk-progress').filter({ hasText: '4 of 4 chunks completed' }).waitFor({ timeout: 60_000 });
  await page.getByRole('progressbar', { name: 'Job progress' }).getByText('100%').waitFor();
  await page.locator('.ant-tag[data-state="completed"]').first().waitFor();
  const cells = page.getByRole('list', { name: 'Chunks on node local' }).getByRole('listitem');
  await page.waitForFunction(() => document.querySelectorAll('.chunk-cell[data-state="completed"]').length === 4, null, { timeout: 15_000 });
  assert.equal(await cells.count(), 4);
  for (let i = 0; i < 4; i++) await page.getByRole('listitem', { name: `Chunk ${i}: completed on local, attempt 1` }).waitFor();
  const legend = page.getByRole('list', { name: 'Chunk states' });
  assert.match(await legend.locator('li[data-state="completed"]').innerText(), /completed\s*4/i);
  assert.match(await legend.locator('li[data-state="failed"]').innerText(), /failed\s*0/i);
  // Every chunk's four lines were shown (16 lines in all), none twice.
  await page.getByTestId('log-lines').filter({ hasText: /^16 lines$/ }).waitFor({ timeout: 15_000 });
  const text = await term.innerText();
  assert.match(text, /\[\d#1\] pi-demo/);
  assert.match(text, /\[0#1\] input rows 2/);
  // The merged statistics: 4 chunks of 0..9 → n 40, mean 4.5, min 0, max 9.
  const stats = page.getByRole('table').filter({ hasText: 'Statistic' });
  const row = stats.getByRole('row').filter({ hasText: /^x/ });
  await row.waitFor({ timeout: 15_000 });
  // (the row may first show a partial result, read while chunks still ran)
  const want = ['x', '40', '4.5', String(Number(Math.sqrt((8.25 * 40) / 39).toFixed(6))), '0', '9'];
  let got = [];
  for (let i = 0; i < 60; i++) {
    got = (await row.getByRole('cell').allInnerTexts()).map((s) => s.trim());
    if (JSON.stringify(got) === JSON.stringify(want)) break;
    await page.waitForTimeout(250);
  }
  assert.deepEqual(got, want);
  // Artifacts: one per chunk, each downloadable with its bytes.
  const links = page.getByRole('link', { name: /^Download note\.txt of chunk \d$/ });
  await page.waitForFunction(() => document.querySelectorAll('a[aria-label^="Download note.txt"]').length === 4, null, { timeout: 15_000 });
  const href = await links.first().getAttribute('href');
  const body = await page.evaluate(async (h) => (await fetch(h)).text(), href);
  assert.match(body, /^chunk jb_[0-9a-f]+-\d$/);
  await shoot(page, 'job-completed');
  await audit(page, 'job-completed');

  // The list shows it completed; the script filter keeps it, another state hides it.
  await page.goto(sv.url + '/jobs');
  const listed = page.getByRole('row').filter({ hasText: 'pi e2e' });
  await listed.getByText('completed').waitFor();
  await listed.getByText('4/4 chunks').waitFor();
  await page.goto(sv.url + '/jobs?state=failed');
  await page.getByText('No job matches the filters').or(page.getByText('No jobs yet')).first().waitFor();
  await page.goto(sv.url + '/jobs?script=pi-demo.py');
  await page.getByRole('row').filter({ hasText: 'pi e2e' }).waitFor();
  await shoot(page, 'jobs-list');
  await audit(page, 'jobs-list');

  // Live: a job submitted elsewhere appears and completes without a reload.
  await page.goto(sv.url + '/jobs');
  await page.getByRole('row').filter({ hasText: 'pi e2e' }).waitFor();
  await rest.post('/api/v1/jobs', { name: 'live noop', program: 'sleep', args: ['1'], total_iterations: 2, chunk_size: 1 });
  const liveRow = page.getByRole('row').filter({ hasText: 'live noop' });
  await liveRow.waitFor({ timeout: 15_000 });
  await liveRow.getByText('completed').waitFor({ timeout: 30_000 }).catch(async (e) => {
    const jobs = (await rest.get('/api/v1/jobs')).items.map((j) => `${j.name}: ${j.state}`);
    throw new Error(`${e.message}\nthe server says: ${jobs.join('; ')}\nthe row says: ${await liveRow.innerText()}`);
  });
  await liveRow.getByText('2/2 chunks').waitFor();
  assert.ok(id);
  w.check();
  await page.close();
});

test('cancel and retry ask first and answer with toasts', async () => {
  const page = await br.context.newPage();
  const w = watch(page);
  w.allow(/HTTP 401: GET .*\/api\/v1\/me/);
  w.allow(/status of 401/);
  await ensureLogin(page);
  const job = await rest.post('/api/v1/jobs', { name: 'long sleep', program: 'sleep', args: ['20'], total_iterations: 3, chunk_size: 1 });
  await page.goto(`${sv.url}/jobs/${job.id}`);
  await page.getByRole('heading', { level: 1, name: 'long sleep' }).waitFor();
  await page.locator('.chunk-cell[data-state="running"]').first().waitFor({ timeout: 20_000 });
  await shoot(page, 'job-running');
  await audit(page, 'job-running');
  await page.getByRole('button', { name: 'Cancel' }).click();
  await page.getByText('Cancel this job?').waitFor();
  await page.getByRole('button', { name: 'Cancel job' }).click();
  await page.getByText('Job long sleep cancelled').waitFor();
  await page.locator('.ant-page-header, .page-header').locator('[data-state="cancelled"]').waitFor({ timeout: 15_000 });
  assert.equal((await rest.get(`/api/v1/jobs/${job.id}`)).state, 'cancelled');
  await page.waitForFunction(() => document.querySelectorAll('.chunk-cell[data-state="cancelled"]').length === 3, null, { timeout: 15_000 });

  await page.getByRole('button', { name: 'Retry' }).click();
  await page.getByText('Retry the failed chunks?').waitFor();
  await page.getByRole('button', { name: 'Retry', exact: true }).last().click();
  await page.getByText('Job long sleep: failed chunks run again').waitFor();
  await page.locator('.page-header [data-state="running"], .page-header [data-state="pending"]').first().waitFor({ timeout: 15_000 });
  const again = await rest.get(`/api/v1/jobs/${job.id}`);
  assert.ok(['running', 'pending'].includes(again.state), again.state);
  // Cancel once more through the API, and the page follows.
  await rest.post(`/api/v1/jobs/${job.id}/cancel`);
  await page.locator('.page-header [data-state="cancelled"]').waitFor({ timeout: 15_000 });

  // An unknown job is shown in words.
  w.allow(/HTTP 404: GET .*\/api\/v1\/jobs\/jb_nope/);
  w.allow(/status of 404/);
  await page.goto(`${sv.url}/jobs/jb_nope`);
  await page.getByText('Something went wrong').waitFor();
  w.check();
  await page.close();
});

test('a log of 100,000 lines reaches the terminal while the page stays responsive', async (t) => {
  const big = `import sys, time
for b in range(100):
    sys.stdout.write("".join("line %d of the big log\\n" % (b * 1000 + i) for i in range(1000)))
    sys.stdout.flush()
    time.sleep(0.03)
`;
  // The node has one slot: jobs an earlier test left running are cancelled first.
  for (const j of (await rest.get('/api/v1/jobs')).items) {
    if (!['completed', 'failed', 'cancelled'].includes(j.state)) await rest.post(`/api/v1/jobs/${j.id}/cancel`).catch(() => {});
  }
  await rest.call('POST', '/api/v1/scripts/big-log.py/versions', big, { headers: { 'Content-Type': 'text/plain' } });
  const job = await rest.post('/api/v1/jobs', { name: 'big log', script: 'big-log.py' });
  let state = job.state;
  for (let i = 0; i < 240 && !['completed', 'failed', 'cancelled'].includes(state); i++) {
    await new Promise((r) => setTimeout(r, 250));
    state = (await rest.get(`/api/v1/jobs/${job.id}`)).state;
  }
  assert.equal(state, 'completed');
  const text = await (await rest.call('GET', `/api/v1/jobs/${job.id}/logs`, undefined, { raw: true })).text();
  const total = text.split('\n').filter(Boolean).length;
  assert.ok(total >= 100_000, `the server kept ${total} lines`);

  const page = await br.context.newPage();
  const w = watch(page);
  w.allow(/HTTP 401: GET .*\/api\/v1\/me/);
  w.allow(/status of 401/);
  await ensureLogin(page);
  // The longest gap between animation frames while the log loads: a page
  // that writes line by line (or in one piece) freezes for seconds.
  await page.goto(`${sv.url}/jobs/${job.id}`);
  await page.getByRole('heading', { level: 1, name: 'big log' }).waitFor();
  await page.evaluate(() => {
    const w = window;
    w.__gap = 0;
    let last = performance.now();
    const tick = (t) => {
      w.__gap = Math.max(w.__gap, t - last);
      last = t;
      if (!w.__stop) requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });
  await page.getByTestId('log-lines').filter({ hasText: new RegExp(`^${total.toLocaleString('en-US')} lines$`) }).waitFor({ timeout: 60_000 });
  const gap = await page.evaluate(() => {
    window.__stop = true;
    return window.__gap;
  });
  t.diagnostic(`${total} lines; the longest gap between frames was ${Math.round(gap)} ms`);
  assert.ok(gap < 1500, `the page froze for ${Math.round(gap)} ms`);
  // The end of the log is on screen, and the page still answers a click.
  await page.locator('.xterm-rows').filter({ hasText: 'line 99999 of the big log' }).waitFor({ timeout: 15_000 });
  const t0 = Date.now();
  await page.getByRole('button', { name: 'Retry' }).or(page.getByRole('link', { name: 'big-log.py v1' })).first().hover();
  assert.ok(Date.now() - t0 < 2000);
  await shoot(page, 'job-big-log');
  w.check();
  await page.close();
});
