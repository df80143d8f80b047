// @example/sessions-client: the browser client of the sessions API (README.md, "Use it
// from a browser app"). One dependency-free ES module; sessions.d.ts has the types.
//
//   import { createClient } from '@example/sessions-client';
//   const client = createClient({ baseUrl: 'https://api.example.com', transport: 'cookie' });
//   await client.ready;
//   if (!client.state.signedIn) await client.login(name, password);
//   const me = await client.fetch('/me');
//
// Transports:
//   "cookie"      the refresh token is an HttpOnly cookie (X-Session-Transport: cookie on
//                 the auth routes); the access token lives in this module's memory and
//                 goes out as Authorization: Bearer.
//   "body"        both tokens travel in JSON bodies and live in memory only, so a tab
//                 gets them from another open tab or not at all.
//   "cookie-only" the access token is an HttpOnly cookie too (__Host-access_token): every
//                 request to the API carries X-Session-Transport: cookie and credentials,
//                 and this module never holds a token.
//
// Tabs of one origin share one session: one refresh at a time (a Web Lock, or a lease in
// IndexedDB where navigator.locks is missing), the result handed to the other tabs over
// a BroadcastChannel, and a record in IndexedDB that holds no secret (a generation
// number, whether a session may exist, the session id and its deadlines) so that a tab
// that holds the lock can tell whether another refreshed while it waited, and a new tab
// knows whether a silent refresh is worth trying.

const TRANSPORT_HEADER = 'X-Session-Transport';
const TRANSPORTS = ['cookie', 'body', 'cookie-only'];
const SCOPES = ['session', 'others', 'all'];
const DB_NAME = 'sessions-client';
const DB_STORE = 'kv';
// How long a tab waits for the lock before it refreshes without it: a tab frozen or
// stuck while holding it must not keep the others signed out.
const LOCK_WAIT_MS = 10_000;
// How long a lease of the fallback lock lasts if its holder never releases it.
const LEASE_MS = 10_000;
// How long a tab waits for another tab to hand over tokens it knows exist.
const ASK_WAIT_MS = 1_000;
// The same, on start-up: a tab that nobody answers then tries a silent refresh.
const ASK_ON_START_MS = 300;

/** An answer of the API that was not the success asked for. */
export class SessionError extends Error {
  constructor(message, { status = 0, code = 'error', retryAfter } = {}) {
    super(message);
    this.name = 'SessionError';
    this.status = status;
    this.code = code;
    if (retryAfter !== undefined) this.retryAfter = retryAfter;
  }
}

/** Creates a client of the sessions API at options.baseUrl. */
export function createClient(options = {}) {
  return new SessionsClient(options);
}

const SIGNED_OUT = Object.freeze({ signedIn: false, sid: null, accessExp: 0, idleExp: 0, sessionExp: 0, access: null, refresh: null });

class SessionsClient extends EventTarget {
  #transport;
  #base;
  #key;
  #fetch;
  #early;
  #auto;
  #shared;
  #channel = null;
  // What this tab knows: the generation of the shared state it holds, the session's
  // public facts and, outside cookie-only mode, its tokens (memory only).
  #gen = 0;
  #cur = SIGNED_OUT;
  #status = 'unknown';
  #state;
  #deviceToken = null; // body transport: handed back at the next login
  #inflight = null; // this tab's refresh in progress, shared by its callers
  #waiters = new Set(); // asks for the state of another tab
  #timer = 0;
  #closed = false;
  #onVisible = () => {
    if (typeof document === 'undefined' || document.visibilityState === 'visible') this.#catchUp(0).catch(() => {});
  };

  constructor(options) {
    super();
    const transport = options.transport ?? 'cookie';
    if (!TRANSPORTS.includes(transport)) throw new TypeError(`transport must be one of ${TRANSPORTS.join(', ')}`);
    this.#transport = transport;
    this.#base = baseOf(options.baseUrl);
    this.#fetch = options.fetch ?? ((...args) => globalThis.fetch(...args));
    this.#early = options.refreshEarlyMs ?? 30_000;
    this.#auto = options.autoRefresh ?? true;
    this.#key = `${transport} ${this.#base}`;
    this.#shared = new SharedRecord(`${this.#key} state`);
    this.#state = snapshot('unknown', SIGNED_OUT, transport);
    if (typeof BroadcastChannel === 'function') {
      this.#channel = new BroadcastChannel(`sessions-client ${this.#key}`);
      this.#channel.onmessage = (e) => this.#onMessage(e.data);
    }
    if (typeof document !== 'undefined') {
      // A tab that was frozen, hidden or asleep may have missed what the others did.
      document.addEventListener('visibilitychange', this.#onVisible);
      document.addEventListener('resume', this.#onVisible);
      globalThis.addEventListener?.('pageshow', this.#onVisible);
    }
    /** Resolves with the state once the client knows whether a session exists. */
    this.ready = this.#restore();
  }

  /** The session as this tab knows it; never a token in the cookie transports. */
  get state() {
    return this.#state;
  }

  /** Signs in; resolves with the new state or rejects with a SessionError. */
  async login(username, password) {
    await this.#settled();
    const body = { username, password };
    if (this.#transport === 'body' && this.#deviceToken) body.device_token = this.#deviceToken;
    const res = await this.#call('POST', '/auth/login', body);
    if (res.status !== 200) throw await errorOf(res);
    const grant = await res.json();
    if (this.#transport === 'body' && typeof grant.device_token === 'string') this.#deviceToken = grant.device_token;
    await this.#withLock(() => this.#publish(this.#fromGrant(grant), 'login'));
    return this.#state;
  }

  /**
   * fetch with the session: a relative path (or a URL under baseUrl) goes to the API with
   * the access token; the token is refreshed first when it is about to expire, and once
   * more after a 401 or 403, before the request is sent again. Other URLs get a plain fetch.
   */
  async fetch(input, init) {
    // A Request's URL is already absolute (against the page); a string path is the API's.
    const url = input instanceof Request ? input.url : this.#resolve(String(input));
    if (!this.#ours(url)) return this.#fetch(input, init);
    return this.#authed(input instanceof Request ? new Request(input, init) : new Request(url, init), () => true);
  }

  /**
   * Makes sure this tab holds a state at least as new as a refresh made after the call:
   * its own, or one another tab made meanwhile. Resolves with the state (signed out if the
   * server ended the session); rejects on a network error or a 5xx, leaving the state.
   */
  async refresh() {
    await this.#settled();
    await this.#refresh(this.#gen);
    return this.#state;
  }

  /** Ends the session ("session"), the user's other sessions ("others") or all of them. */
  async logout({ scope = 'session' } = {}) {
    if (!SCOPES.includes(scope)) throw new TypeError(`scope must be one of ${SCOPES.join(', ')}`);
    await this.#settled();
    await this.#withLock(async () => {
      await this.#catchUp(ASK_WAIT_MS); // a body token must be the current one
      let body = { scope };
      if (this.#transport === 'body') {
        if (!this.#cur.refresh) {
          if (scope !== 'others') await this.#publish(SIGNED_OUT, 'logout');
          return;
        }
        body = { refresh_token: this.#cur.refresh, scope };
      }
      const res = await this.#call('POST', '/auth/logout', body);
      if (res.status !== 204) throw await errorOf(res);
      if (scope !== 'others') await this.#publish(SIGNED_OUT, 'logout');
    });
  }

  /** The signed-in user's sessions (GET /auth/sessions), the current one marked. */
  async listSessions() {
    const res = await this.#account('GET', '/auth/sessions');
    if (res.status !== 200) throw await errorOf(res);
    const { sessions } = await res.json();
    return sessions.map((s) => ({
      id: s.id,
      createdAt: new Date(s.created_at),
      lastUsedAt: new Date(s.last_used_at),
      expiresAt: new Date(s.expires_at),
      userAgent: s.user_agent,
      ip: s.ip,
      current: s.current === true,
    }));
  }

  /** Ends one of the user's sessions; this tab's own one is a logout. */
  async signOut(id) {
    if (typeof id !== 'string' || id === '') throw new TypeError('a session id is required');
    await this.#settled();
    if (id === this.#cur.sid) return this.logout({ scope: 'session' });
    const res = await this.#account('DELETE', `/auth/sessions/${encodeURIComponent(id)}`);
    if (res.status !== 204) throw await errorOf(res);
  }

  /**
   * Changes the password. The server ends every other session and gives this one a new
   * access token (the old ones stop working), which every tab takes over.
   */
  async changePassword(currentPassword, newPassword) {
    const res = await this.#account('POST', '/auth/password', { current_password: currentPassword, new_password: newPassword });
    if (res.status !== 200) throw await errorOf(res);
    const grant = await res.json();
    await this.#withLock(() => this.#publish(this.#fromGrant(grant, this.#cur.refresh), 'password'));
  }

  /** Stops the timer and the tab channel; the client must not be used afterwards. */
  close() {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#channel?.close();
    this.#channel = null;
    if (typeof document !== 'undefined') {
      document.removeEventListener('visibilitychange', this.#onVisible);
      document.removeEventListener('resume', this.#onVisible);
      globalThis.removeEventListener?.('pageshow', this.#onVisible);
    }
    for (const w of this.#waiters) w.done(false);
  }

  // --- start-up ---

  async #restore() {
    const known = () => this.#status !== 'unknown';
    const rec = await this.#shared.read();
    if (known()) return this.#state; // another tab told us meanwhile
    if (!rec || !rec.signedIn || over(rec)) {
      this.#apply(rec?.gen ?? 0, SIGNED_OUT, 'restore');
      return this.#state;
    }
    if (this.#transport === 'cookie-only') {
      // The cookies are the credentials; the record has the deadlines.
      this.#apply(rec.gen, fromRecord(rec), 'restore');
      return this.#state;
    }
    if ((await this.#ask(rec.gen, ASK_ON_START_MS)) || known()) return this.#state;
    if (this.#transport === 'body') {
      // The tokens lived in tabs that are gone. Signed out here, without telling the
      // others: a tab that holds them but did not answer in time must keep them.
      this.#apply(0, SIGNED_OUT, 'restore');
      return this.#state;
    }
    // The cookie transport: the refresh cookie may still be there.
    try {
      await this.#withLock(() => this.#refreshLocked(0, { ask: false, silent: true }));
    } catch {
      // Unreachable or 5xx: signed out for now; refresh() tries again.
    }
    if (!known()) this.#apply(0, SIGNED_OUT, 'restore');
    return this.#state;
  }

  async #settled() {
    try {
      await this.ready;
    } catch {
      // restore never rejects; this keeps a broken IndexedDB from blocking the client
    }
  }

  // --- refresh ---

  // #refresh refreshes unless some tab changed the shared state after generation
  // `since`; one refresh per tab at a time, one per origin under the lock.
  #refresh(since) {
    if (!this.#inflight) {
      this.#inflight = this.#withLock(() => this.#refreshLocked(since, { ask: true })).finally(() => {
        this.#inflight = null;
      });
    }
    return this.#inflight;
  }

  async #refreshLocked(since, { ask, silent = false }) {
    const rec = await this.#shared.read();
    if (rec && rec.gen > since) {
      // Another tab refreshed, logged in or out after we looked: take its state.
      if (this.#gen >= rec.gen) return;
      if (!rec.signedIn) {
        this.#apply(rec.gen, SIGNED_OUT, rec.reason ?? 'logout', true);
        return;
      }
      if (this.#transport === 'cookie-only') {
        this.#apply(rec.gen, fromRecord(rec), 'refresh', true);
        return;
      }
      if (ask && (await this.#ask(rec.gen, ASK_WAIT_MS))) return;
      // No tab handed the tokens over: refresh with what we have. The cookie is the
      // current one; a body token may be the previous one, which the grace window covers.
    }
    if (this.#transport === 'body' && !this.#cur.refresh) return;
    const res = await this.#call('POST', '/auth/refresh', this.#transport === 'body' ? { refresh_token: this.#cur.refresh } : undefined);
    if (res.status === 200) {
      await this.#publish(this.#fromGrant(await res.json()), 'refresh');
      return;
    }
    if (res.status === 401) {
      // invalid_grant: the session is over, unless a refresh that did not wait for the
      // lock won meanwhile, whose state we take instead of clearing it.
      const now = await this.#shared.read();
      if (now && now.signedIn && now.gen > (rec?.gen ?? 0) && now.gen > this.#gen) {
        if (this.#transport === 'cookie-only') this.#apply(now.gen, fromRecord(now), 'refresh', true);
        else await this.#ask(now.gen, ASK_WAIT_MS);
        return;
      }
      if (silent && !rec?.signedIn) return;
      await this.#publish(SIGNED_OUT, 'ended');
      return;
    }
    if (!silent || res.status >= 500) throw await errorOf(res);
  }

  // #catchUp takes the shared state if it is newer than this tab's (a tab woken from
  // sleep, or one about to use its refresh token).
  async #catchUp(wait) {
    const rec = await this.#shared.read();
    if (!rec || rec.gen <= this.#gen) return;
    if (!rec.signedIn) this.#apply(rec.gen, SIGNED_OUT, rec.reason ?? 'logout', true);
    else if (this.#transport === 'cookie-only') this.#apply(rec.gen, fromRecord(rec), 'refresh', true);
    else await this.#ask(rec.gen, wait || ASK_WAIT_MS);
  }

  // --- requests ---

  // #authed sends request (to the API) with the session's credentials; retry(response)
  // says whether a 401/403 may be the token's fault, worth a refresh and a second try.
  async #authed(request, retry) {
    await this.#settled();
    if (this.#cur.signedIn && this.#stale()) {
      await this.#refresh(this.#gen).catch(() => {});
    }
    const sentWith = this.#gen;
    const credentialed = this.#cur.signedIn;
    let res = await this.#send(request.clone());
    if ((res.status === 401 || res.status === 403) && credentialed && (await retry(res.clone()))) {
      try {
        await this.#refresh(sentWith);
      } catch {
        return res;
      }
      if (this.#cur.signedIn && this.#gen !== sentWith) res = await this.#send(request);
    }
    return res;
  }

  #send(request) {
    const headers = new Headers(request.headers);
    const init = { headers };
    if (this.#transport === 'cookie-only') {
      headers.set(TRANSPORT_HEADER, 'cookie');
      init.credentials = 'include';
    } else if (this.#cur.signedIn && this.#cur.access && !headers.has('Authorization')) {
      headers.set('Authorization', `Bearer ${this.#cur.access}`);
    }
    return this.#fetch(new Request(request, init));
  }

  // #account is a call of an account route: signed in only, and retried after a refresh
  // only when the gateway refused the token (a function's own 401, such as a wrong
  // current password, must not be sent twice).
  async #account(method, path, json) {
    await this.#settled();
    if (!this.#cur.signedIn) throw new SessionError('not signed in', { status: 401, code: 'signed_out' });
    const init = { method, cache: 'no-store' };
    if (json !== undefined) {
      init.headers = { 'Content-Type': 'application/json' };
      init.body = JSON.stringify(json);
    }
    return this.#authed(new Request(this.#base + path, init), gatewayRefusal);
  }

  // #call is a call of an auth route, with the transport's credentials.
  #call(method, path, json) {
    const headers = {};
    const init = { method, headers, cache: 'no-store' };
    if (this.#transport === 'body') {
      // Never a cookie: a refresh cookie beside a body token is refused as CSRF.
      init.credentials = 'omit';
    } else {
      headers[TRANSPORT_HEADER] = 'cookie';
      init.credentials = 'include';
    }
    if (json !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(json);
    }
    return this.#fetch(this.#base + path, init);
  }

  #resolve(raw) {
    if (raw.startsWith('/') && !raw.startsWith('//')) return this.#base + raw;
    return new URL(raw, globalThis.location?.href ?? this.#base).href;
  }

  #ours(url) {
    return url === this.#base || url.startsWith(`${this.#base}/`) || url.startsWith(`${this.#base}?`);
  }

  #stale() {
    if (this.#transport !== 'cookie-only' && !this.#cur.access) return true;
    return this.#cur.accessExp - Date.now() < this.#earlyFor(this.#cur);
  }

  #earlyFor(cur) {
    // Half the lifetime at most, for short-lived tokens.
    return Math.min(this.#early, Math.max(0, (cur.accessExp - (cur.issued ?? cur.accessExp)) / 2));
  }

  // --- the state, shared between tabs ---

  #fromGrant(g, refresh) {
    const now = Date.now();
    return {
      signedIn: true,
      sid: g.session_id,
      issued: now,
      accessExp: now + g.expires_in * 1000,
      idleExp: now + g.refresh_expires_in * 1000,
      sessionExp: Date.parse(g.session_expires_at),
      // cookie-only: the tokens are cookies; a token in the body is dropped unread.
      access: this.#transport === 'cookie-only' ? null : g.access_token,
      refresh: this.#transport === 'body' ? (refresh ?? g.refresh_token) : null,
    };
  }

  // #publish makes cur the state of every tab: a newer generation in the shared record,
  // this tab's memory, then a message to the others. Called under the lock.
  async #publish(cur, reason) {
    const written = await this.#shared.bump(this.#gen, toRecord(cur, reason));
    const gen = written?.gen ?? this.#gen + 1;
    this.#apply(gen, cur, reason);
    this.#post({ type: 'state', gen, rec: toRecord(cur, reason), tokens: this.#tokens() });
  }

  #tokens() {
    if (this.#transport === 'cookie-only' || !this.#cur.signedIn) return null;
    return { access: this.#cur.access, refresh: this.#cur.refresh };
  }

  #post(msg) {
    try {
      this.#channel?.postMessage({ v: 1, ...msg });
    } catch {
      // closed
    }
  }

  #onMessage(msg) {
    if (this.#closed || !msg || msg.v !== 1) return;
    if (msg.type === 'state' && Number.isSafeInteger(msg.gen) && msg.gen > this.#gen) {
      const rec = msg.rec ?? {};
      if (!rec.signedIn) {
        this.#apply(msg.gen, SIGNED_OUT, rec.reason ?? 'logout', true);
      } else if (this.#transport === 'cookie-only') {
        this.#apply(msg.gen, fromRecord(rec), rec.reason ?? 'refresh', true);
      } else if (msg.tokens && typeof msg.tokens.access === 'string') {
        this.#apply(msg.gen, { ...fromRecord(rec), access: msg.tokens.access, refresh: msg.tokens.refresh ?? null }, rec.reason ?? 'refresh', true);
      }
    } else if (msg.type === 'ask' && this.#status !== 'unknown' && this.#gen > 0 && this.#gen >= msg.min) {
      this.#post({ type: 'state', gen: this.#gen, rec: toRecord(this.#cur, 'refresh'), tokens: this.#tokens() });
    }
  }

  // #ask waits up to ms for another tab to hand over a state of generation min or newer.
  #ask(min, ms) {
    if (this.#gen >= min) return Promise.resolve(true);
    if (!this.#channel) return Promise.resolve(false);
    return new Promise((resolve) => {
      const w = {
        min,
        done: (ok) => {
          clearTimeout(w.timer);
          this.#waiters.delete(w);
          resolve(ok);
        },
      };
      w.timer = setTimeout(() => w.done(false), ms);
      this.#waiters.add(w);
      this.#post({ type: 'ask', min });
    });
  }

  #apply(gen, cur, reason, remote = false) {
    const before = this.#state;
    this.#gen = gen;
    this.#cur = cur;
    this.#status = cur.signedIn ? 'signed-in' : 'signed-out';
    this.#state = snapshot(this.#status, cur, this.#transport);
    for (const w of this.#waiters) if (this.#gen >= w.min) w.done(true);
    this.#schedule();
    if (!sameState(before, this.#state)) {
      this.dispatchEvent(new CustomEvent('change', { detail: { state: this.#state, reason, remote } }));
    }
  }

  // #schedule keeps the access token fresh while signed in (autoRefresh). Every tab has
  // a timer; the first to fire refreshes, the others find its state under the lock.
  #schedule() {
    clearTimeout(this.#timer);
    if (!this.#auto || this.#closed || !this.#cur.signedIn) return;
    const at = this.#cur.accessExp - this.#earlyFor(this.#cur) - Math.random() * 2000;
    const wait = Math.min(2 ** 31 - 1, Math.max(1000, at - Date.now()));
    this.#timer = setTimeout(() => {
      this.#refresh(this.#gen).catch(() => {
        // Offline or a 5xx: try again later, not in a tight loop.
        this.#timer = setTimeout(() => this.#schedule(), 10_000);
      });
    }, wait);
  }

  // --- the lock ---

  async #withLock(fn) {
    const name = `sessions-client ${this.#key}`;
    if (globalThis.navigator?.locks?.request) {
      let ran = false;
      try {
        return await navigator.locks.request(name, { signal: timeoutSignal(LOCK_WAIT_MS) }, () => {
          ran = true;
          return fn();
        });
      } catch (e) {
        if (ran || (e?.name !== 'AbortError' && e?.name !== 'TimeoutError')) throw e;
        return fn(); // the holder is stuck (a frozen tab): go on without it
      }
    }
    const lease = await this.#shared.lease(`${name} lease`, LOCK_WAIT_MS);
    try {
      return await fn();
    } finally {
      await lease?.release();
    }
  }
}

// --- helpers ---

function baseOf(baseUrl) {
  const page = globalThis.location?.href;
  if (baseUrl === undefined || baseUrl === '') {
    if (!page) throw new TypeError('baseUrl is required outside a page');
    return new URL(page).origin;
  }
  const u = new URL(baseUrl, page);
  if (u.search || u.hash) throw new TypeError('baseUrl must have no query or fragment');
  return (u.origin + u.pathname).replace(/\/+$/, '');
}

function snapshot(status, cur, transport) {
  const date = (ms) => (cur.signedIn && ms ? new Date(ms) : null);
  return Object.freeze({
    status,
    signedIn: cur.signedIn,
    sessionId: cur.signedIn ? cur.sid : null,
    accessExpiresAt: date(cur.accessExp),
    refreshExpiresAt: date(cur.idleExp),
    sessionExpiresAt: date(cur.sessionExp),
    transport,
  });
}

function sameState(a, b) {
  const t = (d) => d?.getTime() ?? null;
  return a.status === b.status && a.sessionId === b.sessionId && t(a.accessExpiresAt) === t(b.accessExpiresAt) &&
    t(a.refreshExpiresAt) === t(b.refreshExpiresAt) && t(a.sessionExpiresAt) === t(b.sessionExpiresAt);
}

// The shared record: what every tab may know, no secret in it.
function toRecord(cur, reason) {
  return { signedIn: cur.signedIn, sid: cur.sid, issued: cur.issued ?? 0, accessExp: cur.accessExp, idleExp: cur.idleExp, sessionExp: cur.sessionExp, reason };
}

function fromRecord(rec) {
  return { signedIn: true, sid: rec.sid, issued: rec.issued, accessExp: rec.accessExp, idleExp: rec.idleExp, sessionExp: rec.sessionExp, access: null, refresh: null };
}

function over(rec) {
  const now = Date.now();
  return rec.idleExp <= now || rec.sessionExp <= now;
}

function timeoutSignal(ms) {
  if (typeof AbortSignal.timeout === 'function') return AbortSignal.timeout(ms);
  const c = new AbortController();
  setTimeout(() => c.abort(new DOMException('timed out', 'TimeoutError')), ms);
  return c.signal;
}

async function gatewayRefusal(res) {
  try {
    const body = await res.json();
    return body !== null && typeof body === 'object' && typeof body.message === 'string' && !('error' in body);
  } catch {
    return false;
  }
}

async function errorOf(res) {
  let code = `http_${res.status}`;
  let message = `HTTP ${res.status}`;
  try {
    const body = await res.json();
    if (typeof body?.error === 'string') code = body.error;
    else if (res.status === 401) code = 'unauthorized';
    else if (res.status === 403) code = 'forbidden';
    if (typeof body?.message === 'string') message = body.message;
  } catch {
    // not JSON
  }
  const ra = res.headers.get('Retry-After');
  const retryAfter = ra !== null && /^\d+$/.test(ra) ? Number(ra) : undefined;
  return new SessionError(message, { status: res.status, code, retryAfter });
}

// SharedRecord is one IndexedDB entry that every tab of the origin reads and writes.
// IndexedDB rather than Web Storage: a transaction that starts after another committed sees
// its write, across processes, which is what a tab that just got the lock relies on.
// Without IndexedDB it keeps the record in memory (this tab only).
class SharedRecord {
  #key;
  #db = null;
  #memory = null;

  constructor(key) {
    this.#key = key;
  }

  #open() {
    if (!this.#db) {
      this.#db = new Promise((resolve) => {
        if (typeof indexedDB === 'undefined') return resolve(null);
        let req;
        try {
          req = indexedDB.open(DB_NAME, 1);
        } catch {
          return resolve(null);
        }
        req.onupgradeneeded = () => req.result.createObjectStore(DB_STORE);
        req.onsuccess = () => {
          const db = req.result;
          db.onversionchange = () => db.close();
          resolve(db);
        };
        req.onerror = () => resolve(null);
        req.onblocked = () => resolve(null);
      });
    }
    return this.#db;
  }

  // #tx runs fn(store) in one transaction and resolves with its result once committed.
  async #tx(mode, fn) {
    const db = await this.#open();
    if (!db) return undefined;
    return new Promise((resolve) => {
      let out;
      let tx;
      try {
        tx = db.transaction(DB_STORE, mode);
      } catch {
        return resolve(undefined);
      }
      tx.oncomplete = () => resolve(out);
      tx.onerror = tx.onabort = () => resolve(undefined);
      fn(tx.objectStore(DB_STORE), (v) => {
        out = v;
      });
    });
  }

  async read() {
    const db = await this.#open();
    if (!db) return this.#memory;
    const rec = await this.#tx('readonly', (store, out) => {
      const r = store.get(this.#key);
      r.onsuccess = () => out(r.result ?? null);
    });
    return valid(rec) ? rec : null;
  }

  // bump writes rec with a generation above both the stored one and since, in one
  // transaction, and resolves with what it wrote.
  async bump(since, rec) {
    const db = await this.#open();
    if (!db) {
      this.#memory = { ...rec, gen: Math.max(since, this.#memory?.gen ?? 0) + 1 };
      return this.#memory;
    }
    return this.#tx('readwrite', (store, out) => {
      const r = store.get(this.#key);
      r.onsuccess = () => {
        const stored = valid(r.result) ? r.result.gen : 0;
        const next = { ...rec, gen: Math.max(since, stored) + 1 };
        store.put(next, this.#key);
        out(next);
      };
    });
  }

  // lease takes the fallback lock: an entry with an owner and an end, taken in a
  // read-write transaction (which IndexedDB runs one at a time), polled until free.
  async lease(name, wait) {
    if (!(await this.#open())) return null;
    const owner = `${Date.now()}-${Math.random()}`;
    const until = Date.now() + wait;
    while (Date.now() < until) {
      const got = await this.#tx('readwrite', (store, out) => {
        const r = store.get(name);
        r.onsuccess = () => {
          const cur = r.result;
          if (cur && cur.owner !== owner && cur.until > Date.now()) return out(false);
          store.put({ owner, until: Date.now() + LEASE_MS }, name);
          out(true);
        };
      });
      if (got === undefined) return null;
      if (got) {
        return {
          release: () => this.#tx('readwrite', (store) => {
            const r = store.get(name);
            r.onsuccess = () => {
              if (r.result?.owner === owner) store.delete(name);
            };
          }),
        };
      }
      await new Promise((resolve) => setTimeout(resolve, 20 + Math.random() * 30));
    }
    return null; // its holder is stuck: go on without it, as with a Web Lock
  }
}

function valid(rec) {
  return rec !== null && typeof rec === 'object' && Number.isSafeInteger(rec.gen);
}
