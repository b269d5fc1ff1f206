/** `createMynaGateClient` options: misuse is a TypeError at construction, before any network. */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { createMynaGateClient, type MynaGateClientOptions } from '../src/index.ts';

const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
const base: MynaGateClientOptions = {
  issuer: 'https://id.example.jp',
  clientId: 'bank',
  privateJwk: { ...ec, kid: 'k1' },
  redirectUri: 'https://bank.example/cb',
};

describe('createMynaGateClient options', () => {
  it('accepts private_key_jwt (EC, RSA, Ed25519) and client_secret_basic, and exposes issuer/client/redirect', () => {
    const c = createMynaGateClient(base);
    assert.equal(c.issuer, 'https://id.example.jp');
    assert.equal(c.clientId, 'bank');
    assert.equal(c.redirectUri, 'https://bank.example/cb');
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
    createMynaGateClient({ ...base, privateJwk: rsa });
    createMynaGateClient({ ...base, privateJwk: { ...rsa, alg: 'RS256' } });
    const ed = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' });
    createMynaGateClient({ ...base, privateJwk: ed });
    const { privateJwk: _, ...noKey } = base;
    createMynaGateClient({ ...noKey, clientSecret: 'secret' });
    createMynaGateClient({ ...base, issuer: 'http://127.0.0.1:3000', allowLoopbackHttp: true });
    createMynaGateClient({ ...base, redirectUri: 'http://localhost:8080/cb' });
  });

  const { privateJwk: _, ...noKey } = base;
  const bad: [string, MynaGateClientOptions][] = [
    ['no options', undefined as never],
    ['a relative issuer', { ...base, issuer: '/id' }],
    ['an http issuer', { ...base, issuer: 'http://id.example.jp' }],
    ['an http loopback issuer without allowLoopbackHttp', { ...base, issuer: 'http://127.0.0.1:3000' }],
    [
      'allowLoopbackHttp for a remote http issuer',
      { ...base, issuer: 'http://id.example.jp', allowLoopbackHttp: true },
    ],
    ['an empty clientId', { ...base, clientId: '' }],
    ['both a secret and a key', { ...base, clientSecret: 'secret' }],
    ['neither a secret nor a key', noKey],
    ['a public JWK', { ...base, privateJwk: { kty: 'EC', crv: 'P-256', x: ec.x!, y: ec.y! } }],
    [
      'a P-384 key',
      { ...base, privateJwk: generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ format: 'jwk' }) },
    ],
    ['an alg that does not fit the key', { ...base, privateJwk: { ...ec, alg: 'RS256' } }],
    ['broken key material', { ...base, privateJwk: { kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA', d: 'AA' } }],
    ['a redirect URI with a query', { ...base, redirectUri: 'https://bank.example/cb?x=1' }],
    ['an http redirect URI off loopback', { ...base, redirectUri: 'http://bank.example/cb' }],
    ['fetch not a function', { ...base, fetch: 'fetch' as never }],
    ['a negative clock tolerance', { ...base, clockToleranceSeconds: -1 }],
    ['a zero transaction TTL', { ...base, transactionTtlSeconds: 0 }],
  ];
  for (const [what, options] of bad) {
    it(`TypeError for ${what}`, () => {
      assert.throws(() => createMynaGateClient(options), TypeError);
    });
  }

  it('TypeError for bad request options, before any network', async () => {
    const c = createMynaGateClient(base);
    await assert.rejects(c.cardLogin({ state: 'short' }), TypeError);
    await assert.rejects(c.stepUp({ maxAgeSeconds: -1 }), TypeError);
    await assert.rejects(c.stepUp({ maxAgeSeconds: 1.5 }), TypeError);
    await assert.rejects(c.identityProofing({ claims: [], purpose: '本人確認' }), TypeError);
    await assert.rejects(c.ageCheck({ over: 21 as never }), TypeError);
    await assert.rejects(c.ageCheck({ over: 20, purpose: 'ab' }), TypeError);
    await assert.rejects(c.ageCheck({ over: 20, purpose: 'x'.repeat(301) }), TypeError);
  });
});
