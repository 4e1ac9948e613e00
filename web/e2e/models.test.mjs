// Models: a model trained through the console from a CSV pushed through the
// REST API (job link, progress, registration), a normal and an anomalous
// vector scored with their verdicts, a detector created on a metric, and an
// anomalous sample marked on the Monitoring chart as it arrives.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { audit, launch, login, restClient, shoot, startSentinel, visit, watch } from './harness.mjs';

/** axe-core on a dialog only (the page behind a modal's mask is dimmed on purpose). */
/** Lets toasts and the layout's transitions end before screenshots and axe. */
async function settle(page) {
  await page.mouse.move(1439, 899);
  for (let i = 0; i < 50 && (await page.locator('.ant-message-notice').count()) > 0; i++) await page.waitForTimeout(100);
  await page.waitForTimeout(300);
}

let sv, br, rest;
const AGENT = 'e2e-sensor';

// A seeded normal series around 100 (spread 5): what the model learns.
function csv() {
  let x = 12345;
  const rnd = () => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648);
  const rows = ['v'];
  for (let i = 0; i < 300; i++) rows.push((100 + (rnd() + rnd() + rnd() - 1.5) * 6).toFixed(3));
  return rows.join('\n') + '\n';
}

before(async () => {
  sv = await startSentinel({ args: ['--alert-interval', '1s'] });
  rest = restClient(sv.url);
  await rest.login();
  const res = await rest.call('POST', '/api/v1/datasets/lat/versions?message=e2e', csv(), { headers: { 'Content-Type': 'text/csv' } });
  assert.equal(res.number, 1);
  const now = Date.now();
  const samples = [];
  for (let i = 0; i < 60; i++) samples.push({ agent: AGENT, metric: 'temp', value: 100 + (i % 5), ts: now - (60 - i) * 2000 });
  await rest.post('/api/v1/metrics', { samples });
  br = await launch();
});
after(async () => {
  await br?.close();
  await sv?.stop();
});

test('train a model in the console, score vectors, watch an agent and see the anomaly marked', async () => {
  const page = await br.context.newPage();
  const w = watch(page);
  w.allow(/401.*\/api\/v1\/me/);
  w.allow(/status of 401/);
  await login(page, sv.url);
  await visit(page, sv.url, '/models', 'Models');
  await page.getByText('No models yet').waitFor();

  // Train: the form picks the dataset's latest version and its numeric columns.
  await page.getByRole('button', { name: 'Train a model' }).click();
  const dlg = page.getByRole('dialog', { name: 'Train a model' });
  await dlg.getByLabel('Model name', { exact: true }).fill('temp-ae');
  await dlg.locator('.ant-select', { has: page.getByLabel('Dataset', { exact: true }) }).click();
  await page.locator('.ant-select-item-option[title="lat"]').click();
  await dlg.locator('.ant-select-selection-item', { hasText: /^v1/ }).waitFor();
  await dlg.locator('.ant-select-selection-item[title="v"]').waitFor();
  await dlg.getByLabel('Hidden layers', { exact: true }).fill('8,4,8');
  await dlg.getByLabel('Epochs', { exact: true }).fill('60');
  await audit(page, 'models-train', '.ant-modal');
  await dlg.getByRole('button', { name: 'Start training' }).click();
  await page.getByText(/Training job jb_\w+ started/).waitFor();
  const jobLink = page.getByRole('link', { name: /^jb_/ });
  const jobId = (await jobLink.textContent()).trim();
  assert.equal(await jobLink.getAttribute('href'), `/jobs/${jobId}`);
  await page.getByText('Model temp-ae version 1 registered').waitFor({ timeout: 60000 });
  await page.getByRole('progressbar', { name: 'Training progress' }).waitFor();
  const reg = await rest.get(`/api/v1/trainings/${jobId}`);
  assert.equal(reg.state, 'registered');
  assert.equal(reg.version, 1);
  await page.getByRole('table', { name: 'Models' }).getByRole('link', { name: 'temp-ae', exact: true }).waitFor();
  await settle(page);
  await shoot(page, 'models');
  await settle(page);
  await audit(page, 'models');

  // Score: a normal value and a far one.
  await page.getByRole('link', { name: 'temp-ae@1' }).click();
  await page.getByRole('heading', { level: 1, name: 'temp-ae' }).waitFor();
  await page.getByRole('table', { name: 'Versions' }).getByRole('link', { name: jobId }).waitFor();
  const verdict = page.getByRole('status', { name: 'Score result' });
  await page.getByLabel('v', { exact: true }).fill('101');
  await page.getByRole('button', { name: 'Score', exact: true }).click();
  await verdict.getByText('Normal').waitFor();
  await page.getByLabel('v', { exact: true }).fill('5000');
  await page.getByRole('button', { name: 'Score', exact: true }).click();
  await verdict.getByText('Anomalous').waitFor();
  const api = await rest.post('/api/v1/models/temp-ae/score', { vectors: [[101], [5000]] });
  assert.deepEqual(api.flags, [false, true]);

  // A detector on the agent's metric, made in the console (a wrong feature count refused first).
  await page.getByRole('button', { name: 'New detector' }).click();
  const dd = page.getByRole('dialog', { name: 'New detector' });
  await dd.locator('.ant-select', { has: page.getByLabel('Agent', { exact: true }) }).click();
  await page.locator(`.ant-select-item-option[title="${AGENT}"]`).click();
  await dd.getByLabel('Step (bucket length, whole seconds)').fill('1s');
  await dd.getByRole('button', { name: 'Create detector' }).click();
  await dd.getByText('The model takes 1 feature, not 0').waitFor();
  const feats = dd.getByLabel(/^Features/);
  await feats.fill('temp');
  await feats.press('Enter');
  await dd.locator('.ant-select-selection-item[title="temp"]').waitFor();
  await audit(page, 'models-detector', '.ant-modal');
  await dd.getByRole('button', { name: 'Create detector' }).click();
  await page.getByText(/Detector det_\w+ created: temp-ae@1 watches e2e-sensor/).waitFor();
  const dets = await rest.get('/api/v1/detectors');
  assert.equal(dets.items.length, 1);
  const det = dets.items[0];
  assert.deepEqual(det.features, ['temp']);
  await page.getByRole('table', { name: 'Detectors' }).getByText(det.id).waitFor();
  await settle(page);
  await shoot(page, 'model');
  await settle(page);
  await audit(page, 'model');

  // Monitoring: normal samples, then one far off while the page is open;
  // the detector flags its bucket and the chart marks it (live, SSE topic anomaly).
  await page.goto(`${sv.url}/monitoring?agent=${AGENT}&metric=temp&range=15m`);
  const chart = page.getByRole('figure', { name: /avg\(temp\) of e2e-sensor/ });
  await chart.locator('canvas').first().waitFor();
  await page.getByText('1 detector watching', { exact: false }).waitFor();
  assert.equal(await chart.locator('.chart-mark').count(), 0, 'no anomaly yet');
  for (let i = 0; i < 3; i++) {
    await rest.post('/api/v1/metrics', { agent: AGENT, metric: 'temp', value: 101 });
    await page.waitForTimeout(1100);
  }
  await rest.post('/api/v1/metrics', { agent: AGENT, metric: 'temp', value: 5000 });
  await chart.getByText('1 anomaly marked').waitFor({ timeout: 20000 });
  const mark = chart.locator('.chart-mark').first();
  await mark.waitFor();
  const title = await mark.getAttribute('title');
  assert.match(title, new RegExp(`detector ${det.id}`));
  const an = await rest.get(`/api/v1/detectors/${det.id}/anomalies?from=-15m`);
  assert.equal(an.items.length, 1);
  assert.equal(await mark.getAttribute('data-ts'), String(an.items[0].ts));
  const listed = page.getByRole('table', { name: 'Anomalies' }).getByRole('row').filter({ hasText: det.id });
  await listed.waitFor();
  assert.match(await listed.textContent(), /temp-ae@1/);
  await settle(page);
  await shoot(page, 'monitoring-anomaly');
  await settle(page);
  await audit(page, 'monitoring-anomaly');

  // A detector rule made in the Alerts editor fires: the anomaly is within its 1-minute window.
  await visit(page, sv.url, '/alerts', 'Alerts');
  await page.getByRole('button', { name: 'New rule' }).click();
  const rd = page.getByRole('dialog', { name: 'New alert rule' });
  await rd.getByText('Detector anomalies').click();
  await rd.getByLabel('Name', { exact: true }).fill('sensor anomaly');
  await rd.getByRole('button', { name: 'Create rule' }).click();
  await rd.locator('.ant-form-item-explain-error', { hasText: 'Pick a detector' }).waitFor();
  await rd.locator('.ant-select', { has: page.getByLabel('Detector', { exact: true }) }).click();
  await page.locator(`.ant-select-item-option[title^="${det.id}"]`).click();
  await rd.getByRole('button', { name: 'Create rule' }).click();
  await page.getByText('Rule "sensor anomaly" created').waitFor();
  const row = page.getByRole('table', { name: 'Alert rules' }).getByRole('row').filter({ hasText: 'sensor anomaly' });
  await row.getByText(`detector ${det.id} flags an anomaly within 1m`).waitFor();
  await row.getByText('firing', { exact: true }).waitFor({ timeout: 15000 });
  await page.getByRole('table', { name: 'Alert events' }).getByRole('row').filter({ hasText: 'sensor anomaly' }).getByText('firing', { exact: true }).waitFor();
  w.check();
  await page.close();
});
