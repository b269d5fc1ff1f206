/**
 * The error-code registry (fastify's rule): every error class has a code in `RP_ERROR_CODES`, every code has a
 * class, and the README documents every code.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MynaGateError } from '@mynagate/errors';
import * as rp from '../src/index.ts';

const classes = Object.values(rp as Record<string, unknown>).filter(
  (v) => typeof v === 'function' && (v as { prototype: unknown }).prototype instanceof rp.RpError,
);

/** One instance of each class (their constructors take at most a few plain values). */
function instances(): rp.RpError[] {
  return [
    new rp.RpDiscoveryError('x'),
    new rp.RpNetworkError('https://id.example.jp/token'),
    new rp.RpParError('invalid_request'),
    new rp.RpTransactionExpiredError(601),
    new rp.RpStateError(),
    new rp.RpCallbackInvalidError('x'),
    new rp.RpAuthorizationError('access_denied', undefined),
    new rp.RpTokenError('invalid_grant'),
    new rp.RpIdTokenError('x'),
    new rp.RpNonceError(),
    new rp.RpAcrNotMetError(rp.ACR_CARD_SIGN, rp.ACR_CARD_AUTH),
    new rp.RpAmrNotMetError(['hwk'], ['pin']),
    new rp.RpStaleAuthError('x', 1, 60),
    new rp.RpSubjectMismatchError(),
    new rp.RpUserinfoError('x'),
    new rp.RpClaimMissingError('age_over_20'),
    new rp.RpClaimInvalidError('age_over_20', 'a boolean'),
    new rp.RpVerifiedClaimsError('claims', 'is missing'),
  ];
}

describe('error codes', () => {
  it('one class per code: every class is instantiated here and every code has exactly one class', () => {
    const all = instances();
    assert.equal(all.length, classes.length, 'every exported error class is listed in this test');
    assert.deepEqual(all.map((e) => e.code).sort(), Object.keys(rp.RP_ERROR_CODES).sort());
    for (const e of all) {
      assert.ok(e instanceof MynaGateError, `${e.name} is a MynaGateError`);
      assert.match(e.code, /^ERR_RP_[A-Z_]+$/);
    }
  });

  it('ERR_RP_NETWORK names the reason at the bottom of the cause chain (fetch says only "fetch failed")', () => {
    const url = 'https://id.example.jp/.well-known/openid-configuration';
    // undici's shape: TypeError('fetch failed') ← the socket's error, with its OpenSSL or errno code.
    const tls = Object.assign(new Error('self-signed certificate in certificate chain'), {
      code: 'SELF_SIGNED_CERT_IN_CHAIN',
    });
    const e = new rp.RpNetworkError(url, { cause: new TypeError('fetch failed', { cause: tls }) });
    assert.equal(
      e.message,
      `request to ${url} failed: self-signed certificate in certificate chain (SELF_SIGNED_CERT_IN_CHAIN)`,
    );
    assert.equal(e.cause instanceof TypeError && e.cause.cause, tls, 'the chain is kept as it was');
    // A message that already names its code; a code with no message (AggregateError of both loopback addresses).
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
    assert.match(
      new rp.RpNetworkError(url, { cause: refused }).message,
      /failed: connect ECONNREFUSED 127\.0\.0\.1:9$/,
    );
    const both = Object.assign(new AggregateError([refused]), { code: 'ECONNREFUSED' });
    const wrapped = new TypeError('fetch failed', { cause: both });
    assert.match(new rp.RpNetworkError(url, { cause: wrapped }).message, /failed: ECONNREFUSED$/);
    assert.equal(new rp.RpNetworkError(url).message, `request to ${url} failed`);
  });

  it('the README documents every code', async () => {
    const readme = await readFile(join(import.meta.dirname, '..', 'README.md'), 'utf8');
    for (const code of Object.keys(rp.RP_ERROR_CODES))
      assert.ok(readme.includes(`\`${code}\``), `README lists ${code}`);
  });
});
