/**
 * HTTP clients of the IdP tests over real TLS: `tlsFetch` (a fetch that trusts the test certificate, for
 * openid-client and the companion) and `Agent`, a minimal browser: a cookie jar honouring Path, no automatic
 * redirects, and Server-Sent Events.
 */
import { request } from 'node:https';
import { Readable } from 'node:stream';

/** A `fetch` over node:https trusting `ca` (PEM). Enough of fetch for openid-client and our JSON calls. */
export function tlsFetch(ca: string): typeof fetch {
  return (async (input: string | URL | Request, init: RequestInit = {}) => {
    const url = new URL(input instanceof Request ? input.url : input.toString());
    const headers = new Headers(init.headers);
    let body: Buffer | undefined;
    if (typeof init.body === 'string') body = Buffer.from(init.body);
    else if (init.body instanceof URLSearchParams) {
      body = Buffer.from(init.body.toString());
      if (!headers.has('content-type')) headers.set('content-type', 'application/x-www-form-urlencoded;charset=UTF-8');
    } else if (init.body instanceof Uint8Array) body = Buffer.from(init.body);
    else if (init.body != null) throw new TypeError('tlsFetch: unsupported body');
    if (body !== undefined) headers.set('content-length', String(body.length));
    return new Promise<Response>((resolve, reject) => {
      const req = request(
        url,
        {
          method: init.method ?? 'GET',
          headers: Object.fromEntries(headers),
          ca,
          signal: init.signal ?? undefined,
        },
        (res) => {
          const out = new Headers();
          for (const [name, value] of Object.entries(res.headers)) {
            if (Array.isArray(value)) for (const v of value) out.append(name, v);
            else if (value !== undefined) out.set(name, value);
          }
          const status = res.statusCode ?? 500;
          const nullBody = status === 204 || status === 304 || (init.method ?? 'GET') === 'HEAD';
          if (nullBody) res.resume();
          resolve(
            new Response(nullBody ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), {
              status,
              statusText: res.statusMessage ?? '',
              headers: out,
            }),
          );
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }) as typeof fetch;
}

interface Cookie {
  readonly name: string;
  readonly value: string;
  readonly path: string;
}

/** One test browser: its own cookies. */
export class Agent {
  readonly #fetch: typeof fetch;
  readonly #cookies = new Map<string, Cookie>();

  /** `ca`: the provider's TLS certificate; without it, plain http (a loopback http issuer). */
  constructor(ca?: string) {
    this.#fetch = ca === undefined ? (input, init) => fetch(input, { ...init, redirect: 'manual' }) : tlsFetch(ca);
  }

  /** A request with this browser's cookies; redirects are not followed. */
  async fetch(url: string | URL, init: RequestInit = {}): Promise<Response> {
    const u = new URL(url);
    const headers = new Headers(init.headers);
    const cookie = [...this.#cookies.values()]
      .filter(
        (c) =>
          u.pathname === c.path ||
          u.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`) ||
          c.path === '/',
      )
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
    if (cookie) headers.set('cookie', cookie);
    const res = await this.#fetch(u, { ...init, headers });
    for (const line of res.headers.getSetCookie()) this.#store(line);
    return res;
  }

  /** The value of the cookie named `name` at path `/`, if this browser has one. */
  cookie(name: string): string | undefined {
    return this.#cookies.get(`${name};/`)?.value;
  }

  /** Sets the cookie named `name` at path `/` to `value`, as a browser whose cookie was tampered with would send it. */
  setCookie(name: string, value: string): void {
    this.#cookies.set(`${name};/`, { name, value, path: '/' });
  }

  /** Drops a cookie by name (all paths), as if this browser never had it. */
  forget(name: string): void {
    for (const [key, c] of this.#cookies) if (c.name === name) this.#cookies.delete(key);
  }

  /** Follows same-origin redirects; stops at the first page or at a redirect to another origin, returning it. */
  async follow(url: string | URL, init: RequestInit = {}): Promise<{ readonly url: URL; readonly response: Response }> {
    let current = new URL(url);
    let res = await this.fetch(current, init);
    for (let hops = 0; hops < 10; hops++) {
      const location = res.headers.get('location');
      if (res.status < 300 || res.status >= 400 || location === null) return { url: current, response: res };
      await res.body?.cancel();
      const next = new URL(location, current);
      if (next.origin !== current.origin) return { url: next, response: res };
      current = next;
      res = await this.fetch(current);
    }
    throw new Error('too many redirects');
  }

  #store(line: string): void {
    const [pair, ...attributes] = line.split(';');
    const eq = pair!.indexOf('=');
    const name = pair!.slice(0, eq).trim();
    const value = pair!.slice(eq + 1).trim();
    let path = '/';
    let expired = value === '';
    for (const a of attributes) {
      const [k, v = ''] = a.trim().split('=');
      if (k!.toLowerCase() === 'path') path = v;
      if (k!.toLowerCase() === 'max-age' && Number(v) <= 0) expired = true;
      if (k!.toLowerCase() === 'expires' && Date.parse(v) <= Date.now()) expired = true;
    }
    const key = `${name};${path}`;
    if (expired) this.#cookies.delete(key);
    else this.#cookies.set(key, { name, value, path });
  }
}

export { EventStream } from './event-stream.ts';
