// The Script Lab: a new script written in Monaco, saved, changed and saved
// again; both versions in the history, their diff in Monaco's diff editor;
// "Run" opens the job wizard with the script and version chosen, and the
// job launched from it shows the script's output and completes. What was
// typed is what the server stored (read back through the API).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { audit, launch, login, restClient, shoot, startSentinel, watch } from './harness.mjs';

const V1 = 'import sys\nprint("v1", sys.argv)\n';
const ADDED = 'print("added line")\n';

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

test('write a script in Monaco, save two versions, diff them, run it', async () => {
  const page = await br.context.newPage();
  const w = watch(page);
  // before the login: no session yet
  w.allow(/HTTP 401: GET .*\/api\/v1\/me$/);
  w.allow(/status of 401 .*\/api\/v1\/me\)/);
  // the new script's page asks whether the name exists yet: it does not
  w.allow(/HTTP 404: GET .*\/api\/v1\/scripts\/clean\.py$/);
  w.allow(/status of 404 .*\/api\/v1\/scripts\/clean\.py\)/);
  await login(page, sv.url);

  await page.goto(sv.url + '/scripts');
  await page.getByRole('heading', { level: 1, name: 'Script Lab' }).waitFor();
  await page.getByText('No scripts yet').waitFor();

  await page.getByRole('button', { name: 'New script' }).click();
  const dlg = page.getByRole('dialog', { name: 'New script' });
  await dlg.getByLabel('Name').fill('bad name!');
  await dlg.getByText('Letters, digits, dot, dash and underscore').waitFor();
  await dlg.getByLabel('Name').fill('clean.py');
  await dlg.getByRole('button', { name: 'Open the editor' }).click();
  await page.waitForURL(/\/scripts\/clean\.py\?new=1&language=python$/);
  await page.getByRole('heading', { level: 1, name: 'clean.py' }).waitFor();
  await page.getByText('A new script: not saved yet').waitFor();

  // Monaco loads lazily, with the template in it.
  const editor = page.getByTestId('code-editor').locator('.monaco-editor');
  await editor.waitFor();
  await editor.locator('.view-lines').getByText('hello from Sentinel').waitFor();

  // Replace the template with typed code.
  await editor.locator('.view-lines').click();
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.press('Delete');
  await page.keyboard.type(V1);
  await page.getByLabel('Message').fill('first');
  await page.getByRole('button', { name: 'Save the first version' }).click();
  await page.getByText('Saved clean.py as version 1').waitFor();
  await page.getByText('owned by admin · 1 version').waitFor();
  assert.equal(await rest.call('GET', '/api/v1/scripts/clean.py/versions/1/content', undefined, { raw: true }).then((r) => r.text()), V1);

  // A change: the page says it is unsaved until saved (here with Ctrl+S).
  await editor.locator('.view-lines').click();
  await page.keyboard.press('ControlOrMeta+End');
  await page.keyboard.type(ADDED);
  await page.getByText('Unsaved changes (from v1).').waitFor();
  await page.getByLabel('Message').fill('second');
  await page.waitForLoadState('networkidle');
  await shoot(page, 'script-editor');
  await audit(page, 'script-editor');
  await editor.locator('.view-lines').click();
  await page.keyboard.press('ControlOrMeta+S');
  await page.getByText('Saved clean.py as version 2').waitFor();
  await page.getByText('owned by admin · 2 versions').waitFor();
  assert.equal(await page.getByText('Unsaved changes').count(), 0);
  const v2 = await rest.call('GET', '/api/v1/scripts/clean.py/versions/2/content', undefined, { raw: true }).then((r) => r.text());
  assert.equal(v2, V1 + ADDED);

  // History: both versions, and the diff of v1 → v2 in Monaco's diff editor.
  await page.getByRole('tab', { name: 'History' }).click();
  const rows = page.getByRole('row');
  await rows.filter({ hasText: 'first' }).getByText('v1').waitFor();
  await rows.filter({ hasText: 'second' }).getByText('v2').waitFor();
  await page.getByTestId('script-diff-summary').filter({ hasText: 'v1 → v2: +1 / −0 lines' }).waitFor();
  const diff = page.getByTestId('code-diff').locator('.monaco-diff-editor');
  await diff.waitFor();
  await diff.locator('.line-insert, .char-insert').first().waitFor();
  await diff.locator('.modified-in-monaco-diff-editor .view-lines').getByText('print("added line")').waitFor();
  await page.waitForLoadState('networkidle');
  await shoot(page, 'script-diff');
  await audit(page, 'script-diff');

  // The list shows it with its two versions.
  await page.goto(sv.url + '/scripts');
  const row = page.getByRole('row').filter({ hasText: 'clean.py' });
  await row.getByRole('cell', { name: '2', exact: true }).waitFor();
  await row.getByText('Private').waitFor();
  await shoot(page, 'scripts-list');
  await audit(page, 'scripts-list');

  // Run: the job wizard with this script and its latest version.
  await row.getByRole('link', { name: 'clean.py' }).click();
  await page.getByRole('button', { name: 'Run v2' }).click();
  await page.waitForURL((u) => u.pathname === '/jobs/new' && u.searchParams.get('script') === 'clean.py' && u.searchParams.get('version') === '2');
  await page.getByRole('heading', { level: 1, name: 'New job' }).waitFor();

  // Through the wizard on its defaults, to the job's page: the script's
  // output in the terminal, then the job completed.
  await page.getByRole('group', { name: 'Script & runtime' }).getByText('clean.py').first().waitFor();
  for (const step of ['Inputs', 'Resources', 'Access', 'Review']) {
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByRole('group', { name: step }).waitFor();
  }
  await page.getByRole('group', { name: 'Review' }).getByText('clean.py@2', { exact: true }).waitFor();
  await page.getByRole('button', { name: 'Launch' }).click();
  await page.waitForURL(/\/jobs\/jb_[0-9a-f]+$/);
  const term = page.locator('.xterm-rows');
  await term.filter({ hasText: 'added line' }).waitFor({ timeout: 60_000 });
  assert.match(await term.innerText(), /v1 \[/);
  await page.locator('.ant-tag[data-state="completed"]').first().waitFor({ timeout: 60_000 });
  w.check();
  await page.close();
});
