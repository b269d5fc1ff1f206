/**
 * An X.509 certificate sliced over its DER (RFC 5280 §4.1): the exact TBS bytes, names as DER (for byte-exact
 * name chaining), validity, the SubjectPublicKeyInfo, and the extensions the JPKI profile uses, decoded once.
 * Parsing is a strict DER walk (no object tree), so a new certificate costs microseconds, not an RSA verify.
 */
import { hash } from 'node:crypto';
import { CertificateInvalidError } from './errors.ts';
import { DerError, TAG, boolean, children, expect, hex, oid, readTlv, text, time, value, whole } from './der.ts';
import type { Tlv } from './der.ts';

/** One extension as found in the certificate. */
export interface CertificateExtension {
  readonly critical: boolean;
  /** The extnValue contents (the DER inside the OCTET STRING). */
  readonly value: Uint8Array;
}

/** KeyUsage bits (RFC 5280 §4.2.1.3), as booleans. */
export interface KeyUsage {
  readonly digitalSignature: boolean;
  readonly nonRepudiation: boolean;
  readonly keyEncipherment: boolean;
  readonly dataEncipherment: boolean;
  readonly keyAgreement: boolean;
  readonly keyCertSign: boolean;
  readonly cRLSign: boolean;
}

/** A parsed certificate. Immutable; byte fields are views into `der` and must not be written. */
export interface ParsedCertificate {
  /** The whole certificate, DER. */
  readonly der: Uint8Array;
  /** SHA-256 of `der`, lower-case hex. */
  readonly fingerprint: string;
  /** The signed part, exact bytes (RFC 5280 §4.1.1.1). */
  readonly tbs: Uint8Array;
  /** Hash of the signature algorithm: sha256WithRSAEncryption etc. (PKCS#1 v1.5, RFC 4055). */
  readonly signatureHash: 'sha256' | 'sha384' | 'sha512';
  /** The signature value. */
  readonly signature: Uint8Array;
  /** Serial number, canonical lower-case hex: even length, no leading zero octet (as the test JPKI writes it). */
  readonly serialNumber: string;
  /** The serial INTEGER content octets as encoded (what an OCSP CertID carries). */
  readonly serialBytes: Uint8Array;
  /** Issuer Name, DER (for byte-exact chaining). */
  readonly issuer: Uint8Array;
  /** Subject Name, DER. */
  readonly subject: Uint8Array;
  /** notBefore / notAfter, ms since the epoch. */
  readonly notBefore: number;
  readonly notAfter: number;
  /** SubjectPublicKeyInfo, DER. */
  readonly spki: Uint8Array;
  /** The subjectPublicKey BIT STRING value without the unused-bits octet (what OCSP's issuerKeyHash hashes). */
  readonly publicKeyBits: Uint8Array;
  /** RSA modulus size in bits when the key is rsaEncryption (RFC 8017 A.1.1), else 0. */
  readonly rsaModulusBits: number;
  /** Extensions by OID. */
  readonly extensions: ReadonlyMap<string, CertificateExtension>;
  /** basicConstraints cA (false when absent). */
  readonly isCa: boolean;
  /** KeyUsage, or `null` when absent. */
  readonly keyUsage: KeyUsage | null;
  /** ExtendedKeyUsage purposes, or `null` when absent. */
  readonly extendedKeyUsage: readonly string[] | null;
  /** certificatePolicies OIDs (empty when absent). */
  readonly policies: readonly string[];
  /** OCSP URLs from AuthorityInformationAccess (RFC 5280 §4.2.2.1). */
  readonly ocspUrls: readonly string[];
}

/** Extension OIDs (RFC 5280 §4.2). */
export const EXT = {
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  issuerAltName: '2.5.29.18',
  basicConstraints: '2.5.29.19',
  crlDistributionPoints: '2.5.29.31',
  certificatePolicies: '2.5.29.32',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  authorityInfoAccess: '1.3.6.1.5.5.7.1.1',
  ocspNoCheck: '1.3.6.1.5.5.7.48.1.5',
} as const;

// AlgorithmIdentifier DER of sha{256,384,512}WithRSAEncryption with NULL parameters (RFC 4055 §5 requires NULL).
const SIG_ALGS: ReadonlyMap<string, ParsedCertificate['signatureHash']> = new Map([
  ['300d06092a864886f70d01010b0500', 'sha256'],
  ['300d06092a864886f70d01010c0500', 'sha384'],
  ['300d06092a864886f70d01010d0500', 'sha512'],
]);

/** Maps a signature AlgorithmIdentifier (DER) to its hash, or `undefined` when not an allowed RSA PKCS#1 v1.5. */
export function signatureHashOf(algorithmIdentifier: Uint8Array): ParsedCertificate['signatureHash'] | undefined {
  return SIG_ALGS.get(hex(algorithmIdentifier));
}

/**
 * Parses a DER certificate strictly: v3 only, RSA PKCS#1 v1.5 signature with SHA-2, the outer and inner
 * signature algorithms equal (RFC 5280 §4.1.1.2), no duplicate extensions (§4.2), no trailing bytes.
 *
 * @throws CertificateInvalidError `ERR_PKI_CERT_MALFORMED`
 * @example
 * ```ts
 * const cert = parseCertificate(der);
 * cert.policies.includes('1.2.392.200149.8.5.1.3.30');
 * ```
 */
export function parseCertificate(der: Uint8Array): ParsedCertificate {
  try {
    return parse(der);
  } catch (e) {
    if (e instanceof DerError || e instanceof TypeError || e instanceof RangeError)
      throw new CertificateInvalidError(
        'ERR_PKI_CERT_MALFORMED',
        'parse',
        `certificate is not valid DER: ${e.message}`,
        {
          cause: e,
        },
      );
    throw e;
  }
}

function parse(der: Uint8Array): ParsedCertificate {
  const outer = expect(der, 0, der.length, TAG.SEQUENCE);
  if (outer.end !== der.length) throw new DerError('trailing bytes');
  const [tbsT, algT, sigT, extra] = children(der, outer);
  if (!tbsT || !algT || !sigT || extra) throw new DerError('certificate is not 3 elements');
  if (tbsT.tag !== TAG.SEQUENCE || algT.tag !== TAG.SEQUENCE || sigT.tag !== TAG.BIT_STRING)
    throw new DerError('certificate element types');
  const signatureHash = signatureHashOf(whole(der, algT));
  if (!signatureHash) throw new DerError('signature algorithm not allowed');
  const sigBits = value(der, sigT);
  if (sigBits[0] !== 0) throw new DerError('signature has unused bits');

  const f = children(der, tbsT);
  let i = 0;
  const versionT = f[i++];
  // v3 only: [0] EXPLICIT INTEGER 2 (RFC 5280 §4.1.2.1; extensions require v3).
  if (!versionT || versionT.tag !== 0xa0) throw new DerError('not a v3 certificate');
  const v = expect(der, versionT.valueStart, versionT.end, TAG.INTEGER);
  if (v.end !== versionT.end || v.end - v.valueStart !== 1 || der[v.valueStart] !== 2) throw new DerError('not v3');
  const serialT = next(f, i++, TAG.INTEGER);
  const innerAlgT = next(f, i++, TAG.SEQUENCE);
  if (hex(whole(der, innerAlgT)) !== hex(whole(der, algT))) throw new DerError('signature algorithms differ');
  const issuerT = next(f, i++, TAG.SEQUENCE);
  const validityT = next(f, i++, TAG.SEQUENCE);
  const subjectT = next(f, i++, TAG.SEQUENCE);
  const spkiT = next(f, i++, TAG.SEQUENCE);
  const serial = value(der, serialT);
  // RFC 5280 §4.1.2.2: a positive INTEGER of at most 20 octets; DER: minimal (X.690 §8.3.2).
  if (serial.length === 0 || serial.length > 20 + 1 || serial[0]! & 0x80) throw new DerError('bad serial');
  if (serial.length > 1 && serial[0] === 0 && !(serial[1]! & 0x80)) throw new DerError('non-minimal serial');
  const [nbT, naT, vx] = children(der, validityT);
  if (!nbT || !naT || vx) throw new DerError('bad validity');

  const spkiKids = children(der, spkiT);
  const keyT = spkiKids[1];
  if (spkiKids.length !== 2 || !keyT || keyT.tag !== TAG.BIT_STRING || der[keyT.valueStart] !== 0)
    throw new DerError('bad SubjectPublicKeyInfo');

  const extensions = new Map<string, CertificateExtension>();
  for (; i < f.length; i++) {
    const t = f[i]!;
    // issuerUniqueID [1] / subjectUniqueID [2] are skipped; [3] holds the extensions.
    if (t.tag === 0x81 || t.tag === 0x82) continue;
    if (t.tag !== 0xa3 || i !== f.length - 1) throw new DerError('unexpected TBS field');
    const seq = expect(der, t.valueStart, t.end, TAG.SEQUENCE);
    if (seq.end !== t.end) throw new DerError('bad extensions');
    for (const e of children(der, seq)) {
      if (e.tag !== TAG.SEQUENCE) throw new DerError('bad extension');
      const k = children(der, e);
      const id = oid(value(der, expectTag(k[0], TAG.OID)));
      let critical = false;
      let vi = 1;
      if (k[1]?.tag === TAG.BOOLEAN) {
        critical = boolean(value(der, k[1]));
        // DER: DEFAULT FALSE must be omitted (X.690 §11.5).
        if (!critical) throw new DerError('explicit critical FALSE');
        vi = 2;
      }
      const valT = expectTag(k[vi], TAG.OCTET_STRING);
      if (k.length !== vi + 1) throw new DerError('bad extension');
      if (extensions.has(id)) throw new DerError(`duplicate extension ${id}`);
      extensions.set(id, { critical, value: value(der, valT) });
    }
  }

  const ext = (id: string) => extensions.get(id)?.value;
  const cert: ParsedCertificate = {
    der,
    fingerprint: hash('sha256', der, 'hex'),
    tbs: whole(der, tbsT),
    signatureHash,
    signature: sigBits.subarray(1),
    serialNumber: canonicalHex(serial),
    serialBytes: serial,
    issuer: whole(der, issuerT),
    subject: whole(der, subjectT),
    notBefore: time(der, nbT),
    notAfter: time(der, naT),
    spki: whole(der, spkiT),
    publicKeyBits: value(der, keyT).subarray(1),
    rsaModulusBits: rsaBits(der, spkiKids[0]!, value(der, keyT).subarray(1)),
    extensions,
    isCa: decodeBasicConstraints(ext(EXT.basicConstraints)),
    keyUsage: decodeKeyUsage(ext(EXT.keyUsage)),
    extendedKeyUsage: decodeOidSequence(ext(EXT.extKeyUsage)),
    policies: decodePolicies(ext(EXT.certificatePolicies)),
    ocspUrls: decodeOcspUrls(ext(EXT.authorityInfoAccess)),
  };
  return Object.freeze(cert);
}

// AlgorithmIdentifier { rsaEncryption, NULL } (RFC 8017 A.1).
const RSA_ENCRYPTION = '300d06092a864886f70d0101010500';

/** Bits of an RSA modulus from RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }, else 0. */
function rsaBits(der: Uint8Array, alg: Tlv, key: Uint8Array): number {
  if (hex(whole(der, alg)) !== RSA_ENCRYPTION) return 0;
  const seq = expect(key, 0, key.length, TAG.SEQUENCE);
  if (seq.end !== key.length) throw new DerError('bad RSAPublicKey');
  const [n, e, x] = children(key, seq);
  if (!n || !e || x || n.tag !== TAG.INTEGER || e.tag !== TAG.INTEGER) throw new DerError('bad RSAPublicKey');
  let i = n.valueStart;
  while (i < n.end && key[i] === 0) i++;
  if (i === n.end) return 0;
  return (n.end - i - 1) * 8 + (32 - Math.clz32(key[i]!));
}

function canonicalHex(v: Uint8Array): string {
  let i = 0;
  while (i < v.length - 1 && v[i] === 0) i++;
  return hex(v.subarray(i));
}

function next(f: Tlv[], i: number, tag: number): Tlv {
  return expectTag(f[i], tag);
}

function expectTag(t: Tlv | undefined, tag: number): Tlv {
  if (!t || t.tag !== tag) throw new DerError(`expected tag ${tag.toString(16)}`);
  return t;
}

function decodeBasicConstraints(v: Uint8Array | undefined): boolean {
  if (!v) return false;
  const seq = expect(v, 0, v.length, TAG.SEQUENCE);
  if (seq.end !== v.length) throw new DerError('bad basicConstraints');
  const k = children(v, seq);
  return k[0]?.tag === TAG.BOOLEAN ? boolean(value(v, k[0])) : false;
}

function decodeKeyUsage(v: Uint8Array | undefined): KeyUsage | null {
  if (!v) return null;
  const t = expect(v, 0, v.length, TAG.BIT_STRING);
  if (t.end !== v.length || t.end - t.valueStart < 2) throw new DerError('bad keyUsage');
  // Bit 0 is the most significant bit of the first content octet after the unused-bits octet (X.690 §8.6).
  const b = v[t.valueStart + 1]!;
  return Object.freeze({
    digitalSignature: (b & 0x80) !== 0,
    nonRepudiation: (b & 0x40) !== 0,
    keyEncipherment: (b & 0x20) !== 0,
    dataEncipherment: (b & 0x10) !== 0,
    keyAgreement: (b & 0x08) !== 0,
    keyCertSign: (b & 0x04) !== 0,
    cRLSign: (b & 0x02) !== 0,
  });
}

function decodeOidSequence(v: Uint8Array | undefined): string[] | null {
  if (!v) return null;
  const seq = expect(v, 0, v.length, TAG.SEQUENCE);
  if (seq.end !== v.length) throw new DerError('bad OID sequence');
  return Object.freeze(children(v, seq).map((t) => oid(value(v, expectTag(t, TAG.OID))))) as string[];
}

function decodePolicies(v: Uint8Array | undefined): string[] {
  if (!v) return [];
  const seq = expect(v, 0, v.length, TAG.SEQUENCE);
  if (seq.end !== v.length) throw new DerError('bad certificatePolicies');
  // PolicyInformation ::= SEQUENCE { policyIdentifier, policyQualifiers OPTIONAL } (RFC 5280 §4.2.1.4).
  return Object.freeze(
    children(v, seq).map((p) => oid(value(v, expectTag(children(v, expectTag(p, TAG.SEQUENCE))[0], TAG.OID)))),
  ) as string[];
}

function decodeOcspUrls(v: Uint8Array | undefined): string[] {
  if (!v) return [];
  const seq = expect(v, 0, v.length, TAG.SEQUENCE);
  const urls: string[] = [];
  for (const ad of children(v, seq)) {
    const [m, loc] = children(v, expectTag(ad, TAG.SEQUENCE));
    // id-ad-ocsp with a uniformResourceIdentifier [6] IA5String.
    if (oid(value(v, expectTag(m, TAG.OID))) === '1.3.6.1.5.5.7.48.1' && loc?.tag === 0x86) urls.push(text(v, loc));
  }
  return Object.freeze(urls) as string[];
}

const ATTR_NAMES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.5': 'serialNumber',
};

/** The attributes of a DER Name in encoded order, e.g. `[['C','JP'],['CN','…']]` (unknown types by OID). */
export function nameAttributes(name: Uint8Array): [string, string][] {
  try {
    const out: [string, string][] = [];
    for (const rdn of children(name, expect(name, 0, name.length, TAG.SEQUENCE))) {
      for (const atv of children(name, expectTag(rdn, TAG.SET))) {
        const [t, val] = children(name, expectTag(atv, TAG.SEQUENCE));
        const id = oid(value(name, expectTag(t, TAG.OID)));
        out.push([ATTR_NAMES[id] ?? id, val ? text(name, val) : '']);
      }
    }
    return out;
  } catch (e) {
    throw new CertificateInvalidError('ERR_PKI_CERT_MALFORMED', 'parse', 'bad Name', { cause: e });
  }
}

/** A DER Name as an RFC 4514 string (most significant RDN last), e.g. `CN=x,OU=y,O=JPKI,C=JP`. */
export function nameToString(name: Uint8Array): string {
  return nameAttributes(name)
    .reverse()
    .map(([k, v]) => `${k}=${v.replace(/([,+"\\<>;=])/g, '\\$1').replace(/^([ #])/, '\\$1')}`)
    .join(',');
}

/** The subject's first commonName, or `undefined`. */
export function commonName(cert: ParsedCertificate): string | undefined {
  return nameAttributes(cert.subject).find(([k]) => k === 'CN')?.[1];
}

/** Reads the first TLV of `der` (used to slice embedded structures such as OCSP's tbsResponseData). */
export function firstElement(der: Uint8Array): {
  whole: Uint8Array;
  rest: Uint8Array;
} {
  const outer = readTlv(der, 0);
  const first = readTlv(der, outer.valueStart, outer.end);
  return { whole: whole(der, first), rest: der.subarray(first.end, outer.end) };
}
