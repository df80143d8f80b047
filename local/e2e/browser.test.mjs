// Headless-Chromium test of the browser module (clients/browser/sessions.js) and the
// demo page built on it (local/web), run by scripts/browser-test.sh against a running
// `go run ./local`:
//
//   BASE_URL=http://127.0.0.1:PORT E2E_USER=prefix E2E_PASSWORD=pw REUSE_GRACE_MS=5000 \
//   APP_ORIGIN=http://127.0.0.1:A REFUSED_ORIGIN=http://127.0.0.1:B \
//   COOKIE_ONLY_URL=http://127.0.0.1:Q COOKIE_ONLY_LOG=path node --test browser.test.mjs
//
// The server has the users prefix-demo, -tabs, -lease, -clock, -devices, -cors and
// -narrow, CORS for
// APP_ORIGIN (where local/e2e/app-origins.mjs serves the demo page, as does
// REFUSED_ORIGIN), and REFRESH_REUSE_GRACE = REUSE_GRACE_MS. The server at
// COOKIE_ONLY_URL runs in cookie-only mode (ACCESS_TOKEN_COOKIE=on) with the users
// prefix-conly and -csrf and writes its log to COOKIE_ONLY_LOG, where the test reads the
// authorizer's reasons for a denial. Screenshots of each state go to SCREENSHOT_DIR.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
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
const GRACE_MS = Number(required('REUSE_GRACE_MS'));
const APP_ORIGIN = required('APP_ORIGIN');
const REFUSED_ORIGIN = required('REFUSED_ORIGIN');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = resolve(process.env.SCREENSHOT_DIR || '.cache/screenshots');
const COOKIE = '__Secure-refresh_token';
const CONLY = required('COOKIE_ONLY_URL').replace(/\/$/, '');
const CONLY_LOG = required('COOKIE_ONLY_LOG');
const ACCESS_COOKIE = '__Host-access_token';
const ROUNDS = 50;

let browser;
before(async () => {
  await mkdir(SHOTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});
after(async () => {
  await browser?.close();
});

// --- helpers ---

const pathOf = (r) => new URL(r.url()).pathname;

// newTab opens a page in context that records its JavaScript errors, console errors
// and every request it sends.
async function newTab(t, context) {
  const page = await context.newPage();
  page.errors = [];
  page.consoleErrors = [];
  page.sent = [];
  page.on('pageerror', (e) => page.errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') page.consoleErrors.push(m.text()); });
  page.on('request', (r) => page.sent.push(r));
  t.after(() => assert.deepEqual(page.errors, [], 'JavaScript errors on the page'));
  return page;
}

async function newContext(t, options = {}) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 1100 }, ...options });
  t.after(() => context.close());
  return context;
}

// stateOf is the demo client's state (or another client's, by its global name).
const stateOf = (page, name = 'demo') => page.evaluate((name) => {
  const c = name === 'demo' ? globalThis.sessionsDemo.client : globalThis[name];
  const s = c.state;
  return { status: s.status, signedIn: s.signedIn, sessionId: s.sessionId, access: s.accessExpiresAt?.getTime() ?? null };
}, name);

async function openDemo(page, url = `${BASE}/`) {
  await page.goto(url);
  await page.waitForFunction(() => document.body.dataset.state !== 'unknown');
}

async function loginWithForm(page, username, password = PASSWORD) {
  await page.fill('#username', username);
  await page.fill('#password', password);
  const answered = page.waitForResponse((r) => pathOf(r) === '/auth/login');
  await page.click('#login');
  const r = await answered;
  if (r.status() === 200) await page.waitForSelector('body[data-state="signed-in"]');
  return r;
}

// bodyClient creates a second client in the page, with the body transport.
const bodyClient = (page) => page.evaluate(async () => {
  const { createClient } = await import('/sessions.js');
  globalThis.bodyClient = createClient({ transport: 'body' });
  return (await globalThis.bodyClient.ready).status;
});

// fetchMe calls client.fetch('/me') in the page and says what went out and came back.
async function fetchMe(page, name = 'demo') {
  const sent = page.waitForRequest((r) => pathOf(r) === '/me');
  const status = await page.evaluate(async (name) => {
    const c = name === 'demo' ? globalThis.sessionsDemo.client : globalThis[name];
    return (await c.fetch('/me')).status;
  }, name);
  const req = await sent;
  return { status, authorization: (await req.allHeaders()).authorization };
}

// api calls the API (at base: BASE unless said) from Node: another device of the user
// (the body transport), or with headers of the test's choosing.
async function api(method, path, { body, token, userAgent, base = BASE, headers: extra = {} } = {}) {
  const headers = { 'User-Agent': userAgent ?? 'node-e2e', ...extra };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

const otherDevice = async (username, userAgent, password = PASSWORD) => {
  const r = await api('POST', '/auth/login', { body: { username, password }, userAgent });
  assert.equal(r.status, 200, `login of another device: ${JSON.stringify(r.body)}`);
  return r.body;
};

// sharedRecords is everything the module keeps in IndexedDB, as JSON.
const sharedRecords = (page) => page.evaluate(() => new Promise((resolve, reject) => {
  const open = indexedDB.open('sessions-client');
  open.onerror = () => reject(open.error);
  open.onsuccess = () => {
    const db = open.result;
    if (!db.objectStoreNames.contains('kv')) return resolve('[]');
    const all = db.transaction('kv').objectStore('kv').getAll();
    all.onsuccess = () => resolve(JSON.stringify(all.result));
  };
}));

// overflow lists the elements that stick out of the viewport's width.
const overflow = (page) => page.evaluate(() => {
  const w = document.documentElement.clientWidth;
  const out = [];
  if (document.documentElement.scrollWidth > w) out.push(`page scrollWidth ${document.documentElement.scrollWidth} > ${w}`);
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.right > w + 0.5) out.push(`${el.tagName.toLowerCase()}#${el.id}.${el.className} right=${Math.round(r.right)}`);
  }
  return out;
});

// refreshLog records the answers to /auth/refresh of some pages: status and the refresh
// token each handed out (the cookie, or the body's member).
function refreshLog(pages) {
  const log = { pending: [] };
  for (const page of pages) {
    page.on('response', (r) => {
      if (pathOf(r) !== '/auth/refresh' || r.request().method() !== 'POST') return;
      log.pending.push((async () => {
        const status = r.status();
        let token = null;
        if (status === 200) {
          const cookie = (await r.headerValue('set-cookie')) ?? '';
          const m = cookie.match(new RegExp(`${COOKIE}=([^;]+)`));
          token = m ? m[1] : (await r.json()).refresh_token;
        }
        return { status, token, sent: r.request().postData() };
      })());
    });
  }
  log.take = async () => {
    const all = await Promise.all(log.pending);
    log.pending = [];
    return all;
  };
  return log;
}

// refreshIn calls client.refresh() in the page and says whether it is signed in after.
const refreshIn = (page, name) => page.evaluate(async ([name]) => {
  const c = name === 'demo' ? globalThis.sessionsDemo.client : globalThis[name];
  return (await c.refresh()).signedIn;
}, [name]);

// refreshTogether calls refresh() in each page at the same wall-clock moment: a start
// gate armed in every page first, so that the test's messages to the pages cannot stagger
// the start. It returns, per page, whether it is signed in after and when its call began
// and ended, and whether the calls overlapped (on a busy machine a page may still
// start late; two refreshes one after the other are two refreshes, not a race).
async function refreshTogether(pages, name) {
  const at = Date.now() + 50;
  await Promise.all(pages.map((page) => page.evaluate(([at, name]) => {
    const c = name === 'demo' ? globalThis.sessionsDemo.client : globalThis[name];
    globalThis.raced = new Promise((r) => setTimeout(r, at - Date.now())).then(async () => {
      const start = Date.now();
      const s = await c.refresh();
      return { signedIn: s.signedIn, start, end: Date.now() };
    });
  }, [at, name])));
  const runs = await Promise.all(pages.map((page) => page.evaluate(() => globalThis.raced)));
  const overlapped = Math.max(...runs.map((r) => r.start)) < Math.min(...runs.map((r) => r.end));
  return { signedIn: runs.map((r) => r.signedIn), overlapped };
}

// raceRounds runs rounds of refreshTogether until `rounds` of them overlapped, checking
// each: never signed out, never refused, at most one rotation, and (overlapping) exactly
// one refresh request: one tab refreshed, the other waited for the lock and took its
// result.
async function raceRounds(t, pages, name, refreshes, rounds) {
  const sid = (await stateOf(pages[0], name)).sessionId;
  let requests = 0;
  let late = 0;
  for (let round = 0; round < rounds;) {
    const { signedIn, overlapped } = await refreshTogether(pages, name);
    assert.deepEqual(signedIn, pages.map(() => true), `round ${round}: a tab was signed out`);
    const answers = await refreshes.take();
    assert.deepEqual(answers.filter((x) => x.status !== 200), [], `round ${round}: a refresh was refused`);
    const states = await Promise.all(pages.map((p) => stateOf(p, name)));
    for (const st of states) assert.equal(st.sessionId, sid);
    assert.ok(states.every((st) => st.access === states[0].access), `round ${round}: the tabs hold different access tokens`);
    if (!overlapped) {
      late++;
      assert.ok(late <= 10, `${late} rounds in which one tab started after the other had finished`);
      continue;
    }
    requests += answers.length;
    const rotated = new Set(answers.map((x) => x.token));
    assert.ok(rotated.size <= 1, `round ${round}: ${rotated.size} rotations`);
    assert.equal(answers.length, 1, `round ${round}: ${answers.length} refresh requests`);
    round++;
  }
  t.diagnostic(`${name}: ${requests} refresh requests in ${rounds} rounds of ${pages.length} tabs refreshing at once (${late} rounds retried: not simultaneous)`);
}

// shot saves a screenshot of the page (brought to the front: headless Chromium renders a
// page behind another slowly).
async function shot(page, name) {
  await page.bringToFront();
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

// --- the demo page, one tab ---

test('the demo page in one tab', async (t) => {
  const context = await newContext(t);
  const page = await newTab(t, context);
  const username = `${USER}-demo`;
  const refreshCookie = async () => (await context.cookies(`${BASE}/auth/refresh`)).find((c) => c.name === COOKIE);

  await t.test('a fresh browser is signed out without asking the server, so nothing red', async () => {
    await openDemo(page);
    assert.equal(await page.getAttribute('body', 'data-state'), 'signed-out');
    assert.deepEqual(page.sent.filter((r) => pathOf(r).startsWith('/auth/')).map((r) => pathOf(r)), [], 'an auth request on first load');
    assert.deepEqual(page.consoleErrors, []);
    assert.equal(await page.locator('#log li.bad').count(), 0);
    const needSession = page.locator('[data-needs-session]');
    for (let i = 0; i < (await needSession.count()); i++) {
      assert.equal(await needSession.nth(i).isDisabled(), true, `${await needSession.nth(i).evaluate((el) => el.id || el.textContent)} is enabled while signed out`);
    }
    assert.equal(await page.isDisabled('#login'), false);
    await shot(page, 'demo-signed-out');
  });

  await t.test('a wrong password shows an error and stays signed out', async () => {
    const r = await loginWithForm(page, username, 'not the password at all');
    assert.equal(r.status(), 401);
    await page.waitForSelector('#login-error:not([hidden])');
    assert.equal(await page.textContent('#login-error'), 'Wrong username or password.');
    assert.equal(await page.getAttribute('body', 'data-state'), 'signed-out');
    await shot(page, 'demo-login-refused');
  });

  let loginAccessToken;
  await t.test('login sets the refresh cookie, HttpOnly and invisible to JavaScript; no token in storage', async () => {
    const r = await loginWithForm(page, username);
    assert.equal(r.status(), 200);
    const body = await r.json();
    assert.equal(body.refresh_token, undefined, 'cookie transport: no refresh token in the body');
    assert.equal((await r.request().allHeaders())['x-session-transport'], 'cookie');
    loginAccessToken = body.access_token;
    assert.equal((await stateOf(page)).sessionId, body.session_id);
    await page.waitForSelector('#login-error', { state: 'hidden' });

    const c = await refreshCookie();
    assert.ok(c, 'Chromium kept the Secure cookie set over http://127.0.0.1 (loopback is a secure context)');
    assert.equal(c.httpOnly, true);
    assert.equal(c.secure, true);
    assert.equal(c.sameSite, 'Strict');
    assert.equal(c.path, '/auth');

    const seen = await page.evaluate(() => document.cookie);
    assert.ok(!seen.includes('refresh_token'), `document.cookie shows the refresh token: ${seen}`);
    await page.waitForFunction((s) => document.getElementById('doc-cookie').textContent === s, JSON.stringify(seen));
    await page.evaluate((name) => { document.cookie = `${name}=forged; Path=/auth; Secure`; }, COOKIE);
    assert.equal((await refreshCookie()).value, c.value, 'JavaScript overwrote the HttpOnly cookie');

    assert.deepEqual(await page.evaluate(() => [localStorage.length, sessionStorage.length]), [0, 0]);
    const shared = await sharedRecords(page);
    assert.match(shared, /"signedIn":true/);
    assert.ok(!shared.includes(loginAccessToken) && !shared.includes('eyJ') && !shared.includes(c.value), `a token in IndexedDB: ${shared}`);
    // The devices panel lists this session, marked.
    await page.waitForSelector(`#devices li.current[data-id="${body.session_id}"]`);
  });

  await t.test('GET /me with the access token from memory', async () => {
    const answered = page.waitForResponse((r) => pathOf(r) === '/me');
    await page.click('#me');
    const r = await answered;
    assert.equal(r.status(), 200);
    assert.equal((await r.request().allHeaders()).authorization, `Bearer ${loginAccessToken}`);
    assert.equal((await r.json()).sid, await page.textContent('#sid'));
  });

  await t.test('refresh goes through the cookie and rotates it', async () => {
    const before = await refreshCookie();
    const refreshed = page.waitForResponse((r) => pathOf(r) === '/auth/refresh');
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

  await t.test('a reload keeps the session: a silent refresh, because the shared record says one exists', async () => {
    const sid = await page.textContent('#sid');
    const refreshed = page.waitForResponse((r) => pathOf(r) === '/auth/refresh');
    await page.reload();
    assert.equal((await refreshed).status(), 200);
    await page.waitForSelector('body[data-state="signed-in"]');
    assert.equal(await page.textContent('#sid'), sid, 'same session after the reload');
    assert.equal((await fetchMe(page)).status, 200);
    await page.waitForSelector('#devices li.current');
    await page.click('#me');
    await page.waitForSelector('#log li.ok');
    await shot(page, 'demo-signed-in');
  });

  await t.test('logout clears the cookie and ends the session; a reload asks the server nothing', async () => {
    const loggedOut = page.waitForResponse((r) => pathOf(r) === '/auth/logout');
    await page.click('#logout');
    assert.equal((await loggedOut).status(), 204);
    await page.waitForSelector('body[data-state="signed-out"]');
    assert.equal(await refreshCookie(), undefined, 'the cookie is gone');
    assert.equal(await page.isDisabled('#me'), true);
    assert.equal(await page.locator('#devices li').count(), 0);

    // The session is revoked: even the first access token of this session is refused.
    const r = await api('GET', '/me', { token: loginAccessToken });
    assert.equal(r.status, 403);
    // Signed out, the module's fetch sends no token at all.
    assert.deepEqual(await fetchMe(page), { status: 401, authorization: undefined });

    page.sent.length = 0;
    await page.reload();
    await page.waitForSelector('body[data-state="signed-out"]');
    assert.deepEqual(page.sent.filter((r) => pathOf(r).startsWith('/auth/')).map((r) => pathOf(r)), []);
    assert.equal(await page.locator('#log li.bad').count(), 0);
  });
});

// --- two tabs of one origin ---

test('two tabs of one origin', async (t) => {
  const context = await newContext(t);
  const a = await newTab(t, context);
  const b = await newTab(t, context);
  const username = `${USER}-tabs`;
  await openDemo(a);
  await openDemo(b);
  assert.equal(await bodyClient(a), 'signed-out');
  assert.equal(await bodyClient(b), 'signed-out');
  const refreshes = refreshLog([a, b]);

  await t.test('a login in one tab signs the other in, with the same session', async () => {
    assert.equal((await loginWithForm(a, username)).status(), 200);
    await b.waitForSelector('body[data-state="signed-in"]');
    assert.equal((await stateOf(b)).sessionId, (await stateOf(a)).sessionId);
    await a.evaluate((u) => globalThis.bodyClient.login(u.username, u.password), { username, password: PASSWORD });
    await b.waitForFunction(() => globalThis.bodyClient.state.signedIn);
    assert.equal((await stateOf(b, 'bodyClient')).sessionId, (await stateOf(a, 'bodyClient')).sessionId);
    // The other tab got the tokens from this one, not from a refresh of its own.
    assert.deepEqual(await refreshes.take(), []);
    assert.equal((await fetchMe(b)).status, 200);
    assert.equal((await fetchMe(b, 'bodyClient')).status, 200);
  });

  for (const transport of ['cookie', 'body']) {
    const name = transport === 'cookie' ? 'demo' : 'bodyClient';
    await t.test(`${transport} transport: both tabs refresh at the same moment, ${ROUNDS} rounds: never signed out, at most one rotation a round`, async () => {
      await raceRounds(t, [a, b], name, refreshes, ROUNDS);
      assert.equal((await fetchMe(a, name)).status, 200);
      assert.equal((await fetchMe(b, name)).status, 200);
    });
  }

  await t.test('a tab opened later takes the session from the open tabs, without a refresh', async () => {
    const c = await newTab(t, context);
    await openDemo(c);
    assert.equal(await bodyClient(c), 'signed-in');
    for (const name of ['demo', 'bodyClient']) {
      const [sa, sc] = [await stateOf(a, name), await stateOf(c, name)];
      assert.equal(sc.sessionId, sa.sessionId);
      assert.equal(sc.access, sa.access);
      assert.equal((await fetchMe(c, name)).status, 200);
    }
    assert.deepEqual(c.sent.filter((r) => pathOf(r) === '/auth/refresh').length, 0);
    await c.close();
  });

  await t.test('a tab asleep past the grace window, then woken, is still signed in and replays no old token', async () => {
    // Chromium queues the messages of a frozen tab and delivers them on waking; a browser
    // may also drop them. So that the woken tab must re-read the shared state, a third
    // client in it (body transport) hears nothing while it sleeps.
    await b.evaluate(async () => {
      const Real = globalThis.BroadcastChannel;
      globalThis.asleep = false;
      globalThis.BroadcastChannel = class extends Real {
        set onmessage(fn) {
          super.onmessage = (e) => { if (!globalThis.asleep) fn(e); };
        }
      };
      const { createClient } = await import('/sessions.js');
      globalThis.deafClient = createClient({ transport: 'body' });
      await globalThis.deafClient.ready;
      globalThis.BroadcastChannel = Real;
    });
    assert.equal((await stateOf(b, 'deafClient')).sessionId, (await stateOf(a, 'bodyClient')).sessionId, 'the deaf client got the session');
    await b.evaluate(() => { globalThis.asleep = true; });
    const cdp = await context.newCDPSession(b);
    await cdp.send('Page.setWebLifecycleState', { state: 'frozen' });
    // Meanwhile the other tab rotates both sessions' refresh tokens.
    for (const name of ['demo', 'bodyClient']) {
      assert.equal(await refreshIn(a, name), true);
    }
    const rotated = await refreshes.take();
    assert.equal(rotated.length, 2);
    const currentBodyToken = rotated.find((x) => x.sent && x.sent.includes('refresh_token')).token;
    await new Promise((r) => setTimeout(r, GRACE_MS + 1500));
    await cdp.send('Page.setWebLifecycleState', { state: 'active' });
    // (Headless Chromium renders the other page slowly after this until it is brought
    // to the front again: only time, but seconds of it.)
    await a.bringToFront();
    // The messages sent while it slept reach the deaf client now, and it drops them.
    await b.evaluate(() => new Promise((r) => setTimeout(r, 100)));
    await b.evaluate(() => { globalThis.asleep = false; });
    const [deaf, awake] = [await stateOf(b, 'deafClient'), await stateOf(a, 'bodyClient')];
    assert.notEqual(deaf.access, awake.access, 'the deaf client heard the other tab');

    for (const name of ['deafClient', 'bodyClient', 'demo']) {
      assert.equal((await fetchMe(b, name)).status, 200, `${name}: /me after waking`);
      assert.equal(await refreshIn(b, name), true, `${name}: signed out after waking`);
    }
    const after = await refreshes.take();
    assert.deepEqual(after.filter((x) => x.status !== 200), [], 'a refresh after waking was refused');
    // Each body-transport refresh presented the token the one before handed out.
    let chain = currentBodyToken;
    for (const x of after.filter((x) => x.sent && x.sent.includes('refresh_token'))) {
      assert.equal(JSON.parse(x.sent).refresh_token, chain, 'the woken tab replayed an old body token');
      chain = x.token;
    }
    assert.equal((await stateOf(b, 'deafClient')).access, (await stateOf(a, 'bodyClient')).access, 'the deaf client did not catch up');
    // Neither session was taken for stolen: the other tab carries on.
    for (const name of ['demo', 'bodyClient']) {
      assert.equal((await fetchMe(a, name)).status, 200);
      assert.equal(await refreshIn(a, name), true);
    }
    await refreshes.take();
  });

  await t.test('a logout in one tab reaches the other within a second, whose next fetch sends no dead token', async () => {
    const deadToken = await b.evaluate(() => globalThis.sessionsDemo.client.state.sessionId);
    assert.ok(deadToken);
    await a.click('#logout');
    await b.waitForFunction(() => globalThis.sessionsDemo.client.state.signedIn === false, null, { timeout: 1000 });
    await b.waitForSelector('body[data-state="signed-out"]', { timeout: 1000 });
    assert.equal(await b.isDisabled('#me'), true);
    const sentBefore = b.sent.length;
    assert.deepEqual(await fetchMe(b), { status: 401, authorization: undefined });
    assert.deepEqual(b.sent.slice(sentBefore).map((r) => pathOf(r)), ['/me'], 'the other tab tried a refresh with the dead session');
    await shot(a, 'tabs-logged-out-here');
    await shot(b, 'tabs-logged-out-elsewhere');

    // The body-transport session of the same tabs ends the same way.
    await a.evaluate(() => globalThis.bodyClient.logout());
    await b.waitForFunction(() => globalThis.bodyClient.state.signedIn === false, null, { timeout: 1000 });
    assert.deepEqual(await fetchMe(b, 'bodyClient'), { status: 401, authorization: undefined });
  });

  await t.test('a session the server ended reaches every tab at the first refresh that finds it', async () => {
    assert.equal((await loginWithForm(a, username)).status(), 200);
    await b.waitForSelector('body[data-state="signed-in"]');
    // Another device changes the password: every other session ends, this one too.
    const other = await otherDevice(username, 'e2e other device');
    const changed = await api('POST', '/auth/password', { token: other.access_token, body: { current_password: PASSWORD, new_password: 'another password for the tabs user' } });
    assert.equal(changed.status, 200);
    // The access token is dead at once: the gateway refuses it, the tab refreshes once,
    // is told invalid_grant and signs out, and so does the other tab.
    const me = await fetchMe(a);
    assert.equal(me.status, 403);
    assert.match(me.authorization, /^Bearer ey/);
    await a.waitForSelector('body[data-state="signed-out"]');
    await b.waitForSelector('body[data-state="signed-out"]', { timeout: 1000 });
    assert.deepEqual((await refreshes.take()).map((x) => x.status), [401]);
    assert.equal(await a.locator('#log li.bad').count(), 1, 'the ended session is reported once');
    await shot(b, 'tabs-ended-by-server');
  });
});

// --- the access token's expiry ---

test('the module refreshes shortly before the access token expires', async (t) => {
  const context = await newContext(t);
  const page = await newTab(t, context);
  await page.clock.install();
  await openDemo(page);
  // A second client without the timer: its fetch must see the expiry coming by itself.
  await page.evaluate(async () => {
    const { createClient } = await import('/sessions.js');
    globalThis.lazyClient = createClient({ transport: 'body', autoRefresh: false });
    await globalThis.lazyClient.ready;
  });
  const username = `${USER}-clock`;
  assert.equal((await loginWithForm(page, username)).status(), 200);
  await page.evaluate((u) => globalThis.lazyClient.login(u.username, u.password), { username, password: PASSWORD });
  const [demo, lazy] = [await stateOf(page), await stateOf(page, 'lazyClient')];
  const refreshes = refreshLog([page]);

  // 14 min 40 s later (of 15 min): the demo's timer has refreshed, 30 s before the end.
  await page.clock.fastForward('14:40');
  await page.waitForFunction((before) => globalThis.sessionsDemo.client.state.accessExpiresAt.getTime() > before, demo.access);
  assert.deepEqual((await refreshes.take()).map((x) => x.status), [200]);
  assert.equal((await stateOf(page, 'lazyClient')).access, lazy.access, 'the client without the timer refreshed');

  // The other client refreshes before it sends its request, which goes with the new token.
  const sent = page.waitForRequest((r) => pathOf(r) === '/me');
  assert.equal(await page.evaluate(() => globalThis.lazyClient.fetch('/me').then((r) => r.status)), 200);
  const answers = await refreshes.take();
  assert.deepEqual(answers.map((x) => x.status), [200]);
  assert.ok((await stateOf(page, 'lazyClient')).access > lazy.access);
  assert.match((await (await sent).allHeaders()).authorization, /^Bearer ey/);
});

test('cookie-only transport: every request carries the transport header and the cookies, never a token', async (t) => {
  // Against the cookie-transport server, so this pins only what the module sends (the
  // cookie-only server's tests below do the rest). From the other origin, so that the
  // cookies go along only with credentials: 'include'.
  const context = await newContext(t);
  const page = await newTab(t, context);
  await openDemo(page, `${APP_ORIGIN}/?api=${encodeURIComponent(BASE)}`);
  const username = `${USER}-clock`;
  const state = await page.evaluate(async ([base, u]) => {
    document.cookie = 'probe=1; Path=/'; // a cookie of 127.0.0.1, as the API's access cookie will be
    const { createClient } = await import('/sessions.js');
    globalThis.cookieOnly = createClient({ baseUrl: base, transport: 'cookie-only' });
    await globalThis.cookieOnly.ready;
    return JSON.stringify(await globalThis.cookieOnly.login(u.username, u.password));
  }, [BASE, { username, password: PASSWORD }]);
  assert.ok(!state.includes('eyJ'), `a token in the state: ${state}`);
  assert.match(state, /"signedIn":true/);
  const sent = page.waitForRequest((r) => r.url() === `${BASE}/me`);
  await page.evaluate(() => globalThis.cookieOnly.fetch('/me'));
  const headers = await (await sent).allHeaders();
  assert.equal(headers.authorization, undefined);
  assert.equal(headers['x-session-transport'], 'cookie');
  assert.match(headers.cookie ?? '', /probe=1/, 'the request went without credentials');
  const shared = await sharedRecords(page);
  assert.match(shared, /"signedIn":true/);
  assert.ok(!shared.includes('eyJ'), `a token in IndexedDB: ${shared}`);
});

// --- cookie-only mode: the server at COOKIE_ONLY_URL ---

// claimsOf decodes a JWT's payload, unverified (the server verified it).
const claimsOf = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));

// The cookie-only server's authorizer denials, by their logged reason.
const CSRF_REASON = 'access-token cookie without x-session-transport: cookie';
const NO_CREDENTIAL = 'no bearer token and no access-token cookie';
const REVOKED = 'session revoked';
const STALE_VERSION = 'token version is not current';
async function denials(reason) {
  const lines = (await readFile(CONLY_LOG, 'utf8')).split('\n');
  return lines.filter((l) => l.includes('msg="authorizer denied"') && l.includes(`reason="${reason}`)).length;
}

// cookieJar is the browser's cookies for the cookie-only server, by name.
const cookieJar = async (context) => Object.fromEntries((await context.cookies(`${CONLY}/auth/refresh`)).map((c) => [c.name, c]));

// everythingSeen is what the page's scripts can see of the session: every property of
// the module's state (own or inherited, enumerable or not; Dates as ISO strings),
// document.cookie, web storage, the module's shared record in IndexedDB and the page's
// HTML.
const everythingSeen = async (page) => ({
  ...(await page.evaluate(() => {
    const s = globalThis.sessionsDemo.client.state;
    const state = {};
    for (let o = s; o && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
      for (const k of Reflect.ownKeys(o)) {
        const v = s[k];
        state[String(k)] ??= v instanceof Date ? v.toISOString() : typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v);
      }
    }
    return { state, cookie: document.cookie, storage: localStorage.length + sessionStorage.length, html: document.documentElement.outerHTML };
  })),
  shared: await sharedRecords(page),
});

// noTokenIn asserts that none of the texts holds a token: a cookie's value or any JWT.
function noTokenIn(texts, secrets) {
  for (const [where, text] of Object.entries(texts)) {
    assert.ok(!/eyJ[\w-]+\.eyJ/.test(text), `a JWT in ${where}: ${text}`);
    for (const secret of secrets) assert.ok(!text.includes(secret), `a cookie's value in ${where}`);
  }
}

// channelLog records, in the page, the messages the module's clients of the cookie-only
// server send each other over their BroadcastChannel (another object on the channel
// hears them, this page's own included).
const channelLog = (page) => page.evaluate((base) => {
  globalThis.heard = [];
  const ch = new BroadcastChannel(`sessions-client cookie-only ${base}`);
  ch.onmessage = (e) => globalThis.heard.push(JSON.stringify(e.data));
}, CONLY);

test('cookie-only mode (ACCESS_TOKEN_COOKIE=on): the demo page works and no script ever holds a token', async (t) => {
  const context = await newContext(t);
  const page = await newTab(t, context);
  const username = `${USER}-conly`;
  let grant; // the login's body
  let cookies; // the browser's cookies after login
  const stateKeys = ['status', 'signedIn', 'sessionId', 'accessExpiresAt', 'refreshExpiresAt', 'sessionExpiresAt', 'transport'];

  await t.test('the server\'s demo page runs the module with the cookie-only transport', async () => {
    await openDemo(page, `${CONLY}/`);
    assert.equal(await page.getAttribute('body', 'data-state'), 'signed-out');
    assert.equal(await page.evaluate(() => globalThis.sessionsDemo.client.state.transport), 'cookie-only');
    assert.equal(await page.textContent('#transport'), 'cookie-only');
    assert.equal(await page.isVisible('[data-transport="cookie-only"]'), true);
    assert.equal(await page.isVisible('[data-transport="cookie"]'), false);
  });

  await t.test('login sets both tokens as HttpOnly cookies; document.cookie is empty and the state holds no token', async () => {
    await channelLog(page);
    const r = await loginWithForm(page, username);
    assert.equal(r.status(), 200);
    grant = await r.json();
    assert.equal((await r.request().allHeaders())['x-session-transport'], 'cookie');
    for (const k of ['access_token', 'token_type', 'refresh_token']) assert.equal(grant[k], undefined, `${k} in the login's body`);
    assert.ok(grant.expires_in > 0 && grant.session_id);

    cookies = await cookieJar(context);
    const access = cookies[ACCESS_COOKIE];
    const refresh = cookies[COOKIE];
    assert.ok(access, 'Chromium kept the __Host- cookie set over http://127.0.0.1 (loopback is a secure context)');
    assert.ok(refresh, 'no refresh cookie');
    assert.deepEqual([access.httpOnly, access.secure, access.sameSite, access.path], [true, true, 'Strict', '/']);
    assert.deepEqual([refresh.httpOnly, refresh.secure, refresh.sameSite, refresh.path], [true, true, 'Strict', '/auth']);
    assert.equal(claimsOf(access.value).sid, grant.session_id);

    const seen = await everythingSeen(page);
    assert.equal(seen.cookie, '', 'document.cookie is not empty');
    assert.equal(seen.storage, 0, 'something in web storage');
    assert.deepEqual(Object.keys(seen.state).sort(), [...stateKeys].sort(), 'the state has other properties: check them for tokens');
    assert.equal(seen.state.sessionId, grant.session_id);
    assert.equal(seen.state.signedIn, 'true');
    assert.match(seen.shared, /"signedIn":true/);
    noTokenIn({ state: JSON.stringify(seen.state), html: seen.html, IndexedDB: seen.shared }, [access.value, refresh.value]);
    await page.waitForFunction(() => document.getElementById('doc-cookie').textContent === '""');
    const heard = await page.evaluate(() => globalThis.heard);
    assert.ok(heard.length > 0, 'the module told the other tabs nothing');
    noTokenIn({ 'the tab channel': heard.join('\n') }, [access.value, refresh.value]);
  });

  await t.test('GET /me through the module answers 200 with the user\'s sub: the cookie and the header, no Authorization', async () => {
    // The user's sub as the API tells another device of the user (body transport).
    const other = await api('POST', '/auth/login', { base: CONLY, body: { username, password: PASSWORD } });
    assert.equal(other.status, 200);
    const sub = (await api('GET', '/me', { base: CONLY, token: other.body.access_token })).body.sub;
    assert.ok(sub);

    const sent = page.waitForRequest((r) => r.url() === `${CONLY}/me`);
    const me = await page.evaluate(async () => {
      const r = await globalThis.sessionsDemo.client.fetch('/me');
      return { status: r.status, body: await r.json() };
    });
    assert.equal(me.status, 200);
    assert.equal(me.body.sub, sub);
    assert.equal(me.body.sid, grant.session_id);
    const headers = await (await sent).allHeaders();
    assert.equal(headers.authorization, undefined);
    assert.equal(headers['x-session-transport'], 'cookie');
    assert.ok((headers.cookie ?? '').includes(`${ACCESS_COOKIE}=${cookies[ACCESS_COOKIE].value}`), 'the access cookie did not go to /me');
    assert.ok(!(headers.cookie ?? '').includes(COOKIE), 'the refresh cookie (Path=/auth) went to /me');
  });

  await t.test('refresh renews both cookies through the refresh cookie; no token in the body, the state or the tab channel', async () => {
    await channelLog(page);
    const before = (await everythingSeen(page)).state;
    const refreshed = page.waitForResponse((r) => r.url() === `${CONLY}/auth/refresh`);
    await page.click('#refresh');
    const r = await refreshed;
    assert.equal(r.status(), 200);
    const sent = await r.request().allHeaders();
    assert.equal(sent['x-session-transport'], 'cookie');
    assert.ok((sent.cookie ?? '').includes(`${COOKIE}=${cookies[COOKIE].value}`), 'the refresh cookie did not go along');
    const body = await r.json();
    for (const k of ['access_token', 'token_type', 'refresh_token']) assert.equal(body[k], undefined, `${k} in the refresh's body`);
    await page.locator('#log li.ok', { hasText: /refreshed$/ }).waitFor(); // the page has the new state

    const after = await cookieJar(context);
    assert.notEqual(after[ACCESS_COOKIE]?.value, cookies[ACCESS_COOKIE].value, 'the access cookie was not renewed');
    assert.notEqual(after[COOKIE]?.value, cookies[COOKIE].value, 'the refresh cookie was not rotated');
    const seen = await everythingSeen(page);
    assert.equal(seen.cookie, '');
    assert.equal(seen.state.sessionId, grant.session_id);
    assert.ok(Date.parse(seen.state.accessExpiresAt) >= Date.parse(before.accessExpiresAt));
    const heard = await page.evaluate(() => globalThis.heard);
    assert.ok(heard.length > 0, 'the module told the other tabs nothing');
    const secrets = [cookies[ACCESS_COOKIE].value, cookies[COOKIE].value, after[ACCESS_COOKIE].value, after[COOKIE].value];
    noTokenIn({ state: JSON.stringify(seen.state), html: seen.html, IndexedDB: seen.shared, 'the tab channel': heard.join('\n') }, secrets);
    cookies = after;

    const me = page.waitForResponse((x) => x.url() === `${CONLY}/me`);
    await page.click('#me');
    const answer = await me;
    assert.equal(answer.status(), 200);
    assert.ok((await answer.request().allHeaders()).cookie.includes(`${ACCESS_COOKIE}=${after[ACCESS_COOKIE].value}`), '/me went without the renewed cookie');
    await page.waitForSelector(`#devices li.current[data-id="${grant.session_id}"]`);
    await page.waitForFunction(() => document.getElementById('answer').textContent.includes('"sub"'));
    await shot(page, 'cookie-only-signed-in');
  });

  await t.test('logout clears both cookies and ends the session: /me is refused, with the old access cookie too', async () => {
    const last = cookies[ACCESS_COOKIE].value;
    const loggedOut = page.waitForResponse((r) => r.url() === `${CONLY}/auth/logout`);
    await page.click('#logout');
    assert.equal((await loggedOut).status(), 204);
    await page.waitForSelector('body[data-state="signed-out"]');
    assert.deepEqual(Object.keys(await cookieJar(context)), [], 'a cookie outlived the logout');

    // The page now sends no credential at all, which the authorizer denies.
    const noCredential = await denials(NO_CREDENTIAL);
    const sent = page.waitForRequest((r) => r.url() === `${CONLY}/me`);
    assert.equal(await page.evaluate(() => globalThis.sessionsDemo.client.fetch('/me').then((r) => r.status)), 403);
    assert.ok(!((await (await sent).allHeaders()).cookie ?? '').includes(ACCESS_COOKIE));
    assert.equal(await denials(NO_CREDENTIAL), noCredential + 1, `the authorizer did not log "${NO_CREDENTIAL}"`);

    // The last access cookie, still unexpired, replayed with the header: the session is revoked.
    const revoked = await denials(REVOKED);
    const replay = await api('GET', '/me', { base: CONLY, headers: { Cookie: `${ACCESS_COOKIE}=${last}`, 'X-Session-Transport': 'cookie' } });
    assert.equal(replay.status, 403);
    assert.equal(await denials(REVOKED), revoked + 1, `the authorizer did not log "${REVOKED}"`);
    await shot(page, 'cookie-only-signed-out');
  });
});

test('cookie-only mode: a form another page POSTs to a protected route is refused; only the page itself changes the password', async (t) => {
  const context = await newContext(t);
  const page = await newTab(t, context);
  const username = `${USER}-csrf`;
  const attacker = 'a password the attacker chose';
  await openDemo(page, `${CONLY}/`);
  assert.equal((await loginWithForm(page, username)).status(), 200);
  const access = (await cookieJar(context))[ACCESS_COOKIE];
  assert.ok(access);

  // forge loads, from origin, a page whose form POSTs a password change to the
  // cookie-only server as soon as it loads, and returns the answer to that POST. The
  // 403 and the authorizer's logged reason pin the CSRF guard: without it the account
  // function would see the form and refuse its body (415, not JSON), so the unchanged
  // password alone would not show the guard works.
  const forge = async (origin) => {
    const evil = await newTab(t, context);
    const url = new URL('/form-post', origin);
    url.searchParams.set('action', `${CONLY}/auth/password`);
    url.searchParams.set('current_password', PASSWORD);
    url.searchParams.set('new_password', attacker);
    const answered = evil.waitForResponse((r) => r.url() === `${CONLY}/auth/password`);
    await evil.goto(url.href, { waitUntil: 'commit' });
    const r = await answered;
    const req = r.request();
    assert.equal(req.method(), 'POST');
    assert.equal(req.postData(), new URLSearchParams({ current_password: PASSWORD, new_password: attacker }).toString());
    return { r, evil, headers: await req.allHeaders() };
  };

  await t.test('from another origin of the site the browser sends the cookie, not the header: the authorizer refuses it', async () => {
    const before = await denials(CSRF_REASON);
    const { r, evil, headers } = await forge(APP_ORIGIN);
    assert.equal(r.status(), 403);
    assert.deepEqual(await r.json(), { message: 'Forbidden' });
    assert.equal(headers['sec-fetch-site'], 'same-site');
    assert.equal(headers.origin, APP_ORIGIN);
    assert.equal(headers['content-type'], 'application/x-www-form-urlencoded');
    assert.ok((headers.cookie ?? '').includes(`${ACCESS_COOKIE}=${access.value}`), 'SameSite=Strict kept the cookie from a same-site form');
    assert.equal(headers['x-session-transport'], undefined);
    assert.equal(await denials(CSRF_REASON), before + 1, `the authorizer did not log "${CSRF_REASON}"`);
    await shot(evil, 'cookie-only-csrf-refused');
  });

  await t.test('from another site the SameSite=Strict cookie is not even sent: refused for want of a credential', async () => {
    const before = await denials(NO_CREDENTIAL);
    const origin = APP_ORIGIN.replace('//127.0.0.1:', '//localhost:');
    const { r, headers } = await forge(origin);
    assert.equal(r.status(), 403);
    assert.equal(headers['sec-fetch-site'], 'cross-site');
    assert.equal(headers.origin, origin);
    assert.ok(!(headers.cookie ?? '').includes(ACCESS_COOKIE), 'the access cookie went with a cross-site form');
    assert.equal(await denials(NO_CREDENTIAL), before + 1, `the authorizer did not log "${NO_CREDENTIAL}"`);
  });

  await t.test('the password did not change: the old one still logs in, the attacker\'s does not, and the session lives', async () => {
    assert.equal((await api('POST', '/auth/login', { base: CONLY, body: { username, password: PASSWORD } })).status, 200);
    const refused = await api('POST', '/auth/login', { base: CONLY, body: { username, password: attacker } });
    assert.deepEqual([refused.status, refused.body.error], [401, 'invalid_credentials']);
    assert.equal(await page.evaluate(() => globalThis.sessionsDemo.client.fetch('/me').then((r) => r.status)), 200);
  });

  await t.test('the page\'s own form, whose request carries the header, does change it: a new access cookie, the old one refused', async () => {
    const next = 'the new password of the csrf user';
    await page.bringToFront();
    await page.fill('#current-password', PASSWORD);
    await page.fill('#new-password', next);
    const answered = page.waitForResponse((r) => r.url() === `${CONLY}/auth/password`);
    await page.click('#change-password');
    const r = await answered;
    assert.equal(r.status(), 200);
    assert.equal((await r.request().allHeaders())['x-session-transport'], 'cookie');
    assert.equal((await r.json()).access_token, undefined, 'the access token in the body');
    await page.waitForSelector('#password-result.ok');
    const renewed = (await cookieJar(context))[ACCESS_COOKIE];
    assert.ok(renewed && renewed.value !== access.value, 'the access cookie was not renewed');
    assert.equal(await page.evaluate(() => globalThis.sessionsDemo.client.fetch('/me').then((r) => r.status)), 200);
    assert.equal(await page.evaluate(() => document.cookie), '');

    const stale = await denials(STALE_VERSION);
    const replay = await api('GET', '/me', { base: CONLY, headers: { Cookie: `${ACCESS_COOKIE}=${access.value}`, 'X-Session-Transport': 'cookie' } });
    assert.equal(replay.status, 403);
    assert.equal(await denials(STALE_VERSION), stale + 1, `the authorizer did not log "${STALE_VERSION}"`);
    assert.equal((await api('POST', '/auth/login', { base: CONLY, body: { username, password: PASSWORD } })).status, 401);
    assert.equal((await api('POST', '/auth/login', { base: CONLY, body: { username, password: next } })).status, 200);
  });
});

// --- without Web Locks ---

test('without Web Locks, the IndexedDB lease keeps tabs to one rotation a round', async (t) => {
  const context = await newContext(t);
  await context.addInitScript(() => { delete Navigator.prototype.locks; });
  const a = await newTab(t, context);
  const b = await newTab(t, context);
  await openDemo(a);
  await openDemo(b);
  assert.equal(await a.evaluate(() => 'locks' in navigator), false);
  const refreshes = refreshLog([a, b]);
  assert.equal((await loginWithForm(a, `${USER}-lease`)).status(), 200);
  await b.waitForSelector('body[data-state="signed-in"]');
  await raceRounds(t, [a, b], 'demo', refreshes, 20);
  assert.equal((await fetchMe(b)).status, 200);
});

// --- the devices panel and the password form ---

test('the devices panel and the change-password form', async (t) => {
  const context = await newContext(t);
  const page = await newTab(t, context);
  const username = `${USER}-devices`;
  let password = PASSWORD;
  await openDemo(page);
  assert.equal((await loginWithForm(page, username)).status(), 200);
  const sid = (await stateOf(page)).sessionId;
  const phone = await otherDevice(username, 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1');
  const laptop = await otherDevice(username, 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0');
  const refreshOf = (grant) => api('POST', '/auth/refresh', { body: { refresh_token: grant.refresh_token } });

  await t.test('the panel lists every session of the account, this one marked', async () => {
    await page.click('#devices-reload');
    await page.waitForFunction(() => document.querySelectorAll('#devices li').length === 3);
    assert.equal(await page.locator('#devices li.current').count(), 1);
    assert.equal(await page.getAttribute('#devices li.current', 'data-id'), sid);
    assert.match(await page.textContent('#devices li.current'), /this device/);
    assert.match(await page.textContent(`#devices li[data-id="${phone.session_id}"]`), /Safari on iOS/);
    assert.match(await page.textContent(`#devices li[data-id="${laptop.session_id}"]`), /Firefox on Windows/);
    await shot(page, 'devices');
  });

  await t.test('"sign out" ends that device only', async () => {
    const deleted = page.waitForResponse((r) => r.request().method() === 'DELETE');
    await page.click(`#devices li[data-id="${phone.session_id}"] button`);
    const r = await deleted;
    assert.equal(r.status(), 204);
    assert.equal(pathOf(r), `/auth/sessions/${phone.session_id}`);
    await page.waitForFunction(() => document.querySelectorAll('#devices li').length === 2);
    assert.equal((await refreshOf(phone)).body.error, 'invalid_grant');
    const laptopNext = await refreshOf(laptop);
    assert.equal(laptopNext.status, 200, 'the other device was signed out too');
    laptop.refresh_token = laptopNext.body.refresh_token;
    assert.equal((await fetchMe(page)).status, 200);
  });

  await t.test('"sign out everywhere else" ends every other session and keeps this one', async () => {
    const loggedOut = page.waitForResponse((r) => pathOf(r) === '/auth/logout');
    await page.click('#sign-out-others');
    const r = await loggedOut;
    assert.equal(r.status(), 204);
    assert.equal(JSON.parse(r.request().postData()).scope, 'others');
    await page.waitForFunction(() => document.querySelectorAll('#devices li').length === 1);
    assert.equal(await page.getAttribute('#devices li', 'data-id'), sid);
    assert.equal((await refreshOf(laptop)).body.error, 'invalid_grant');
    assert.equal((await stateOf(page)).signedIn, true);
    assert.equal((await fetchMe(page)).status, 200);
  });

  await t.test('a wrong current password changes nothing', async () => {
    await page.fill('#current-password', 'not the password at all');
    await page.fill('#new-password', 'a new password, long enough');
    const answered = page.waitForResponse((r) => pathOf(r) === '/auth/password');
    await page.click('#change-password');
    assert.equal((await answered).status(), 401);
    await page.waitForSelector('#password-result:not([hidden])');
    assert.equal(await page.textContent('#password-result'), 'The current password is wrong.');
    assert.equal((await stateOf(page)).signedIn, true);
    assert.equal(page.sent.filter((r) => pathOf(r) === '/auth/password').length, 1, 'the refused change was sent again');
  });

  await t.test('a password change ends the other sessions; this tab goes on with a new access token', async () => {
    const tablet = await otherDevice(username, 'Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36');
    const oldAccess = await page.evaluate(async () => {
      const r = await globalThis.sessionsDemo.client.fetch('/me');
      return r.status;
    });
    assert.equal(oldAccess, 200);
    const next = 'the new password of the devices user';
    await page.fill('#current-password', password);
    await page.fill('#new-password', next);
    const answered = page.waitForResponse((r) => pathOf(r) === '/auth/password');
    await page.click('#change-password');
    const r = await answered;
    assert.equal(r.status(), 200);
    password = next;
    await page.waitForSelector('#password-result.ok');
    await page.waitForFunction(() => document.querySelectorAll('#devices li').length === 1);
    assert.equal((await refreshOf(tablet)).body.error, 'invalid_grant');
    const me = await fetchMe(page);
    assert.equal(me.status, 200);
    assert.equal(me.authorization, `Bearer ${(await r.json()).access_token}`);
    assert.equal((await api('POST', '/auth/login', { body: { username, password: PASSWORD } })).status, 401, 'the old password still works');
    await shot(page, 'password-changed');
  });

  await t.test('"log out everywhere" ends this session and every other', async () => {
    const other = await otherDevice(username, 'e2e other device', password);
    const loggedOut = page.waitForResponse((r) => pathOf(r) === '/auth/logout');
    await page.click('#logout-all');
    const r = await loggedOut;
    assert.equal(r.status(), 204);
    assert.equal(JSON.parse(r.request().postData()).scope, 'all');
    await page.waitForSelector('body[data-state="signed-out"]');
    assert.equal((await refreshOf(other)).body.error, 'invalid_grant');
  });
});

// --- 390 px wide ---

test('at 390 px wide nothing overflows', async (t) => {
  const context = await newContext(t, { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  const page = await newTab(t, context);
  await openDemo(page);
  assert.deepEqual(await overflow(page), []);
  await shot(page, 'narrow-signed-out');
  assert.equal((await loginWithForm(page, `${USER}-narrow`)).status(), 200);
  await otherDevice(`${USER}-narrow`, 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15');
  await page.click('#devices-reload');
  await page.waitForFunction(() => document.querySelectorAll('#devices li').length === 2);
  await page.click('#me');
  await page.waitForSelector('#log li.ok');
  assert.deepEqual(await overflow(page), []);
  await shot(page, 'narrow-signed-in');
});

// --- another origin, through CORS ---

test('the demo page on another origin, through CORS', async (t) => {
  const context = await newContext(t);
  const page = await newTab(t, context);
  const username = `${USER}-cors`;
  const refreshCookie = async () => (await context.cookies(`${BASE}/auth/refresh`)).find((c) => c.name === COOKIE);
  const cors = (r) => r.allHeaders().then((h) => [h['access-control-allow-origin'], h['access-control-allow-credentials']]);

  await t.test('an allowed origin logs in, calls /me, refreshes and logs out with credentials', async () => {
    await openDemo(page, `${APP_ORIGIN}/?api=${encodeURIComponent(BASE)}`);
    assert.equal(await page.getAttribute('body', 'data-state'), 'signed-out');
    const r = await loginWithForm(page, username);
    assert.equal(r.status(), 200);
    assert.equal((await r.request().allHeaders()).origin, APP_ORIGIN);
    assert.deepEqual(await cors(r), [APP_ORIGIN, 'true']);
    assert.ok(await refreshCookie(), 'the API set its refresh cookie on a cross-origin login');

    const me = page.waitForResponse((x) => x.url() === `${BASE}/me`);
    await page.click('#me');
    assert.equal((await me).status(), 200);

    const before = await refreshCookie();
    const refreshed = page.waitForResponse((x) => x.url() === `${BASE}/auth/refresh`);
    await page.click('#refresh');
    const rr = await refreshed;
    assert.equal(rr.status(), 200);
    assert.deepEqual(await cors(rr), [APP_ORIGIN, 'true']);
    assert.ok((await rr.request().allHeaders()).cookie?.includes(`${COOKIE}=${before.value}`), 'the cookie went with the cross-origin refresh');
    assert.notEqual((await refreshCookie()).value, before.value);
    await page.waitForSelector('#devices li.current');
    await shot(page, 'cors-signed-in');

    const loggedOut = page.waitForResponse((x) => x.url() === `${BASE}/auth/logout`);
    await page.click('#logout');
    assert.equal((await loggedOut).status(), 204);
    await page.waitForSelector('body[data-state="signed-out"]');
    assert.equal(await refreshCookie(), undefined);
  });

  await t.test('an origin the API does not allow is refused by the browser', async () => {
    const other = await newTab(t, context);
    const grant = await otherDevice(username, 'e2e counter');
    const sessionsBefore = (await api('GET', '/auth/sessions', { token: grant.access_token })).body.sessions.length;
    await openDemo(other, `${REFUSED_ORIGIN}/?api=${encodeURIComponent(BASE)}`);
    const failed = other.waitForEvent('requestfailed', (r) => r.url() === `${BASE}/auth/login`);
    await other.fill('#username', username);
    await other.fill('#password', PASSWORD);
    await other.click('#login');
    await failed;
    await other.waitForSelector('#login-error:not([hidden])');
    assert.match(await other.textContent('#login-error'), /Login failed: TypeError/);
    assert.equal(await other.getAttribute('body', 'data-state'), 'signed-out');
    // The preflight failed, so the login itself was never sent: no new session.
    assert.equal((await api('GET', '/auth/sessions', { token: grant.access_token })).body.sessions.length, sessionsBefore);
    await shot(other, 'cors-refused');
  });
});
