/**
 * Identity proofing and age checks, unit level: the exact `claims` request JSON, and the strict reading of crafted
 * claim sets (one valid `verified_claims`, then one field mutated per negative case).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ageCheckClaims,
  identityProofingClaims,
  readAgeOver,
  readVerifiedIdentity,
  type IdentityClaimName,
} from '../src/index.ts';

const PURPOSE = '口座開設の本人確認のため';

describe('identityProofingClaims (the request)', () => {
  it('asks verified_claims under jp_aml with electronic_signature evidence, in the ID token and userinfo', () => {
    const element = {
      verification: {
        trust_framework: { value: 'jp_aml' },
        time: null,
        verification_process: null,
        evidence: [
          {
            type: { value: 'electronic_signature' },
            signature_type: null,
            issuer: null,
            serial_number: null,
            created_at: null,
          },
        ],
      },
      claims: {
        name: { essential: true, purpose: PURPOSE },
        address: { essential: true, purpose: PURPOSE },
        birthdate: { essential: true, purpose: PURPOSE },
        gender: { essential: true, purpose: PURPOSE },
      },
    };
    const request = identityProofingClaims(['name', 'address', 'birthdate', 'gender'], PURPOSE);
    assert.deepEqual(JSON.parse(JSON.stringify(request)), {
      id_token: { verified_claims: element },
      userinfo: { verified_claims: element },
    });
  });

  it('asks only the claims named (data minimisation)', () => {
    const request = identityProofingClaims(['birthdate'], PURPOSE) as {
      id_token: { verified_claims: { claims: Record<string, unknown> } };
    };
    assert.deepEqual(Object.keys(request.id_token.verified_claims.claims), ['birthdate']);
  });

  it('TypeError for an empty, repeated or unknown claim list and for a purpose outside 3–300 characters', () => {
    assert.throws(() => identityProofingClaims([], PURPOSE), TypeError);
    assert.throws(() => identityProofingClaims(['name', 'name'], PURPOSE), TypeError);
    assert.throws(() => identityProofingClaims(['email' as IdentityClaimName], PURPOSE), TypeError);
    assert.throws(() => identityProofingClaims(['name'], 'ab'), TypeError);
    assert.throws(() => identityProofingClaims(['name'], 'x'.repeat(301)), TypeError);
  });
});

/** A valid `verified_claims` as a provider would put it in the ID token (fake person). */
function valid(): Record<string, unknown> {
  return {
    verification: {
      trust_framework: 'jp_aml',
      time: '2025-01-15T01:23:45Z',
      verification_process: 'audit-7f3a',
      evidence: [
        {
          type: 'electronic_signature',
          signature_type: 'https://mynagate.example/ida/signature_type/jpki_sign',
          issuer: 'CN=TEST JPKI Sign CA,O=TEST,C=JP',
          serial_number: '1a2b3c',
          created_at: '2025-01-15T01:23Z',
        },
      ],
    },
    claims: {
      name: '試験　花子',
      address: { formatted: '東京都千代田区千代田1-1' },
      birthdate: '1990-01-02',
      gender: 'female',
    },
  };
}

const ALL: IdentityClaimName[] = ['name', 'address', 'birthdate', 'gender'];

/** `valid()` with `mutate` applied. */
function mutated(mutate: (v: any) => void): Record<string, unknown> {
  const v = valid();
  mutate(v);
  return v;
}

describe('readVerifiedIdentity (the answer)', () => {
  it('reads a valid jp_aml / electronic_signature answer into a VerifiedIdentity', () => {
    const identity = readVerifiedIdentity(valid(), ALL);
    assert.deepEqual(JSON.parse(JSON.stringify(identity)), {
      trustFramework: 'jp_aml',
      evidence: {
        type: 'electronic_signature',
        signature_type: 'https://mynagate.example/ida/signature_type/jpki_sign',
        issuer: 'CN=TEST JPKI Sign CA,O=TEST,C=JP',
        serial_number: '1a2b3c',
        created_at: '2025-01-15T01:23Z',
      },
      verifiedAt: '2025-01-15T01:23:45Z',
      verificationProcess: 'audit-7f3a',
      claims: {
        name: '試験　花子',
        address: { formatted: '東京都千代田区千代田1-1' },
        birthdate: '1990-01-02',
        gender: 'female',
      },
    });
    assert.ok(Object.isFrozen(identity) && Object.isFrozen(identity.evidence));
  });

  it('returns only the requested claims even when the provider sends more', () => {
    const identity = readVerifiedIdentity(valid(), ['birthdate']);
    assert.deepEqual(Object.keys(identity.claims), ['birthdate']);
  });

  it('accepts the array form and picks the jp_aml element', () => {
    const other = mutated((v) => (v.verification.trust_framework = 'de_aml'));
    const identity = readVerifiedIdentity([other, valid()], ALL);
    assert.equal(identity.trustFramework, 'jp_aml');
  });

  it('accepts evidence without created_at (OPTIONAL in OIDC4IDA)', () => {
    const identity = readVerifiedIdentity(
      mutated((v) => delete v.verification.evidence[0].created_at),
      ALL,
    );
    assert.equal(identity.evidence.created_at, undefined);
  });

  const negatives: [string, unknown, string][] = [
    ['verified_claims missing', undefined, ''],
    ['verified_claims not an object', 'jp_aml', ''],
    [
      'wrong trust framework',
      mutated((v) => (v.verification.trust_framework = 'de_aml')),
      'verification.trust_framework',
    ],
    [
      'trust framework in request form',
      mutated((v) => (v.verification.trust_framework = { value: 'jp_aml' })),
      'verification.trust_framework',
    ],
    [
      'array form without jp_aml',
      [mutated((v) => (v.verification.trust_framework = 'eidas'))],
      'verification.trust_framework',
    ],
    ['no verification', mutated((v) => delete v.verification), 'verification'],
    ['no verification time', mutated((v) => delete v.verification.time), 'verification.time'],
    ['verification time not a date-time', mutated((v) => (v.verification.time = 'yesterday')), 'verification.time'],
    ['missing evidence', mutated((v) => delete v.verification.evidence), 'verification.evidence'],
    ['empty evidence', mutated((v) => (v.verification.evidence = [])), 'verification.evidence'],
    [
      'evidence of another type',
      mutated((v) => (v.verification.evidence[0].type = 'document')),
      'verification.evidence',
    ],
    [
      'evidence without issuer',
      mutated((v) => delete v.verification.evidence[0].issuer),
      'verification.evidence[0].issuer',
    ],
    [
      'evidence without serial_number',
      mutated((v) => (v.verification.evidence[0].serial_number = '')),
      'verification.evidence[0].serial_number',
    ],
    [
      'evidence without signature_type',
      mutated((v) => delete v.verification.evidence[0].signature_type),
      'verification.evidence[0].signature_type',
    ],
    [
      'created_at not a date-time',
      mutated((v) => (v.verification.evidence[0].created_at = 123)),
      'verification.evidence[0].created_at',
    ],
    ['no claims', mutated((v) => delete v.claims), 'claims'],
    ['a requested claim missing', mutated((v) => delete v.claims.address), 'claims.address'],
    ['name not a string', mutated((v) => (v.claims.name = ['試験'])), 'claims.name'],
    ['birthdate not YYYY-MM-DD', mutated((v) => (v.claims.birthdate = '1990-13-02')), 'claims.birthdate'],
    ['address not an object', mutated((v) => (v.claims.address = '東京都')), 'claims.address'],
    ['address without members', mutated((v) => (v.claims.address = { country_code: 'JP' })), 'claims.address'],
  ];
  for (const [what, value, path] of negatives) {
    it(`ERR_RP_VERIFIED_CLAIMS at "${path}" for ${what}`, () => {
      assert.throws(() => readVerifiedIdentity(value, ALL), { code: 'ERR_RP_VERIFIED_CLAIMS', path });
    });
  }

  it('never puts claim values in the error message', () => {
    try {
      readVerifiedIdentity(
        mutated((v) => (v.claims.birthdate = '1990/01/02')),
        ALL,
      );
      assert.fail('must throw');
    } catch (e) {
      assert.doesNotMatch((e as Error).message, /1990/);
    }
  });
});

describe('age checks', () => {
  it('ageCheckClaims asks only age_over_N, essential, in the ID token and userinfo', () => {
    assert.deepEqual(ageCheckClaims(20), {
      id_token: { age_over_20: { essential: true } },
      userinfo: { age_over_20: { essential: true } },
    });
    assert.deepEqual(ageCheckClaims(18), {
      id_token: { age_over_18: { essential: true } },
      userinfo: { age_over_18: { essential: true } },
    });
    assert.throws(() => ageCheckClaims(21 as never), TypeError);
  });

  it('readAgeOver reads true and false', () => {
    assert.deepEqual(readAgeOver({ age_over_20: true }, 20), { over: 20, satisfied: true });
    assert.deepEqual(readAgeOver({ age_over_18: false, age_over_20: true }, 18), { over: 18, satisfied: false });
  });

  it('ERR_RP_CLAIM_MISSING when the claim is absent (never read as false)', () => {
    assert.throws(() => readAgeOver({ age_over_18: true }, 20), { code: 'ERR_RP_CLAIM_MISSING', claim: 'age_over_20' });
    assert.throws(() => readAgeOver({ age_over_20: null }, 20), { code: 'ERR_RP_CLAIM_MISSING' });
  });

  it('ERR_RP_CLAIM_INVALID when the claim is not a boolean', () => {
    assert.throws(() => readAgeOver({ age_over_20: 'true' }, 20), {
      code: 'ERR_RP_CLAIM_INVALID',
      claim: 'age_over_20',
    });
  });
});
