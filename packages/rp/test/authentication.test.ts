/**
 * The checks `complete` runs on a validated ID token, on crafted claim sets with a frozen clock: acr rank, card amr,
 * auth_time against max_age and against a demanded fresh login. One valid case, one mutation per negative.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { acrMeets, ACR_CARD_AUTH, ACR_CARD_SIGN } from '../src/acr.ts';
import { checkAuthentication } from '../src/authentication.ts';
import { loginIsFresh } from '../src/gate.ts';
import type { Transaction } from '../src/transaction.ts';

const NOW = Date.UTC(2025, 0, 15, 1, 0, 0); // frozen
const clock = { now: NOW, toleranceSeconds: 5 };
const T = NOW / 1000;

const login: Transaction = Object.freeze({
  v: 1,
  kind: 'login',
  clientId: 'bank',
  state: 's'.repeat(20),
  nonce: 'n',
  codeVerifier: 'c',
  acr: ACR_CARD_AUTH,
  createdAt: NOW - 30_000,
});
const stepUp: Transaction = Object.freeze({ ...login, kind: 'step-up', maxAge: 300, prompt: 'login' });
const claims = Object.freeze({ sub: 'x', acr: ACR_CARD_AUTH, amr: ['hwk', 'pin', 'sc'], auth_time: T - 10 });

describe('acr, amr and auth_time checks', () => {
  it('accepts a card login that meets the request', () => {
    checkAuthentication(login, claims, clock);
    checkAuthentication(stepUp, claims, clock);
  });

  it('ranks card-sign above card-auth, and unknown acr below everything', () => {
    assert.equal(acrMeets(ACR_CARD_SIGN, ACR_CARD_AUTH), true);
    assert.equal(acrMeets(ACR_CARD_AUTH, ACR_CARD_SIGN), false);
    assert.equal(acrMeets('urn:example:password', ACR_CARD_AUTH), false);
    assert.equal(acrMeets(undefined, ACR_CARD_AUTH), false);
    checkAuthentication(login, { ...claims, acr: ACR_CARD_SIGN, amr: ['hwk', 'pwd', 'sc'] }, clock);
  });

  it('ERR_RP_ACR_NOT_MET for a lower, unknown or missing acr', () => {
    const sign = { ...login, acr: ACR_CARD_SIGN };
    assert.throws(() => checkAuthentication(sign, claims, clock), {
      code: 'ERR_RP_ACR_NOT_MET',
      actual: ACR_CARD_AUTH,
    });
    assert.throws(() => checkAuthentication(login, { ...claims, acr: '0' }, clock), { code: 'ERR_RP_ACR_NOT_MET' });
    const { acr: _, ...noAcr } = claims;
    assert.throws(() => checkAuthentication(login, noAcr, clock), { code: 'ERR_RP_ACR_NOT_MET', actual: undefined });
  });

  it('ERR_RP_AMR_NOT_MET when hwk, sc or the knowledge factor is missing', () => {
    assert.throws(() => checkAuthentication(login, { ...claims, amr: ['pin', 'sc'] }, clock), {
      code: 'ERR_RP_AMR_NOT_MET',
      missing: ['hwk'],
    });
    assert.throws(() => checkAuthentication(login, { ...claims, amr: ['hwk', 'sc'] }, clock), {
      code: 'ERR_RP_AMR_NOT_MET',
      missing: ['pin|pwd'],
    });
    assert.throws(() => checkAuthentication(login, { ...claims, amr: 'hwk pin sc' }, clock), {
      code: 'ERR_RP_AMR_NOT_MET',
    });
  });

  it('ERR_RP_STALE_AUTH when auth_time is missing', () => {
    const { auth_time: _, ...noTime } = claims;
    assert.throws(() => checkAuthentication(login, noTime, clock), { code: 'ERR_RP_STALE_AUTH', authTime: undefined });
  });

  it('ERR_RP_STALE_AUTH when auth_time is older than max_age (beyond the tolerance only)', () => {
    const t = { ...login, maxAge: 60 };
    checkAuthentication(t, { ...claims, auth_time: T - 64 }, clock); // within 5 s tolerance
    assert.throws(() => checkAuthentication(t, { ...claims, auth_time: T - 66 }, clock), {
      code: 'ERR_RP_STALE_AUTH',
      maxAgeSeconds: 60,
      authTime: T - 66,
    });
  });

  it('a route demanding a login at most N s old counts the age in whole seconds, as auth_time is', () => {
    // auth_time T covers a login anywhere in [T, T+1): at T+1.999 s it is 1 s old, at T+2.000 s 2 s old.
    assert.equal(loginIsFresh(T, (T + 1) * 1000 + 999, 1, 0), true);
    assert.equal(loginIsFresh(T, (T + 2) * 1000, 1, 0), false);
    assert.equal(loginIsFresh(T, T * 1000 + 999, 0, 0), true);
    assert.equal(loginIsFresh(T, (T + 1) * 1000, 0, 0), false);
  });

  it('and allows the clock tolerance, as complete does for max_age', () => {
    assert.equal(loginIsFresh(T, (T + 35) * 1000 + 999, 30, 5), true);
    assert.equal(loginIsFresh(T, (T + 36) * 1000, 30, 5), false);
  });

  it('ERR_RP_STALE_AUTH when a fresh login was demanded but auth_time precedes the request', () => {
    const fresh = { ...login, prompt: 'login' as const, createdAt: NOW - 1000 };
    checkAuthentication(fresh, { ...claims, auth_time: T - 5 }, clock); // 4 s before the request: tolerated
    assert.throws(() => checkAuthentication(fresh, { ...claims, auth_time: T - 7 }, clock), {
      code: 'ERR_RP_STALE_AUTH',
    });
  });
});
