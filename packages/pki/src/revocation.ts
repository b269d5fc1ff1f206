/**
 * Revocation behind one interface. A source answers `good`, `revoked` or `unknown`, or throws when it cannot
 * answer; `checkRevocation` turns everything but `good` into an error (fail closed: an unknown status, an
 * unreachable responder or a parse failure rejects). Implementations: OCSP (`ocsp/source.ts`), the platform
 * provider API (`platform.ts`), the CRL index (`crl/`).
 */
import { CertificateRevokedError, RevocationUnknownError } from './errors.ts';
import type { ParsedCertificate } from './certificate.ts';
import { isMynaGateError } from '@mynagate/errors';

/** A source's answer for one certificate. */
export type RevocationStatus =
  | {
      readonly status: 'good';
      /** Which source answered, e.g. `ocsp`. */
      readonly source: string;
      /** When the answer stops being usable, if the source says (OCSP nextUpdate, CRL nextUpdate). */
      readonly nextUpdate?: Date;
    }
  | {
      readonly status: 'revoked';
      readonly source: string;
      readonly revokedAt: Date;
      /** RFC 5280 §5.3.1 reason name, `unspecified` when absent. */
      readonly reason: string;
    }
  | { readonly status: 'unknown'; readonly source: string };

/**
 * What a source may read of the certificate it is asked about: its serial under `issuer` and where its CA
 * publishes status. A validated certificate is one; so is a certificate named only by its CA and serial
 * (`Verifier.signingStatus`: a verified identity keeps no certificate), whose distribution points are not known.
 */
export interface RevocationSubject {
  /** Canonical lower-case hex (`ParsedCertificate.serialNumber`). */
  readonly serialNumber: string;
  /** The serial INTEGER content octets (what an OCSP CertID carries). */
  readonly serialBytes: Uint8Array;
  /** The certificate's issuer Name, DER: its CA's subject, byte for byte. */
  readonly issuer: Uint8Array;
  /** OCSP URLs from its AuthorityInformationAccess (RFC 5280 §4.2.2.1). */
  readonly ocspUrls: readonly string[];
  /**
   * Its cRLDistributionPoints names, DER (see `ParsedCertificate.crlDistributionPoints`); absent when not known, as
   * for a certificate named by its CA and serial alone: a partitioned CRL then cannot say it is good.
   */
  readonly crlDistributionPoints?: readonly Uint8Array[];
  /** basicConstraints cA. */
  readonly isCa: boolean;
}

/**
 * Where revocation status comes from. `status` resolves with the answer, or rejects with a
 * `RevocationUnknownError` (or any error, which `checkRevocation` treats as unknown) when it cannot answer. `cert`
 * is a {@link RevocationSubject}: a source reads nothing else of it (a `ParsedCertificate` is one).
 *
 * Answering by reference is opt-in. `Verifier.signingStatus` asks about a certificate it does not have (a verified
 * identity keeps only its CA, serial, notAfter and OCSP URLs): `cert` is then a bare `RevocationSubject`, with no `fingerprint`,
 * `der`, `subject`, `notAfter` or distribution points. A source written for whole certificates (a deny-list keyed by
 * `cert.fingerprint`) would read `undefined` there and could answer `good` for a certificate it knows is revoked,
 * so `signingStatus` asks only a source that sets `answersByReference: true`, and rejects with
 * `ERR_PKI_REVOCATION_UNKNOWN` (detail `unavailable`) for any other: the identity is not reused. Set it only when
 * `status` answers from the `RevocationSubject` fields alone, from `serialNumber` (or `serialBytes`) and `issuer`
 * (the CA: `issuer.fingerprint` tells its generations apart), and says `unknown` or rejects, never `good`, when it
 * needs more. Reading any other field of a subject named by reference throws that same error, so a source that
 * opted in by mistake still fails closed. `ocspSource`, `platformSource` and `crlRevocation` answer by reference;
 * `firstAnswer` does when all its sources do.
 *
 * @example
 * ```ts
 * const source: RevocationSource = { async status(cert, issuer, now) { return { status: 'good', source: 'stub' } } };
 * // Keyed by CA and serial, so it can answer for a certificate named by reference too:
 * const denied = new Map<string, Date>(); // `${CA fingerprint}:${serial}` → when it was revoked
 * const denyList: RevocationSource = {
 *   answersByReference: true,
 *   async status(cert, issuer) {
 *     const revokedAt = denied.get(`${issuer.fingerprint}:${cert.serialNumber}`);
 *     return revokedAt
 *       ? { status: 'revoked', source: 'denylist', revokedAt, reason: 'keyCompromise' }
 *       : { status: 'good', source: 'denylist' };
 *   },
 * };
 * ```
 */
export interface RevocationSource {
  status(cert: RevocationSubject, issuer: ParsedCertificate, now: Date): Promise<RevocationStatus>;
  /**
   * `true` when `status` answers for a certificate named by its CA and serial alone (see above). Absent or `false`:
   * `Verifier.signingStatus` does not ask this source and fails closed. Read once, by `createVerifier` (anything but
   * a boolean is a `TypeError` there).
   */
  readonly answersByReference?: boolean;
}

/**
 * Asks `source` and fails closed.
 *
 * @throws CertificateRevokedError `ERR_PKI_CERT_REVOKED`
 * @throws RevocationUnknownError `ERR_PKI_REVOCATION_UNKNOWN` (detail `unknown` or `unreachable`) or the source's
 *   own `ERR_PKI_OCSP_*` / `ERR_PKI_REVOCATION_UNKNOWN` error.
 */
export async function checkRevocation(
  source: RevocationSource,
  cert: RevocationSubject,
  issuer: ParsedCertificate,
  now: Date,
): Promise<RevocationStatus & { status: 'good' }> {
  instant(now);
  let s: RevocationStatus;
  try {
    s = await source.status(cert, issuer, now);
  } catch (e) {
    throw revocationFailure(e);
  }
  return goodOrThrow(s);
}

/**
 * The epoch ms of a revocation check's `now`. An Invalid Date makes every freshness comparison false (nothing is
 * ever stale), so it is refused. Internal.
 *
 * @throws TypeError when `now` is not a valid Date.
 */
export function instant(now: Date): number {
  const t = now instanceof Date ? now.getTime() : NaN;
  if (!Number.isFinite(t)) throw new TypeError('now must be a valid Date');
  return t;
}

/**
 * What a source's failure becomes: our own errors as they are, anything else `ERR_PKI_REVOCATION_UNKNOWN`
 * (`unreachable`). Internal (the verifier inlines `checkRevocation` to save a promise per login).
 */
export function revocationFailure(e: unknown): Error {
  if (e instanceof RevocationUnknownError || e instanceof CertificateRevokedError) return e;
  if (isMynaGateError(e)) return e;
  return new RevocationUnknownError('ERR_PKI_REVOCATION_UNKNOWN', 'unreachable', 'source', 'revocation source failed', {
    cause: e,
  });
}

/**
 * The `detail` of an HTTP status other than the answer a source asked for, one rule for OCSP and the platform.
 * 408 (RFC 9110 §15.5.9) and 429 (RFC 6585 §4) are the server asking to be asked again later, as a 5xx does:
 * `unreachable`, transient. Any other 4xx is the server refusing this client or request (a wrong API key, an
 * unknown CA): `refused`, an operator's to fix. Anything else (a 5xx, another status) is `unreachable`. A
 * Retry-After is not read: the check fails closed now whatever it says, and no source retries. Internal.
 */
export function httpFailureDetail(status: number): 'refused' | 'unreachable' {
  if (status === 408 || status === 429) return 'unreachable';
  return status >= 400 && status < 500 ? 'refused' : 'unreachable';
}

/**
 * Fails closed on an answer: `revoked` throws `ERR_PKI_CERT_REVOKED`, anything but `good` throws
 * `ERR_PKI_REVOCATION_UNKNOWN` (`unknown`). Internal.
 */
export function goodOrThrow(s: RevocationStatus): RevocationStatus & { status: 'good' } {
  if (s?.status === 'good') return s;
  if (s?.status === 'revoked') throw new CertificateRevokedError(s.revokedAt, s.reason, s.source);
  throw new RevocationUnknownError(
    'ERR_PKI_REVOCATION_UNKNOWN',
    'unknown',
    s?.source ?? 'source',
    'revocation status unknown',
  );
}

/**
 * Tries sources in order until one gives a definite answer (`good` or `revoked`); `unknown` answers and failures
 * fall through to the next. When none answers, rejects with the last failure (or an `unknown` status). It answers
 * by reference (`answersByReference`) only when every source does: skipping one that does not (a deny-list before
 * OCSP) could turn its `revoked` into the next one's `good`.
 *
 * @example
 * ```ts
 * const revocation = firstAnswer(ocspSource({ fetch }), crlSource);
 * ```
 */
export function firstAnswer(...sources: RevocationSource[]): RevocationSource {
  if (sources.length === 0) throw new TypeError('firstAnswer needs at least one source');
  return {
    answersByReference: sources.every((s) => s?.answersByReference === true),
    async status(cert, issuer, now) {
      let last: unknown;
      for (const source of sources) {
        try {
          const s = await source.status(cert, issuer, now);
          if (s.status !== 'unknown') return s;
          last = s;
        } catch (e) {
          last = e;
        }
      }
      if (last instanceof Error) throw last;
      return last as RevocationStatus;
    },
  };
}

/** RFC 5280 §5.3.1 CRLReason names by code. */
export const CRL_REASONS: readonly string[] = Object.freeze([
  'unspecified',
  'keyCompromise',
  'cACompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  'unused',
  'removeFromCRL',
  'privilegeWithdrawn',
  'aACompromise',
]);
