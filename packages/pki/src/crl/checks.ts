/**
 * The CRL validity checks, one rule each, in the order `loadCrl` runs them. Each throws exactly one error class.
 */
import { verify } from 'node:crypto';
import {
  CrlBadSignatureError,
  CrlExpiredError,
  CrlIssuerNotCrlSignerError,
  CrlMalformedError,
  CrlNotYetValidError,
  CrlUnsupportedError,
  CrlWrongIssuerError,
} from './errors.ts';
import { oidToString } from './der.ts';
import { KU_CRL_SIGN, type CrlIssuer } from './issuer.ts';
import type { CrlLayout } from './layout.ts';

/** A hash name node:crypto accepts for RSA PKCS #1 v1.5 signatures. */
export type CrlHash = 'sha256' | 'sha384' | 'sha512';

// pkcs-1 arc 1.2.840.113549.1.1 (content octets); the last octet picks the algorithm (RFC 4055 §5).
const PKCS1 = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01];
const HASH_BY_ID: Record<number, CrlHash> = {
  0x0b: 'sha256',
  0x0c: 'sha384',
  0x0d: 'sha512',
};

/**
 * RFC 5280 §5.1.2.1: version MUST be v2 (integer 1) when the CRL has extensions, and the JPKI CRLs carry
 * cRLNumber, so v1 CRLs are refused.
 *
 * @throws {CrlUnsupportedError} `ERR_PKI_CRL_UNSUPPORTED` (detail `version`).
 */
export function checkVersion(layout: CrlLayout): void {
  if (layout.version !== 1) throw new CrlUnsupportedError('version');
}

/**
 * RFC 5280 §5.1.1.2: signatureAlgorithm MUST equal tbsCertList.signature, compared byte for byte. Only
 * sha256/384/512WithRSAEncryption are accepted (JPKI signs with sha256WithRSAEncryption, spec §8); RFC 4055 §5
 * says parameters are NULL, and readers accept them absent too.
 *
 * @returns the hash to verify with.
 * @throws {CrlMalformedError} `ERR_PKI_CRL_MALFORMED` when the two identifiers differ.
 * @throws {CrlUnsupportedError} `ERR_PKI_CRL_UNSUPPORTED` (detail `signature algorithm …`).
 */
export function checkSignatureAlgorithm(der: Uint8Array, layout: CrlLayout): CrlHash {
  const inner = der.subarray(layout.innerAlgStart, layout.innerAlgEnd);
  const outer = der.subarray(layout.outerAlgStart, layout.outerAlgEnd);
  if (Buffer.compare(inner, outer) !== 0)
    throw new CrlMalformedError('signatureAlgorithm differs from tbsCertList.signature', layout.outerAlgStart);
  // 30 len 06 09 <pkcs-1 . x> [05 00]
  const len = inner.length;
  const ok =
    (len === 13 || len === 15) &&
    inner[1] === len - 2 &&
    inner[2] === 0x06 &&
    inner[3] === 0x09 &&
    PKCS1.every((b, i) => inner[4 + i] === b) &&
    (len === 13 || (inner[13] === 0x05 && inner[14] === 0x00));
  const hash = ok ? HASH_BY_ID[inner[12]!] : undefined;
  if (!hash) {
    const oid = inner[2] === 0x06 && inner.length > 4 ? oidToString(inner, 4, Math.min(len, 4 + inner[3]!)) : '?';
    throw new CrlUnsupportedError(`signature algorithm ${oid}`);
  }
  return hash;
}

/**
 * RFC 5280 §5.1.2.3 and §6.3.3 (f)/(b): the CRL issuer must be the issuer certificate's subject. Both are DER, and
 * the CA that signs both encodes its own name one way, so byte equality is the comparison (and the strictest one).
 *
 * @throws {CrlWrongIssuerError} `ERR_PKI_CRL_WRONG_ISSUER`.
 */
export function checkIssuerName(der: Uint8Array, layout: CrlLayout, issuer: CrlIssuer): void {
  if (Buffer.compare(der.subarray(layout.issuerStart, layout.issuerEnd), issuer.subject) !== 0)
    throw new CrlWrongIssuerError();
}

/**
 * RFC 5280 §4.2.1.3 and §6.3.3 (f): when the issuer certificate has keyUsage, cRLSign must be set.
 *
 * @throws {CrlIssuerNotCrlSignerError} `ERR_PKI_CRL_ISSUER_NOT_CRL_SIGNER`.
 */
export function checkIssuerKeyUsage(issuer: CrlIssuer): void {
  if (issuer.keyUsage !== null && (issuer.keyUsage & KU_CRL_SIGN) === 0) throw new CrlIssuerNotCrlSignerError();
}

/**
 * RFC 5280 §5.1.1.3 and §6.3.3 (g): the signature over the DER of tbsCertList, exactly as received (a slice, never
 * a re-encoding), verifies with the issuer's public key. The TBS is hashed once, here.
 *
 * @throws {CrlBadSignatureError} `ERR_PKI_CRL_BAD_SIGNATURE`.
 */
export function checkSignature(der: Uint8Array, layout: CrlLayout, hash: CrlHash, issuer: CrlIssuer): void {
  let ok = false;
  try {
    ok = verify(
      hash,
      der.subarray(layout.tbsStart, layout.tbsEnd),
      issuer.publicKey,
      der.subarray(layout.sigStart, layout.sigEnd),
    );
  } catch {
    ok = false;
  }
  if (!ok) throw new CrlBadSignatureError();
}

/**
 * RFC 5280 §5.1.2.4 and §6.3.3 (a): a CRL issued after `now` (beyond the allowed clock skew) is not used.
 *
 * @throws {CrlNotYetValidError} `ERR_PKI_CRL_NOT_YET_VALID`.
 */
export function checkThisUpdate(thisUpdate: number, now: Date, skewMs: number): void {
  if (thisUpdate * 1000 > now.getTime() + skewMs) throw new CrlNotYetValidError(new Date(thisUpdate * 1000));
}

/**
 * RFC 5280 §5.1.2.5 and §6.3.3 (a)(2): conforming CRLs MUST carry nextUpdate, and a CRL past its nextUpdate
 * (beyond the skew) is stale. Without nextUpdate nobody can say the CRL is current, so it is refused.
 *
 * @throws {CrlExpiredError} `ERR_PKI_CRL_EXPIRED`.
 */
export function checkNextUpdate(nextUpdate: number | null, now: Date, skewMs: number): void {
  if (nextUpdate === null) throw new CrlExpiredError(null, 'no nextUpdate');
  if (now.getTime() > nextUpdate * 1000 + skewMs)
    throw new CrlExpiredError(
      new Date(nextUpdate * 1000),
      `nextUpdate ${new Date(nextUpdate * 1000).toISOString()} has passed`,
    );
}

/**
 * A local freshness policy on top of nextUpdate (RFC 5280 §6.3.3 leaves "current" to local policy): a CRL issued
 * more than `maxAgeMs` before `now` is stale even if its nextUpdate is far away.
 *
 * @throws {CrlExpiredError} `ERR_PKI_CRL_EXPIRED`.
 */
export function checkMaxAge(
  thisUpdate: number,
  nextUpdate: number | null,
  now: Date,
  maxAgeMs: number | undefined,
  skewMs: number,
): void {
  if (maxAgeMs === undefined) return;
  if (now.getTime() - thisUpdate * 1000 > maxAgeMs + skewMs)
    throw new CrlExpiredError(nextUpdate === null ? null : new Date(nextUpdate * 1000), 'older than maxAgeMs');
}
