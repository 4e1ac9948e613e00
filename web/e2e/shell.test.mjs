// The shell: login, the menu, logout, and a wrong password shown in words.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN, audit, launch, login, shoot, startSentinel, watch } from './harness.mjs';

let sv, br;
before(async () => {
  sv = await startSentinel({ localNode: false });
  br = await launch();
});
after(async () => {
  await br?.close();
  await sv?.stop();
});

test('a wrong password is refused in words, the right one opens the console', async () => {
  const page = await br.context.newPage();
  const w = watch(page);
  w.allow(/HTTP 401: POST .*\/api\/v1\/auth\/login/);
  w.allow(/HTTP 401: GET .*\/api\/v1\/me/);
  w.allow(/status of 401/);
  await page.goto(sv.url + '/');
  await page.getByRole('button', { name: 'Log in' }).waitFor();
  await shoot(page, 'login');
  await audit(page, 'login');
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password', { exact: true }).fill('not-the-password');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('alert').filter({ hasText: /invalid_credentials|password/i }).waitFor();
  await login(page, sv.url, ADMIN);
  assert.match(await page.title(), /Sentinel/);
  const cookies = await br.context.cookies(sv.url);
  const session = cookies.find((c) => c.name === 'sentinel_session');
  assert.ok(session, 'a session cookie is set');
  assert.equal(session.httpOnly, true, 'the session cookie is HttpOnly');
  assert.equal(session.sameSite, 'Strict');
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.getByRole('button', { name: 'Log in' }).waitFor();
  w.check();
  await page.close();
});
