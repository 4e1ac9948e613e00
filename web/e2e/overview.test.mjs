// The Overview against a real `sentinel up` (with its local node): one node
// online, counts that move live when jobs are submitted through the API, a
// failed job listed live, the throughput bars counting what completed, and
// the mark the web benchmark reads.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN, audit, launch, login, restClient, shoot, startSentinel, watch } from './harness.mjs';

let sv, br, rest;
before(async () => {
  sv = await startSentinel();
  br = await launch();
  rest = restClient(sv.url);
  await rest.login();
});
after(async () => {
  await br?.close();
  await sv?.stop();
});

const stat = (page, id) => page.getByTestId(id);

async function waitText(page, id, want, timeout = 20000) {
  await page.waitForFunction(
    ([i, w]) => document.querySelector(`[data-testid="${i}"]`)?.textContent === w,
    [id, want],
    { timeout },
  ).catch(async (e) => {
    throw new Error(`${id} is "${await stat(page, id).textContent()}", not "${want}": ${e.message}`);
  });
}

test('the Overview shows the local node, and jobs and failures as they happen', async () => {
  const page = await br.context.newPage();
  const w = watch(page);
  w.allow(/HTTP 401: GET .*\/api\/v1\/me/);
  w.allow(/status of 401/);
  await login(page, sv.url, ADMIN);
  await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
  // sentinel up starts one local node, claimed for the admin
  await waitText(page, 'stat-nodes-online', '1');
  assert.match(await page.getByText(/\d+ offline/).first().textContent(), /^0 offline/);
  await page.getByTestId('live-status').getByText('Live').waitFor();
  await waitText(page, 'stat-jobs-running', '0');
  await waitText(page, 'stat-jobs-queued', '0');
  await page.getByRole('img', { name: /Chunks completed per minute over the last hour: 0 in all/ }).waitFor();
  await page.getByText('No failed jobs or chunks.').waitFor();
  await page.getByText('No anomalies flagged in the last 24 hours.').waitFor();
  assert.equal(await page.evaluate(() => performance.getEntriesByName('sentinel:overview-data').length), 1, 'the data mark is set once');
  await shoot(page, 'overview');
  await audit(page, 'overview');

  // A job submitted elsewhere: running at once, then done, counted in the bars.
  const job = await rest.post('/api/v1/jobs', { name: 'e2e-sleep', program: 'sleep', args: ['3'] });
  await waitText(page, 'stat-jobs-running', '1');
  await waitText(page, 'stat-jobs-running', '0', 30000);
  await waitText(page, 'stat-chunks-minute', '1');
  await page.getByRole('img', { name: /over the last hour: 1 in all/ }).waitFor();
  assert.equal((await rest.get(`/api/v1/jobs/${job.id}`)).state, 'completed');

  // A job that fails: listed under Recent failures with its name and reason, live.
  await rest.call('POST', '/api/v1/scripts/e2e-fail/versions', '#!/bin/sh\necho boom\nexit 3\n', { headers: { 'Content-Type': 'text/plain' } });
  await rest.post('/api/v1/jobs', { name: 'e2e-fails', script: 'e2e-fail@1', max_attempts: 1 });
  const failures = page.getByRole('list', { name: 'Recent failures' });
  await failures.getByRole('link', { name: 'e2e-fails', exact: true }).waitFor({ timeout: 30000 });
  assert.match(await failures.innerText(), /exit status 3/);
  await failures.getByText(/Chunk 0 of jb_\w+ \(attempt 1\) failed/).waitFor();
  await shoot(page, 'overview-live');
  await audit(page, 'overview-live');

  // A fresh load finds the same from the lists alone.
  await page.reload();
  await waitText(page, 'stat-nodes-online', '1');
  const listed = page.getByRole('list', { name: 'Recent failures' });
  await listed.getByRole('link', { name: 'e2e-fails', exact: true }).waitFor();
  // the failed chunk is found in the job's chunk list, named by its job
  await listed.getByText('Chunk 0 of e2e-fails (attempt 1) failed').waitFor();
  await page.getByRole('img', { name: /over the last hour: 1 in all/ }).waitFor();
  w.check();
  await page.close();
});
