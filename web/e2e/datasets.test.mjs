// Datasets: the admin uploads a CSV through the console (a new dataset),
// then a second version with rows added, removed and changed; the profile
// shows the columns' statistics; the diff shows the counts and the rows
// with added and changed ones highlighted; a second user neither sees the
// private dataset in their list nor opens its page (not found, in words).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { audit, launch, login, restClient, shoot, startSentinel, watch } from './harness.mjs';

const V1 = 'id,name,score,city\n1,alice,3.5,Paris\n2,bob,4.0,Lyon\n3,carol,,Nice\n4,dave,2.25,Lille\n5,erin,5.0,Paris\n';
// v2: bob's name and score changed, carol removed, frank added.
const V2 = 'id,name,score,city\n1,alice,3.5,Paris\n2,bobby,4.5,Lyon\n4,dave,2.25,Lille\n5,erin,5.0,Paris\n6,frank,1.0,Brest\n';
const BOB = { username: 'bob', password: 'bob-e2e-password' };

let sv, br, rest, tmp;
before(async () => {
  sv = await startSentinel({ localNode: false });
  br = await launch();
  rest = restClient(sv.url);
  await rest.login();
  await rest.post('/api/v1/users', { ...BOB, role: 'member' });
  tmp = mkdtempSync(join(tmpdir(), 'sentinel-ds-'));
});
after(async () => {
  await br?.close();
  await sv?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('upload a CSV, a second version, its profile and the diff', async () => {
  const page = await br.context.newPage();
  const w = watch(page);
  // before the login: no session yet
  w.allow(/HTTP 401: GET .*\/api\/v1\/me$/);
  w.allow(/status of 401 .*\/api\/v1\/me\)/);
  await login(page, sv.url);

  await page.goto(sv.url + '/datasets');
  await page.getByRole('heading', { level: 1, name: 'Datasets' }).waitFor();
  await page.getByText('No datasets yet').waitFor();

  // A new dataset: its first version from a file chosen in the dialog.
  const f1 = join(tmp, 'people.csv');
  writeFileSync(f1, V1);
  await page.getByRole('button', { name: 'New dataset' }).click();
  const dlg = page.getByRole('dialog', { name: 'New dataset' });
  await dlg.getByLabel('Name').fill('people');
  await dlg.getByLabel('Message').fill('first load');
  await dlg.locator('input[type=file]').setInputFiles(f1);
  await dlg.getByText(`1 file, ${Buffer.byteLength(V1)} B`).waitFor();
  await dlg.getByRole('button', { name: 'Upload' }).click();
  await page.getByText('people: version 1 uploaded').waitFor();
  await page.waitForURL(/\/datasets\/people$/);
  await page.getByRole('heading', { level: 1, name: 'people' }).waitFor();
  await page.getByText('owned by admin · 1 version').waitFor();

  // The second version, from the dataset's page.
  const f2 = join(tmp, 'people-v2.csv');
  writeFileSync(f2, V2);
  await page.getByRole('button', { name: 'Upload a version' }).click();
  const dlg2 = page.getByRole('dialog', { name: 'Upload a new version of people' });
  await dlg2.getByLabel('Message').fill('bob renamed, carol gone, frank new');
  await dlg2.locator('input[type=file]').setInputFiles(f2);
  await dlg2.getByRole('button', { name: 'Upload' }).click();
  await page.getByText('people: version 2 uploaded').waitFor();
  await page.getByText('owned by admin · 2 versions').waitFor();
  const rows = page.getByRole('row');
  await rows.filter({ hasText: 'bob renamed, carol gone, frank new' }).waitFor();
  await rows.filter({ hasText: 'first load' }).waitFor();

  // The list: one dataset, with its versions, size and visibility.
  await page.goto(sv.url + '/datasets');
  const row = page.getByRole('row').filter({ hasText: 'people' });
  await row.getByText('Private').waitFor();
  await row.getByRole('cell', { name: '2', exact: true }).waitFor();
  await row.getByText(`${Buffer.byteLength(V2)} B`).waitFor();
  await page.waitForLoadState('networkidle');
  await shoot(page, 'datasets-list');
  await audit(page, 'datasets-list');

  // The profile of version 1: types, missing values, min/max, top values and histograms.
  await page.goto(sv.url + '/datasets/people?tab=profile&v=1');
  await page.getByText('5 rows · 4 columns').waitFor();
  const score = page.getByRole('row').filter({ hasText: /^score/ });
  await score.getByText('float').waitFor();
  await score.getByText('1 (20%)').waitFor();
  await score.getByText('2.25 … 5').waitFor();
  // its histogram from the server: bins of 1/8 from 2.25 to 5, one value each at the ends
  await score.getByRole('img', { name: /^Histogram of score: 2\.25 to 2\.375: 1; .* 5 to 5\.125: 1$/ }).waitFor();
  assert.equal(await score.locator('.hist > div').count(), 23);
  const city = page.getByRole('row').filter({ hasText: /^city/ });
  await city.getByText('string').waitFor();
  await city.locator('.bar-row').filter({ hasText: 'Paris' }).getByText('2').waitFor();
  await page.waitForLoadState('networkidle');
  await shoot(page, 'dataset-profile');
  await audit(page, 'dataset-profile');

  // The diff, from the versions table: v1 → v2 with the key guessed (id).
  await page.getByRole('tab', { name: 'Versions' }).click();
  await page.getByRole('button', { name: 'Diff with v1' }).click();
  await page.getByRole('heading', { name: 'v1 → v2: 1 added, 1 removed, 1 changed, 3 unchanged' }).waitFor();
  assert.equal(await page.getByTestId('count-added').locator('.n').textContent(), '1');
  assert.equal(await page.getByTestId('count-removed').locator('.n').textContent(), '1');
  assert.equal(await page.getByTestId('count-changed').locator('.n').textContent(), '1');
  assert.equal(await page.getByTestId('count-unchanged').locator('.n').textContent(), '3');
  const table = page.locator('.diff-table');
  const added = table.locator('tr.diff-added');
  assert.equal(await added.count(), 1);
  await added.getByText('frank').waitFor();
  await added.getByText('added').waitFor();
  const changed = table.locator('tr.diff-changed');
  assert.equal(await changed.count(), 1);
  // the changed cells are marked, with both values; the unchanged ones are not
  const marked = changed.locator('td.diff-cell-changed');
  assert.equal(await marked.count(), 2);
  await marked.filter({ hasText: 'bobbobby' }).locator('.diff-old').getByText('bob').waitFor();
  await marked.filter({ hasText: '4.04.5' }).waitFor();
  await changed.getByText('Lyon').waitFor();
  const removed = table.locator('tr.diff-removed');
  await removed.getByText('carol').waitFor();
  // highlighted: the rows' cells have a tinted background
  const bg = async (loc) => loc.evaluate((el) => getComputedStyle(el).backgroundColor);
  assert.notEqual(await bg(added.locator('td').last()), await bg(changed.locator('td').last()));
  assert.match(await bg(marked.first()), /rgba\(245, 158, 11/);
  await page.waitForLoadState('networkidle');
  await shoot(page, 'dataset-diff');
  await audit(page, 'dataset-diff');

  // Without a key, whole rows: bob's row is one removal and one addition.
  await page.goto(sv.url + '/datasets/people?tab=diff&from=1&to=2&key=');
  await page.getByRole('heading', { name: 'v1 → v2: 2 added, 2 removed, 0 changed, 3 unchanged' }).waitFor();
  w.check();
  await page.close();
});

test('a file set: several files in one version, and the diff as a file tree', async () => {
  const page = await br.context.newPage();
  const w = watch(page);
  await page.goto(sv.url + '/datasets');
  await page.getByRole('heading', { level: 1, name: 'Datasets' }).waitFor();
  const dir = mkdtempSync(join(tmp, 'set-'));
  const put = (name, text) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  await page.getByRole('button', { name: 'New dataset' }).click();
  const dlg = page.getByRole('dialog', { name: 'New dataset' });
  await dlg.getByLabel('Name').fill('images');
  await dlg.locator('input[type=file]').setInputFiles([put('a.txt', 'alpha\n'), put('b.txt', 'beta\n'), put('c.csv', 'k,v\n1,x\n2,y\n')]);
  await dlg.getByText('3 files (a file set)').waitFor();
  await dlg.getByRole('button', { name: 'Upload' }).click();
  await page.getByText('images: version 1 uploaded').waitFor();
  await page.getByRole('heading', { level: 1, name: 'images' }).waitFor();
  // v2: a.txt gone, b.txt changed, c.csv changed (a row changed), d.txt new
  await page.getByRole('button', { name: 'Upload a version' }).click();
  const dlg2 = page.getByRole('dialog', { name: 'Upload a new version of images' });
  await dlg2.locator('input[type=file]').setInputFiles([put('b.txt', 'beta 2\n'), put('c.csv', 'k,v\n1,x\n2,z\n'), put('d.txt', 'delta\n')]);
  await dlg2.getByRole('button', { name: 'Upload' }).click();
  await page.getByText('images: version 2 uploaded').waitFor();
  await page.getByText('owned by admin · 2 versions').waitFor();
  await page.getByRole('row').filter({ hasText: '3 files' }).first().waitFor();

  await page.getByRole('button', { name: 'Diff with v1' }).click();
  await page.getByRole('heading', { name: 'v1 → v2: files' }).waitFor();
  assert.equal(await page.getByTestId('count-added').locator('.n').textContent(), '1');
  assert.equal(await page.getByTestId('count-removed').locator('.n').textContent(), '1');
  assert.equal(await page.getByTestId('count-changed').locator('.n').textContent(), '2');
  const tree = page.locator('.ant-tree');
  await tree.locator('.file-added').filter({ hasText: 'd.txt' }).waitFor();
  await tree.locator('.file-removed').filter({ hasText: 'a.txt' }).waitFor();
  await tree.locator('.file-changed').filter({ hasText: 'b.txt' }).waitFor();
  await page.waitForLoadState('networkidle');
  await shoot(page, 'dataset-fileset-diff');
  await audit(page, 'dataset-fileset-diff');
  // a changed table of the set opens its own row diff
  await tree.locator('.file-changed').filter({ hasText: 'c.csv' }).getByRole('button', { name: 'compare rows' }).click();
  await page.getByRole('heading', { name: 'v1 → v2: 0 added, 0 removed, 1 changed, 1 unchanged' }).waitFor();
  await page.locator('.diff-table tr.diff-changed td.diff-cell-changed').filter({ hasText: 'yz' }).waitFor();
  w.check();
  await page.close();
});

test('a file over 64 MiB goes through a resumable upload session, and resumes after a cut-off chunk', async () => {
  const page = await br.context.newPage();
  const w = watch(page);
  // the test cuts the second chunk off once: the page asks the server where it stands and goes on
  w.allow(/request failed: PATCH .*\/api\/v1\/uploads\/up_/);
  w.allow(/ERR_CONNECTION_RESET \(http:.*\/api\/v1\/uploads\/up_[0-9a-f]+\)/);
  const big = join(tmp, 'big.csv');
  const line = (i) => `${i},name-${i},${(i * 0.5).toFixed(1)},${'x'.repeat(40)}\n`;
  const parts = ['id,name,value,pad\n'];
  let size = parts[0].length;
  for (let i = 0; size < 66 * 1024 * 1024; i++) {
    const l = line(i);
    parts.push(l);
    size += l.length;
  }
  writeFileSync(big, parts.join(''));
  const rowsInFile = parts.length - 1;
  const seen = [];
  page.on('request', (r) => {
    if (r.url().includes('/api/v1/uploads')) seen.push(`${r.method()} ${new URL(r.url()).pathname.replace(/up_[0-9a-f]+/, 'ID')}`);
  });
  let patches = 0;
  await page.route('**/api/v1/uploads/*', (route) => {
    if (route.request().method() === 'PATCH' && ++patches === 2) return route.abort('connectionreset');
    return route.continue();
  });
  await page.goto(sv.url + '/datasets/people');
  await page.getByRole('heading', { level: 1, name: 'people' }).waitFor();
  await page.getByRole('button', { name: 'Upload a version' }).click();
  const dlg = page.getByRole('dialog', { name: 'Upload a new version of people' });
  await dlg.locator('input[type=file]').setInputFiles(big);
  await dlg.getByText('sent in resumable chunks').waitFor();
  await dlg.getByRole('button', { name: 'Upload' }).click();
  await dlg.getByRole('progressbar').waitFor();
  await page.getByText('people: version 3 uploaded').waitFor({ timeout: 120000 });
  await page.getByText('owned by admin · 3 versions').waitFor();
  const v3 = await rest.get('/api/v1/datasets/people/versions/3');
  assert.equal(v3.bytes, size);
  assert.equal(v3.profiles['big.csv'].rows, rowsInFile);
  assert.equal(seen[0], 'POST /api/v1/uploads');
  assert.ok(seen.includes('GET /api/v1/uploads/ID'), `the page asked where the upload stood: ${seen.join(', ')}`);
  assert.equal(seen.at(-1), 'POST /api/v1/uploads/ID/commit');
  assert.ok(seen.filter((s) => s.startsWith('PATCH')).length >= 10, `chunks: ${seen.join(', ')}`);
  w.check();
  await page.close();
});

test("another member sees neither the admin's private dataset nor its page", async () => {
  // a browser of their own (the first one holds the admin's session cookie)
  const br2 = await launch();
  const page = await br2.context.newPage();
  const w = watch(page);
  // before the login: no session yet
  w.allow(/HTTP 401: GET .*\/api\/v1\/me$/);
  w.allow(/status of 401 .*\/api\/v1\/me\)/);
  // the private dataset's page: one 404, shown in words
  w.allow(/HTTP 404: GET .*\/api\/v1\/datasets\/people$/);
  w.allow(/status of 404 .*\/api\/v1\/datasets\/people\)/);
  await login(page, sv.url, BOB);
  await page.goto(sv.url + '/datasets');
  await page.getByRole('heading', { level: 1, name: 'Datasets' }).waitFor();
  await page.getByText('No datasets yet').waitFor();
  assert.equal(await page.getByRole('link', { name: 'people' }).count(), 0);
  await page.goto(sv.url + '/datasets/people');
  await page.getByText('Dataset not found').waitFor();
  await page.getByText('There is no dataset named “people”, or you may not read it.').waitFor();
  await shoot(page, 'dataset-not-found');
  await audit(page, 'dataset-not-found');
  w.check();
  await br2.close();
});
