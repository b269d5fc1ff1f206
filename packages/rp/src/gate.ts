/**
 * The middleware core, framework-free: the session cookie, the decision for a protected route (pass, redirect to the
 * provider, deny), and the callback. `express.ts` and `fastify.ts` only translate requests and responses.
 */
import { randomBytes } from 'node:crypto';
import type { CompletionResult, MynaGateClient } from './client.ts';
import { RpStateError, RpSubjectMismatchError } from './errors.ts';
import {
  memorySessionStore,
  minimised,
  newSessionId,
  readCookie,
  serializeCookie,
  signSessionId,
  verifySessionId,
  withResult,
  type MynaGateSession,
  type PendingLogin,
  type SessionLogin,
  type SessionStore,
} from './session.ts';
import type { AgeThreshold, Transaction } from './transaction.ts';

/** Options shared by the Express and Fastify middleware. */
export interface MiddlewareOptions<Req> {
  /**
   * HMAC key of the session cookie, at least 32 bytes (a string counts its UTF-8 bytes). Default: random per
   * process, which fits the default in-memory store; give one when several processes share a store.
   */
  readonly sessionKey?: string | Uint8Array;
  /**
   * Where sessions live. Default {@link memorySessionStore}. Give one with `compareAndSet` for tabs of one browser to
   * be race-free (see {@link SessionStore}).
   */
  readonly store?: SessionStore;
  /**
   * Cookie name. Default `__Host-mynagate` when the cookie is `Secure` (an https service: the browser then refuses
   * it from a sibling subdomain or over http), `mynagate` otherwise (http on loopback in development). With the
   * default, a session cookie of the name used before (`mynagate`) is still read, and moved to the new name, if it
   * holds a session id as an earlier version signed it: never one this version issued (see {@link Gate.open}).
   * A name you give is used as given: on https give a `__Host-` one, as any other can be set by a sibling subdomain
   * (cookie tossing: the attacker's own session planted in a victim's browser). Not refused, so that services that
   * set one before keep starting.
   */
  readonly cookieName?: string;
  /** Session lifetime after a login, seconds. Default 28 800 (8 hours). */
  readonly sessionTtlSeconds?: number;
  /**
   * Lifetime of a session without a login (a browser sent to the provider that has not come back), seconds.
   * Default 600, the client's default `transactionTtlSeconds`: a later callback fails anyway.
   */
  readonly pendingTtlSeconds?: number;
  /** Mark the cookie `Secure`. Default: whether the client's redirect URI is https. */
  readonly secureCookie?: boolean;
  /** Send requests by PAR (RFC 9126). Default false. */
  readonly usePar?: boolean;
  /**
   * Called after every successful completion, before the session is saved (map `sub` to your user, sign up…).
   * Throwing aborts the login: the error goes to the framework's error handler and no session is kept. The one
   * place the whole result is seen (`idTokenClaims`, `idToken`, a verified identity): the session keeps only a
   * {@link SessionLogin} and age answers, so store here whatever else the service must keep, where it belongs.
   */
  readonly onLogin?: (result: CompletionResult, request: Req) => void | Promise<void>;
  /** Clock, epoch ms. Default `Date.now`. */
  readonly now?: () => number;
}

/** What a protected route demands. */
export type Requirement =
  | { readonly kind: 'card' }
  | { readonly kind: 'fresh'; readonly maxAgeSeconds: number }
  | { readonly kind: 'age'; readonly over: AgeThreshold };

/** What the adapter does with a request to a protected route. */
export type Decision =
  | { readonly action: 'next' }
  | { readonly action: 'redirect'; readonly location: string }
  | {
      readonly action: 'deny';
      readonly status: 401 | 403;
      readonly error: 'login_required' | 'age_requirement_not_met';
    };

/** At most this many logins in flight per session (tabs); the oldest is dropped. */
const MAX_PENDING = 5;

/** Compare-and-set answers of false in a row after which a store is taken for broken (see `SessionStore`). */
const MAX_CAS_ATTEMPTS = 16;

/**
 * The smallest `maxAgeSeconds` of `requireFreshCard`. The guard checks the login again when the browser comes back
 * from the provider, after the callback's token request and `onLogin`: a maximum age shorter than that trip sends
 * the person who has just used their card straight back to it, for ever.
 */
export const MIN_FRESH_MAX_AGE_SECONDS = 30;

/**
 * The requirement of `requireFreshCard(options)`.
 *
 * @throws TypeError unless `maxAgeSeconds` is an integer of at least {@link MIN_FRESH_MAX_AGE_SECONDS}.
 */
export function freshRequirement(options: { readonly maxAgeSeconds: number }): Requirement {
  const maxAgeSeconds = options?.maxAgeSeconds;
  if (!Number.isSafeInteger(maxAgeSeconds) || maxAgeSeconds < MIN_FRESH_MAX_AGE_SECONDS) {
    throw new TypeError(`maxAgeSeconds must be an integer >= ${MIN_FRESH_MAX_AGE_SECONDS}`);
  }
  return { kind: 'fresh', maxAgeSeconds };
}

/**
 * Whether a login at `authTime` (OIDC `auth_time`: whole epoch seconds, by the provider's clock) is at most
 * `maxAgeSeconds` old at `nowMs` (ours), allowing `toleranceSeconds` of difference between the clocks as `complete`
 * does for `max_age`: otherwise a provider clock a few seconds behind ours fails here a login `complete` accepted.
 * The login happened somewhere in its second, so the age is counted in whole seconds too: comparing the exact time
 * with the second's start would call a login up to a second too old.
 */
export function loginIsFresh(
  authTime: number,
  nowMs: number,
  maxAgeSeconds: number,
  toleranceSeconds: number,
): boolean {
  return Math.floor(nowMs / 1000) - authTime <= maxAgeSeconds + toleranceSeconds;
}

/** The session under an id before and after a change ({@link Gate.modify}). */
interface Changed {
  readonly before: MynaGateSession;
  /** Undefined: deleted. */
  readonly after: MynaGateSession | undefined;
}

/** The resolved middleware: options, store and client, shared by the requests of one `mynagate(…)`. */
export class Gate<Req> {
  readonly client: MynaGateClient;
  /** The path of the client's redirect URI: the middleware answers it. */
  readonly callbackPath: string;
  readonly #key: Uint8Array;
  readonly #store: SessionStore;
  readonly #cookie: string;
  /**
   * The cookie name of earlier versions, read when {@link #cookie} is absent (then moved), or undefined. Only a value
   * an earlier version issued is accepted under it (see {@link open}).
   */
  readonly #legacyCookie: string | undefined;
  readonly #ttl: number;
  readonly #pendingTtl: number;
  readonly #secure: boolean;
  readonly #usePar: boolean;
  readonly #onLogin: MiddlewareOptions<Req>['onLogin'];
  readonly #now: () => number;
  readonly #toleranceSeconds: number;

  /** @throws TypeError for a bad option. */
  constructor(client: MynaGateClient, options: MiddlewareOptions<Req> = {}) {
    if (typeof client?.cardLogin !== 'function' || typeof client.complete !== 'function') {
      throw new TypeError('client must come from createMynaGateClient');
    }
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
    this.client = client;
    const redirect = new URL(client.redirectUri);
    this.callbackPath = redirect.pathname;
    const key =
      options.sessionKey === undefined
        ? randomBytes(32)
        : typeof options.sessionKey === 'string'
          ? Buffer.from(options.sessionKey, 'utf8')
          : options.sessionKey;
    if (!(key instanceof Uint8Array) || key.length < 32) {
      throw new TypeError('sessionKey must be a string or Uint8Array of at least 32 bytes');
    }
    this.#key = Uint8Array.from(key);
    const store = options.store ?? memorySessionStore({ ...(options.now ? { now: options.now } : {}) });
    if (typeof store?.get !== 'function' || typeof store.set !== 'function' || typeof store.delete !== 'function') {
      throw new TypeError('store must have get, set and delete');
    }
    if (store.compareAndSet !== undefined && typeof store.compareAndSet !== 'function') {
      throw new TypeError('store.compareAndSet must be a function when given');
    }
    this.#store = store;
    this.#ttl = options.sessionTtlSeconds ?? 8 * 3600;
    if (!Number.isSafeInteger(this.#ttl) || this.#ttl < 60) throw new TypeError('sessionTtlSeconds must be >= 60');
    this.#pendingTtl = options.pendingTtlSeconds ?? Math.min(600, this.#ttl);
    if (!Number.isSafeInteger(this.#pendingTtl) || this.#pendingTtl < 60 || this.#pendingTtl > this.#ttl) {
      throw new TypeError('pendingTtlSeconds must be >= 60 and at most sessionTtlSeconds');
    }
    this.#secure = options.secureCookie ?? redirect.protocol === 'https:';
    if (typeof this.#secure !== 'boolean') throw new TypeError('secureCookie must be a boolean');
    // RFC 6265bis §4.1.3.2: a `__Host-` cookie is Secure, Path=/ and host-only, which the browser enforces; only
    // possible on https.
    this.#cookie = options.cookieName ?? (this.#secure ? '__Host-mynagate' : 'mynagate');
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(this.#cookie)) throw new TypeError('cookieName must be a cookie token');
    if (this.#cookie.startsWith('__Host-') && !this.#secure) throw new TypeError('a __Host- cookie must be Secure');
    this.#legacyCookie = options.cookieName === undefined && this.#cookie !== 'mynagate' ? 'mynagate' : undefined;
    this.#usePar = options.usePar ?? false;
    if (typeof this.#usePar !== 'boolean') throw new TypeError('usePar must be a boolean');
    if (options.onLogin !== undefined && typeof options.onLogin !== 'function') {
      throw new TypeError('onLogin must be a function');
    }
    this.#onLogin = options.onLogin;
    this.#now = options.now ?? Date.now;
    if (typeof this.#now !== 'function') throw new TypeError('now must be a function');
    // The client's, which `complete` applies to `max_age`; 5 s, its default, for a client without one.
    const tolerance = client.clockToleranceSeconds;
    this.#toleranceSeconds =
      tolerance !== undefined && Number.isSafeInteger(tolerance) && tolerance >= 0 ? tolerance : 5;
  }

  /**
   * The session of one request. `setCookie` receives each `Set-Cookie` line to send (before the response starts).
   *
   * The legacy cookie (`mynagate` beside the default `__Host-mynagate`) is what a sibling subdomain can set (cookie
   * tossing: `mynagate=…; Domain=example.jp` from evil.example.jp), and a signed session id is no secret to a person
   * who logs in with their own card. So it is read only when there is no `__Host-` cookie at all (one present, even
   * stale, wins), and it resumes only a session an earlier version made: the values this version issues are signed
   * over their cookie name ({@link signSessionId}), which no earlier version did, so under the legacy name only an
   * unbound value verifies, and this version never issues one. An earlier version's session is moved to the new name
   * with the same id and keeps its expiry (no save here extends it; a login moves to a new id), so once every session
   * made before the upgrade has expired, the legacy cookie resumes nothing. Until then a person who held such a
   * session can still toss it: that window is the session lifetime after the upgrade.
   */
  async open(cookieHeader: string | undefined, setCookie: (line: string) => void): Promise<MynaGateContext<Req>> {
    const value = readCookie(cookieHeader, this.#cookie);
    // Under the cookie's own name: a value bound to it, or an unbound one of an earlier version that used the same
    // name (a `cookieName` given, or http); a sibling cannot set a `__Host-` cookie.
    let id = verifySessionId(this.#key, value, this.#cookie) ?? verifySessionId(this.#key, value, null);
    let legacy = false;
    if (value === undefined && this.#legacyCookie !== undefined) {
      const old = readCookie(cookieHeader, this.#legacyCookie);
      legacy = old !== undefined;
      id = verifySessionId(this.#key, old, null);
    }
    let session: MynaGateSession | undefined;
    if (id !== undefined) {
      // Read, and rewritten when an earlier version saved more than this one keeps (no write otherwise).
      session = (await this.modify(id, (s) => minimised(s) ?? s))?.after;
      if (legacy && session !== undefined) {
        // A session of an earlier version: the same id under the new name, the old cookie cleared.
        const left = Math.max(1, Math.ceil((session.expiresAt - this.#now()) / 1000));
        setCookie(this.#cookieLine(signSessionId(this.#key, id, this.#cookie), left));
      }
    }
    if (legacy) {
      // Moved, or refused (a value this version issued, a forged one, a session gone or expired): cleared either way.
      // This clears a host-only `mynagate` with Path=/, as earlier versions set it; a cookie a sibling set with
      // `Domain=` (or another Path) is another cookie, which no response of this host can clear: the browser keeps
      // sending it, and it is refused each time until the first session saved here sets `__Host-mynagate`.
      setCookie(serializeCookie(this.#legacyCookie!, '', { path: '/', secure: this.#secure, maxAge: 0 }));
    }
    return new MynaGateContext(this, internals, session === undefined ? undefined : id, session, setCookie);
  }

  /** The live session under `id`, or undefined (an expired one is deleted). */
  async #read(id: string): Promise<MynaGateSession | undefined> {
    const session = await this.#store.get(id);
    if (session === undefined || session.expiresAt > this.#now()) return session;
    await this.#store.delete(id);
    return undefined;
  }

  /**
   * @internal Changes the session stored under `id` to `change(current)` (undefined: deletes it), where `current` is
   * what the store holds now, not what this request read before it awaited the provider: other tabs of the browser
   * write meanwhile. Undefined when the id is gone (logout, a login that moved the session to a new id, expiry):
   * then nothing is written, so no request brings a session back. With the store's `compareAndSet` the read and the
   * write are one atomic step, retried on conflict (so `change` may run more than once, and must not have effects);
   * without it the read is the last check before the write (see `SessionStore`). `change` returning `current` itself
   * writes nothing; throwing writes nothing.
   *
   * @throws what `change` throws; TypeError when `compareAndSet` answers false 16 times in a row.
   */
  async modify(
    id: string,
    change: (current: MynaGateSession) => MynaGateSession | undefined,
  ): Promise<Changed | undefined> {
    const store = this.#store;
    for (let attempt = 1; ; attempt++) {
      const before = await this.#read(id);
      if (before === undefined) return undefined;
      const after = change(before);
      if (after === before) return { before, after };
      if (store.compareAndSet === undefined) {
        if (after === undefined) await store.delete(id);
        else await store.set(id, after);
        return { before, after };
      }
      if (await store.compareAndSet(id, before, after)) return { before, after };
      if (attempt === MAX_CAS_ATTEMPTS) {
        throw new TypeError(
          `store.compareAndSet answered false ${MAX_CAS_ATTEMPTS} times in a row: it must compare the stored session with the one get returned`,
        );
      }
    }
  }

  /** @internal Saves `session` under a new id, which the browser gets as its cookie. */
  async create(ctx: MynaGateContext<Req>, session: MynaGateSession): Promise<void> {
    const id = newSessionId();
    await this.#store.set(id, session);
    ctx[internals].setCookie(this.#cookieLine(signSessionId(this.#key, id, this.#cookie), this.#ttl));
    ctx[internals].id = id;
    ctx[internals].session = session;
  }

  /**
   * @internal After a login: the session under `id` is deleted, and `build(what it held)` saved under a new id (a
   * session id planted before the login is worthless after it: session fixation, OWASP). Built from what the store
   * holds at that moment, so the logins other tabs started meanwhile move along. False when the id is gone (a logout
   * or another login meanwhile): nothing is saved.
   */
  async rotate(
    ctx: MynaGateContext<Req>,
    id: string,
    build: (current: MynaGateSession) => MynaGateSession,
  ): Promise<boolean> {
    let next: MynaGateSession | undefined;
    const moved = await this.modify(id, (current) => {
      next = build(current);
      return undefined;
    });
    if (moved === undefined || next === undefined) return false;
    await this.create(ctx, next);
    return true;
  }

  /** @internal Whether a session is stored under `id` (and live). */
  async exists(id: string): Promise<boolean> {
    return (await this.#read(id)) !== undefined;
  }

  /** @internal */
  async drop(ctx: MynaGateContext<Req>): Promise<void> {
    const id = ctx[internals].id;
    if (id !== undefined) await this.#store.delete(id);
    ctx[internals].setCookie(this.#cookieLine('', 0));
    if (this.#legacyCookie !== undefined) {
      ctx[internals].setCookie(serializeCookie(this.#legacyCookie, '', { path: '/', secure: this.#secure, maxAge: 0 }));
    }
  }

  #cookieLine(value: string, maxAge: number): string {
    return serializeCookie(this.#cookie, value, { path: '/', secure: this.#secure, maxAge });
  }

  /**
   * @internal A session without a login: it lives {@link MiddlewareOptions.pendingTtlSeconds}, so anonymous requests
   * to guarded routes leave nothing behind for long (and `memorySessionStore` keeps them apart from logged-in ones).
   */
  emptySession(): MynaGateSession {
    return { expiresAt: this.#now() + this.#pendingTtl * 1000, pending: {} };
  }

  /** @internal When a session that has just logged in ends. */
  loginExpiry(): number {
    return this.#now() + this.#ttl * 1000;
  }

  /** @internal */
  get now(): number {
    return this.#now();
  }
  /** @internal The clock tolerance of freshness checks, seconds. */
  get toleranceSeconds(): number {
    return this.#toleranceSeconds;
  }
  /** @internal */
  get usePar(): boolean {
    return this.#usePar;
  }
  /** @internal */
  get onLogin(): MiddlewareOptions<Req>['onLogin'] {
    return this.#onLogin;
  }
}

const internals: unique symbol = Symbol('mynagate.internals');

interface Internals {
  id: string | undefined;
  session: MynaGateSession | undefined;
  readonly setCookie: (line: string) => void;
}

/** A path on this site to return to; anything else (another origin, `//host`, `/\host`) becomes `/`. */
function safeReturnTo(path: string): string {
  return path.startsWith('/') && !path.startsWith('//') && !path.startsWith('/\\') ? path : '/';
}

/** The MynaGate view of one request: `req.mynagate` (Express) or `request.mynagate` (Fastify). */
export class MynaGateContext<Req = unknown> {
  readonly #gate: Gate<Req>;
  readonly [internals]: Internals;

  /** @internal Built by the middleware. */
  constructor(
    gate: Gate<Req>,
    key: typeof internals,
    id: string | undefined,
    session: MynaGateSession | undefined,
    setCookie: (line: string) => void,
  ) {
    if (key !== internals) throw new TypeError('MynaGateContext is built by the middleware');
    this.#gate = gate;
    this[internals] = { id, session, setCookie };
  }

  /**
   * The latest card login of this browser, or undefined: `sub`, `acr`, `amr`, `authTime` and `kind` only. The ID
   * token and its claims are not kept after the callback (see `onLogin`).
   */
  get login(): SessionLogin | undefined {
    return this[internals].session?.login;
  }

  /** The age answer for `over`, or undefined when not asked yet. */
  age(over: AgeThreshold): boolean | undefined {
    return this[internals].session?.age?.[over === 18 ? '18' : '20'];
  }

  /** Ends the session here (not at the provider: see `client.logoutUrl`). */
  async logout(): Promise<void> {
    await this.#gate.drop(this);
    this[internals].id = undefined;
    this[internals].session = undefined;
  }

  /**
   * The decision for a protected route: pass, redirect (GET/HEAD) to a new card login / step-up / age check, or
   * deny (401 for other methods: a redirect would lose the body; 403 when the age answer was "no").
   *
   * The request is kept in the session, as it is in the store after the provider answered (other tabs write too).
   * When the session is gone by then (logged out, or moved to a new id by a login, in another tab), nothing is saved
   * (a session is never brought back) and the browser is sent to `returnTo` again, to be decided with the cookie it
   * holds now.
   *
   * @throws `ERR_RP_DISCOVERY`, `ERR_RP_NETWORK`, `ERR_RP_PAR` when the request cannot be built; TypeError for a
   *   `fresh` requirement below {@link MIN_FRESH_MAX_AGE_SECONDS}.
   */
  async require(requirement: Requirement, method: string, returnTo: string): Promise<Decision> {
    if (requirement.kind === 'fresh') freshRequirement(requirement);
    const { id, session } = this[internals];
    const login = session?.login;
    switch (requirement.kind) {
      case 'card':
        if (login !== undefined) return { action: 'next' };
        break;
      case 'fresh':
        if (
          login !== undefined &&
          loginIsFresh(login.authTime, this.#gate.now, requirement.maxAgeSeconds, this.#gate.toleranceSeconds)
        ) {
          return { action: 'next' };
        }
        break;
      case 'age': {
        const answer = this.age(requirement.over);
        if (answer === true) return { action: 'next' };
        if (answer === false) return { action: 'deny', status: 403, error: 'age_requirement_not_met' };
        break;
      }
    }
    if (method !== 'GET' && method !== 'HEAD') return { action: 'deny', status: 401, error: 'login_required' };
    const client = this.#gate.client;
    const usePar = this.#gate.usePar;
    // A step-up or age check in a logged-in session is about that person: another person's card must not complete it
    // (checked by the client, and again at the callback for any client).
    const sub = login?.sub;
    const person = sub === undefined ? {} : { sub };
    const { url, transaction } =
      requirement.kind === 'card'
        ? await client.cardLogin({ usePar })
        : requirement.kind === 'fresh'
          ? await client.stepUp({ maxAgeSeconds: requirement.maxAgeSeconds, usePar, ...person })
          : await client.ageCheck({ over: requirement.over, usePar, ...person });
    const entry: PendingLogin = { transaction, returnTo: safeReturnTo(returnTo), ...person };
    const add = (s: MynaGateSession): MynaGateSession => ({
      ...s,
      pending: Object.fromEntries([...Object.entries(s.pending).slice(-(MAX_PENDING - 1)), [transaction.state, entry]]),
    });
    if (id === undefined) {
      await this.#gate.create(this, add(this.#gate.emptySession()));
      return { action: 'redirect', location: url.href };
    }
    // The login under an id never changes (a login moves the session to a new id), so the decision above still holds
    // for what the store has now; only `pending` may have grown.
    const changed = await this.#gate.modify(id, add);
    if (changed === undefined) {
      this[internals].id = undefined;
      this[internals].session = undefined;
      return { action: 'redirect', location: safeReturnTo(returnTo) };
    }
    this[internals].session = changed.after;
    return { action: 'redirect', location: url.href };
  }

  /**
   * Finishes the login the callback belongs to (found by `state`), calls `onLogin`, saves the result under a new
   * session id, and says where to send the browser.
   *
   * A session with a login stays that person's: a step-up or age check started in it must be completed by the same
   * person, and so must any other login completed in it (one started in another tab before the login, which named
   * nobody). Another `sub` is refused with `ERR_RP_SUBJECT_MISMATCH` before `onLogin`, and the session stays as it
   * was (the person logged in stays logged in; only the used transaction is gone). To switch people, log out first.
   *
   * A logout in another tab ends the logins in flight too: when the session is gone before the login is saved, it
   * is refused with `ERR_RP_STATE` (checked before `onLogin`, and again when saving).
   *
   * @throws `ERR_RP_STATE` when no login of this browser has that state, `ERR_RP_SUBJECT_MISMATCH`, and every error
   *   of `client.complete`.
   */
  async callback(request: Req, pathAndQuery: string): Promise<{ readonly location: string }> {
    const query = new URLSearchParams(
      pathAndQuery.includes('?') ? pathAndQuery.slice(pathAndQuery.indexOf('?') + 1) : '',
    );
    const state = query.get('state');
    const id = this[internals].id;
    if (state === null || id === undefined) throw new RpStateError('no login of this browser has this state');
    // One use: the transaction leaves the session before the code is spent, whatever the outcome. Taken from what
    // the store holds now, atomically with a compare-and-set store: two callbacks with one state never both get it.
    let pending: PendingLogin | undefined;
    const taken = await this.#gate.modify(id, (current) => {
      pending = Object.hasOwn(current.pending, state) ? current.pending[state] : undefined;
      if (pending === undefined) throw new RpStateError('no login of this browser has this state');
      const { [state]: _taken, ...rest } = current.pending;
      return { ...current, pending: rest };
    });
    if (taken === undefined || pending === undefined) {
      throw new RpStateError('no login of this browser has this state');
    }
    this[internals].session = taken.after;

    const result = await this.#gate.client.complete(pending.transaction as Transaction, `?${query.toString()}`);
    // The person the request named, and in a session with a login that person whatever the request named.
    const login = taken.before.login;
    if (
      (pending.sub !== undefined && result.sub !== pending.sub) ||
      (login !== undefined && result.sub !== login.sub)
    ) {
      throw new RpSubjectMismatchError();
    }
    const ended = () => {
      this[internals].id = undefined;
      this[internals].session = undefined;
      return new RpStateError(
        'the session ended (a logout or another login, in another tab) before this login completed',
      );
    };
    if (!(await this.#gate.exists(id))) throw ended();
    await this.#gate.onLogin?.(result, request);
    const expiresAt = this.#gate.loginExpiry();
    const saved = await this.#gate.rotate(this, id, (current) => ({ ...withResult(current, result), expiresAt }));
    if (!saved) throw ended();
    return { location: pending.returnTo };
  }
}
