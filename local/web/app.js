// The local demo page: log in with the cookie transport, keep the access token in
// memory, call /me, refresh through the HttpOnly cookie, log out. Plain JavaScript,
// no build step. See internal/api for the contract.
'use strict';

(() => {
  // The cookie transport: the refresh token goes to an HttpOnly cookie, and every
  // request that uses it must carry this header (a cross-site form cannot).
  const TRANSPORT = { 'X-Session-Transport': 'cookie' };
  // Refresh this long before the access token expires.
  const REFRESH_EARLY_MS = 30 * 1000;

  // The access token lives here and only here: never in localStorage,
  // sessionStorage or a cookie, so a reload forgets it and refreshes instead.
  let accessToken = null;
  let deadlines = null; // { access, idle, session } as Date
  let refreshTimer = null;
  let refreshing = null; // the refresh in flight, shared by concurrent callers

  const $ = (id) => document.getElementById(id);

  function decodeJWTPayload(jwt) {
    const part = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const bin = atob(part + '='.repeat((4 - (part.length % 4)) % 4));
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0))));
  }

  function relative(date) {
    let s = Math.round((date.getTime() - Date.now()) / 1000);
    const past = s < 0;
    s = Math.abs(s);
    const text = s < 90 ? `${s} s` : s < 5400 ? `${Math.round(s / 60)} min` : s < 172800 ? `${Math.round(s / 3600)} h` : `${Math.round(s / 86400)} days`;
    return past ? `${text} ago` : `in ${text}`;
  }

  function when(date) {
    return `${date.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC')} (${relative(date)})`;
  }

  function log(text, ok) {
    const li = document.createElement('li');
    li.textContent = `${new Date().toLocaleTimeString()}  ${text}`;
    if (ok !== undefined) li.className = ok ? 'ok' : 'bad';
    $('log').prepend(li);
  }

  function render() {
    const signedIn = accessToken !== null;
    document.body.dataset.state = signedIn ? 'signed-in' : 'signed-out';
    $('state').textContent = signedIn ? 'signed in' : 'signed out';
    $('access-exp').textContent = deadlines ? when(deadlines.access) : '–';
    $('idle-exp').textContent = deadlines ? when(deadlines.idle) : '–';
    $('session-exp').textContent = deadlines ? when(deadlines.session) : '–';
    $('doc-cookie').textContent = JSON.stringify(document.cookie);
  }

  async function call(method, path, { headers = {}, body } = {}) {
    const init = { method, headers: { ...headers }, credentials: 'same-origin', cache: 'no-store' };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const resp = await fetch(path, init);
    const text = await resp.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = text; }
    $('last-call').textContent = `${method} ${path} → ${resp.status}`;
    $('answer').textContent = data === null ? '(no body)' : JSON.stringify(redact(data), null, 2);
    return { status: resp.status, data };
  }

  // Shows the access token shortened: the page is a demo, not a token dump.
  function redact(data) {
    if (data && typeof data.access_token === 'string') {
      return { ...data, access_token: `${data.access_token.slice(0, 24)}…` };
    }
    return data;
  }

  function signedIn(grant) {
    accessToken = grant.access_token;
    const claims = decodeJWTPayload(accessToken);
    deadlines = {
      access: new Date(claims.exp * 1000),
      idle: new Date(Date.now() + grant.refresh_expires_in * 1000),
      session: new Date(grant.session_expires_at),
    };
    $('sub').textContent = claims.sub;
    $('sid').textContent = claims.sid;
    clearTimeout(refreshTimer);
    const wait = Math.max(5000, deadlines.access.getTime() - Date.now() - REFRESH_EARLY_MS);
    refreshTimer = setTimeout(() => { refresh('timer'); }, wait);
    render();
  }

  function signedOut() {
    accessToken = null;
    deadlines = null;
    clearTimeout(refreshTimer);
    $('sub').textContent = '–';
    $('sid').textContent = '–';
    render();
  }

  async function login(event) {
    event.preventDefault();
    const username = $('username').value;
    const password = $('password').value;
    const r = await call('POST', '/auth/login', { headers: TRANSPORT, body: { username, password } });
    $('password').value = '';
    if (r.status === 200) {
      signedIn(r.data);
      log(`logged in as ${username}`, true);
    } else {
      log(`login failed: ${r.status} ${r.data && r.data.error ? r.data.error : ''}`, false);
    }
  }

  // refresh trades the cookie's refresh token for a new access token (and a rotated
  // cookie). The browser sends the cookie; this code never sees it.
  function refresh(why) {
    if (!refreshing) {
      refreshing = (async () => {
        try {
          const r = await call('POST', '/auth/refresh', { headers: TRANSPORT });
          if (r.status === 200) {
            signedIn(r.data);
            log(`refreshed (${why})`, true);
          } else {
            signedOut();
            log(`refresh (${why}): ${r.status} ${r.data && r.data.error ? r.data.error : ''}`, why === 'page load' ? undefined : false);
          }
          return r.status;
        } finally {
          refreshing = null;
        }
      })();
    }
    return refreshing;
  }

  async function me() {
    const headers = accessToken ? { Authorization: `Bearer ${accessToken}` } : {};
    const r = await call('GET', '/me', { headers });
    log(`GET /me: ${r.status}`, r.status === 200);
  }

  async function logout() {
    const r = await call('POST', '/auth/logout', { headers: TRANSPORT });
    signedOut();
    log(`logged out: ${r.status}`, r.status === 204);
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('login-form').addEventListener('submit', login);
    $('me').addEventListener('click', me);
    $('refresh').addEventListener('click', () => refresh('button'));
    $('logout').addEventListener('click', logout);
    setInterval(render, 1000);
    // A reload keeps the session: the cookie survives it, the access token does not.
    refresh('page load');
  });
})();
