/** The platform provider API (the test JPKI's contract): status and old→new serial links. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCertificate, platformLinks, platformSource } from '@mynagate/pki';
import type { TestJpkiServer } from '@mynagate/pki/testing';
import { NOW, createFixture, serve } from './verify-fixture.ts';
import type { Fixture } from './verify-fixture.ts';
import { answeringWith, closedPortUrl } from './support/http-status.ts';

let f: Fixture;
let server: TestJpkiServer;
before(async () => {
  f = await createFixture();
  server = await serve(f);
});
after(async () => {
  await server.close();
  await f.close();
});

test('platformSource answers good for a valid certificate', async () => {
  const s = await platformSource({ baseUrl: server.url }).status(
    parseCertificate(f.card.spec.authCert),
    parseCertificate(f.authCa.der),
    NOW,
  );
  assert.deepEqual(s, { status: 'good', source: 'platform' });
});

test('platformSource answers unknown for a certificate of another issuer', async () => {
  const s = await platformSource({ baseUrl: server.url }).status(
    parseCertificate(f.card.spec.authCert),
    parseCertificate(f.signCa.der),
    NOW,
  );
  assert.equal(s.status, 'unknown');
});

test('platformSource fails closed when the platform is unreachable: ERR_PKI_REVOCATION_UNKNOWN', async () => {
  await assert.rejects(
    platformSource({ baseUrl: 'http://127.0.0.1:1', timeoutMs: 500 }).status(
      parseCertificate(f.card.spec.authCert),
      parseCertificate(f.authCa.der),
      NOW,
    ),
    { code: 'ERR_PKI_REVOCATION_UNKNOWN', detail: 'unreachable' },
  );
});

for (const status of [400, 401, 403, 404]) {
  test(`platformSource: an HTTP ${status} answer (a wrong API key, a bad request) is ERR_PKI_REVOCATION_UNKNOWN (refused), not unreachable`, async () => {
    const refusing = await answeringWith(status);
    try {
      await assert.rejects(
        platformSource({ baseUrl: refusing.url, headers: { 'x-api-key': 'wrong' } }).status(
          parseCertificate(f.card.spec.authCert),
          parseCertificate(f.authCa.der),
          NOW,
        ),
        {
          code: 'ERR_PKI_REVOCATION_UNKNOWN',
          detail: 'refused',
          source: 'platform',
          message: `platform refused the request: HTTP ${status}`,
        },
      );
    } finally {
      await refusing.close();
    }
  });
}

for (const status of [408, 429]) {
  test(`platformSource: an HTTP ${status} answer is the platform asking to be asked later, an outage: ERR_PKI_REVOCATION_UNKNOWN (unreachable), not refused`, async () => {
    // A Retry-After of 0 changes nothing: the check fails closed at once, asked once, and is not retried.
    const busy = await answeringWith(status, { headers: { 'retry-after': '0' } });
    try {
      await assert.rejects(
        platformSource({ baseUrl: busy.url }).status(
          parseCertificate(f.card.spec.authCert),
          parseCertificate(f.authCa.der),
          NOW,
        ),
        {
          code: 'ERR_PKI_REVOCATION_UNKNOWN',
          detail: 'unreachable',
          source: 'platform',
          message: `platform HTTP ${status}`,
        },
      );
      assert.equal(busy.requests, 1);
    } finally {
      await busy.close();
    }
  });
}

/** 200 answers the platform API cannot use: the platform answered, but nonsense. */
const NONSENSE = [
  ['an HTML page (a proxy, a captive portal)', '<html><body>Sign in</body></html>', 'text/html', 'answer is not JSON'],
  ['an empty body', '', 'application/json', 'answer is not JSON'],
  ['JSON cut off', '{"status":"go', 'application/json', 'answer is not JSON'],
  ['JSON null', 'null', 'application/json', 'answer is not a JSON object'],
  ['a JSON array', '[{"status":"good"}]', 'application/json', 'answer is not a JSON object'],
  ['a JSON string', '"good"', 'application/json', 'answer is not a JSON object'],
  ['a JSON number', '200', 'application/json', 'answer is not a JSON object'],
] as const;

for (const [name, body, contentType, why] of NONSENSE) {
  test(`platformSource: a 200 of ${name} is ERR_PKI_REVOCATION_UNKNOWN (malformed), not unreachable`, async () => {
    const odd = await answeringWith(200, { body, contentType });
    try {
      await assert.rejects(
        platformSource({ baseUrl: odd.url }).status(
          parseCertificate(f.card.spec.authCert),
          parseCertificate(f.authCa.der),
          NOW,
        ),
        { code: 'ERR_PKI_REVOCATION_UNKNOWN', detail: 'malformed', source: 'platform', message: `platform ${why}` },
      );
    } finally {
      await odd.close();
    }
  });
}

test('platformSource: a JSON object without a status of the contract is ERR_PKI_REVOCATION_UNKNOWN (malformed), not an unknown answer', async () => {
  const cert = parseCertificate(f.card.spec.authCert);
  const ca = parseCertificate(f.authCa.der);
  const answering = (body: unknown) =>
    platformSource({ baseUrl: 'http://platform.example', fetch: async () => Response.json(body) });
  // The valid cases: the contract's three answers.
  assert.deepEqual(await answering({ status: 'good' }).status(cert, ca, NOW), { status: 'good', source: 'platform' });
  assert.deepEqual(await answering({ status: 'unknown' }).status(cert, ca, NOW), {
    status: 'unknown',
    source: 'platform',
  });
  for (const [name, body] of [
    ['no status', {}],
    ['a status in capitals', { status: 'GOOD' }],
    ['a status that is not a string', { status: true }],
  ] as const) {
    await assert.rejects(
      answering(body).status(cert, ca, NOW),
      {
        code: 'ERR_PKI_REVOCATION_UNKNOWN',
        detail: 'malformed',
        source: 'platform',
        message: 'platform status missing',
      },
      name,
    );
  }
  await assert.rejects(answering({ status: 'revoked' }).status(cert, ca, NOW), {
    code: 'ERR_PKI_REVOCATION_UNKNOWN',
    detail: 'malformed',
    message: 'platform revokedAt missing',
  });
});

test("platformSource: the test JPKI's 404 for a CA it does not know is ERR_PKI_REVOCATION_UNKNOWN (refused)", async () => {
  // The card's own certificate stands for a CA the platform has never heard of: `404 { error: 'unknown_issuer' }`.
  const cert = parseCertificate(f.card.spec.authCert);
  await assert.rejects(platformSource({ baseUrl: server.url }).status(cert, cert, NOW), {
    code: 'ERR_PKI_REVOCATION_UNKNOWN',
    detail: 'refused',
    message: 'platform refused the request: HTTP 404',
  });
});

test('platformSource: an HTTP 503 answer and a closed port are ERR_PKI_REVOCATION_UNKNOWN (unreachable)', async () => {
  const cert = parseCertificate(f.card.spec.authCert);
  const ca = parseCertificate(f.authCa.der);
  const down = await answeringWith(503);
  try {
    await assert.rejects(platformSource({ baseUrl: down.url }).status(cert, ca, NOW), {
      code: 'ERR_PKI_REVOCATION_UNKNOWN',
      detail: 'unreachable',
      source: 'platform',
      message: 'platform HTTP 503',
    });
  } finally {
    await down.close();
  }
  await assert.rejects(platformSource({ baseUrl: await closedPortUrl(), timeoutMs: 2000 }).status(cert, ca, NOW), {
    code: 'ERR_PKI_REVOCATION_UNKNOWN',
    detail: 'unreachable',
    source: 'platform',
  });
});

test('an answer over maxResponseBytes is no answer: ERR_PKI_REVOCATION_UNKNOWN (too_large), ERR_PKI_LINKS_UNAVAILABLE', async () => {
  const options = { baseUrl: server.url, maxResponseBytes: 16 };
  await assert.rejects(
    platformSource(options).status(parseCertificate(f.card.spec.authCert), parseCertificate(f.authCa.der), NOW),
    { code: 'ERR_PKI_REVOCATION_UNKNOWN', detail: 'too_large' },
  );
  await assert.rejects(platformLinks(options).links(f.jpki.caFingerprint('auth'), f.card.authSerial), {
    code: 'ERR_PKI_LINKS_UNAVAILABLE',
    detail: 'too_large',
    message: 'platform links too_large: response body larger than 16 bytes',
  });
  // The same answers within the ceiling.
  const roomy = { baseUrl: server.url, maxResponseBytes: 4096 };
  assert.equal((await platformLinks(roomy).links(f.jpki.caFingerprint('auth'), f.card.authSerial))?.kind, 'auth');
});

test('an error page larger than maxResponseBytes is its status, not too_large: 503 unreachable, 401 refused, 404 no link', async () => {
  const cert = parseCertificate(f.card.spec.authCert);
  const ca = parseCertificate(f.authCa.der);
  const page = `<html><body>${'x'.repeat(100 * 1024)}</body></html>`;
  for (const [status, detail] of [
    [503, 'unreachable'],
    [401, 'refused'],
  ] as const) {
    const proxy = await answeringWith(status, { body: page, contentType: 'text/html' });
    try {
      const options = { baseUrl: proxy.url, maxResponseBytes: 64 * 1024 };
      await assert.rejects(platformSource(options).status(cert, ca, NOW), {
        code: 'ERR_PKI_REVOCATION_UNKNOWN',
        detail,
        message: status === 401 ? 'platform refused the request: HTTP 401' : `platform HTTP ${status}`,
      });
      await assert.rejects(platformLinks(options).links(f.jpki.caFingerprint('auth'), f.card.authSerial), {
        code: 'ERR_PKI_LINKS_UNAVAILABLE',
        detail,
        message: `platform links ${detail}: HTTP ${status}`,
      });
    } finally {
      await proxy.close();
    }
  }
  const missing = await answeringWith(404, { body: page, contentType: 'text/html' });
  try {
    const options = { baseUrl: missing.url, maxResponseBytes: 64 * 1024 };
    assert.equal(await platformLinks(options).links(f.jpki.caFingerprint('auth'), f.card.authSerial), null);
  } finally {
    await missing.close();
  }
});

test("the API's paths go under the base URL's path (a provider behind /api)", async () => {
  const asked: string[] = [];
  const fetch: typeof globalThis.fetch = async (input) => {
    asked.push(String(input));
    return Response.json({ status: 'good' });
  };
  const cert = parseCertificate(f.card.spec.authCert);
  const ca = parseCertificate(f.authCa.der);
  await platformSource({ baseUrl: 'https://platform.example/api', fetch }).status(cert, ca, NOW);
  await platformSource({ baseUrl: 'https://platform.example/api/', fetch }).status(cert, ca, NOW);
  await platformSource({ baseUrl: 'https://platform.example', fetch }).status(cert, ca, NOW);
  assert.deepEqual(
    asked.map((u) => new URL(u).pathname),
    ['/api/v1/status', '/api/v1/status', '/v1/status'],
  );
});

test('platformLinks follows a renewal: the old serial names its successor and the new one its predecessor', async () => {
  const renewed = await f.jpki.renew(f.card.spec, {
    now: new Date('2027-01-20T00:00:00Z'),
  });
  const links = platformLinks({ baseUrl: server.url });
  const ca = f.jpki.caFingerprint('auth');
  assert.deepEqual((await links.links(ca, f.card.authSerial))?.successor, { issuer: ca, serial: renewed.authSerial });
  assert.deepEqual((await links.links(ca, renewed.authSerial))?.predecessor, { issuer: ca, serial: f.card.authSerial });
  assert.equal(await links.links(ca, '0123456789'), null);
  // A serial names a certificate only under its CA: the auth serial asked of the signing CA is not known there.
  assert.equal(await links.links(f.jpki.caFingerprint('sign'), f.card.authSerial), null);
});

test("platformLinks pairs a card's two certificates (J-LIS 証明書紐付け情報), also after a renewal", async () => {
  const links = platformLinks({ baseUrl: server.url });
  const other = await f.jpki.issueCard({
    name: '別人　一郎',
    address: '大阪府大阪市北区1-1',
    birthDate: '1980-05-06',
    sex: '1',
    pin: '1234',
    password: 'ABC123',
  });
  const [auth, sign] = [f.jpki.caFingerprint('auth'), f.jpki.caFingerprint('sign')];
  assert.deepEqual((await links.links(sign, f.card.signSerial))?.pair, { issuer: auth, serial: f.card.authSerial });
  assert.deepEqual((await links.links(auth, f.card.authSerial))?.pair, { issuer: sign, serial: f.card.signSerial });
  assert.deepEqual(
    (await links.links(sign, other.signSerial))?.pair,
    { issuer: auth, serial: other.authSerial },
    'another card pairs with its own',
  );
  const renewed = await f.jpki.renew(other.spec, { now: new Date('2027-01-20T00:00:00Z') });
  assert.deepEqual((await links.links(sign, renewed.signSerial))?.pair, { issuer: auth, serial: renewed.authSerial });
});

test('platformLinks refuses a malformed link, and an answer naming another certificate (ERR_PKI_LINKS_UNAVAILABLE)', async () => {
  const ca = 'ab'.repeat(32);
  const answering = (body: object) =>
    platformLinks({ baseUrl: 'http://links.example', fetch: async () => Response.json(body) });
  const self = { issuer: ca, serial: '0a', kind: 'sign' };
  // The valid case: each variation below changes one thing.
  assert.deepEqual(await answering({ ...self, pair: { issuer: ca, serial: '0b' } }).links(ca, '0a'), {
    ...self,
    pair: { issuer: ca, serial: '0b' },
  });
  const contract = 'platform links malformed: not a link of the contract';
  const another = 'platform links malformed: the answer names another certificate';
  for (const [name, body, message] of [
    ['a pair that is a bare serial (no CA)', { ...self, pair: '0b' }, contract],
    ['a pair whose serial is not hex', { ...self, pair: { issuer: ca, serial: 'not hex' } }, contract],
    [
      'a predecessor whose CA is not a fingerprint',
      { ...self, predecessor: { issuer: 'JPKI', serial: '09' } },
      contract,
    ],
    ['an answer about the same serial under another CA', { ...self, issuer: 'cd'.repeat(32) }, another],
    ['an answer about another serial', { ...self, serial: '0c' }, another],
    ['an answer without its CA', { serial: '0a', kind: 'sign' }, contract],
    ['an answer without its kind', { issuer: ca, serial: '0a' }, 'platform links malformed: kind missing'],
    ['an answer of another kind', { ...self, kind: 'card' }, 'platform links malformed: kind missing'],
  ] as const) {
    await assert.rejects(
      answering(body).links(ca, '0a'),
      { code: 'ERR_PKI_LINKS_UNAVAILABLE', detail: 'malformed', message },
      name,
    );
  }
  await assert.rejects(answering(self).links('JPKI', '0a'), TypeError);
});

// platformLinks names the reason in its `detail` (and message) with the words of ERR_PKI_REVOCATION_UNKNOWN's
// details, exactly as platformSource classifies the same answer.
for (const [status, detail] of [
  [400, 'refused'],
  [401, 'refused'],
  [403, 'refused'],
  [408, 'unreachable'],
  [429, 'unreachable'],
  [500, 'unreachable'],
  [503, 'unreachable'],
] as const) {
  test(`platformLinks: an HTTP ${status} answer is ERR_PKI_LINKS_UNAVAILABLE (${detail}), as platformSource says`, async () => {
    const answering = await answeringWith(status, { headers: { 'retry-after': '0' } });
    try {
      await assert.rejects(platformLinks({ baseUrl: answering.url }).links(f.jpki.caFingerprint('auth'), '0a'), {
        code: 'ERR_PKI_LINKS_UNAVAILABLE',
        detail,
        message: `platform links ${detail}: HTTP ${status}`,
      });
      await assert.rejects(
        platformSource({ baseUrl: answering.url }).status(
          parseCertificate(f.card.spec.authCert),
          parseCertificate(f.authCa.der),
          NOW,
        ),
        { code: 'ERR_PKI_REVOCATION_UNKNOWN', detail },
      );
      assert.equal(answering.requests, 2, 'each asked once, never retried');
    } finally {
      await answering.close();
    }
  });
}

test('platformLinks: a 404 is the platform not knowing the certificate (null), not a failure', async () => {
  const unknown = await answeringWith(404);
  try {
    assert.equal(await platformLinks({ baseUrl: unknown.url }).links(f.jpki.caFingerprint('auth'), '0a'), null);
  } finally {
    await unknown.close();
  }
});

test('platformLinks: a closed port is ERR_PKI_LINKS_UNAVAILABLE (unreachable)', async () => {
  await assert.rejects(
    platformLinks({ baseUrl: await closedPortUrl(), timeoutMs: 2000 }).links(f.jpki.caFingerprint('auth'), '0a'),
    { code: 'ERR_PKI_LINKS_UNAVAILABLE', detail: 'unreachable', message: 'platform links unreachable: no answer' },
  );
});

for (const [name, body, contentType, why] of NONSENSE) {
  test(`platformLinks: a 200 of ${name} is ERR_PKI_LINKS_UNAVAILABLE (malformed)`, async () => {
    const odd = await answeringWith(200, { body, contentType });
    try {
      await assert.rejects(platformLinks({ baseUrl: odd.url }).links(f.jpki.caFingerprint('auth'), '0a'), {
        code: 'ERR_PKI_LINKS_UNAVAILABLE',
        detail: 'malformed',
        message: `platform links malformed: ${why}`,
      });
    } finally {
      await odd.close();
    }
  });
}
