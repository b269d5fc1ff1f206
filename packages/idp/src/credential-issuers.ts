/**
 * Credentials once kept their CA's name as their issuer; they now keep the CA certificate's SHA-256, because J-LIS's
 * CA generations share one name and each numbers its own serials (`@mynagate/pki` `CertRef`). A credential still
 * under a name is found by its fingerprint at login as before, but a renewal link names its CA by fingerprint, so
 * such a credential would not be found as a predecessor (the renewed card would make a new person). This relabels
 * them at start-up, from the trusted CAs.
 */
import { nameToString, parseCertificate } from '@mynagate/pki';
import type { RecordStore } from './store/types.ts';

/** What {@link upgradeCredentialIssuers} did. */
export interface IssuerUpgrade {
  /** Credentials now under their CA's fingerprint. */
  readonly relabelled: number;
  /**
   * Names that several trusted CAs share (CA generations): credentials under them are left as they are, since the
   * name cannot say which of those CAs issued them.
   */
  readonly ambiguous: readonly string[];
}

/**
 * Relabels the credentials under the name of a trusted authentication CA with that CA's fingerprint, for each name
 * only one trusted CA has. Idempotent: a credential already under a fingerprint is not touched.
 *
 * @throws the store's `ERR_STORE_*`; `ERR_PKI_CERT_MALFORMED` for an anchor that is not a certificate.
 * @example
 * ```ts
 * const { relabelled } = await upgradeCredentialIssuers(stores.records, anchors.auth);
 * ```
 */
export async function upgradeCredentialIssuers(
  records: Pick<RecordStore, 'relabelCredentialIssuer'>,
  authAnchors: readonly Uint8Array[],
): Promise<IssuerUpgrade> {
  const byName = new Map<string, Set<string>>();
  for (const der of authAnchors) {
    const ca = parseCertificate(der);
    // The same text the verifier gave a login's `issuer`, which is what those credentials hold.
    const name = nameToString(ca.subject);
    const fingerprints = byName.get(name) ?? new Set<string>();
    fingerprints.add(ca.fingerprint);
    byName.set(name, fingerprints);
  }
  let relabelled = 0;
  const ambiguous: string[] = [];
  for (const [name, fingerprints] of byName) {
    if (fingerprints.size > 1) ambiguous.push(name);
    else relabelled += await records.relabelCredentialIssuer(name, [...fingerprints][0]!);
  }
  return { relabelled, ambiguous };
}
