// Headless-Chromium test of the local demo page (local/web), run by
// scripts/browser-test.sh against a running `go run ./local`:
//
//   BASE_URL=http://127.0.0.1:PORT E2E_USER=name E2E_PASSWORD=pw node --test browser.test.mjs
//
// It proves in a real browser that the refresh cookie is invisible to JavaScript,
// that refresh and logout work through it, and that a reload keeps the session via
// refresh. It saves screenshots under SCREENSHOT_DIR.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

function required(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (run scripts/browser-test.sh)`);
  return v;
}

const BASE = required('BASE_URL').replace(/\/$/, '');
const USER = required('E2E_USER');
const PASSWORD = required('E2E_PASSWORD');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = resolve(process.env.SCREENSHOT_DIR || '.cache/screenshots');
const COOKIE = '__Secure-refresh_token';

test('demo page in headless Chromium', async (t) => {
  await mkdir(SHOTS, { recursive: true });
  const userDataDir = await mkdtemp(join(tmpdir(), 'sessions-e2e-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1000, height: 1200 },
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  t.after(async () => {
    await context.close();
    await rm(userDataDir, { recursive: true, force: true });
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));

  // The refresh cookie as the browser stores it (the test can see HttpOnly cookies
  // through the DevTools protocol; the page cannot).
  const refreshCookie = async () => (await context.cookies(`${BASE}/auth/refresh`)).find((c) => c.name === COOKIE);
  const responseTo = (path) => page.waitForResponse((r) => new URL(r.url()).pathname === path);
  const state = () => page.getAttribute('body', 'data-state');

  await t.test('a fresh browser is signed out (the on-load refresh has no cookie)', async () => {
    const refreshed = responseTo('/auth/refresh');
    await page.goto(`${BASE}/`);
    assert.equal((await refreshed).status(), 401);
    await page.waitForSelector('body[data-state="signed-out"]');
    assert.equal(await refreshCookie(), undefined);
  });

  let loginAccessToken;
  await t.test('login sets the refresh cookie, HttpOnly and invisible to JavaScript', async () => {
    await page.fill('#username', USER);
    await page.fill('#password', PASSWORD);
    const loggedIn = responseTo('/auth/login');
    await page.click('#login');
    const r = await loggedIn;
    assert.equal(r.status(), 200);
    const body = await r.json();
    assert.equal(body.refresh_token, undefined, 'cookie transport: no refresh token in the body');
    loginAccessToken = body.access_token;
    await page.waitForSelector('body[data-state="signed-in"]');

    const c = await refreshCookie();
    assert.ok(c, 'Chromium kept the Secure cookie set over http://127.0.0.1 (loopback is a secure context)');
    assert.equal(c.httpOnly, true);
    assert.equal(c.secure, true);
    assert.equal(c.sameSite, 'Strict');
    assert.equal(c.path, '/auth');

    const seen = await page.evaluate(() => document.cookie);
    assert.ok(!seen.includes('refresh_token'), `document.cookie shows the refresh token: ${seen}`);
    await page.waitForFunction((s) => document.getElementById('doc-cookie').textContent === s, JSON.stringify(seen));
    // Script can neither read nor replace it.
    await page.evaluate((name) => { document.cookie = `${name}=forged; Path=/auth; Secure`; }, COOKIE);
    assert.equal((await refreshCookie()).value, c.value, 'JavaScript overwrote the HttpOnly cookie');
    assert.ok(!(await page.evaluate(() => document.cookie)).includes('forged'));
    // The access token is in memory only.
    assert.deepEqual(await page.evaluate(() => [localStorage.length, sessionStorage.length]), [0, 0]);
  });

  await t.test('GET /me with the access token from memory', async () => {
    const answered = responseTo('/me');
    await page.click('#me');
    const r = await answered;
    assert.equal(r.status(), 200);
    assert.match((await r.request().allHeaders()).authorization ?? '', /^Bearer ey/);
    assert.equal((await r.json()).sid, await page.textContent('#sid'));
  });

  await t.test('refresh goes through the cookie and rotates it', async () => {
    const before = await refreshCookie();
    const refreshed = responseTo('/auth/refresh');
    await page.click('#refresh');
    const r = await refreshed;
    assert.equal(r.status(), 200);
    const sent = await r.request().allHeaders();
    assert.equal(sent['x-session-transport'], 'cookie');
    assert.ok((sent.cookie ?? '').includes(`${COOKIE}=${before.value}`), 'the browser sent the refresh cookie');
    const after = await refreshCookie();
    assert.ok(after && after.value !== before.value, 'the cookie was rotated');
    assert.equal((await r.json()).refresh_token, undefined);
  });

  await t.test('a reload keeps the session through the cookie', async () => {
    const sid = await page.textContent('#sid');
    const refreshed = responseTo('/auth/refresh');
    await page.reload();
    assert.equal((await refreshed).status(), 200);
    await page.waitForSelector('body[data-state="signed-in"]');
    assert.equal(await page.textContent('#sid'), sid, 'same session after the reload');
    const answered = responseTo('/me');
    await page.click('#me');
    assert.equal((await answered).status(), 200);
    await page.waitForSelector('#log li.ok');
    await page.screenshot({ path: join(SHOTS, 'demo.png'), fullPage: true });
  });

  await t.test('logout clears the cookie and ends the session', async () => {
    const loggedOut = responseTo('/auth/logout');
    await page.click('#logout');
    assert.equal((await loggedOut).status(), 204);
    await page.waitForSelector('body[data-state="signed-out"]');
    assert.equal(await refreshCookie(), undefined, 'the cookie is gone');

    // The session is revoked: even the first access token of this session is refused.
    const r = await page.request.get(`${BASE}/me`, { headers: { Authorization: `Bearer ${loginAccessToken}` } });
    assert.equal(r.status(), 403);
    assert.deepEqual(await r.json(), { message: 'Forbidden' });

    // Without a token in memory, /me has no Authorization header at all.
    const answered = responseTo('/me');
    await page.click('#me');
    assert.equal((await answered).status(), 401);

    // And a reload stays signed out.
    const refreshed = responseTo('/auth/refresh');
    await page.reload();
    assert.equal((await refreshed).status(), 401);
    await page.waitForSelector('body[data-state="signed-out"]');
    assert.equal(await state(), 'signed-out');
    await page.screenshot({ path: join(SHOTS, 'demo-signed-out.png'), fullPage: true });
  });

  assert.deepEqual(pageErrors, [], 'JavaScript errors on the page');
});
