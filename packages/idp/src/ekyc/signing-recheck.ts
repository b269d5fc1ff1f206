/**
 * A kept verified identity stands only while the signing certificate that proved it does. J-LIS revokes a signing
 * certificate whenever the holder's name or address changes (a move), and when the card is lost or replaced: the
 * identity kept with a grant then says what is no longer true. So before it is reused, by a new authorization (the
 * `ekyc` prompt, ekyc/policy.ts) or a refresh (refresh-check.ts), its certificate is asked about again: with
 * `ekyc.keepCertificate`, the certificate itself is validated again (`verifyCertificate`, path and revocation);
 * otherwise the verifier asks the configured revocation sources about it by CA and serial (`signingStatus` on the
 * reference the identity keeps, `signingCertificate`), checking its notAfter. The sources' caches serve both: an
 * OCSP answer until its nextUpdate, the CRL index in memory.
 *
 * Fail closed: an identity that keeps neither (one kept before the reference was recorded), or a verifier that can
 * ask neither, counts as a status that cannot be had.
 */
import { isMynaGateError } from '@mynagate/errors';
import {
  CertificateInvalidError,
  CertificateRevokedError,
  RevocationUnknownError,
  type SigningCertificateRef,
} from '@mynagate/pki';
import type { VerifiedIdentity } from './identity-store.ts';

/** What asks again: `@mynagate/pki`'s verifier. */
export interface SigningCertificateVerifier {
  /** Validates a kept certificate of `kind` at `at`, revocation included; rejects with `ERR_PKI_*`. */
  verifyCertificate(der: Uint8Array, kind: 'sign', at?: Date): Promise<unknown>;
  /** Whether the certificate `ref` names stands at `at`; rejects with `ERR_PKI_*`. */
  signingStatus(ref: SigningCertificateRef, at?: Date): Promise<unknown>;
}

/**
 * Resolves when the signing certificate behind `identity` stands at `at`: validated again when it was kept, else
 * asked about by its reference.
 *
 * @example await recheckSigningCertificate(config.verifier, identity, new Date(config.now()))
 * @throws the verifier's `ERR_PKI_CERT_REVOKED`, `ERR_PKI_CERT_EXPIRED` (both final: {@link certificateEnded}),
 *   a path code, `ERR_PKI_REVOCATION_UNKNOWN` or `ERR_PKI_OCSP_*`; `ERR_PKI_REVOCATION_UNKNOWN` (detail
 *   `unavailable`, source `identity`) when the identity keeps neither the certificate nor its reference, or the
 *   verifier cannot ask.
 */
export async function recheckSigningCertificate(
  verifier: Partial<SigningCertificateVerifier> | object,
  identity: Pick<VerifiedIdentity, 'certificate' | 'signingCertificate'>,
  at: Date,
): Promise<void> {
  const v = verifier as Partial<SigningCertificateVerifier>;
  if (identity.certificate !== undefined && typeof v.verifyCertificate === 'function') {
    await v.verifyCertificate(new Uint8Array(Buffer.from(identity.certificate, 'base64')), 'sign', at);
    return;
  }
  if (identity.signingCertificate !== undefined && typeof v.signingStatus === 'function') {
    await v.signingStatus(identity.signingCertificate, at);
    return;
  }
  throw new RevocationUnknownError(
    'ERR_PKI_REVOCATION_UNKNOWN',
    'unavailable',
    'identity',
    'the signing certificate of this identity cannot be asked about again',
  );
}

/**
 * Whether a failed check of a certificate (either kind) is final, the card's own state: it is revoked or has
 * expired. Not a revocation status that could not be had (`RevocationUnknownError`, OCSP and CRL errors), which a
 * later check may get; nor a path check the same certificate passed when it was verified and fails now (an untrusted
 * issuer, an expired anchor, a bad signature, a policy): the operator's trust anchors or profile changed, which a fix
 * of the configuration undoes.
 */
export function certificateEnded(e: unknown): boolean {
  return (
    e instanceof CertificateRevokedError ||
    isMynaGateError(e, 'ERR_PKI_CERT_REVOKED') ||
    (e instanceof CertificateInvalidError && e.code === 'ERR_PKI_CERT_EXPIRED')
  );
}
