/**
 * A minimal test browser over the global fetch: a cookie jar (host + name + path, as browsers share cookies across
 * ports of one host), redirects followed by hand across origins until a stop prefix, and a Server-Sent Events reader
 * for the provider's login page.
 */

interface Cookie {
  readonly host: string;
  readonly name: string;
  readonly value: string;
  readonly path: string;
}

/** One browser: its own cookies. */
export class Browser {
  readonly #cookies = new Map<string, Cookie>();
  /** Redirects to a URL starting with one of these are returned, not followed (an RP without a server). */
  readonly #stopAt: readonly string[];

  constructor(options: { readonly stopAt?: readonly string[] } = {}) {
    this.#stopAt = options.stopAt ?? [];
  }

  /** A request with this browser's cookies; redirects are not followed. */
  async fetch(url: string | URL, init: RequestInit = {}): Promise<Response> {
    const u = new URL(url);
    const headers = new Headers(init.headers);
    const cookie = [...this.#cookies.values()]
      .filter(
        (c) =>
          c.host === u.hostname &&
          (c.path === '/' || u.pathname === c.path || u.pathname.startsWith(`${c.path.replace(/\/$/, '')}/`)),
      )
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
    if (cookie) headers.set('cookie', cookie);
    const res = await fetch(u, { ...init, headers, redirect: 'manual' });
    for (const line of res.headers.getSetCookie()) this.#store(u.hostname, line);
    return res;
  }

  /** The value of a cookie this browser holds for `host`, by name. */
  cookie(host: string, name: string): string | undefined {
    return [...this.#cookies.values()].find((c) => c.host === host && c.name === name)?.value;
  }

  /** Overwrites a cookie (to tamper with it). */
  setCookie(host: string, name: string, value: string): void {
    this.#cookies.set(`${host};${name};/`, { host, name, value, path: '/' });
  }

  /** Follows redirects (any origin) until a page, or a redirect into a stop prefix; returns where it ended. */
  async follow(url: string | URL, init: RequestInit = {}): Promise<{ readonly url: URL; readonly response: Response }> {
    let current = new URL(url);
    let res = await this.fetch(current, init);
    for (let hops = 0; hops < 15; hops++) {
      const location = res.headers.get('location');
      if (res.status < 300 || res.status >= 400 || location === null) return { url: current, response: res };
      await res.body?.cancel();
      const next = new URL(location, current);
      if (this.#stopAt.some((p) => next.href.startsWith(p))) return { url: next, response: res };
      current = next;
      res = await this.fetch(current);
    }
    throw new Error('too many redirects');
  }

  #store(host: string, line: string): void {
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
    const key = `${host};${name};${path}`;
    if (expired) this.#cookies.delete(key);
    else this.#cookies.set(key, { host, name, value, path });
  }
}

export { EventStream } from '../../../idp/test/support/event-stream.ts';
