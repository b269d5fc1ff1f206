/**
 * A minimal browser over plain http, for providers on a loopback http issuer (`serve --dev`, `serve --config` with
 * `http://127.0.0.1:…`): a cookie jar honouring Path, no automatic redirects. The IdP tests' `Agent`
 * (packages/idp/test/support/op-agent.ts) is the same over TLS; both serve the login helpers of op-fixture.ts.
 */

interface Cookie {
  readonly name: string;
  readonly value: string;
  readonly path: string;
}

/** One test browser on http: its own cookies. */
export class HttpAgent {
  readonly #cookies = new Map<string, Cookie>();

  /** A request with this browser's cookies; redirects are not followed. */
  async fetch(url: string | URL, init: RequestInit = {}): Promise<Response> {
    const u = new URL(url);
    const headers = new Headers(init.headers);
    const cookie = [...this.#cookies.values()]
      .filter((c) => c.path === '/' || u.pathname === c.path || u.pathname.startsWith(`${c.path.replace(/\/$/, '')}/`))
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
    if (cookie) headers.set('cookie', cookie);
    const res = await fetch(u, { ...init, headers, redirect: 'manual' });
    for (const line of res.headers.getSetCookie()) this.#store(line);
    return res;
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
