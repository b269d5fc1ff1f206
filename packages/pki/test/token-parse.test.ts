/** Token parsing and creation: strict JSON, format grammar, algorithm allow-list, strict base64; no certificates. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { authSignedData, createAuthToken, parseAuthToken, sha256DigestInfo, strictBase64 } from '@mynagate/pki';

const cert = new Uint8Array(600).map((_, i) => (i * 7) & 0xff);
const sig = new Uint8Array(256).map((_, i) => (i * 13) & 0xff);
const base = {
  unverifiedCertificate: Buffer.from(cert).toString('base64'),
  algorithm: 'RS256',
  signature: Buffer.from(sig).toString('base64'),
  format: 'web-eid:1.0',
  appVersion: 'https://mynagate.example/cli/0.1.0',
};
const text = (o: object) => JSON.stringify(o);

test('parseAuthToken decodes a well-formed token', () => {
  const t = parseAuthToken(text(base));
  assert.deepEqual(t.unverifiedCertificate, cert);
  assert.deepEqual(t.signature, sig);
  assert.equal(t.algorithm, 'RS256');
  assert.equal(t.appVersion, base.appVersion);
});

test('parseAuthToken accepts the token as UTF-8 bytes', () => {
  assert.equal(parseAuthToken(new TextEncoder().encode(text(base))).format, 'web-eid:1.0');
});

test('format grammar: web-eid:1 and web-eid:1.N only, never a prefix match', () => {
  for (const ok of ['web-eid:1', 'web-eid:1.0', 'web-eid:1.1', 'web-eid:1.10'])
    assert.equal(parseAuthToken(text({ ...base, format: ok })).format, ok, ok);
  for (const bad of [
    'web-eid:10',
    'web-eid:1.',
    'web-eid:1.01',
    'web-eid:1.0.0',
    'web-eid:1.a',
    'WEB-EID:1.0',
    'web-eid:2',
    ' web-eid:1',
  ])
    assert.throws(() => parseAuthToken(text({ ...base, format: bad })), { code: 'ERR_PKI_TOKEN_FORMAT' }, bad);
});

test('duplicate member names are rejected at any depth, and unescaped before comparing', () => {
  const t = text(base);
  assert.throws(() => parseAuthToken(t.replace('{', '{"algorithm":"RS256",')), {
    code: 'ERR_PKI_TOKEN_MALFORMED',
  });
  assert.throws(() => parseAuthToken(t.replace('{', '{"x":{"a":1,"a":2},')), {
    code: 'ERR_PKI_TOKEN_MALFORMED',
  });
  assert.throws(() => parseAuthToken(t.replace('{', '{"x":[{"a":1,"\\u0061":2}],')), {
    code: 'ERR_PKI_TOKEN_MALFORMED',
  });
  // The same name in two different objects, or a name equal to a string value, is fine.
  assert.equal(parseAuthToken(t.replace('{', '{"x":[{"a":1},{"a":2}],"y":"format",')).format, 'web-eid:1.0');
  // Escaped quotes and backslashes inside values do not confuse the scan.
  assert.equal(parseAuthToken(t.replace('{', '{"x":"a\\"b\\\\","y":"\\\\\\"",')).format, 'web-eid:1.0');
});

test('strictBase64 accepts standard padded base64 and refuses every other spelling', () => {
  assert.deepEqual(strictBase64('AAEC', 'f'), new Uint8Array([0, 1, 2]));
  assert.deepEqual(strictBase64('+/8=', 'f'), new Uint8Array([0xfb, 0xff]));
  for (const bad of ['', 'AAE', 'AA==AA==', '-_8=', 'AA E', 'AAEC\n', 'AB==', 'AAE=x', '====']) {
    assert.throws(() => strictBase64(bad, 'f'), { code: 'ERR_PKI_TOKEN_MALFORMED' }, JSON.stringify(bad));
  }
});

test('authSignedData is SHA-256(origin) || SHA-256(challenge text)', () => {
  const h = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  const d = authSignedData('https://ria.ee', '12345678123456781234567812345678912356789123');
  assert.deepEqual(
    Buffer.from(d),
    Buffer.concat([h('https://ria.ee'), h('12345678123456781234567812345678912356789123')]),
  );
});

test('createAuthToken gives the card DigestInfo(SHA-256(signedData)) and builds a parseable web-eid:1.0 token', async () => {
  let given: Uint8Array | undefined;
  const token = await createAuthToken({
    certificate: cert,
    origin: 'https://idp.example.jp',
    challenge: 'A'.repeat(43) + '=',
    sign: async (di) => ((given = di), sig),
  });
  assert.deepEqual(given, sha256DigestInfo(authSignedData('https://idp.example.jp', 'A'.repeat(43) + '=')));
  assert.equal(given!.length, 51);
  assert.equal(Buffer.from(given!.subarray(0, 19)).toString('hex'), '3031300d060960864801650304020105000420');
  assert.equal(token.format, 'web-eid:1.0');
  assert.deepEqual(parseAuthToken(JSON.stringify(token)).signature, sig);
});

test('createAuthToken refuses an origin not in exact form: ERR_PKI_TOKEN_ORIGIN', async () => {
  await assert.rejects(
    createAuthToken({
      certificate: cert,
      origin: 'https://idp.example.jp/',
      challenge: 'x',
      sign: async () => sig,
    }),
    { code: 'ERR_PKI_TOKEN_ORIGIN' },
  );
});
