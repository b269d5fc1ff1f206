/**
 * CRLs of the test JPKI (RFC 5280 §5), v2 with a CRL number, the CA's AKI and a reason code on every entry: a full
 * CRL per CA, and, as the real JPKI publishes them (spec §8.2), a partition per municipality, which lists only the
 * certificates that municipality's office issued and says so in a critical issuingDistributionPoint naming the
 * directoryName their cRLDistributionPoints carry (§5.2.5).
 */
import { AuthorityKeyIdentifier, CRLNumber, IssuingDistributionPoint, KeyIdentifier } from '@peculiar/asn1-x509';
import type { Name } from '@peculiar/asn1-x509';
import type { CertificateAuthority } from './ca.ts';
import { distributionPointName } from './profiles.ts';
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

/**
 * Signs a CRL for `ca` listing `entries`; returns DER. With `partition` (a CRL partition's name, see
 * `crlPartitionName`), the CRL carries issuingDistributionPoint { that name, onlyContainsUserCerts } and so covers
 * only the end-entity certificates whose cRLDistributionPoints name it; `entries` should be exactly theirs.
 */
export async function createCrl(
  ca: CertificateAuthority,
  entries: readonly CrlEntry[],
  options: { thisUpdate: Date; nextUpdate: Date; crlNumber: number; partition?: Name },
): Promise<Uint8Array> {
  // RFC 5280 §5.2.5: the extension is critical.
  const scope = options.partition
    ? [
        new x509.Extension(
          '2.5.29.28',
          true,
          ab(
            der(
              new IssuingDistributionPoint({
                distributionPoint: distributionPointName(options.partition),
                onlyContainsUserCerts: true,
              }),
            ),
          ),
        ),
      ]
    : [];
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
        ...scope,
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
