/** The OCSP source against the test JPKI's responder: requests, caching by CertID until nextUpdate, seams. */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildOcspRequest, checkOcspResponse, checkRevocation, ocspSource, parseCertificate } from '@mynagate/pki';
import type { ParsedCertificate } from '@mynagate/pki';
import type { TestJpkiServer } from '@mynagate/pki/testing';
import { NOW, createFixture, serve } from './verify-fixture.ts';
import type { Fixture } from './verify-fixture.ts';
import { answeringWith, closedPortUrl } from './support/http-status.ts';

let f: Fixture;
let server: TestJpkiServer;
let delegated: TestJpkiServer;
let cert: ParsedCertificate;
let ca: ParsedCertificate;
before(async () => {
  f = await createFixture();
  server = await serve(f);
  delegated = await serve(f, { responder: 'delegated' });
  cert = parseCertificate(f.card.spec.authCert);
  ca = parseCertificate(f.authCa.der);
});
after(async () => {
  await server.close();
  await delegated.close();
  await f.close();
});

/** A fetch that counts requests and forwards them. */
function counting() {
  const calls = { n: 0 };
  const fetch: typeof globalThis.fetch = (input, init) => {
    calls.n++;
    return globalThis.fetch(input, init);
  };
  return { calls, fetch };
}

test('asks the responder with a nonce and answers good for a valid certificate', async () => {
  const s = await ocspSource({ url: `${server.url}/ocsp/auth` }).status(cert, ca, NOW);
  assert.equal(s.status, 'good');
  assert.equal(s.source, 'ocsp');
});

test('a cached answer is served until nextUpdate without a new request, then fetched again', async () => {
  const { calls, fetch } = counting();
  const source = ocspSource({ url: `${server.url}/ocsp/auth`, fetch });
  await source.status(cert, ca, NOW);
  await source.status(cert, ca, new Date(NOW.getTime() + 30 * 60_000));
  assert.equal(calls.n, 1);
  assert.equal(source.cacheSize, 1);
  // The test JPKI's nextUpdate is thisUpdate + 1 h; after it the answer is not served from the cache.
  await assert.rejects(source.status(cert, ca, new Date(NOW.getTime() + 61 * 60_000)), {
    code: 'ERR_PKI_REVOCATION_UNKNOWN',
    detail: 'stale',
  });
  assert.equal(calls.n, 2);
});

test('concurrent asks for one certificate share one request', async () => {
  const { calls, fetch } = counting();
  const source = ocspSource({ url: `${server.url}/ocsp/auth`, fetch });
  await Promise.all(Array.from({ length: 5 }, () => source.status(cert, ca, NOW)));
  assert.equal(calls.n, 1);
});

test('cacheSize 0 asks every time', async () => {
  const { calls, fetch } = counting();
  const source = ocspSource({
    url: `${server.url}/ocsp/auth`,
    fetch,
    cacheSize: 0,
  });
  await source.status(cert, ca, NOW);
  await source.status(cert, ca, NOW);
  assert.equal(calls.n, 2);
});

test('an answer from a delegated responder certified by the issuing CA is accepted (RFC 6960 §4.2.2.2)', async () => {
  assert.equal((await ocspSource({ url: `${delegated.url}/ocsp/auth` }).status(cert, ca, NOW)).status, 'good');
});

test('the sign CA responder cannot answer for an auth certificate: ERR_PKI_OCSP_RESPONDER', async () => {
  // /ocsp/sign is signed by the sign CA: not the issuer of the auth certificate.
  await assert.rejects(ocspSource({ url: `${server.url}/ocsp/sign` }).status(cert, ca, NOW), {
    code: 'ERR_PKI_OCSP_RESPONDER',
  });
});

test('a responder that does not answer within the timeout: ERR_PKI_REVOCATION_UNKNOWN (unreachable)', async () => {
  const hang: typeof globalThis.fetch = (_u, init) =>
    new Promise((_, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal!.reason)));
  await assert.rejects(
    ocspSource({
      url: 'http://127.0.0.1:9/ocsp',
      fetch: hang,
      timeoutMs: 50,
    }).status(cert, ca, NOW),
    {
      code: 'ERR_PKI_REVOCATION_UNKNOWN',
      detail: 'unreachable',
    },
  );
});

for (const status of [400, 401, 403, 404]) {
  test(`an HTTP ${status} answer is the responder refusing us, not an outage: ERR_PKI_REVOCATION_UNKNOWN (refused)`, async () => {
    const refusing = await answeringWith(status);
    try {
      await assert.rejects(ocspSource({ url: `${refusing.url}/ocsp` }).status(cert, ca, NOW), {
        code: 'ERR_PKI_REVOCATION_UNKNOWN',
        detail: 'refused',
        source: 'ocsp',
        message: `OCSP responder refused the request: HTTP ${status}`,
      });
    } finally {
      await refusing.close();
    }
  });
}

for (const status of [408, 429]) {
  test(`an HTTP ${status} answer is the responder asking to be asked later, an outage: ERR_PKI_REVOCATION_UNKNOWN (unreachable), not refused`, async () => {
    // A Retry-After of 0 changes nothing: the check fails closed at once, and the failure is not cached (the next
    // check asks again).
    const busy = await answeringWith(status, { headers: { 'retry-after': '0' } });
    try {
      const source = ocspSource({ url: `${busy.url}/ocsp` });
      for (const asked of [1, 2]) {
        await assert.rejects(source.status(cert, ca, NOW), {
          code: 'ERR_PKI_REVOCATION_UNKNOWN',
          detail: 'unreachable',
          source: 'ocsp',
          message: `OCSP responder unreachable: HTTP ${status}`,
        });
        assert.equal(busy.requests, asked);
      }
      assert.equal(source.cacheSize, 0);
    } finally {
      await busy.close();
    }
  });
}

test('an HTTP 503 answer and a closed port are an outage: ERR_PKI_REVOCATION_UNKNOWN (unreachable)', async () => {
  const down = await answeringWith(503);
  try {
    await assert.rejects(ocspSource({ url: `${down.url}/ocsp` }).status(cert, ca, NOW), {
      code: 'ERR_PKI_REVOCATION_UNKNOWN',
      detail: 'unreachable',
      source: 'ocsp',
      message: 'OCSP responder unreachable: HTTP 503',
    });
  } finally {
    await down.close();
  }
  await assert.rejects(ocspSource({ url: `${await closedPortUrl()}/ocsp`, timeoutMs: 2000 }).status(cert, ca, NOW), {
    code: 'ERR_PKI_REVOCATION_UNKNOWN',
    detail: 'unreachable',
    source: 'ocsp',
  });
});

test('a 200 of another media type (a portal page) is not parsed: ERR_PKI_REVOCATION_UNKNOWN (malformed)', async () => {
  const html: typeof globalThis.fetch = async () =>
    new Response('<html/>', { headers: { 'content-type': 'text/html' } });
  await assert.rejects(ocspSource({ url: 'http://x/ocsp', fetch: html }).status(cert, ca, NOW), {
    code: 'ERR_PKI_REVOCATION_UNKNOWN',
    detail: 'malformed',
    source: 'ocsp',
    message: 'OCSP answer is not application/ocsp-response: another media type',
  });
  const untyped: typeof globalThis.fetch = async () => new Response(new Uint8Array([0x30, 0]), { headers: {} });
  await assert.rejects(ocspSource({ url: 'http://x/ocsp', fetch: untyped }).status(cert, ca, NOW), {
    code: 'ERR_PKI_REVOCATION_UNKNOWN',
    detail: 'malformed',
    message: 'OCSP answer is not application/ocsp-response: no media type',
  });
});

test('a responder that streams megabytes is cut off at maxResponseBytes: ERR_PKI_REVOCATION_UNKNOWN (too_large)', async () => {
  // Over real HTTP, chunked (no Content-Length): the limit must hold while reading, not only on a declared length.
  // 8 MiB stands for "without end" (read whole, it would be ERR_PKI_OCSP_MALFORMED, not an exhausted machine).
  const TOTAL = 8 * 1024 * 1024;
  let written = 0;
  let closed!: (complete: boolean) => void;
  const gone = new Promise<boolean>((resolve) => (closed = resolve));
  const flood = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/ocsp-response' });
    const chunk = Buffer.alloc(16 * 1024, 0x30);
    const pump = () => {
      while (!res.destroyed && written < TOTAL && res.write(chunk)) written += chunk.length;
      if (written >= TOTAL) res.end();
      else if (!res.destroyed) res.once('drain', pump);
    };
    res.on('close', () => closed(res.writableFinished));
    pump();
  });
  await new Promise<void>((resolve) => flood.listen(0, '127.0.0.1', resolve));
  try {
    const url = `http://127.0.0.1:${(flood.address() as AddressInfo).port}/ocsp`;
    await assert.rejects(ocspSource({ url, maxResponseBytes: 64 * 1024 }).status(cert, ca, NOW), {
      code: 'ERR_PKI_REVOCATION_UNKNOWN',
      detail: 'too_large',
    });
    // The client hung up before the end: the rest was never sent.
    assert.equal(await gone, false);
    assert.ok(written < TOTAL, `responder wrote ${written} bytes`);
  } finally {
    flood.closeAllConnections();
    await new Promise((resolve) => flood.close(resolve));
  }
});

test('a declared Content-Length over maxResponseBytes is refused before the body is read', async () => {
  let cancelled = false;
  let pulls = 0;
  // A body that claims 1 GiB and would give 4 MiB if read (the test fails, rather than hangs, should it be read).
  const body = new ReadableStream<Uint8Array>({
    pull: (c) => (++pulls > 4096 ? c.close() : c.enqueue(new Uint8Array(1024))),
    cancel: () => void (cancelled = true),
  });
  const big: typeof globalThis.fetch = async () =>
    new Response(body, {
      headers: { 'content-type': 'application/ocsp-response', 'content-length': String(1 << 30) },
    });
  await assert.rejects(ocspSource({ url: 'http://x/ocsp', fetch: big }).status(cert, ca, NOW), {
    code: 'ERR_PKI_REVOCATION_UNKNOWN',
    detail: 'too_large',
  });
  assert.equal(cancelled, true);
  assert.ok(pulls <= 1, `${pulls} chunks pulled`);
});

test('maxResponseBytes is a ceiling, not a requirement: a response of exactly that size is checked as usual', async () => {
  // The real responder's answer, passed on without its Content-Length, so the streamed count decides.
  let size = 0;
  const measured: typeof globalThis.fetch = async (input, init) => {
    const res = await globalThis.fetch(input, init);
    const body = new Uint8Array(await res.arrayBuffer());
    size = body.length;
    return new Response(body, { status: res.status, headers: { 'content-type': 'application/ocsp-response' } });
  };
  const url = `${server.url}/ocsp/auth`;
  await ocspSource({ url, fetch: measured }).status(cert, ca, NOW);
  assert.ok(size > 0);
  assert.equal(
    (await ocspSource({ url, fetch: measured, maxResponseBytes: size }).status(cert, ca, NOW)).status,
    'good',
  );
  await assert.rejects(ocspSource({ url, fetch: measured, maxResponseBytes: size - 1 }).status(cert, ca, NOW), {
    code: 'ERR_PKI_REVOCATION_UNKNOWN',
    detail: 'too_large',
  });
});

test('an Invalid Date as now is refused (every freshness comparison would be false, nothing ever stale)', async () => {
  const invalid = new Date(NaN);
  const notValid = { name: 'TypeError', message: 'now must be a valid Date' };
  await assert.rejects(ocspSource({ url: `${server.url}/ocsp/auth` }).status(cert, ca, invalid), notValid);
  const good = { status: async () => ({ status: 'good' as const, source: 'x' }) };
  assert.equal((await checkRevocation(good, cert, ca, NOW)).status, 'good');
  await assert.rejects(checkRevocation(good, cert, ca, invalid), notValid);
  assert.throws(() => checkOcspResponse(new Uint8Array(8), { now: NaN } as Parameters<typeof checkOcspResponse>[1]), {
    name: 'TypeError',
    message: 'now must be a finite time (epoch ms)',
  });
});

test('checkRevocation fails closed on an unknown answer', async () => {
  await assert.rejects(checkRevocation({ status: async () => ({ status: 'unknown', source: 'x' }) }, cert, ca, NOW), {
    code: 'ERR_PKI_REVOCATION_UNKNOWN',
    detail: 'unknown',
  });
});

test('buildOcspRequest uses a fresh 32-byte nonce per request', () => {
  const a = buildOcspRequest(cert, ca);
  const b = buildOcspRequest(cert, ca);
  assert.equal(a.nonce.length, 34);
  assert.notDeepEqual(a.nonce, b.nonce);
  assert.deepEqual(a.certId, b.certId);
});
