/**
 * The server as the open Internet meets it: the URLs it publishes and accepts follow the issuer, never the request's
 * Host (RFC 7523 §3 audience); silent and trickling clients are dropped (node:http timeouts); HTTPS answers carry
 * HSTS (RFC 6797); bodies too large get 413 (RFC 9110 §15.5.14) rather than a reset; odd targets and HEAD get their
 * 4xx; an unexpected failure is logged once.
 */
import assert from 'node:assert/strict';
import { randomBytes, sign, type KeyObject } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect as tcpConnect, type AddressInfo, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { IdpBadRequestError, IdpBodyTooLargeError } from '../src/errors.ts';
import { StoreUnavailableError } from '../src/store/errors.ts';
import { toHttpError } from '../src/http-errors.ts';
import { readForm } from '../src/consent/page.ts';
import { Router } from '../src/interactions/router.ts';
import { startServer, type ServerConfig } from '../src/server.ts';
import { createOpFixture, RP_JWT, startLogin, type OpFixture, type TestIdp } from './support/op-fixture.ts';

let f: OpFixture;
let idp: TestIdp;

before(async () => {
  f = await createOpFixture();
  idp = await f.start();
});
after(() => f.close());

interface Answer {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

/** One HTTPS request to `server` with exactly these headers (a forged Host included: the TLS name stays localhost). */
function send(
  server: TestIdp,
  method: string,
  path: string,
  headers: Record<string, string | number> = {},
  body?: string | Buffer,
): Promise<Answer> {
  const { port } = new URL(server.server.url);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port, method, path, headers, ca: f.tls.cert, servername: 'localhost', agent: false },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Writes `text` on a fresh TLS connection; resolves with what came back once the server closed it. */
function rawTls(server: TestIdp, text: string): Promise<string> {
  const { port } = new URL(server.server.url);
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port: Number(port), ca: f.tls.cert, servername: 'localhost' }, () =>
      socket.write(text),
    );
    let out = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => (out += c));
    socket.on('error', reject);
    socket.on('close', () => resolve(out));
  });
}

/** A private_key_jwt client assertion of {@link RP_JWT} for `aud` (RFC 7523 §3). */
function assertion(key: KeyObject, aud: string): string {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: 'ES256', kid: 'rp-1' })}.${b64({
    iss: RP_JWT.clientId,
    sub: RP_JWT.clientId,
    aud,
    jti: randomBytes(12).toString('hex'),
    iat: now,
    exp: now + 60,
  })}`;
  return `${input}.${sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}

const ENDPOINTS = [
  'authorization_endpoint',
  'token_endpoint',
  'jwks_uri',
  'userinfo_endpoint',
  'end_session_endpoint',
  'pushed_authorization_request_endpoint',
];

function assertUnderIssuer(meta: Record<string, unknown>, issuer: string): void {
  assert.equal(meta['issuer'], issuer);
  for (const name of ENDPOINTS) assert.ok(String(meta[name]).startsWith(`${issuer}/`), `${name}: ${meta[name]}`);
}

describe('the request names the issuer, whatever Host says', () => {
  it('publishes its endpoints under the issuer for Host: evil.example', async () => {
    const res = await send(idp, 'GET', '/.well-known/openid-configuration', { host: 'evil.example' });
    assert.equal(res.status, 200);
    assertUnderIssuer(JSON.parse(res.body) as Record<string, unknown>, idp.server.issuer);
  });

  it('publishes its endpoints under the issuer for an absolute-form target naming another host', async () => {
    const res = await send(idp, 'GET', 'https://evil.example/.well-known/openid-configuration');
    assert.equal(res.status, 200);
    assertUnderIssuer(JSON.parse(res.body) as Record<string, unknown>, idp.server.issuer);
  });

  it('publishes its endpoints under the issuer for X-Forwarded-Host/-Proto behind a trusted proxy', async () => {
    const proxied = await f.start({ trustProxy: true });
    const res = await send(proxied, 'GET', '/.well-known/openid-configuration', {
      'x-forwarded-host': 'evil.example',
      'x-forwarded-proto': 'http',
      'x-forwarded-for': '203.0.113.7',
    });
    assert.equal(res.status, 200);
    assertUnderIssuer(JSON.parse(res.body) as Record<string, unknown>, proxied.server.issuer);
  });

  it("refuses a client assertion for another server's token endpoint sent with that Host (401 invalid_client)", async () => {
    const form = (aud: string) =>
      new URLSearchParams({
        grant_type: 'authorization_code',
        code: 'not-a-code',
        redirect_uri: RP_JWT.redirectUri,
        code_verifier: 'a'.repeat(43),
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: assertion(f.rpKey, aud),
      }).toString();
    const post = (host: string, body: string) =>
      send(idp, 'POST', '/token', { host, 'content-type': 'application/x-www-form-urlencoded' }, body);
    const forged = await post('evil.example', form('https://evil.example/token'));
    assert.equal(forged.status, 401);
    assert.equal((JSON.parse(forged.body) as { error: string }).error, 'invalid_client');
    // The same assertion for this server's token endpoint authenticates (and only the code is wrong).
    const own = await post('evil.example', form(`${idp.server.issuer}/token`));
    assert.equal((JSON.parse(own.body) as { error: string }).error, 'invalid_grant');
  });
});

describe('HSTS', () => {
  it('sends Strict-Transport-Security on the provider, interaction and unknown-path answers of an https issuer', async () => {
    for (const path of ['/.well-known/openid-configuration', '/interaction/nope', '/companion/nope', '/nope']) {
      const res = await send(idp, 'GET', path);
      assert.equal(res.headers['strict-transport-security'], 'max-age=63072000; includeSubDomains', path);
    }
  });
});

describe('connection limits', () => {
  let limited: TestIdp;
  before(async () => {
    limited = await f.start({
      limits: { headersTimeoutMs: 500, requestTimeoutMs: 1000, idleTimeoutMs: 1000, keepAliveTimeoutMs: 500 },
    });
  });

  /** Resolves with how long the server took to close `socket`. */
  function closedWithin(socket: Socket, ms: number): Promise<number> {
    const start = performance.now();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`still open after ${ms} ms`));
      }, ms);
      socket.on('error', () => {});
      socket.resume(); // read on to the server's end (a 408, or nothing)
      socket.on('close', () => {
        clearTimeout(timer);
        resolve(performance.now() - start);
      });
    });
  }

  it('closes a connection that sends nothing within 2 s', async () => {
    const socket = tcpConnect(Number(new URL(limited.server.url).port), '127.0.0.1');
    await closedWithin(socket, 2000);
  });

  it('closes a connection that stops in the middle of its headers within 2 s', async () => {
    const socket = tlsConnect({
      host: '127.0.0.1',
      port: Number(new URL(limited.server.url).port),
      ca: f.tls.cert,
      servername: 'localhost',
    });
    socket.on('secureConnect', () => socket.write('GET /jwks HTTP/1.1\r\nHost: localhost\r\nX-a: '));
    await closedWithin(socket, 2000);
  });

  it('keeps the login page event stream open past the idle timeout', async () => {
    const login = await startLogin(limited, limited.jwtRp, RP_JWT.redirectUri);
    await new Promise((resolve) => setTimeout(resolve, 2500));
    assert.ok(await login.events.next('qr', 2000), 'the stream still sends QR codes');
    await login.events.close();
  });

  it('refuses limits that are not whole numbers >= 1, or a request timeout below the headers timeout', async () => {
    for (const limits of [
      { headersTimeoutMs: 0 },
      { maxConnections: 1.5 },
      { headersTimeoutMs: 20_000, requestTimeoutMs: 10_000 },
    ]) {
      await assert.rejects(
        startServer({ limits } as unknown as ServerConfig),
        { name: 'TypeError', message: /^limits\./ },
        JSON.stringify(limits),
      );
    }
  });
});

describe('close drains', () => {
  /** A TLS socket to `node` and everything it reads until the server closes it. */
  async function rawRequest(node: TestIdp, head: string) {
    const socket = tlsConnect({
      host: '127.0.0.1',
      port: Number(new URL(node.server.url).port),
      ca: f.tls.cert,
      servername: 'localhost',
    });
    await new Promise((resolve) => socket.once('secureConnect', resolve));
    let text = '';
    socket.setEncoding('utf8').on('data', (d: string) => (text += d));
    const ended = new Promise<string>((resolve) => {
      socket.on('error', () => {});
      socket.on('close', () => resolve(text));
    });
    socket.write(head);
    return { socket, ended };
  }

  it('answers a request under way before its connection goes, and ends the event streams at once', async () => {
    const node = await f.start({ limits: { drainTimeoutMs: 5000 } });
    const login = await startLogin(node, node.jwtRp, RP_JWT.redirectUri);
    assert.ok(await login.events.next('qr'));
    // A companion's token post whose body is still on its way when the server is told to stop.
    const body = JSON.stringify({ format: 'web-eid:1.0' });
    const { socket, ended } = await rawRequest(
      node,
      `POST /companion/x/token HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${body.length}\r\n\r\n${body.slice(0, 5)}`,
    );
    await sleep(100);
    const closed = node.server.close();
    const t0 = performance.now();
    assert.equal(await login.events.next('never', 3000), undefined);
    assert.ok(performance.now() - t0 < 1500, 'the event stream ended at once');
    socket.write(body.slice(5));
    const answer = await ended;
    assert.match(answer, /^HTTP\/1\.1 400 /);
    assert.match(answer, /ERR_IDP_TOKEN_MALFORMED/);
    assert.match(answer, /\r\nconnection: close\r\n/i);
    await closed;
  });

  it('cuts a request that does not finish within drainTimeoutMs', async () => {
    const node = await f.start({ limits: { drainTimeoutMs: 300 } });
    const { ended } = await rawRequest(
      node,
      'POST /companion/x/token HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{',
    );
    await sleep(100);
    const t0 = performance.now();
    await node.server.close();
    assert.ok(performance.now() - t0 < 2000, 'close did not wait past the drain timeout');
    await ended;
  });
});

describe('bodies too large', () => {
  const big = Buffer.alloc(2 * 1024 * 1024, 0x61);

  it('answers a 2 MiB companion POST with 413 ERR_IDP_BODY_TOO_LARGE and Connection: close, not a reset', async () => {
    const res = await send(idp, 'POST', '/companion/x/token', { 'content-type': 'application/json' }, big);
    assert.equal(res.status, 413);
    assert.equal((JSON.parse(res.body) as { error: string }).error, 'ERR_IDP_BODY_TOO_LARGE');
    assert.equal(res.headers['connection'], 'close');
  });

  it('answers a chunked 2 MiB companion POST (no content-length) with 413, not a reset', async () => {
    const res = await send(
      idp,
      'POST',
      '/companion/x/token',
      { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      big,
    );
    assert.equal(res.status, 413);
    assert.equal((JSON.parse(res.body) as { error: string }).error, 'ERR_IDP_BODY_TOO_LARGE');
  });

  it('answers a 2 MiB form (declared or chunked) read by readForm with 413, not a reset', async () => {
    const router = new Router().on('POST', '/form', async (req, res) => {
      const form = await readForm(req);
      res.end(form.get('a') ?? '');
    });
    const server = createServer((req, res) => void router.handle(req, res, 'http://127.0.0.1'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      for (const headers of [{}, { 'transfer-encoding': 'chunked' }]) {
        const res = await new Promise<Answer>((resolve, reject) => {
          const req = httpRequest(
            {
              host: '127.0.0.1',
              port,
              method: 'POST',
              path: '/form',
              agent: false,
              headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
            },
            (r) => {
              let text = '';
              r.on('data', (c: Buffer) => (text += c));
              r.on('end', () => resolve({ status: r.statusCode!, headers: r.headers, body: text }));
            },
          );
          req.on('error', reject);
          req.end(big);
        });
        assert.equal(res.status, 413, JSON.stringify(headers));
        assert.equal((JSON.parse(res.body) as { error: string }).error, 'ERR_IDP_BODY_TOO_LARGE');
      }
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('odd requests', () => {
  it('answers a request target that does not parse (GET http://[x/companion/a) with 400 ERR_IDP_BAD_REQUEST', async () => {
    const out = await rawTls(idp, 'GET http://[x/companion/a HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    assert.match(out, /^HTTP\/1\.1 400 /);
    assert.match(out, /"error":"ERR_IDP_BAD_REQUEST"/);
  });

  it('answers HEAD /interaction/:uid with 405 and Allow: GET, starting no login and setting no cookie', async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    await login.events.close();
    const res = await login.agent.fetch(login.pageUrl, { method: 'HEAD' });
    assert.equal(res.status, 405);
    assert.equal(res.headers.get('allow'), 'GET');
    assert.deepEqual(res.headers.getSetCookie(), []);
  });
});

describe('internal errors', () => {
  it('writes an unexpected error to stderr once, with its stack and without its other fields', (t) => {
    const logged = t.mock.method(console, 'error', () => {});
    const e = Object.assign(new Error('the store broke'), { detail: 'Key (name)=(試験 太郎) already exists' });
    assert.equal(toHttpError(e).body.error, 'ERR_IDP_INTERNAL');
    assert.equal(toHttpError(e).body.error, 'ERR_IDP_INTERNAL');
    assert.equal(logged.mock.callCount(), 1);
    const line = String(logged.mock.calls[0]!.arguments[0]);
    assert.match(line, /^ERR_IDP_INTERNAL: Error: the store broke\n\s+at /);
    assert.doesNotMatch(line, /試験/);
  });

  it('a store out of reach is 503 ERR_STORE_UNAVAILABLE with Retry-After, told apart from a fault (500)', (t) => {
    const logged = t.mock.method(console, 'error', () => {});
    const { status, body, headers } = toHttpError(new StoreUnavailableError('Redis is unavailable'));
    assert.equal(status, 503);
    assert.equal(body.error, 'ERR_STORE_UNAVAILABLE');
    assert.match(body.message.ja, /一時的に利用できません/);
    assert.equal(headers['retry-after'], '5');
    assert.equal(logged.mock.callCount(), 0);
  });

  it("logs the cause of node-oidc-provider's own server_error (an authorization whose store failed)", async (t) => {
    const logged = t.mock.method(console, 'error', () => {});
    const provider = idp.server.provider;
    provider.emit('server_error', {}, new Error('the adapter broke'));
    assert.equal(logged.mock.callCount(), 1);
    assert.match(String(logged.mock.calls[0]!.arguments[0]), /^ERR_IDP_INTERNAL: Error: the adapter broke\n\s+at /);
  });

  it('does not log errors that have their own answer', (t) => {
    const logged = t.mock.method(console, 'error', () => {});
    assert.equal(toHttpError(new IdpBadRequestError('x')).status, 400);
    assert.equal(toHttpError(new IdpBodyTooLargeError(1)).status, 413);
    assert.equal(logged.mock.callCount(), 0);
  });
});
