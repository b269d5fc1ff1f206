/** The OCSP source against the test JPKI's responder: requests, caching by CertID until nextUpdate, seams. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildOcspRequest, checkRevocation, ocspSource, parseCertificate } from '@mynagate/pki';
import type { ParsedCertificate } from '@mynagate/pki';
import type { TestJpkiServer } from '@mynagate/pki/testing';
import { NOW, createFixture, serve } from './verify-fixture.ts';
import type { Fixture } from './verify-fixture.ts';

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

test('a response with the wrong content type is not parsed: ERR_PKI_REVOCATION_UNKNOWN', async () => {
  const html: typeof globalThis.fetch = async () =>
    new Response('<html/>', { headers: { 'content-type': 'text/html' } });
  await assert.rejects(ocspSource({ url: 'http://x/ocsp', fetch: html }).status(cert, ca, NOW), {
    code: 'ERR_PKI_REVOCATION_UNKNOWN',
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
