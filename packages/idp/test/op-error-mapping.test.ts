/**
 * Which `ERR_PKI_*` refusal blames whom. A refusal caused by how the service is set up (a statement it built that
 * cannot be signed, its trust anchors out of date, its own origin) must say so and send the person to the service,
 * not tell them their certificate cannot be used; an OCSP response or CRL that cannot be trusted is "status could not
 * be checked", not the card's fault. Every code of `PKI_ERROR_CODES` is decided here, so a new one needs a decision.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MynaGateError } from '@mynagate/errors';
import {
  CertificateInvalidError,
  checkOrigin,
  PKI_ERROR_CODES,
  RevocationUnknownError,
  statementBytes,
  type Statement,
} from '@mynagate/pki';
import { toHttpError } from '../src/http-errors.ts';

const CERT_REJECTED_JA = 'この電子証明書ではログインできません。';

/** The error `fn` throws. */
function thrown(fn: () => unknown): MynaGateError {
  try {
    fn();
  } catch (e) {
    return e as MynaGateError;
  }
  assert.fail('expected a throw');
}

/** The codes of the service's own setup: the answer says so, in both languages, and points to the service. */
const SERVICE_SETUP = [
  'ERR_PKI_STATEMENT_MALFORMED',
  'ERR_PKI_ANCHOR_EXPIRED',
  'ERR_PKI_ANCHOR_NOT_YET_VALID',
  'ERR_PKI_TOKEN_ORIGIN',
  // A configured CRL file that cannot be loaded (at start, never at a login).
  'ERR_PKI_CRL_FILE',
];

/** The codes of a revocation source's answer that cannot be trusted (or none): "status could not be checked". */
const STATUS_SOURCE = Object.keys(PKI_ERROR_CODES).filter(
  (c) =>
    !SERVICE_SETUP.includes(c) &&
    (c.startsWith('ERR_PKI_OCSP_') || c.startsWith('ERR_PKI_CRL_') || c === 'ERR_PKI_REVOCATION_UNKNOWN'),
);

/** The codes where the certificate itself is refused: "this certificate cannot be used to log in" is right. */
const CERTIFICATE_FAULT = [
  'ERR_PKI_CERT_MALFORMED',
  'ERR_PKI_UNTRUSTED_ISSUER',
  'ERR_PKI_BAD_SIGNATURE',
  'ERR_PKI_ISSUER_NOT_CA',
  'ERR_PKI_CERT_NOT_YET_VALID',
  'ERR_PKI_UNKNOWN_CRITICAL_EXTENSION',
  'ERR_PKI_KEY_USAGE',
  'ERR_PKI_EKU',
  'ERR_PKI_POLICY',
];

function assertServiceSetup(e: MynaGateError): void {
  const { status, body } = toHttpError(e);
  assert.equal(status, 500, e.code);
  assert.equal(body.error, e.code, 'the code is kept for the operator');
  assert.match(body.message.ja, /サービスの設定に問題がある/, e.code);
  assert.match(body.message.ja, /運営者にお問い合わせください/, e.code);
  assert.match(body.message.en, /not set up correctly/, e.code);
  assert.match(body.message.en, /contact the service/, e.code);
  assert.doesNotMatch(`${body.message.ja} ${body.message.en}`, /証明書|certificate|card|カード/i, e.code);
}

describe('errors of the service setup', () => {
  it('a statement whose client origin cannot be signed (ERR_PKI_STATEMENT_MALFORMED) is the service, 500', () => {
    const statement: Statement = {
      client: { name: 'Example Bank', origin: 'http://bank.example' },
      purpose: '口座開設の本人確認',
      time: '2025-04-01T00:00:00Z',
      nonce: 'n'.repeat(22),
    };
    const e = thrown(() => statementBytes(statement));
    assert.equal(e.code, 'ERR_PKI_STATEMENT_MALFORMED');
    assertServiceSetup(e);
  });

  it("the provider's own origin not one a card token can be bound to (ERR_PKI_TOKEN_ORIGIN) is the service, 500", () => {
    const e = thrown(() => checkOrigin('http://idp.example'));
    assert.equal(e.code, 'ERR_PKI_TOKEN_ORIGIN');
    assertServiceSetup(e);
  });

  it("a trust anchor out of its validity (ERR_PKI_ANCHOR_EXPIRED, ERR_PKI_ANCHOR_NOT_YET_VALID) is the service's", () => {
    for (const code of ['ERR_PKI_ANCHOR_EXPIRED', 'ERR_PKI_ANCHOR_NOT_YET_VALID']) {
      assertServiceSetup(new CertificateInvalidError(code, 'anchorValidity', 'trust anchor not valid now'));
    }
  });
});

describe('errors of the revocation source', () => {
  it('every OCSP and CRL code is "status could not be checked" (503), never the card refused', () => {
    assert.ok(STATUS_SOURCE.length >= 18, STATUS_SOURCE.join());
    for (const code of STATUS_SOURCE) {
      const { status, body } = toHttpError(new RevocationUnknownError(code, 'signature', 'ocsp', 'x'));
      assert.equal(status, 503, code);
      assert.match(body.message.ja, /有効性を確認できませんでした/, code);
      assert.match(body.message.en, /status could not be checked/, code);
    }
  });
});

describe('eKYC errors say what happened at the signing step', () => {
  it('a statement signature that does not verify is 400 "could not be verified", not the certificate', () => {
    const { status, body } = toHttpError(new MynaGateError('ERR_PKI_STATEMENT_SIGNATURE', 'x'));
    assert.equal(status, 400);
    assert.match(body.message.ja, /署名を確認できませんでした/);
    assert.match(body.message.en, /signature could not be verified/);
  });

  it('a signing certificate without a readable identity does not speak of logging in', () => {
    const { status, body } = toHttpError(new MynaGateError('ERR_PKI_IDENTITY_MALFORMED', 'x'));
    assert.equal(status, 403);
    assert.match(body.message.ja, /本人確認の情報を読み取れませんでした/);
    assert.doesNotMatch(body.message.en, /log in/);
  });
});

describe('every ERR_PKI_* code has a decided wording', () => {
  it('only the certificate-fault codes say "this certificate cannot be used to log in"', () => {
    for (const code of Object.keys(PKI_ERROR_CODES)) {
      const { body } = toHttpError(new MynaGateError(code, 'secret detail 1234'));
      assert.equal(body.error, code);
      assert.equal(JSON.stringify(body).includes('secret detail'), false, code);
      assert.equal(body.message.ja === CERT_REJECTED_JA, CERTIFICATE_FAULT.includes(code), code);
    }
  });

  it('only the service-setup codes are 500', () => {
    for (const code of Object.keys(PKI_ERROR_CODES)) {
      assert.equal(toHttpError(new MynaGateError(code, 'x')).status === 500, SERVICE_SETUP.includes(code), code);
    }
  });
});
