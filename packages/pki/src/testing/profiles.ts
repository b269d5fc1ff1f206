/**
 * The certificate profiles of the test JPKI: names and extension sets mirroring the real CAs (spec §8.1), the
 * user-authentication certificate (spec §8.2) and the digital-signature certificate (spec §8.3).
 *
 * Every name says TEST, so nothing issued here can be mistaken for J-LIS (spec §8.4: never re-use the production
 * CA names).
 */
import {
  AccessDescription,
  AttributeTypeAndValue,
  AttributeValue,
  AuthorityInfoAccessSyntax,
  AuthorityKeyIdentifier,
  BasicConstraints,
  CertificatePolicies,
  CRLDistributionPoints,
  DistributionPoint,
  DistributionPointName,
  ExtendedKeyUsage,
  GeneralName,
  GeneralNames,
  KeyIdentifier,
  Name,
  PolicyInformation,
  PolicyQualifierInfo,
  RelativeDistinguishedName,
  SubjectKeyIdentifier,
  id_ad_ocsp,
  id_kp_clientAuth,
  id_kp_OCSPSigning,
  id_qt_csp,
} from '@peculiar/asn1-x509';
import { ab, der } from './lib/der.ts';
import { x509 } from './lib/x509.ts';

/** Which of the two JPKI CAs (spec §8.1). */
export type CaKind = 'auth' | 'sign';

/** Certificate policy of the user-authentication certificate (spec §8.2). */
export const POLICY_AUTH = '1.2.392.200149.8.5.1.3.30';
/** Certificate policy of the digital-signature certificate (spec §8.3). */
export const POLICY_SIGN = '1.2.392.200149.8.5.1.1.20';
/** id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1). */
export const ID_PKIX_OCSP_NOCHECK = '1.3.6.1.5.5.7.48.1.5';

const OID = {
  C: '2.5.4.6',
  L: '2.5.4.7',
  O: '2.5.4.10',
  OU: '2.5.4.11',
  CN: '2.5.4.3',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  issuerAltName: '2.5.29.18',
  basicConstraints: '2.5.29.19',
  crlDistributionPoints: '2.5.29.31',
  certificatePolicies: '2.5.29.32',
  authorityKeyIdentifier: '2.5.29.35',
  subjectKeyIdentifier: '2.5.29.14',
  extKeyUsage: '2.5.29.37',
  authorityInfoAccess: '1.3.6.1.5.5.7.1.1',
} as const;

/** One RDN per attribute, in order. `C` is PrintableString, everything else UTF8String (spec §8.1). */
function name(attrs: readonly (readonly [keyof typeof OID & ('C' | 'L' | 'O' | 'OU' | 'CN'), string])[]): Name {
  return new Name(
    attrs.map(
      ([type, value]) =>
        new RelativeDistinguishedName([
          new AttributeTypeAndValue({
            type: OID[type],
            value: new AttributeValue(type === 'C' ? { printableString: value } : { utf8String: value }),
          }),
        ]),
    ),
  );
}

/** The O of both test CAs. */
export const TEST_ORGANIZATION = 'JPKI TEST';
const CA_OU: Record<CaKind, string> = {
  auth: 'JPKI TEST for user authentication',
  sign: 'JPKI TEST for digital signature',
};
const CA_OPERATOR = 'MynaGate test authority, not J-LIS';

/** The CA's DN: `C=JP, O=JPKI TEST, OU=JPKI TEST for …, OU=MynaGate test authority, not J-LIS` (spec §8.1 shape). */
export function caName(kind: CaKind): Name {
  return name([
    ['C', 'JP'],
    ['O', TEST_ORGANIZATION],
    ['OU', CA_OU[kind]],
    ['OU', CA_OPERATOR],
  ]);
}

/** The Japanese directoryName the CAs carry as SAN and auth certificates as IssuerAltName, marked テスト (spec §8.1). */
function caJapaneseName(kind: CaKind): Name {
  return name([
    ['C', 'JP'],
    ['O', '公的個人認証サービス（テスト）'],
    ['OU', kind === 'auth' ? '公的個人認証サービス利用者証明用（テスト）' : '公的個人認証サービス署名用（テスト）'],
    ['OU', 'MynaGateテスト認証局（地方公共団体情報システム機構ではありません）'],
  ]);
}

/** Subject of a user-authentication certificate: `C=JP, CN=<opaque id>`, no personal data (spec §8.2). */
export function authSubject(opaqueId: string): Name {
  return name([
    ['C', 'JP'],
    ['CN', opaqueId],
  ]);
}

/** Subject of a signing certificate: `C=JP, L=<prefecture>, L=<city>, CN=<request id>` (spec §8.3). */
export function signSubject(prefecture: string, city: string, cn: string): Name {
  return name([
    ['C', 'JP'],
    ['L', prefecture],
    ['L', city],
    ['CN', cn],
  ]);
}

/** The CRL partition of a municipality: `…, OU=CRL Distribution Points, OU=<pref>, CN=<city> CRLDP` (spec §8.2). */
export function crlPartitionName(kind: CaKind, prefecture: string, city: string): Name {
  return name([
    ['C', 'JP'],
    ['O', TEST_ORGANIZATION],
    ['OU', CA_OU[kind]],
    ['OU', 'CRL Distribution Points'],
    ['OU', prefecture],
    ['CN', `${city} CRLDP`],
  ]);
}

/** Subject of a delegated OCSP responder (RFC 6960 §4.2.2.2). */
export function ocspResponderSubject(kind: CaKind): Name {
  return name([
    ['C', 'JP'],
    ['O', TEST_ORGANIZATION],
    ['OU', CA_OU[kind]],
    ['CN', 'OCSP Responder (TEST)'],
  ]);
}

function ext(oid: string, critical: boolean, value: Uint8Array): x509.Extension {
  return new x509.Extension(oid, critical, ab(value));
}

function keyUsage(flags: number): x509.Extension {
  return new x509.KeyUsagesExtension(flags, true);
}

function dirNames(n: Name): GeneralNames {
  return new GeneralNames([new GeneralName({ directoryName: n })]);
}

function crlDp(n: Name): x509.Extension {
  // A directoryName only, no URL (spec §8.1, §8.2).
  const dp = new DistributionPoint({ distributionPoint: distributionPointName(n) });
  return ext(OID.crlDistributionPoints, false, der(new CRLDistributionPoints([dp])));
}

/**
 * A DistributionPointName holding one directoryName: what a certificate's cRLDistributionPoints names and what the
 * partition's CRL repeats in its issuingDistributionPoint, encoded by the same code so the two are byte-identical
 * (RFC 5280 §6.3.3 (b)(2)(i) compares them).
 */
export function distributionPointName(n: Name): DistributionPointName {
  return new DistributionPointName({ fullName: [new GeneralName({ directoryName: n })] });
}

function policy(oid: string, cpsUri: string): x509.Extension {
  const qualifier = ia5(cpsUri);
  const info = new PolicyInformation({
    policyIdentifier: oid,
    policyQualifiers: [new PolicyQualifierInfo({ policyQualifierId: id_qt_csp, qualifier })],
  });
  return ext(OID.certificatePolicies, true, der(new CertificatePolicies([info])));
}

/** DER of an IA5String. */
function ia5(s: string): ArrayBuffer {
  const body = Buffer.from(s, 'ascii');
  if (body.length > 127) throw new TypeError('CPS URI too long');
  return ab(new Uint8Array([0x16, body.length, ...body]));
}

function ocspAia(url: string): x509.Extension {
  const ad = new AccessDescription({
    accessMethod: id_ad_ocsp,
    accessLocation: new GeneralName({ uniformResourceIdentifier: url }),
  });
  return ext(OID.authorityInfoAccess, false, der(new AuthorityInfoAccessSyntax([ad])));
}

function ski(keyId: Uint8Array): x509.Extension {
  return ext(OID.subjectKeyIdentifier, false, der(new SubjectKeyIdentifier(ab(keyId))));
}

function aki(caKeyId: Uint8Array): x509.Extension {
  return ext(
    OID.authorityKeyIdentifier,
    false,
    der(new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(ab(caKeyId)) })),
  );
}

/**
 * Extensions of a test CA (spec §8.1): KeyUsage critical keyCertSign+cRLSign, SAN directoryName (Japanese),
 * BasicConstraints critical CA:TRUE without pathLen, CRLDP directoryName = own DN, SKI, no AKI.
 */
export function caExtensions(kind: CaKind, keyId: Uint8Array): x509.Extension[] {
  return [
    keyUsage(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign),
    ext(OID.subjectAltName, false, der(dirNames(caJapaneseName(kind)))),
    ext(OID.basicConstraints, true, der(new BasicConstraints({ cA: true }))),
    crlDp(caName(kind)),
    ski(keyId),
  ];
}

/** What the end-entity profiles need besides the holder's data. */
export interface EndEntityContext {
  readonly caKeyId: Uint8Array;
  readonly keyId: Uint8Array;
  readonly prefecture: string;
  readonly city: string;
  readonly ocspUrl: string;
  readonly cpsUrl: string;
}

/**
 * Extensions of a user-authentication certificate, in the order of the real one (spec §8.2): KeyUsage critical
 * digitalSignature, EKU clientAuth, CertificatePolicies critical .1.3.30 with CPS, IssuerAltName directoryName,
 * CRLDP partitioned by municipality, AIA OCSP, then AKI and SKI.
 */
export function authExtensions(c: EndEntityContext): x509.Extension[] {
  return [
    keyUsage(x509.KeyUsageFlags.digitalSignature),
    ext(OID.extKeyUsage, false, der(new ExtendedKeyUsage([id_kp_clientAuth]))),
    policy(POLICY_AUTH, c.cpsUrl),
    ext(OID.issuerAltName, false, der(dirNames(caJapaneseName('auth')))),
    crlDp(crlPartitionName('auth', c.prefecture, c.city)),
    ocspAia(c.ocspUrl),
    aki(c.caKeyId),
    ski(c.keyId),
  ];
}

/**
 * Extensions of a digital-signature certificate (spec §8.3): KeyUsage critical digitalSignature+nonRepudiation,
 * CertificatePolicies critical .1.1.20 with CPS, IssuerAltName `C=JP, O=…`, SubjectAltName = basic 4 otherNames,
 * CRLDP partitioned by municipality, AIA OCSP, AKI, SKI.
 */
export function signExtensions(c: EndEntityContext, subjectAltName: Uint8Array): x509.Extension[] {
  return [
    keyUsage(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.nonRepudiation),
    policy(POLICY_SIGN, c.cpsUrl),
    ext(
      OID.issuerAltName,
      false,
      der(
        dirNames(
          name([
            ['C', 'JP'],
            ['O', '公的個人認証サービス（テスト）'],
          ]),
        ),
      ),
    ),
    ext(OID.subjectAltName, false, subjectAltName),
    crlDp(crlPartitionName('sign', c.prefecture, c.city)),
    ocspAia(c.ocspUrl),
    aki(c.caKeyId),
    ski(c.keyId),
  ];
}

/**
 * Extensions of a delegated OCSP responder certificate (RFC 6960 §4.2.2.2): KeyUsage critical digitalSignature,
 * EKU id-kp-OCSPSigning, id-pkix-ocsp-nocheck (§4.2.2.2.1, value NULL), AKI, SKI.
 */
export function ocspResponderExtensions(caKeyId: Uint8Array, keyId: Uint8Array): x509.Extension[] {
  return [
    keyUsage(x509.KeyUsageFlags.digitalSignature),
    ext(OID.extKeyUsage, false, der(new ExtendedKeyUsage([id_kp_OCSPSigning]))),
    ext(ID_PKIX_OCSP_NOCHECK, false, new Uint8Array([0x05, 0x00])),
    aki(caKeyId),
    ski(keyId),
  ];
}

/** DER of a Name. */
export function nameDer(n: Name): Uint8Array {
  return der(n);
}
