// Types of @example/sessions-client (sessions.js).

/** How the tokens travel (README.md, "Use it from a browser app"). */
export type Transport = 'cookie' | 'body' | 'cookie-only';

/** What POST /auth/logout ends. */
export type LogoutScope = 'session' | 'others' | 'all';

export interface ClientOptions {
  /** The API's base URL, e.g. "https://api.example.com"; default: the page's origin. */
  baseUrl?: string;
  /** Default "cookie". */
  transport?: Transport;
  /** Refresh this long before the access token expires (at most half its lifetime); default 30000. */
  refreshEarlyMs?: number;
  /** Keep the access token fresh with a timer while signed in; default true. */
  autoRefresh?: boolean;
  /** The fetch to use; default globalThis.fetch. */
  fetch?: typeof globalThis.fetch;
}

/** The session as the tab knows it. It never holds a token. */
export interface SessionState {
  /** "unknown" until `ready` resolves. */
  readonly status: 'unknown' | 'signed-in' | 'signed-out';
  readonly signedIn: boolean;
  readonly sessionId: string | null;
  /** When the access token expires. */
  readonly accessExpiresAt: Date | null;
  /** When the session ends if it is not refreshed (the idle deadline; it slides). */
  readonly refreshExpiresAt: Date | null;
  /** When the session ends at the latest (the absolute deadline). */
  readonly sessionExpiresAt: Date | null;
  readonly transport: Transport;
}

/** Why the state changed. */
export type ChangeReason = 'restore' | 'login' | 'refresh' | 'logout' | 'ended' | 'password';

export interface ChangeDetail {
  readonly state: SessionState;
  readonly reason: ChangeReason;
  /** True when another tab made the change. */
  readonly remote: boolean;
}

/** One of the user's sessions (GET /auth/sessions). */
export interface DeviceSession {
  readonly id: string;
  readonly createdAt: Date;
  readonly lastUsedAt: Date;
  /** The earlier of the idle and the absolute deadline. */
  readonly expiresAt: Date;
  readonly userAgent: string;
  readonly ip: string;
  /** The session of this client. */
  readonly current: boolean;
}

/** An answer of the API other than the success asked for ({"error","message"}). */
export class SessionError extends Error {
  constructor(message: string, options?: { status?: number; code?: string; retryAfter?: number });
  readonly name: 'SessionError';
  /** The HTTP status (0 if none). */
  readonly status: number;
  /** The API's error code, e.g. "invalid_credentials", "too_many_attempts". */
  readonly code: string;
  /** Seconds, from Retry-After (429, 503). */
  readonly retryAfter?: number;
}

export interface SessionsClient extends EventTarget {
  /** Resolves once the client knows whether a session exists (never rejects). */
  readonly ready: Promise<SessionState>;
  readonly state: SessionState;
  /** Rejects with a SessionError for a refused login. */
  login(username: string, password: string): Promise<SessionState>;
  /**
   * fetch with the session for a path ("/me") or a URL under baseUrl: refreshes shortly
   * before the access token expires and once after a 401 or 403, then sends the request
   * again. Other URLs get a plain fetch, without any credential of the session.
   */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  /** Resolves with the state, signed out if the server ended the session. */
  refresh(): Promise<SessionState>;
  logout(options?: { scope?: LogoutScope }): Promise<void>;
  listSessions(): Promise<DeviceSession[]>;
  /** Ends one session of the user (the client's own one: a logout). */
  signOut(id: string): Promise<void>;
  /** Ends every other session; this one gets a new access token. */
  changePassword(currentPassword: string, newPassword: string): Promise<void>;
  /** Stops the refresh timer and the tab channel. */
  close(): void;

  addEventListener(type: 'change', listener: (event: CustomEvent<ChangeDetail>) => void, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
  removeEventListener(type: 'change', listener: (event: CustomEvent<ChangeDetail>) => void, options?: boolean | EventListenerOptions): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void;
}

export function createClient(options?: ClientOptions): SessionsClient;
