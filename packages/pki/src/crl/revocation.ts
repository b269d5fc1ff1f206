/**
 * The CRL index as a `RevocationSource`: the verifier asks with the certificate it validated, and the CRL source
 * answers from the current CRL of that certificate's issuer that covers it (RFC 5280 §6.3.3), in constant time and
 * without I/O. Refreshing the CRLs stays the caller's job (`CrlSource.refresh`, e.g. on a timer).
 */
import type { RevocationSource, RevocationStatus } from '../revocation.ts';
import type { CrlSource } from './source.ts';

const GOOD: RevocationStatus = Object.freeze({ status: 'good', source: 'crl' });

/**
 * Adapts a {@link CrlSource} to the verifier's `RevocationSource`. Each question carries the certificate's serial,
 * its issuer name (DER), the fingerprint of the trust anchor that validated it (so only that CA's CRLs answer), its
 * cRLDistributionPoints names (so a partitioned CRL, such as JPKI's per-office directoryName CRLDP, spec §8.2,
 * speaks only for the certificates that name it) and whether it is a CA. A certificate named by its CA and serial
 * alone (`Verifier.signingStatus`) names no distribution point: an unpartitioned CRL answers for it, and a partition
 * that lists its serial answers `revoked`; otherwise its status is unknown.
 *
 * @throws TypeError when `source` is not a CrlSource-like object.
 * @example
 * ```ts
 * const crls = new CrlSource({ issuers: [...anchors.auth, ...anchors.sign] });
 * await crls.refresh(await readFile('auth-ca.crl'), new Date());
 * const verifier = createVerifier({ anchors, revocation: crlRevocation(crls) });
 * ```
 * Status answers reject with `RevocationUnknownError` `ERR_PKI_REVOCATION_UNKNOWN` (source `crl`, detail
 * `unavailable` or `stale`) when no current CRL covers the certificate: the verifier then fails closed.
 */
export function crlRevocation(source: Pick<CrlSource, 'status'>): RevocationSource {
  if (!source || typeof source.status !== 'function') throw new TypeError('source must be a CrlSource');
  return Object.freeze({
    // Without distribution points a partition answers only `revoked` (CrlSource.status), never `good`.
    answersByReference: true,
    async status(cert, issuer, now): Promise<RevocationStatus> {
      // Only a CRL the certificate's own trust anchor signed speaks for it (RFC 5280 §6.3.3 (f)): CA generations
      // share a name, so the name alone could find another generation's CRL.
      const s = source.status(cert.serialBytes, cert.issuer, now, {
        distributionPoints: cert.crlDistributionPoints,
        ca: cert.isCa,
        issuerFingerprint: issuer.fingerprint,
      });
      if (s.status === 'good') return GOOD;
      return { status: 'revoked', source: 'crl', revokedAt: s.revokedAt, reason: s.reason };
    },
  } satisfies RevocationSource);
}
