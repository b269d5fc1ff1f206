/**
 * The middleware's session: a random id in a cookie signed with HMAC-SHA256 over the cookie's name and the id (so a
 * forged id is refused before any store lookup, and a value is valid under its own cookie name only), the data in a
 * {@link SessionStore} on the server (the transaction holds the PKCE verifier: it never goes to the browser). No
 * dependency beyond `node:crypto`.
 *
 * Data minimisation: a session store holds every logged-in browser, often for hours, so it keeps only what the
 * middleware reads after the callback (the guards, `ctx.login`, `ctx.age()`): never the ID token, its claim set or
 * verified identity claims. Those are handed over once, at the callback (`onLogin`).
 */
import { createHmac, createSecretKey, randomBytes, timingSafeEqual } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { CompletionResult } from './client.ts';
import type { Transaction } from './transaction.ts';

/** A request waiting for its callback. */
export interface PendingLogin {
  readonly transaction: Transaction;
  /** Where to send the browser after the callback: a path on this site. */
  readonly returnTo: string;
  /** The person logged in when it started (a step-up or age check): the callback demands the same `sub`. */
  readonly sub?: string;
}

/**
 * What the session keeps of a completed card login: what the guards and `ctx.login` read afterwards, nothing the
 * provider released about the person. The full result (`idTokenClaims`, `idToken`, a verified identity) exists only
 * at the callback: `onLogin` receives it.
 */
export interface SessionLogin {
  /** What was started: `login`, `step-up`, `identity` or `age`. */
  readonly kind: Transaction['kind'];
  /** The pairwise subject: the person's stable id at this service. */
  readonly sub: string;
  /** The authentication context class reached. */
  readonly acr: string;
  /** RFC 8176 methods, e.g. `['hwk', 'pin', 'sc']`. */
  readonly amr: readonly string[];
  /** When the person last used the card at the provider, epoch seconds (`requireFreshCard` reads it). */
  readonly authTime: number;
}

/** What the middleware keeps per browser. Plain JSON, and nothing personal beyond the pairwise `sub`. */
export interface MynaGateSession {
  /** Epoch ms after which the session is ignored and deleted. */
  readonly expiresAt: number;
  /**
   * Requests in flight, by `state` (several tabs may log in at once; without {@link SessionStore.compareAndSet}
   * two that start at the same moment may lose one of them: see {@link SessionStore}).
   */
  readonly pending: Readonly<Record<string, PendingLogin>>;
  /** The latest completed card login, reduced to {@link SessionLogin}. */
  readonly login?: SessionLogin;
  /** Age answers so far, by threshold: the derived yes/no `requireAge` reads, never a birth date. */
  readonly age?: Readonly<Partial<Record<'18' | '20', boolean>>>;
}

/**
 * Where sessions live. Any key-value store fits (Redis, a SQL table); values are JSON-serialisable. Calls may be
 * synchronous or return promises.
 *
 * Several requests of one browser (tabs) run at once, and the middleware waits for the provider (a pushed request,
 * the token request) between reading a session and writing it back. Meanwhile another tab may log out (the id is
 * deleted), complete a login (the session moves to a new id), or start a login of its own (a `pending` entry is
 * added). So the middleware never writes a change over what it read earlier: it reads the session again and changes
 * that, and a change to an id that is gone is not written (a session is never brought back). With
 * {@link SessionStore.compareAndSet} that read and write are one atomic step, retried on conflict: race-free. With
 * only `get`, `set` and `delete`, a change landing between that last read and the write (one store round trip) is
 * lost, or a session deleted there is written again.
 *
 * @example
 * ```ts
 * // Redis (node-redis 4): the values as JSON text; compare-and-set as one Lua script.
 * const CAS = `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
 *   if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL') end
 *   return 1`;
 * const store: SessionStore = {
 *   get: async (id) => JSON.parse((await redis.get(`s:${id}`)) ?? 'null') ?? undefined,
 *   set: async (id, v) => void (await redis.set(`s:${id}`, JSON.stringify(v), { PXAT: v.expiresAt })),
 *   delete: async (id) => void (await redis.del(`s:${id}`)),
 *   compareAndSet: async (id, expected, next) =>
 *     (await redis.eval(CAS, {
 *       keys: [`s:${id}`],
 *       arguments: [JSON.stringify(expected), next === undefined ? '' : JSON.stringify(next)],
 *     })) === 1,
 * };
 * ```
 */
export interface SessionStore {
  get(id: string): MynaGateSession | undefined | Promise<MynaGateSession | undefined>;
  /** Creates or replaces the session under `id`. */
  set(id: string, value: MynaGateSession): void | Promise<void>;
  delete(id: string): void | Promise<void>;
  /**
   * Optional; what makes concurrent requests of one browser race-free (see {@link SessionStore}). Atomically: when
   * the session stored under `id` still equals `expected` (a value `get` returned), replace it with `next`, or
   * delete it when `next` is undefined, and answer true; otherwise change nothing and answer false. Never create:
   * an id that is absent (or expired) answers false. Equal means the same JSON: a store that keeps
   * `JSON.stringify(value)` compares that text with `JSON.stringify(expected)` (a Lua script in Redis, `WATCH` /
   * `MULTI`; `UPDATE … WHERE id = $1 AND data = $2::jsonb` in PostgreSQL). The middleware retries a false answer
   * with what `get` returns then; a store whose answer is false 16 times in a row for one change fails the request
   * with a TypeError (a comparison that can never succeed).
   */
  compareAndSet?(id: string, expected: MynaGateSession, next: MynaGateSession | undefined): boolean | Promise<boolean>;
}

/** Options of {@link memorySessionStore}. */
export interface MemorySessionStoreOptions {
  /** Sessions with a login: the least recently written are dropped beyond this many. Default 10 000. */
  readonly maxEntries?: number;
  /**
   * Sessions without a login (browsers sent to the provider, anyone's for one GET): kept apart, the least recently
   * written dropped beyond this many, so they never push out a logged-in session. Default 10 000.
   */
  readonly maxPendingEntries?: number;
  /** Clock, epoch ms. Default `Date.now`. */
  readonly now?: () => number;
}

/**
 * An in-process store: for one process and development. Two pools, each bounded: sessions with a login
 * (`maxEntries`) and sessions without one (`maxPendingEntries`), so a flood of anonymous requests to guarded routes
 * evicts only other anonymous sessions, never a logged-in person. Expired sessions are dropped on read, and from the
 * old end of a pool on write; beyond a pool's bound the least recently written go first.
 *
 * @throws TypeError for a bad `maxEntries` or `maxPendingEntries`.
 */
export function memorySessionStore(options: MemorySessionStoreOptions = {}): SessionStore {
  const max = options.maxEntries ?? 10_000;
  if (!Number.isSafeInteger(max) || max < 1) throw new TypeError('maxEntries must be a positive integer');
  const maxPending = options.maxPendingEntries ?? 10_000;
  if (!Number.isSafeInteger(maxPending) || maxPending < 1) {
    throw new TypeError('maxPendingEntries must be a positive integer');
  }
  const now = options.now ?? Date.now;
  // JSON with its expiry, by id; Map order is the eviction order (re-inserted on every write).
  type Entry = { readonly json: string; readonly expiresAt: number };
  const loggedIn = new Map<string, Entry>();
  const anonymous = new Map<string, Entry>();
  const trim = (pool: Map<string, Entry>, bound: number) => {
    const t = now();
    for (const [oldest, entry] of pool) {
      if (pool.size <= bound && entry.expiresAt > t) break;
      pool.delete(oldest);
    }
  };
  const live = (id: string): Entry | undefined => {
    const entry = loggedIn.get(id) ?? anonymous.get(id);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= now()) {
      loggedIn.delete(id);
      anonymous.delete(id);
      return undefined;
    }
    return entry;
  };
  const store: SessionStore = {
    get(id) {
      const entry = live(id);
      return entry === undefined ? undefined : (JSON.parse(entry.json) as MynaGateSession);
    },
    set(id, value) {
      loggedIn.delete(id);
      anonymous.delete(id);
      const pool = value.login === undefined ? anonymous : loggedIn;
      // A JSON copy: what a real store would keep, and no aliasing with the caller's object.
      pool.set(id, { json: JSON.stringify(value), expiresAt: value.expiresAt });
      trim(pool, pool === anonymous ? maxPending : max);
    },
    delete(id) {
      loggedIn.delete(id);
      anonymous.delete(id);
    },
    // Atomic by construction: synchronous, so nothing runs between the comparison and the write.
    compareAndSet(id, expected, next) {
      const entry = live(id);
      if (entry === undefined || entry.json !== JSON.stringify(expected)) return false;
      if (next === undefined) store.delete(id);
      else store.set(id, next);
      return true;
    },
  };
  return store;
}

/** A new session id: 32 random bytes, base64url. */
export function newSessionId(): string {
  return randomBytes(32).toString('base64url');
}

// Session keys imported once: given bytes, `createHmac` asks `isKeyObject` first, which node:crypto answers by
// catching a thrown error (a stack trace on every request).
const imported = new WeakMap<Uint8Array, KeyObject>();
function hmac(key: Uint8Array, id: string) {
  let k = imported.get(key);
  if (k === undefined) imported.set(key, (k = createSecretKey(key)));
  return createHmac('sha256', k).update(id);
}

/**
 * `id.mac`, base64url. With a cookie name, mac = HMAC-SHA256(key, name NUL id): the value verifies under that name
 * only, so a value this version issued as `__Host-mynagate` is worthless copied into a `mynagate` cookie (which a
 * sibling subdomain can set: see `Gate.open`). With `null`, mac = HMAC-SHA256(key, id): the values of earlier
 * versions, which bound no name; this version only verifies those, it never issues one.
 */
export function signSessionId(key: Uint8Array, id: string, cookieName: string | null): string {
  return `${id}.${hmac(key, macInput(id, cookieName)).digest('base64url')}`;
}

/**
 * The id of a signed cookie value read under `cookieName` (or `null`: a value of an earlier version, see
 * {@link signSessionId}), or undefined when the signature does not verify (constant-time compare). The id must be
 * base64url, as {@link newSessionId} makes it: so no NUL, and a name-bound input is never also an unbound one.
 */
export function verifySessionId(
  key: Uint8Array,
  value: string | undefined,
  cookieName: string | null,
): string | undefined {
  if (value === undefined) return undefined;
  const dot = value.lastIndexOf('.');
  if (dot <= 0) return undefined;
  const id = value.slice(0, dot);
  if (!/^[\w-]+$/.test(id)) return undefined;
  const mac = Buffer.from(value.slice(dot + 1), 'base64url');
  const expected = hmac(key, macInput(id, cookieName)).digest();
  return mac.length === expected.length && timingSafeEqual(mac, expected) ? id : undefined;
}

function macInput(id: string, cookieName: string | null): string {
  return cookieName === null ? id : `${cookieName}\0${id}`;
}

/** One cookie's value from a `Cookie` header (RFC 6265 §5.4), or undefined. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    const value = part.slice(eq + 1).trim();
    try {
      return decodeURIComponent(value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** Attributes of the session cookie. */
export interface CookieAttributes {
  readonly path: string;
  readonly secure: boolean;
  /** Seconds; 0 deletes. */
  readonly maxAge: number;
}

/**
 * A `Set-Cookie` value. `SameSite=Lax`: the cookie must come along on the top-level GET back from the provider (a
 * cross-site navigation), which `Strict` would drop; `HttpOnly`: scripts never see the session id.
 */
export function serializeCookie(name: string, value: string, a: CookieAttributes): string {
  return `${name}=${encodeURIComponent(value)}; Path=${a.path}; Max-Age=${a.maxAge}; HttpOnly; SameSite=Lax${a.secure ? '; Secure' : ''}`;
}

/**
 * The {@link SessionLogin} of a result: its members picked one by one, so a claim set, a token or an identity added
 * to results later never reaches a session store by default.
 */
export function sessionLogin(result: CompletionResult): SessionLogin {
  return { kind: result.kind, sub: result.sub, acr: result.acr, amr: [...result.amr], authTime: result.authTime };
}

const SESSION_MEMBERS: ReadonlySet<string> = new Set(['expiresAt', 'pending', 'login', 'age']);
const LOGIN_MEMBERS: ReadonlySet<string> = new Set(['kind', 'sub', 'acr', 'amr', 'authTime']);

/**
 * `session` reduced to the members of this version, or undefined when it has no others. A session saved by an
 * earlier version kept the whole result (`idTokenClaims`, `idToken`) and the verified identity: the middleware
 * rewrites such a session on its next request instead of carrying the claims on until it expires.
 */
export function minimised(session: MynaGateSession): MynaGateSession | undefined {
  const login = session.login;
  const extra =
    Object.keys(session).some((k) => !SESSION_MEMBERS.has(k)) ||
    (login !== undefined && Object.keys(login).some((k) => !LOGIN_MEMBERS.has(k)));
  if (!extra) return undefined;
  return {
    expiresAt: session.expiresAt,
    pending: session.pending,
    ...(login === undefined ? {} : { login: sessionLogin(login as CompletionResult) }),
    ...(session.age === undefined ? {} : { age: session.age }),
  };
}

/**
 * The session after a completion: the reduced login and the age answer it carried (an identity proofing's verified
 * claims are not kept: `onLogin` has them). A login of another person (another `sub`: a step-up with someone
 * else's card in this browser) starts over: the earlier person's age answers are theirs, never the new person's.
 * Built member by member, so anything else in `session` (a member of an older version of this SDK) is dropped.
 *
 * Of the logins still in flight, only those for this person (`sub`) stay: one started while nobody was logged in
 * (another tab's QR page) names nobody, and must not let whoever completes it later take over a session that now
 * has a login (the middleware also refuses any other `sub` at the callback once a login exists).
 */
export function withResult(session: MynaGateSession, result: CompletionResult): MynaGateSession {
  const same = session.login?.sub === result.sub;
  const earlier = same ? session.age : undefined;
  const age = 'age' in result ? { ...earlier, [String(result.age.over)]: result.age.satisfied } : earlier;
  const pending = Object.entries(session.pending).filter(([, p]) => p.sub === result.sub);
  return {
    expiresAt: session.expiresAt,
    pending: Object.fromEntries(pending),
    login: sessionLogin(result),
    ...(age === undefined ? {} : { age }),
  };
}
