/**
 * CRLs of the test JPKI: one full v2 CRL per CA (RFC 5280 §5), with a CRL number, the CA's AKI and a reason code on
 * every entry. The real JPKI partitions CRLs by municipality (spec §8.2); the test JPKI serves one complete CRL
 * per CA, which a relying party can use for every partition.
 */
import { AuthorityKeyIdentifier, CRLNumber, KeyIdentifier } from '@peculiar/asn1-x509';
import type { CertificateAuthority } from './ca.ts';
import { ab, canonicalSerial, der } from './lib/der.ts';
import { wholeSeconds } from './lib/time.ts';
import { crypto, RSA_SHA256, x509 } from './lib/x509.ts';
import { REASON_CODES } from './store.ts';
import type { RevocationReason } from './store.ts';

/** One revoked certificate on a CRL. */
export interface CrlEntry {
  readonly serial: string;
  readonly revokedAt: Date;
  readonly reason: RevocationReason;
}

/** Signs a CRL for `ca` listing `entries`; returns DER. */
export async function createCrl(
  ca: CertificateAuthority,
  entries: readonly CrlEntry[],
  options: { thisUpdate: Date; nextUpdate: Date; crlNumber: number },
): Promise<Uint8Array> {
  const crl = await x509.X509CrlGenerator.create(
    {
      issuer: new x509.Name(ab(ca.subject)),
      thisUpdate: wholeSeconds(options.thisUpdate),
      nextUpdate: wholeSeconds(options.nextUpdate),
      signingAlgorithm: RSA_SHA256,
      signingKey: ca.signingKey,
      extensions: [
        // RFC 5280 §5.2.1 (AKI) and §5.2.3 (CRL number, MUST in conforming CRLs).
        new x509.Extension(
          '2.5.29.35',
          false,
          ab(der(new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(ab(ca.keyId)) }))),
        ),
        new x509.Extension('2.5.29.20', false, ab(der(new CRLNumber(options.crlNumber)))),
      ],
      entries: entries.map((e) => ({
        serialNumber: canonicalSerial(e.serial),
        revocationDate: wholeSeconds(e.revokedAt),
        reason: REASON_CODES[e.reason],
      })),
    },
    crypto,
  );
  return new Uint8Array(crl.rawData);
}
