// The local demo page, on the browser module (clients/browser/sessions.js, served at
// /sessions.js): log in with the cookie (or cookie-only) transport, call /me, refresh,
// the devices of the account, a password change, logout of one session or of all. Tabs
// share the session.
// Plain JavaScript, no build step.
import { createClient, SessionError } from '/sessions.js';

// The API is this page's origin unless the page names another (the browser test serves
// this page from a second origin to call the API through CORS). The transport is
// "cookie" unless the page names another: the local server names "cookie-only" when it
// runs in cookie-only mode (ACCESS_TOKEN_COOKIE=on).
const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content || undefined;
const api = meta('sessions-api');
const transport = meta('sessions-transport') ?? 'cookie';
const client = createClient({ baseUrl: api, transport });
// For the browser test and the developer console.
globalThis.sessionsDemo = { client };

const $ = (id) => document.getElementById(id);

function relative(date) {
  let s = Math.round((date.getTime() - Date.now()) / 1000);
  if (Math.abs(s) < 5) return 'just now'; // the server's times are whole seconds
  const past = s < 0;
  s = Math.abs(s);
  const text = s < 90 ? `${s} s` : s < 5400 ? `${Math.round(s / 60)} min` : s < 172800 ? `${Math.round(s / 3600)} h` : `${Math.round(s / 86400)} days`;
  return past ? `${text} ago` : `in ${text}`;
}

function when(date) {
  return date ? `${date.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC')} (${relative(date)})` : '–';
}

function log(text, ok) {
  const li = document.createElement('li');
  li.textContent = `${new Date().toLocaleTimeString()}  ${text}`;
  if (ok !== undefined) li.className = ok ? 'ok' : 'bad';
  $('log').prepend(li);
  while ($('log').children.length > 40) $('log').lastElementChild.remove();
}

function why(e) {
  return e instanceof SessionError ? `${e.status} ${e.code}` : `${e.name}: ${e.message}`;
}

function show(what, data) {
  $('last-call').textContent = what;
  $('answer').textContent = data === undefined ? '(no body)' : JSON.stringify(data, null, 2);
}

function render() {
  const st = client.state;
  document.body.dataset.state = st.status;
  $('state').textContent = st.status === 'unknown' ? 'checking…' : st.signedIn ? 'signed in' : 'signed out';
  $('api').textContent = api ?? `${location.origin} (this page's origin)`;
  $('sid').textContent = st.sessionId ?? '–';
  $('access-exp').textContent = when(st.accessExpiresAt);
  $('idle-exp').textContent = when(st.refreshExpiresAt);
  $('session-exp').textContent = when(st.sessionExpiresAt);
  $('doc-cookie').textContent = JSON.stringify(document.cookie);
  for (const el of document.querySelectorAll('[data-needs-session]')) el.disabled = !st.signedIn || running.has(el);
  $('login').disabled = st.status === 'unknown' || running.has($('login'));
  $('devices-hint').hidden = st.signedIn;
  if (!st.signedIn) $('devices').replaceChildren();
}

// busy disables a button while its action runs (and keeps errors off the console).
const running = new Set();
async function busy(button, action) {
  running.add(button);
  button.disabled = true;
  try {
    await action();
  } catch (e) {
    log(`${button.textContent}: ${why(e)}`, false);
  } finally {
    running.delete(button);
    button.disabled = false;
    render();
  }
}

async function login(event) {
  event.preventDefault();
  const username = $('username').value;
  const error = $('login-error');
  error.hidden = true;
  await busy($('login'), async () => {
    try {
      await client.login(username, $('password').value);
      log(`logged in as ${username}`, true);
    } catch (e) {
      error.textContent = e instanceof SessionError && e.code === 'invalid_credentials' ? 'Wrong username or password.'
        : e instanceof SessionError && e.code === 'too_many_attempts' ? `Too many attempts: try again in ${e.retryAfter ?? 'a few'} s.`
        : `Login failed: ${why(e)}`;
      error.hidden = false;
      log(`login failed: ${why(e)}`, false);
    } finally {
      $('password').value = '';
    }
  });
}

async function me() {
  const res = await client.fetch('/me');
  show(`GET /me → ${res.status}`, await res.json().catch(() => undefined));
  log(`GET /me: ${res.status}`, res.status === 200);
}

function deviceName(ua) {
  if (!ua) return 'unknown device';
  const browser = /Edg\//.test(ua) ? 'Edge' : /Chrome\//.test(ua) ? 'Chrome' : /Firefox\//.test(ua) ? 'Firefox' : /Safari\//.test(ua) ? 'Safari' : null;
  const os = /Windows/.test(ua) ? 'Windows' : /Android/.test(ua) ? 'Android' : /iPhone|iPad/.test(ua) ? 'iOS' : /Mac OS X/.test(ua) ? 'macOS' : /Linux/.test(ua) ? 'Linux' : null;
  return browser && os ? `${browser} on ${os}` : ua.slice(0, 60);
}

async function loadDevices() {
  const list = await client.listSessions();
  show(`GET /auth/sessions → 200`, list);
  const items = list.map((s) => {
    const li = document.createElement('li');
    li.dataset.id = s.id;
    if (s.current) li.classList.add('current');
    const info = document.createElement('div');
    const name = document.createElement('strong');
    name.textContent = deviceName(s.userAgent);
    name.title = s.userAgent;
    info.append(name);
    if (s.current) {
      const badge = document.createElement('span');
      badge.className = 'badge this';
      badge.textContent = 'this device';
      info.append(' ', badge);
    }
    const meta = document.createElement('small');
    meta.textContent = `${s.ip || '?'} · signed in ${relative(s.createdAt)} · last used ${relative(s.lastUsedAt)} · ${s.id.slice(0, 12)}…`;
    info.append(meta);
    const out = document.createElement('button');
    out.type = 'button';
    out.className = 'small sign-out';
    out.textContent = s.current ? 'Log out' : 'Sign out';
    out.addEventListener('click', () => busy(out, async () => {
      await client.signOut(s.id);
      log(s.current ? 'logged out' : `signed out ${deviceName(s.userAgent)} (${s.id.slice(0, 12)}…)`, true);
      if (client.state.signedIn) await loadDevices();
    }));
    li.append(info, out);
    return li;
  });
  $('devices').replaceChildren(...items);
}

async function changePassword(event) {
  event.preventDefault();
  const result = $('password-result');
  result.hidden = true;
  await busy($('change-password'), async () => {
    try {
      await client.changePassword($('current-password').value, $('new-password').value);
      result.textContent = 'Password changed; every other session has ended.';
      result.className = 'ok';
      log('password changed', true);
      await loadDevices();
    } catch (e) {
      result.textContent = e instanceof SessionError && e.code === 'invalid_credentials' ? 'The current password is wrong.' : `Not changed: ${e instanceof SessionError ? e.message : why(e)}`;
      result.className = 'error';
      log(`password change: ${why(e)}`, false);
    } finally {
      result.hidden = false;
      $('current-password').value = '';
      $('new-password').value = '';
    }
  });
}

// The devices panel follows the session: loaded when one starts or changes, here or in
// another tab, and after a password change.
let listed = null;
let status = client.state.status;
client.addEventListener('change', (e) => {
  const { state, reason, remote } = e.detail;
  const first = status === 'unknown';
  status = state.status;
  render();
  if (first) log(state.signedIn ? 'signed back in: the session of this browser is still live' : 'not signed in');
  else if (remote) log(`${reason === 'logout' || reason === 'ended' ? 'signed out' : reason === 'login' ? 'signed in' : reason === 'password' ? 'password changed' : 'session updated'} in another tab`);
  else if (reason === 'ended') log('the session has ended (the server refused the refresh)', false);
  const sid = state.signedIn ? state.sessionId : null;
  if (sid && (sid !== listed || (remote && reason === 'password'))) {
    loadDevices().catch((err) => log(`devices: ${why(err)}`, false));
  }
  listed = sid;
});

$('login-form').addEventListener('submit', login);
$('me').addEventListener('click', () => busy($('me'), me));
$('refresh').addEventListener('click', () => busy($('refresh'), async () => {
  const st = await client.refresh();
  log(st.signedIn ? 'refreshed' : 'the session has ended', st.signedIn);
}));
$('logout').addEventListener('click', () => busy($('logout'), async () => {
  await client.logout();
  log('logged out', true);
}));
$('logout-all').addEventListener('click', () => busy($('logout-all'), async () => {
  await client.logout({ scope: 'all' });
  log('logged out everywhere', true);
}));
$('devices-reload').addEventListener('click', () => busy($('devices-reload'), loadDevices));
$('sign-out-others').addEventListener('click', () => busy($('sign-out-others'), async () => {
  await client.logout({ scope: 'others' });
  log('signed out everywhere else', true);
  await loadDevices();
}));
$('password-form').addEventListener('submit', changePassword);
$('transport').textContent = transport;
for (const el of document.querySelectorAll('[data-transport]')) el.hidden = el.dataset.transport !== transport;
render();
setInterval(render, 1000);
