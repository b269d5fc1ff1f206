/**
 * Checking an OCSP response (RFC 6960 §3.2 and §4.2) for one request. The whole response is first read as strict
 * DER (`parse.ts`), then checked in the order that never interprets unauthenticated content: status and type,
 * responder authorisation, signature, critical extensions, nonce, the one SingleResponse and its CertID, freshness,
 * then the certificate status.
 */
import { createHash, verify } from 'node:crypto';
import { CertificateInvalidError, RevocationUnknownError } from '../errors.ts';
import { EXT, parseCertificate, signatureHashOf } from '../certificate.ts';
import type { ParsedCertificate } from '../certificate.ts';
import { DerError, equal } from '../der.ts';
import type { KeyCache } from '../keys.ts';
import { signedBy } from '../keys.ts';
import { MIN_RSA_MODULUS_BITS, strongRsaKey } from '../path/checks.ts';
import { CRL_REASONS } from '../revocation.ts';
import type { RevocationStatus } from '../revocation.ts';
import { oidText, parseCertId, parseOcspResponse } from './parse.ts';
import type { BasicResponseFields, CertIdFields, OcspExtension, OcspResponseFields } from './parse.ts';

/** What a response is checked against. */
export interface OcspCheck {
  /** The issuing CA of the certificate asked about (an anchor). */
  readonly issuer: ParsedCertificate;
  /** DER CertID sent. */
  readonly certId: Uint8Array;
  /** Nonce extnValue sent, or `null` when none was sent. */
  readonly nonce: Uint8Array | null;
  /** ms since the epoch. */
  readonly now: number;
  /** Tolerated clock difference (thisUpdate in the future, nextUpdate in the past). */
  readonly skewMs: number;
  /** Oldest acceptable thisUpdate, relative to now. */
  readonly maxAgeMs: number;
  readonly keys: KeyCache;
}

/** A checked answer. `nextUpdate` is when it may no longer be served from a cache. */
export type OcspAnswer = RevocationStatus & {
  readonly thisUpdate: Date;
  readonly nextUpdate?: Date;
};

const err = (code: string, detail: string, message: string, cause?: unknown): never => {
  throw new RevocationUnknownError(code, detail, 'ocsp', message, cause === undefined ? undefined : { cause });
};

/**
 * Checks `der` (an OCSPResponse) against the request it answers. The whole response must be strict DER of the
 * RFC 6960 syntax (`parse.ts`), not only its signed part: a response is parsed once and then cached, so reading it
 * strictly costs nothing per login.
 *
 * A delegated responder (RFC 6960 §4.2.2.2) must be certified by the issuing CA with id-kp-OCSPSigning and
 * id-pkix-ocsp-nocheck, be valid now and not a CA, hold an RSA key of 2048 bits or more, allow digitalSignature if
 * it has a keyUsage, and carry no critical extension but those; anything else is `ERR_PKI_OCSP_RESPONDER`.
 *
 * @throws RevocationUnknownError `ERR_PKI_OCSP_MALFORMED`, `ERR_PKI_OCSP_STATUS`, `ERR_PKI_OCSP_RESPONDER`,
 *   `ERR_PKI_OCSP_SIGNATURE`, `ERR_PKI_OCSP_UNKNOWN_CRITICAL_EXTENSION`, `ERR_PKI_OCSP_NONCE`,
 *   `ERR_PKI_OCSP_RESPONSE_COUNT`, `ERR_PKI_OCSP_CERT_ID`, `ERR_PKI_REVOCATION_UNKNOWN` (detail `future` or `stale`)
 */
export function checkOcspResponse(der: Uint8Array, check: OcspCheck): OcspAnswer {
  // NaN would make every freshness comparison below false: nothing would ever be stale.
  if (!Number.isFinite(check.now)) throw new TypeError('now must be a finite time (epoch ms)');
  const asked = ourCertId(check.certId);
  let outer: OcspResponseFields;
  try {
    outer = parseOcspResponse(der);
  } catch (e) {
    if (!(e instanceof DerError)) throw e;
    return err('ERR_PKI_OCSP_MALFORMED', 'malformed', `OCSP response is not strict DER: ${e.message}`, e);
  }
  // RFC 6960 §4.2.1: only `successful` carries responseBytes; tryLater, unauthorized etc. give no answer.
  if (outer.status !== SUCCESSFUL)
    err('ERR_PKI_OCSP_STATUS', String(outer.status), 'OCSP responseStatus is not successful');
  const basic = outer.basic;
  if (!basic) return err('ERR_PKI_OCSP_MALFORMED', 'malformed', 'OCSP response is not id-pkix-ocsp-basic');
  let certs: ParsedCertificate[];
  try {
    certs = basic.certs.map(parseCertificate);
  } catch (e) {
    if (!(e instanceof CertificateInvalidError)) throw e;
    return err('ERR_PKI_OCSP_MALFORMED', 'malformed', 'BasicOCSPResponse carries a malformed certificate', e);
  }

  // RFC 6960 §4.2.2.2: the signer is the CA that issued the certificate, or a delegate that CA issued with
  // id-kp-OCSPSigning (and id-pkix-ocsp-nocheck, see DELEGATE_RULES). A responder certified by any other CA (even a
  // trusted one) is not authorised.
  const signer = authorisedSigner(basic, certs, check);
  const hash = signatureHashOf(basic.signatureAlgorithm);
  if (!hash) return err('ERR_PKI_OCSP_SIGNATURE', 'algorithm', 'OCSP signature algorithm not allowed');
  let ok = false;
  try {
    ok = verify(hash, basic.tbs, check.keys.get(signer.spki), basic.signature);
  } catch {
    ok = false;
  }
  if (!ok) err('ERR_PKI_OCSP_SIGNATURE', 'signature', 'OCSP response signature does not verify');

  // RFC 6960 §4.4: "Unrecognized extensions MUST be ignored (unless they have the critical flag set and are not
  // understood)"; RFC 5280 §4.2 likewise. The nonce is the one extension processed; none of a SingleResponse is.
  for (const x of basic.extensions) if (x.critical && !equal(x.id, ID_PKIX_OCSP_NONCE)) unknownCritical(x);
  for (const single of basic.responses) for (const x of single.extensions) if (x.critical) unknownCritical(x);

  // RFC 8954 §2.1 / RFC 6960 §4.4.1: the response must echo our nonce, else it may be a replay.
  if (check.nonce) {
    const ext = basic.extensions.find((x) => equal(x.id, ID_PKIX_OCSP_NONCE));
    if (!ext || !equal(ext.value, check.nonce)) err('ERR_PKI_OCSP_NONCE', 'nonce', 'OCSP nonce missing or different');
  }

  // We asked about one certificate: exactly one answer, about that certificate (RFC 6960 §4.2.2.3 / Web eID).
  if (basic.responses.length !== 1) err('ERR_PKI_OCSP_RESPONSE_COUNT', 'count', 'expected exactly one SingleResponse');
  const single = basic.responses[0]!;
  if (!sameCertId(single.certId, asked))
    err('ERR_PKI_OCSP_CERT_ID', 'certId', 'SingleResponse is about another certificate');

  // RFC 6960 §3.2 (5)-(6), §4.2.2.1: thisUpdate sufficiently recent and not in the future; nextUpdate not passed.
  const { thisUpdate, nextUpdate } = single;
  if (thisUpdate > check.now + check.skewMs)
    err('ERR_PKI_REVOCATION_UNKNOWN', 'future', 'OCSP thisUpdate in the future');
  if (check.now - thisUpdate > check.maxAgeMs) err('ERR_PKI_REVOCATION_UNKNOWN', 'stale', 'OCSP thisUpdate too old');
  if (nextUpdate !== undefined) {
    if (nextUpdate < thisUpdate) err('ERR_PKI_OCSP_MALFORMED', 'malformed', 'OCSP nextUpdate before thisUpdate');
    if (nextUpdate < check.now - check.skewMs) err('ERR_PKI_REVOCATION_UNKNOWN', 'stale', 'OCSP nextUpdate passed');
  }

  const times = {
    thisUpdate: new Date(thisUpdate),
    ...(nextUpdate === undefined ? {} : { nextUpdate: new Date(nextUpdate) }),
  };
  if (single.status === 'revoked') {
    return Object.freeze({
      status: 'revoked',
      source: 'ocsp',
      revokedAt: new Date(single.revokedAt!),
      reason: single.reason === undefined ? 'unspecified' : CRL_REASONS[single.reason]!,
      ...times,
    });
  }
  return Object.freeze({ status: single.status, source: 'ocsp', ...times });
}

const SUCCESSFUL = 0;
// id-pkix-ocsp-nonce 1.3.6.1.5.5.7.48.1.2 (RFC 8954), content octets.
const ID_PKIX_OCSP_NONCE = Uint8Array.of(0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02);
// id-kp-OCSPSigning (RFC 6960 §4.2.2.2).
const ID_KP_OCSP_SIGNING = '1.3.6.1.5.5.7.3.9';

/** The CertID we sent is ours: one that does not parse is a programming error, not the responder's. */
function ourCertId(der: Uint8Array): CertIdFields {
  try {
    return parseCertId(der);
  } catch (e) {
    if (e instanceof DerError) throw new TypeError('certId must be a DER CertID', { cause: e });
    throw e;
  }
}

function unknownCritical(x: OcspExtension): never {
  return err(
    'ERR_PKI_OCSP_UNKNOWN_CRITICAL_EXTENSION',
    'critical_extension',
    `OCSP response carries an unknown critical extension ${oidText(x.id)}`,
  );
}

function authorisedSigner(basic: BasicResponseFields, certs: ParsedCertificate[], check: OcspCheck): ParsedCertificate {
  // The ResponderID is compared as sent: byName with the subject's DER (both are strict DER, so equal names are
  // equal bytes), byKey with SHA-1 of the responder's subjectPublicKey bits (RFC 6960 §4.2.1).
  const byName = basic.responderName;
  const byKey = basic.responderKeyHash;
  const matches = (c: ParsedCertificate) =>
    (byName !== undefined && equal(byName, c.subject)) ||
    (byKey !== undefined && equal(byKey, createHash('sha1').update(c.publicKeyBits).digest()));

  const ca = check.issuer;
  // The CA itself signs (§4.2.2.2 first case): the signature is then checked with the key we pinned, so a
  // look-alike with the CA's name fails at the signature.
  if (matches(ca)) return ca;
  const delegate = certs.find(matches);
  if (!delegate) return err('ERR_PKI_OCSP_RESPONDER', 'responder', 'OCSP responder certificate not found');
  for (const rule of DELEGATE_RULES) rule.run(delegate, check);
  return delegate;
}

/** One rule a delegated responder's certificate must meet; `run` refuses it with `ERR_PKI_OCSP_RESPONDER`. */
interface DelegateRule {
  /** Where the rule comes from. */
  readonly rule: string;
  run(delegate: ParsedCertificate, check: OcspCheck): void;
}

const notAuthorised = (why: string): never =>
  err('ERR_PKI_OCSP_RESPONDER', 'responder', `OCSP responder is not authorised by the issuing CA: ${why}`);

/**
 * Critical extensions understood on a delegate: the constraints below read basicConstraints, keyUsage, extKeyUsage
 * and id-pkix-ocsp-nocheck (normally non-critical, RFC 6960 §4.2.2.2.1). Any other critical one refuses it.
 */
const DELEGATE_CRITICAL: ReadonlySet<string> = new Set([
  EXT.basicConstraints,
  EXT.keyUsage,
  EXT.extKeyUsage,
  EXT.ocspNoCheck,
]);

// id-pkix-ocsp-nocheck's extnValue is NULL (RFC 6960 §4.2.2.2.1).
const DER_NULL = Uint8Array.of(0x05, 0x00);

/**
 * A delegated responder certificate (RFC 6960 §4.2.2.2 second case), in order: first that the issuing CA issued it,
 * then that it may sign responses. The order fixes which message a certificate with several faults gets.
 */
const DELEGATE_RULES: readonly DelegateRule[] = Object.freeze([
  {
    rule: 'RFC 6960 §4.2.2.2, RFC 5280 §6.1.3 (a)(4): issued by the CA that issued the certificate (name, DER-exact)',
    run(d, check) {
      if (!equal(d.issuer, check.issuer.subject)) notAuthorised('its issuer is not the issuing CA');
    },
  },
  {
    rule: 'RFC 5280 §6.1.3 (a)(1): its signature verifies with the issuing CA key we pinned',
    run(d, check) {
      if (!signedBy(d, check.keys.get(check.issuer.spki)))
        notAuthorised('its signature does not verify with the issuing CA key');
    },
  },
  {
    rule: 'RFC 5280 §6.1.3 (a)(2): now is within notBefore..notAfter (± the skew)',
    run(d, check) {
      if (check.now < d.notBefore - check.skewMs || check.now > d.notAfter + check.skewMs)
        notAuthorised('its certificate is not valid now');
    },
  },
  {
    rule: 'RFC 6960 §4.2.2.2: extendedKeyUsage carries id-kp-OCSPSigning',
    run(d) {
      if (!(d.extendedKeyUsage?.includes(ID_KP_OCSP_SIGNING) ?? false))
        notAuthorised('its extendedKeyUsage lacks id-kp-OCSPSigning');
    },
  },
  {
    rule: 'RFC 6960 §4.2.2.2: a responder the CA delegated to is an end entity, not a CA',
    run(d) {
      if (d.isCa) notAuthorised('it is a CA certificate');
    },
  },
  {
    rule: 'RFC 5280 §4.2 and §6.1.4 (o): an unrecognised critical extension rejects the certificate',
    run(d) {
      for (const id of d.criticalExtensions)
        if (!DELEGATE_CRITICAL.has(id)) notAuthorised(`its certificate carries an unknown critical extension ${id}`);
    },
  },
  {
    rule: 'RFC 5280 §4.2.1.3: a keyUsage, when present, allows digitalSignature (a response is signed with the key)',
    run(d) {
      if (d.keyUsage && !d.keyUsage.digitalSignature) notAuthorised('its keyUsage lacks digitalSignature');
    },
  },
  {
    rule: 'spec §8.2/§8.3, as for the certificates it vouches for: the key is RSA of at least 2048 bits',
    run(d) {
      if (!strongRsaKey(d)) notAuthorised(`its key is not RSA-${MIN_RSA_MODULUS_BITS} or larger`);
    },
  },
  {
    // §4.2.2.2.1 leaves the CA three ways to let a client trust the responder's own status: nocheck, a CRL, or the
    // AIA OCSP of the responder certificate. We check neither a delegate's CRL nor its OCSP, so the CA must say
    // explicitly that none is needed.
    rule: 'RFC 6960 §4.2.2.2.1: id-pkix-ocsp-nocheck (value NULL), as the responder status is not checked',
    run(d) {
      const x = d.extensions.get(EXT.ocspNoCheck);
      if (!x) notAuthorised('its certificate lacks id-pkix-ocsp-nocheck, and its own status cannot be checked');
      else if (!equal(x.value, DER_NULL)) notAuthorised('its id-pkix-ocsp-nocheck is not NULL');
    },
  },
]);

/**
 * CertID equality by field (RFC 6960 §4.1.1): absent and NULL hash parameters are the same (encoders differ), the
 * rest are compared as bytes (serialNumber is minimal DER on both sides).
 */
function sameCertId(a: CertIdFields, b: CertIdFields): boolean {
  return (
    equal(a.hashAlgorithm, b.hashAlgorithm) &&
    (a.hashParameters === undefined
      ? b.hashParameters === undefined
      : b.hashParameters !== undefined && equal(a.hashParameters, b.hashParameters)) &&
    equal(a.issuerNameHash, b.issuerNameHash) &&
    equal(a.issuerKeyHash, b.issuerKeyHash) &&
    equal(a.serialNumber, b.serialNumber)
  );
}
