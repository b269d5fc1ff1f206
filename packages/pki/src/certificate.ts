/**
 * An X.509 certificate sliced over its DER (RFC 5280 §4.1): the exact TBS bytes, names as DER (for byte-exact
 * name chaining), validity, the SubjectPublicKeyInfo, and the extensions the JPKI profile uses, decoded once.
 * Parsing is a strict DER walk (no object tree), so a new certificate costs microseconds, not an RSA verify.
 */
import { hash } from 'node:crypto';
import { CertificateInvalidError } from './errors.ts';
import {
  DerError,
  TAG,
  TlvReader,
  boolean,
  bytesAt,
  children,
  expect,
  hex,
  oidAt,
  readTlv,
  text,
  time,
  whole,
  RSA_ENCRYPTION,
} from './der.ts';
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
  /** OIDs of the extensions marked critical, in certificate order. */
  readonly criticalExtensions: readonly string[];
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
  /**
   * DER of each DistributionPointName in cRLDistributionPoints (RFC 5280 §4.2.1.13), e.g. JPKI's directoryName
   * CRLDP (spec §8.2): what a partitioned CRL's issuingDistributionPoint names. Points with `reasons` or
   * `cRLIssuer` are left out (their CRL alone cannot establish the status). Empty when absent.
   */
  readonly crlDistributionPoints: readonly Uint8Array[];
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

/** Maps a signature AlgorithmIdentifier (DER) to its hash, or `undefined` when not an allowed RSA PKCS#1 v1.5. */
export function signatureHashOf(algorithmIdentifier: Uint8Array): ParsedCertificate['signatureHash'] | undefined {
  // sha{256,384,512}WithRSAEncryption with NULL parameters (RFC 4055 §5 requires NULL).
  return signatureHashAt(algorithmIdentifier, 0, algorithmIdentifier.length);
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
  // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue } (RFC 5280 §4.1), walked by
  // offset with one reader: only the fields handed out become views.
  const r = new TlvReader(der);
  if (r.expect(0, der.length, TAG.SEQUENCE) !== der.length) throw new DerError('trailing bytes');
  const certEnd = r.end;
  r.expect(r.valueStart, certEnd, TAG.SEQUENCE);
  const tbsStart = r.start;
  const tbsV = r.valueStart;
  const lim = r.end;
  r.expect(lim, certEnd, TAG.SEQUENCE);
  const algStart = r.start;
  const algEnd = r.end;
  r.expect(algEnd, certEnd, TAG.BIT_STRING);
  if (r.end !== certEnd) throw new DerError('certificate is not 3 elements');
  const sigV = r.valueStart;
  const signatureHash = signatureHashAt(der, algStart, algEnd);
  if (!signatureHash) throw new DerError('signature algorithm not allowed');
  if (certEnd === sigV || der[sigV] !== 0) throw new DerError('signature has unused bits');

  // v3 only: [0] EXPLICIT INTEGER 2 (RFC 5280 §4.1.2.1; extensions require v3).
  let pos = r.read(tbsV, lim);
  const versionTag: number = r.tag;
  if (versionTag !== 0xa0) throw new DerError('not a v3 certificate');
  if (r.expect(r.valueStart, pos, TAG.INTEGER) !== pos || r.end - r.valueStart !== 1 || der[r.valueStart] !== 2)
    throw new DerError('not v3');
  pos = r.expect(pos, lim, TAG.INTEGER);
  const serialV = r.valueStart;
  const serialEnd = r.end;
  pos = r.expect(pos, lim, TAG.SEQUENCE);
  // RFC 5280 §4.1.1.2: signatureAlgorithm MUST equal tbsCertificate.signature.
  if (!sameBytes(der, r.start, r.end, algStart, algEnd)) throw new DerError('signature algorithms differ');
  const issuerStart = pos;
  const issuerEnd = r.expect(pos, lim, TAG.SEQUENCE);
  const validityEnd = r.expect(issuerEnd, lim, TAG.SEQUENCE);
  const validityV = r.valueStart;
  const subjectEnd = r.expect(validityEnd, lim, TAG.SEQUENCE);
  const spkiEnd = r.expect(subjectEnd, lim, TAG.SEQUENCE);
  const spkiV = r.valueStart;

  const serialLen = serialEnd - serialV;
  const s0 = der[serialV]!;
  // RFC 5280 §4.1.2.2: a positive INTEGER of at most 20 octets; DER: minimal (X.690 §8.3.2).
  if (serialLen === 0 || serialLen > 20 + 1 || s0 & 0x80) throw new DerError('bad serial');
  if (serialLen > 1 && s0 === 0 && !(der[serialV + 1]! & 0x80)) throw new DerError('non-minimal serial');

  const nbEnd = r.read(validityV, validityEnd);
  const notBefore = time(der, r);
  if (r.read(nbEnd, validityEnd) !== validityEnd) throw new DerError('bad validity');
  const notAfter = time(der, r);

  // SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier, subjectPublicKey BIT STRING }.
  const keyAlgEnd = r.expect(spkiV, spkiEnd, TAG.SEQUENCE);
  const rsa = bytesAt(der, spkiV, keyAlgEnd, RSA_ENCRYPTION);
  const keyEnd = r.read(keyAlgEnd, spkiEnd);
  const keyTag: number = r.tag;
  if (keyEnd !== spkiEnd || keyTag !== TAG.BIT_STRING || r.end === r.valueStart || der[r.valueStart] !== 0)
    throw new DerError('bad SubjectPublicKeyInfo');
  const keyV = r.valueStart + 1;

  // Extensions as OIDs and offsets (critical flag, value start, end): the Map of them is made only if asked for.
  const extensionIds: string[] = [];
  const extensionSpans: number[] = [];
  let criticalExtensions: string[] = EMPTY;
  let isCa = false;
  let keyUsage: KeyUsage | null = null;
  let extendedKeyUsage: string[] | null = null;
  let policies: string[] = EMPTY;
  let ocspUrls: number[] = NO_SPANS;
  let crlDistributionPoints: number[] = NO_SPANS;
  for (pos = spkiEnd; pos < lim;) {
    pos = r.read(pos, lim);
    const t: number = r.tag;
    // issuerUniqueID [1] / subjectUniqueID [2] are skipped; [3] holds the extensions.
    if (t === 0x81 || t === 0x82) continue;
    if (t !== 0xa3 || pos !== lim) throw new DerError('unexpected TBS field');
    const extsEnd = r.expect(r.valueStart, lim, TAG.SEQUENCE);
    if (extsEnd !== lim) throw new DerError('bad extensions');
    for (let p = r.valueStart; p < extsEnd;) {
      // Extension ::= SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }.
      const e = r.expect(p, extsEnd, TAG.SEQUENCE);
      p = e;
      let q = r.expect(r.valueStart, e, TAG.OID);
      const id = extensionOid(der, r.valueStart, q);
      let critical = false;
      q = r.read(q, e);
      if (r.tag === TAG.BOOLEAN) {
        // DER: BOOLEAN TRUE is FF (X.690 §11.1), and DEFAULT FALSE must be omitted (X.690 §11.5).
        if (q - r.valueStart !== 1 || der[r.valueStart] !== 0xff) throw new DerError('bad critical flag');
        critical = true;
        q = r.read(q, e);
      }
      if (r.tag !== TAG.OCTET_STRING || q !== e) throw new DerError('bad extension');
      // The OID strings are shared (see knownOid), so this compares pointers first; a certificate has a dozen at most.
      if (extensionIds.includes(id)) throw new DerError(`duplicate extension ${id}`);
      const vs = r.valueStart;
      extensionIds.push(id);
      extensionSpans.push(critical ? 1 : 0, vs, e);
      if (critical) (criticalExtensions === EMPTY ? (criticalExtensions = []) : criticalExtensions).push(id);
      // The extensions the profile uses are decoded here, in place (RFC 5280 §4.2.1).
      if (id === EXT.basicConstraints) isCa = decodeBasicConstraints(r, vs, e);
      else if (id === EXT.keyUsage) keyUsage = decodeKeyUsage(r, vs, e);
      else if (id === EXT.extKeyUsage) extendedKeyUsage = decodeOidSequence(r, vs, e);
      else if (id === EXT.certificatePolicies) policies = decodePolicies(r, vs, e);
      else if (id === EXT.authorityInfoAccess) ocspUrls = decodeOcspUrls(r, vs, e);
      else if (id === EXT.crlDistributionPoints) crlDistributionPoints = decodeCrlDistributionPoints(r, vs, e);
    }
  }

  return Object.freeze(
    new Certificate(der, {
      signatureHash,
      serialNumber: canonicalHex(der, serialV, serialEnd),
      notBefore,
      notAfter,
      rsaModulusBits: rsa ? rsaBits(der, keyV, spkiEnd) : 0,
      criticalExtensions,
      extensionIds,
      extensionSpans,
      isCa,
      keyUsage,
      extendedKeyUsage,
      policies,
      // prettier-ignore
      spans: [
        tbsStart, lim, // tbs
        sigV + 1, certEnd, // signature
        serialV, serialEnd, // serialBytes
        issuerStart, issuerEnd, // issuer
        validityEnd, subjectEnd, // subject
        subjectEnd, spkiEnd, // spki
        keyV, spkiEnd, // publicKeyBits
      ],
      ocspUrls,
      crlDistributionPoints,
    }),
  );
}

/** The fields {@link parse} decodes in full; the byte fields and OCSP URLs are made from offsets on first use. */
type DecodedFields =
  | 'signatureHash'
  | 'serialNumber'
  | 'notBefore'
  | 'notAfter'
  | 'rsaModulusBits'
  | 'criticalExtensions'
  | 'isCa'
  | 'keyUsage'
  | 'extendedKeyUsage'
  | 'policies';

/** What {@link parse} found, besides the DER. */
interface Decoded extends Pick<ParsedCertificate, DecodedFields> {
  /** Start and end offsets in `der` of tbs, signature, serialBytes, issuer, subject, spki, publicKeyBits. */
  readonly spans: readonly number[];
  /** Every extension's OID, and its critical flag (1/0), value start and end, in order. */
  readonly extensionIds: readonly string[];
  readonly extensionSpans: readonly number[];
  /** Start and end offsets of each OCSP URL (IA5String content) and each DistributionPointName. */
  readonly ocspUrls: readonly number[];
  readonly crlDistributionPoints: readonly number[];
}

/**
 * A parsed certificate. Its byte fields are views made on first use and kept (a view costs more to make than a
 * field check: a new certificate's login reads 5 of them), and its OCSP URLs are decoded on first use; frozen, the
 * memos being private fields.
 */
class Certificate implements ParsedCertificate {
  readonly der: Uint8Array;
  readonly fingerprint: string;
  readonly signatureHash: Decoded['signatureHash'];
  readonly serialNumber: Decoded['serialNumber'];
  readonly notBefore: Decoded['notBefore'];
  readonly notAfter: Decoded['notAfter'];
  readonly rsaModulusBits: Decoded['rsaModulusBits'];
  readonly criticalExtensions: Decoded['criticalExtensions'];
  readonly isCa: Decoded['isCa'];
  readonly keyUsage: Decoded['keyUsage'];
  readonly extendedKeyUsage: Decoded['extendedKeyUsage'];
  readonly policies: Decoded['policies'];
  readonly #spans: readonly number[];
  readonly #views: (Uint8Array | undefined)[] = [
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
  ];
  readonly #ocspSpans: readonly number[];
  #ocspUrls: readonly string[] | undefined;
  readonly #crlSpans: readonly number[];
  #crlDistributionPoints: readonly Uint8Array[] | undefined;
  readonly #extensionIds: readonly string[];
  readonly #extensionSpans: readonly number[];
  #extensions: ReadonlyMap<string, CertificateExtension> | undefined;

  constructor(der: Uint8Array, d: Decoded) {
    this.der = der;
    this.fingerprint = hash('sha256', der, 'hex');
    this.signatureHash = d.signatureHash;
    this.serialNumber = d.serialNumber;
    this.notBefore = d.notBefore;
    this.notAfter = d.notAfter;
    this.rsaModulusBits = d.rsaModulusBits;
    this.criticalExtensions = d.criticalExtensions;
    this.#extensionIds = d.extensionIds;
    this.#extensionSpans = d.extensionSpans;
    this.isCa = d.isCa;
    this.keyUsage = d.keyUsage;
    this.extendedKeyUsage = d.extendedKeyUsage;
    this.policies = d.policies;
    this.#spans = d.spans;
    this.#ocspSpans = d.ocspUrls;
    this.#crlSpans = d.crlDistributionPoints;
  }

  #view(i: number): Uint8Array {
    return (this.#views[i] ??= this.der.subarray(this.#spans[2 * i], this.#spans[2 * i + 1]));
  }

  get tbs(): Uint8Array {
    return this.#view(0);
  }
  get signature(): Uint8Array {
    return this.#view(1);
  }
  get serialBytes(): Uint8Array {
    return this.#view(2);
  }
  get issuer(): Uint8Array {
    return this.#view(3);
  }
  get subject(): Uint8Array {
    return this.#view(4);
  }
  get spki(): Uint8Array {
    return this.#view(5);
  }
  get publicKeyBits(): Uint8Array {
    return this.#view(6);
  }
  get ocspUrls(): readonly string[] {
    return (this.#ocspUrls ??= spansOf(this.#ocspSpans, (s, e) => latin1At(this.der, s, e)));
  }
  get crlDistributionPoints(): readonly Uint8Array[] {
    return (this.#crlDistributionPoints ??= spansOf(this.#crlSpans, (s, e) => this.der.subarray(s, e)));
  }
  get extensions(): ReadonlyMap<string, CertificateExtension> {
    if (this.#extensions) return this.#extensions;
    const m = new Map<string, CertificateExtension>();
    const ids = this.#extensionIds;
    const spans = this.#extensionSpans;
    for (let i = 0; i < ids.length; i++)
      m.set(ids[i]!, new Extension(this.der, spans[3 * i] === 1, spans[3 * i + 1]!, spans[3 * i + 2]!));
    return (this.#extensions = m);
  }
}

/** One extension; its value view is made on first use (path validation reads only `critical`). */
class Extension implements CertificateExtension {
  readonly critical: boolean;
  readonly #der: Uint8Array;
  readonly #start: number;
  readonly #end: number;
  #value: Uint8Array | undefined;

  constructor(der: Uint8Array, critical: boolean, start: number, end: number) {
    this.critical = critical;
    this.#der = der;
    this.#start = start;
    this.#end = end;
    Object.freeze(this);
  }

  get value(): Uint8Array {
    return (this.#value ??= this.#der.subarray(this.#start, this.#end));
  }
}

const NO_SPANS: number[] = [];

function spansOf<T>(spans: readonly number[], f: (start: number, end: number) => T): readonly T[] {
  if (spans.length === 0) return EMPTY as unknown as readonly T[];
  const out: T[] = [];
  for (let i = 0; i < spans.length; i += 2) out.push(f(spans[i]!, spans[i + 1]!));
  return Object.freeze(out);
}

const EMPTY: string[] = Object.freeze([]) as unknown as string[];

/** The hash of a sha{256,384,512}WithRSAEncryption AlgorithmIdentifier with NULL parameters at `der[start..end)`. */
function signatureHashAt(der: Uint8Array, start: number, end: number): ParsedCertificate['signatureHash'] | undefined {
  // 30 0d 06 09 2a 86 48 86 f7 0d 01 01 XX 05 00: the same bytes as RSA_ENCRYPTION but the algorithm octet.
  if (end - start !== 15) return undefined;
  for (let i = 0; i < 15; i++) if (i !== 12 && der[start + i] !== RSA_ENCRYPTION[i]) return undefined;
  const a = der[start + 12];
  return a === 0x0b ? 'sha256' : a === 0x0c ? 'sha384' : a === 0x0d ? 'sha512' : undefined;
}

function sameBytes(der: Uint8Array, aStart: number, aEnd: number, bStart: number, bEnd: number): boolean {
  if (aEnd - aStart !== bEnd - bStart) return false;
  for (let i = 0; i < aEnd - aStart; i++) if (der[aStart + i] !== der[bStart + i]) return false;
  return true;
}

// id-ce (2.5.29) extension OIDs by last octet, and id-pe-authorityInfoAccess: the names almost every extension has,
// so most certificates decode no OID arc by arc.
const ID_CE = Array.from({ length: 128 }, (_, i) => `2.5.29.${i}`);
const ID_PE_AIA = Uint8Array.of(0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x01);
// id-ad-ocsp 1.3.6.1.5.5.7.48.1 (RFC 5280 §4.2.2.1).
const ID_AD_OCSP = Uint8Array.of(0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01);

function extensionOid(der: Uint8Array, start: number, end: number): string {
  if (end - start === 3 && der[start] === 0x55 && der[start + 1] === 0x1d && der[start + 2]! < 0x80)
    return ID_CE[der[start + 2]!]!;
  if (bytesAt(der, start, end, ID_PE_AIA)) return EXT.authorityInfoAccess;
  return knownOid(der, start, end);
}

// OIDs met before (policies, purposes, extension names), by a hash of their content octets: every certificate of a
// profile carries the same few, so the verifier decodes each once and shares one string (whose hash Sets and Maps
// then already know). Bounded: an OID is looked up by its bytes, so any number of certificates with new OIDs only
// decode as before once the table is full.
const OID_SLOTS = 256;
const oidBytes: (Uint8Array | undefined)[] = new Array(OID_SLOTS).fill(undefined);
const oidText: string[] = new Array(OID_SLOTS).fill('');

/** {@link oidAt}, answered from a small table for OIDs met before. */
function knownOid(der: Uint8Array, start: number, end: number): string {
  let h = end - start;
  for (let i = start; i < end; i++) h = (h * 31 + der[i]!) | 0;
  const slot = h & (OID_SLOTS - 1);
  const b = oidBytes[slot];
  if (b !== undefined && bytesAt(der, start, end, b)) return oidText[slot]!;
  const s = oidAt(der, start, end);
  // Only a free slot is taken: the first OIDs met (the profile's) stay, and a collision decodes as before.
  if (b === undefined) {
    oidBytes[slot] = der.slice(start, end);
    oidText[slot] = s;
  }
  return s;
}

/** Modulus bits of the RSAPublicKey (SEQUENCE { modulus INTEGER, publicExponent INTEGER }) at `der[start..end)`. */
function rsaBits(der: Uint8Array, start: number, end: number): number {
  // RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER } (RFC 8017 A.1.1): both positive, and in
  // DER minimal (X.690 §8.3.2). OpenSSL is laxer (it reads 81 00 01 as 8454145, not as a negative number), so a key
  // is accepted only in the form where both readings agree.
  const k = new TlvReader(der);
  if (k.expect(start, end, TAG.SEQUENCE) !== end) throw new DerError('bad RSAPublicKey');
  const nEnd = k.expect(k.valueStart, end, TAG.INTEGER);
  const n = k.valueStart;
  if (k.expect(nEnd, end, TAG.INTEGER) !== end) throw new DerError('bad RSAPublicKey');
  if (!positiveMinimal(der, n, nEnd) || !positiveMinimal(der, k.valueStart, end))
    throw new DerError('RSAPublicKey integers are not positive minimal DER');
  const i = der[n] === 0 ? n + 1 : n;
  return (nEnd - i - 1) * 8 + (32 - Math.clz32(der[i]!));
}

/** A DER INTEGER's content `der[start..end)` is a positive number in minimal form. */
function positiveMinimal(der: Uint8Array, start: number, end: number): boolean {
  if (end === start || der[start]! & 0x80) return false;
  if (der[start] !== 0) return true;
  return end - start > 1 && (der[start + 1]! & 0x80) !== 0;
}

function canonicalHex(der: Uint8Array, start: number, end: number): string {
  let i = start;
  while (i < end - 1 && der[i] === 0) i++;
  return hex(der.subarray(i, end));
}

function expectTag(t: Tlv | undefined, tag: number): Tlv {
  if (!t || t.tag !== tag) throw new DerError(`expected tag ${tag.toString(16)}`);
  return t;
}

/** The value `der[start..end)` must be exactly one `tag` TLV; leaves it in `r`. */
function only(r: TlvReader, start: number, end: number, tag: number): void {
  if (r.expect(start, end, tag) !== end) throw new DerError(`bad extension value`);
}

/** BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER OPTIONAL } (§4.2.1.9). */
function decodeBasicConstraints(r: TlvReader, start: number, end: number): boolean {
  only(r, start, end, TAG.SEQUENCE);
  const seqEnd = r.end;
  let ca = false;
  let first = true;
  for (let p = r.valueStart; p < seqEnd; first = false) {
    p = r.read(p, seqEnd);
    if (first && r.tag === TAG.BOOLEAN) ca = boolean(r.buf.subarray(r.valueStart, r.end));
  }
  return ca;
}

function decodeKeyUsage(r: TlvReader, start: number, end: number): KeyUsage {
  only(r, start, end, TAG.BIT_STRING);
  if (r.end - r.valueStart < 2) throw new DerError('bad keyUsage');
  // Bit 0 is the most significant bit of the first content octet after the unused-bits octet (X.690 §8.6).
  const b = r.buf[r.valueStart + 1]!;
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

function decodeOidSequence(r: TlvReader, start: number, end: number): string[] {
  only(r, start, end, TAG.SEQUENCE);
  const out: string[] = [];
  for (let p = r.valueStart; p < end;) {
    p = r.expect(p, end, TAG.OID);
    out.push(knownOid(r.buf, r.valueStart, p));
  }
  return Object.freeze(out) as string[];
}

function decodePolicies(r: TlvReader, start: number, end: number): string[] {
  only(r, start, end, TAG.SEQUENCE);
  // PolicyInformation ::= SEQUENCE { policyIdentifier, policyQualifiers OPTIONAL } (RFC 5280 §4.2.1.4).
  const out: string[] = [];
  for (let p = r.valueStart; p < end;) {
    p = r.expect(p, end, TAG.SEQUENCE);
    const idEnd = r.expect(r.valueStart, p, TAG.OID);
    out.push(knownOid(r.buf, r.valueStart, idEnd));
  }
  return Object.freeze(out) as string[];
}

/**
 * AuthorityInfoAccessSyntax ::= SEQUENCE OF AccessDescription { accessMethod, accessLocation } (§4.2.2.1): the
 * start and end offsets of each OCSP URL.
 */
function decodeOcspUrls(r: TlvReader, start: number, end: number): number[] {
  only(r, start, end, TAG.SEQUENCE);
  const v = r.buf;
  const urls: number[] = [];
  for (let p = r.valueStart; p < end;) {
    p = r.expect(p, end, TAG.SEQUENCE);
    const methodEnd = r.expect(r.valueStart, p, TAG.OID);
    const ocsp = bytesAt(v, r.valueStart, methodEnd, ID_AD_OCSP);
    if (r.read(methodEnd, p) !== p) throw new DerError('bad AccessDescription');
    // id-ad-ocsp with a uniformResourceIdentifier [6] IA5String.
    if (ocsp && r.tag === 0x86) urls.push(r.valueStart, r.end);
  }
  return urls;
}

function latin1At(v: Uint8Array, start: number, end: number): string {
  return Buffer.from(v.buffer, v.byteOffset + start, end - start).toString('latin1');
}

/**
 * cRLDistributionPoints (RFC 5280 §4.2.1.13): the DER of each DistributionPointName (`[0] fullName` or
 * `[1] nameRelativeToCRLIssuer`, the CHOICE inside the explicit `[0]`), as a partitioned CRL's
 * issuingDistributionPoint carries it (§5.2.5). JPKI names one directoryName per issuing office (spec §8.2).
 * A point with `reasons` or `cRLIssuer` is left out: its CRL covers only some reasons, or is an indirect CRL
 * (§6.3.3 (b)(1), (d)), so it cannot establish the status on its own (fail closed). Start and end offsets.
 */
function decodeCrlDistributionPoints(r: TlvReader, start: number, end: number): number[] {
  only(r, start, end, TAG.SEQUENCE);
  const out: number[] = [];
  for (let p = r.valueStart; p < end;) {
    // DistributionPoint ::= SEQUENCE { distributionPoint [0], reasons [1], cRLIssuer [2] } (all OPTIONAL).
    p = r.expect(p, end, TAG.SEQUENCE);
    let nameStart = -1;
    let nameEnd = -1;
    let partial = false;
    for (let q = r.valueStart; q < p;) {
      q = r.read(q, p);
      if (r.tag === 0xa0) {
        const f = r.end;
        if (r.read(r.valueStart, f) !== f || (r.tag !== 0xa0 && r.tag !== 0xa1))
          throw new DerError('bad DistributionPointName');
        nameStart = r.start;
        nameEnd = f;
      } else if (r.tag === 0x81 || r.tag === 0xa2) partial = true;
      else throw new DerError('bad DistributionPoint');
    }
    if (nameStart >= 0 && !partial) out.push(nameStart, nameEnd);
  }
  return out;
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
        const id = oidAt(name, expectTag(t, TAG.OID).valueStart, t!.end);
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

const ID_AT_CN = Uint8Array.of(0x55, 0x04, 0x03);

/** The subject's first commonName, or `undefined`. */
export function commonName(cert: ParsedCertificate): string | undefined {
  // A walk for id-at-commonName (2.5.4.3 = 55 04 03) alone: the verifier describes every new certificate.
  const name = cert.subject;
  const r = new TlvReader(name);
  try {
    const end = r.expect(0, name.length, TAG.SEQUENCE);
    for (let p = r.valueStart; p < end;) {
      p = r.expect(p, end, TAG.SET);
      for (let q = r.valueStart; q < p;) {
        q = r.expect(q, p, TAG.SEQUENCE);
        const oidEnd = r.expect(r.valueStart, q, TAG.OID);
        if (bytesAt(name, r.valueStart, oidEnd, ID_AT_CN))
          return oidEnd < q ? text(name, readTlv(name, oidEnd, q)) : '';
      }
    }
    return undefined;
  } catch (e) {
    throw new CertificateInvalidError('ERR_PKI_CERT_MALFORMED', 'parse', 'bad Name', { cause: e });
  }
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
