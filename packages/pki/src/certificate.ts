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
  equal,
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
  return parseWith(der, undefined);
}

/**
 * {@link parseCertificate} of the bytes of `buf` (Node's decoding of a token's base64), the certificate's `der` a
 * Uint8Array over the same memory: the text it makes from its bytes (serial, common name, key PEM) then comes from
 * that Buffer, without a view per field. Internal.
 *
 * @throws CertificateInvalidError `ERR_PKI_CERT_MALFORMED`
 */
export function parseCertificateBuffer(buf: Buffer): ParsedCertificate {
  return parseWith(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), buf);
}

function parseWith(der: Uint8Array, buf: Buffer | undefined): ParsedCertificate {
  try {
    return parse(der, buf);
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

function parse(der: Uint8Array, buf: Buffer | undefined): ParsedCertificate {
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

  // Extensions: the profile's are decoded here, the rest only checked; the Map of them all, the OCSP URLs and the
  // CRL distribution points are made from offsets if asked for (a login reads none of them). Nothing here grows an
  // array: a new certificate's parse is on every cold login, and its garbage costs as much as its work.
  let extsStart = 0;
  let extsEnd = 0;
  let critical = 0;
  let isCa = false;
  let keyUsage: KeyUsage | null = null;
  let extendedKeyUsage: string[] | null = null;
  let policies: string[] = EMPTY;
  let aiaStart = 0;
  let aiaEnd = 0;
  let crlStart = 0;
  let crlEnd = 0;
  for (pos = spkiEnd; pos < lim;) {
    pos = r.read(pos, lim);
    const t: number = r.tag;
    // issuerUniqueID [1] / subjectUniqueID [2] are skipped; [3] holds the extensions.
    if (t === 0x81 || t === 0x82) continue;
    if (t !== 0xa3 || pos !== lim) throw new DerError('unexpected TBS field');
    extsEnd = r.expect(r.valueStart, lim, TAG.SEQUENCE);
    if (extsEnd !== lim) throw new DerError('bad extensions');
    extsStart = r.valueStart;
    let extensions = 0;
    for (let p = extsStart; p < extsEnd;) {
      // Extension ::= SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }.
      const e = r.expect(p, extsEnd, TAG.SEQUENCE);
      p = e;
      let q = r.expect(r.valueStart, e, TAG.OID);
      const code = extensionCode(der, r.valueStart, q);
      const id = code < 0 ? knownOid(der, r.valueStart, q) : code === AIA ? EXT.authorityInfoAccess : ID_CE[code]!;
      let isCritical = false;
      q = r.read(q, e);
      if (r.tag === TAG.BOOLEAN) {
        // DER: BOOLEAN TRUE is FF (X.690 §11.1), and DEFAULT FALSE must be omitted (X.690 §11.5).
        if (q - r.valueStart !== 1 || der[r.valueStart] !== 0xff) throw new DerError('bad critical flag');
        isCritical = true;
        q = r.read(q, e);
      }
      if (r.tag !== TAG.OCTET_STRING || q !== e) throw new DerError('bad extension');
      // Compared by code (numbers) where there is one, else by OID; a certificate has a dozen at most. The critical
      // ones are kept at the front of `seen`, in certificate order.
      for (let i = 0; i < extensions; i++)
        if (codes[i] === code && (code >= 0 || seen[i] === id)) throw new DerError(`duplicate extension ${id}`);
      if (isCritical) {
        codes[extensions] = codes[critical]!;
        seen[extensions++] = seen[critical]!;
        codes[critical] = code;
        seen[critical++] = id;
      } else {
        codes[extensions] = code;
        seen[extensions++] = id;
      }
      const vs = r.valueStart;
      // The extensions the profile uses are decoded here, in place (RFC 5280 §4.2.1).
      if (code === 19 /* basicConstraints */) isCa = decodeBasicConstraints(r, vs, e);
      else if (code === 15 /* keyUsage */) keyUsage = decodeKeyUsage(r, vs, e);
      else if (code === 37 /* extKeyUsage */) extendedKeyUsage = decodeOidSequence(r, vs, e);
      else if (code === 32 /* certificatePolicies */) policies = decodePolicies(r, vs, e);
      else if (code === AIA) decodeOcspUrls(r, (aiaStart = vs), (aiaEnd = e), undefined);
      else if (code === 31 /* cRLDistributionPoints */)
        decodeCrlDistributionPoints(r, (crlStart = vs), (crlEnd = e), undefined);
    }
  }

  // prettier-ignore
  const spans = [
    tbsStart, lim, // tbs
    sigV + 1, certEnd, // signature
    serialV, serialEnd, // serialBytes
    issuerStart, issuerEnd, // issuer
    validityEnd, subjectEnd, // subject
    subjectEnd, spkiEnd, // spki
    keyV, spkiEnd, // publicKeyBits
    extsStart, extsEnd, // the extensions' SEQUENCE contents
    aiaStart, aiaEnd, // authorityInfoAccess extnValue contents
    crlStart, crlEnd, // cRLDistributionPoints extnValue contents
  ];
  // Set field by field on the new object (not through an object of them), then frozen.
  const c = new Certificate(der, buf, spans);
  c.signatureHash = signatureHash;
  c.serialNumber = canonicalHex(der, serialV, serialEnd);
  c.notBefore = notBefore;
  c.notAfter = notAfter;
  c.rsaModulusBits = rsa ? rsaBits(r, keyV, spkiEnd) : 0;
  c.criticalExtensions = critical === 0 ? EMPTY : seen.slice(0, critical);
  c.isCa = isCa;
  c.keyUsage = keyUsage;
  c.extendedKeyUsage = extendedKeyUsage;
  c.policies = policies;
  return Object.freeze(c);
}

// The OIDs of the extensions met so far in the certificate being parsed (parsing is synchronous, so one list
// serves every parse), the critical ones first; and the OIDs of one extension's SEQUENCE OF while it is decoded.
// Each is filled from index 0 with a count of its own, never truncated: setting an array's length to 0 drops its
// storage, and the next push allocates it again.
const seen: string[] = [];
const codes: number[] = [];
const oids: string[] = [];
let oidCount = 0;

/**
 * A parsed certificate. Its byte fields are views made on first use and kept (a view costs more to make than a
 * field check: a new certificate's login reads several), and its extensions, OCSP URLs and CRL distribution points
 * are decoded on first use (parse checked them all). `parse` sets its decoded fields and freezes it; the memos are
 * private fields.
 */
class Certificate implements ParsedCertificate {
  readonly der: Uint8Array;
  readonly fingerprint: string;
  signatureHash: ParsedCertificate['signatureHash'] = 'sha256';
  serialNumber = '';
  notBefore = 0;
  notAfter = 0;
  rsaModulusBits = 0;
  criticalExtensions: readonly string[] = EMPTY;
  isCa = false;
  keyUsage: KeyUsage | null = null;
  extendedKeyUsage: readonly string[] | null = null;
  policies: readonly string[] = EMPTY;
  /**
   * Start and end offsets in `der` of tbs, signature, serialBytes, issuer, subject, spki, publicKeyBits; of the
   * extensions' contents; and of the authorityInfoAccess and cRLDistributionPoints values (0, 0 when absent).
   */
  readonly #spans: readonly number[];
  #tbs: Uint8Array | undefined;
  #signature: Uint8Array | undefined;
  #serialBytes: Uint8Array | undefined;
  #issuer: Uint8Array | undefined;
  #subject: Uint8Array | undefined;
  #spki: Uint8Array | undefined;
  #publicKeyBits: Uint8Array | undefined;
  #buf: Buffer | undefined;
  #ocspUrls: readonly string[] | undefined;
  #crlDistributionPoints: readonly Uint8Array[] | undefined;
  #extensions: ReadonlyMap<string, CertificateExtension> | undefined;

  constructor(der: Uint8Array, buf: Buffer | undefined, spans: readonly number[]) {
    this.der = der;
    this.#buf = buf;
    this.fingerprint = hash('sha256', der, 'hex');
    this.#spans = spans;
  }

  #view(i: number): Uint8Array {
    return this.der.subarray(this.#spans[2 * i], this.#spans[2 * i + 1]);
  }

  /** A Buffer over `der`, for text made from its bytes (`toString(encoding, start, end)` makes no view). */
  #buffer(): Buffer {
    return (this.#buf ??= Buffer.from(this.der.buffer, this.der.byteOffset, this.der.byteLength));
  }

  /** See {@link issuerIs}. */
  static issuerIs(c: Certificate, name: Uint8Array): boolean {
    return bytesAt(c.der, c.#spans[6]!, c.#spans[7]!, name);
  }

  /** See {@link rsaPublicKeyBase64}. */
  static publicKeyBase64(c: Certificate): string {
    return c.#buffer().toString('base64', c.#spans[12], c.#spans[13]);
  }

  /** See {@link commonName}: the subject walked in `der` itself. */
  static commonName(c: Certificate): string | undefined {
    return commonNameIn(c.der, c.#spans[8]!, c.#spans[9]!, c.#buffer());
  }

  get tbs(): Uint8Array {
    return (this.#tbs ??= this.#view(0));
  }
  get signature(): Uint8Array {
    return (this.#signature ??= this.#view(1));
  }
  get serialBytes(): Uint8Array {
    return (this.#serialBytes ??= this.#view(2));
  }
  get issuer(): Uint8Array {
    return (this.#issuer ??= this.#view(3));
  }
  get subject(): Uint8Array {
    return (this.#subject ??= this.#view(4));
  }
  get spki(): Uint8Array {
    return (this.#spki ??= this.#view(5));
  }
  get publicKeyBits(): Uint8Array {
    return (this.#publicKeyBits ??= this.#view(6));
  }
  get ocspUrls(): readonly string[] {
    if (this.#ocspUrls) return this.#ocspUrls;
    const at: number[] = [];
    const end = this.#spans[17]!;
    if (end !== 0) decodeOcspUrls(new TlvReader(this.der), this.#spans[16]!, end, at);
    return (this.#ocspUrls = spansOf(at, (s, e) => latin1At(this.der, s, e)));
  }
  get crlDistributionPoints(): readonly Uint8Array[] {
    if (this.#crlDistributionPoints) return this.#crlDistributionPoints;
    const at: number[] = [];
    const end = this.#spans[19]!;
    if (end !== 0) decodeCrlDistributionPoints(new TlvReader(this.der), this.#spans[18]!, end, at);
    return (this.#crlDistributionPoints = spansOf(at, (s, e) => this.der.subarray(s, e)));
  }
  get extensions(): ReadonlyMap<string, CertificateExtension> {
    if (this.#extensions) return this.#extensions;
    // The walk of parse again, which it passed: Extension ::= SEQUENCE { extnID, critical DEFAULT FALSE, extnValue }.
    const m = new Map<string, CertificateExtension>();
    const der = this.der;
    const r = new TlvReader(der);
    const end = this.#spans[15]!;
    for (let p = this.#spans[14]!; p < end;) {
      const e = r.expect(p, end, TAG.SEQUENCE);
      p = e;
      let q = r.expect(r.valueStart, e, TAG.OID);
      const id = extensionOid(der, r.valueStart, q);
      q = r.read(q, e);
      const critical = r.tag === TAG.BOOLEAN;
      if (critical) r.read(q, e);
      m.set(id, new Extension(der, critical, r.valueStart, e));
    }
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
  const code = extensionCode(der, start, end);
  return code < 0 ? knownOid(der, start, end) : code === AIA ? EXT.authorityInfoAccess : ID_CE[code]!;
}

/** Code of id-authorityInfoAccess in {@link extensionCode}. */
const AIA = 128;

/**
 * A number for the extension OID `der[start..end)`: an id-ce OID's last arc (0-127), {@link AIA}, or -1 for any
 * other (compared by text then). Numbers compare in one instruction where OID strings compare character by
 * character: a new certificate's parse checks each extension against the others and the profile's.
 */
function extensionCode(der: Uint8Array, start: number, end: number): number {
  if (end - start === 3 && der[start] === 0x55 && der[start + 1] === 0x1d && der[start + 2]! < 0x80)
    return der[start + 2]!;
  return bytesAt(der, start, end, ID_PE_AIA) ? AIA : -1;
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

/** Modulus bits of the RSAPublicKey (SEQUENCE { modulus INTEGER, publicExponent INTEGER }) at `k.buf[start..end)`. */
function rsaBits(k: TlvReader, start: number, end: number): number {
  // RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER } (RFC 8017 A.1.1): both positive, and in
  // DER minimal (X.690 §8.3.2). OpenSSL is laxer (it reads 81 00 01 as 8454145, not as a negative number), so a key
  // is accepted only in the form where both readings agree.
  const der = k.buf;
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
  // A JPKI serial is 4 octets (spec §8.2): by table, that is a quarter of a Buffer's cost (a view and a native call).
  if (end - i > 6) return hex(der.subarray(i, end));
  let s = '';
  for (; i < end; i++) s += HEX[der[i]!]!;
  return s;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

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
  // The bits read depend on that octet alone, so each of its values has one frozen object, shared by every
  // certificate with it (a profile's certificates all have the same one).
  const b = r.buf[r.valueStart + 1]! & 0xfe;
  return (keyUsages[b >> 1] ??= Object.freeze({
    digitalSignature: (b & 0x80) !== 0,
    nonRepudiation: (b & 0x40) !== 0,
    keyEncipherment: (b & 0x20) !== 0,
    dataEncipherment: (b & 0x10) !== 0,
    keyAgreement: (b & 0x08) !== 0,
    keyCertSign: (b & 0x04) !== 0,
    cRLSign: (b & 0x02) !== 0,
  }));
}

const keyUsages: (KeyUsage | undefined)[] = new Array(128).fill(undefined);

function decodeOidSequence(r: TlvReader, start: number, end: number): string[] {
  only(r, start, end, TAG.SEQUENCE);
  oidCount = 0;
  for (let p = r.valueStart; p < end;) {
    p = r.expect(p, end, TAG.OID);
    oids[oidCount++] = knownOid(r.buf, r.valueStart, p);
  }
  return (lastPurposes = shared(lastPurposes));
}

function decodePolicies(r: TlvReader, start: number, end: number): string[] {
  only(r, start, end, TAG.SEQUENCE);
  // PolicyInformation ::= SEQUENCE { policyIdentifier, policyQualifiers OPTIONAL } (RFC 5280 §4.2.1.4).
  oidCount = 0;
  for (let p = r.valueStart; p < end;) {
    p = r.expect(p, end, TAG.SEQUENCE);
    const idEnd = r.expect(r.valueStart, p, TAG.OID);
    oids[oidCount++] = knownOid(r.buf, r.valueStart, idEnd);
  }
  return (lastPolicies = shared(lastPolicies));
}

// The last lists of purposes and policies made: the next certificate of a profile has the same, and gets that frozen
// array rather than a copy of its own.
let lastPurposes: string[] = EMPTY;
let lastPolicies: string[] = EMPTY;

/** The first `oidCount` of `oids` as a frozen array: `last` when it has the same OIDs, else a new one. */
function shared(last: string[]): string[] {
  const n = oidCount;
  if (n === last.length) {
    let i = 0;
    while (i < n && oids[i] === last[i]) i++;
    if (i === n) return last;
  }
  return Object.freeze(oids.slice(0, n)) as string[];
}

/**
 * AuthorityInfoAccessSyntax ::= SEQUENCE OF AccessDescription { accessMethod, accessLocation } (§4.2.2.1): checks
 * it, and pushes the start and end offsets of each OCSP URL to `urls` if given.
 */
function decodeOcspUrls(r: TlvReader, start: number, end: number, urls: number[] | undefined): void {
  only(r, start, end, TAG.SEQUENCE);
  const v = r.buf;
  for (let p = r.valueStart; p < end;) {
    p = r.expect(p, end, TAG.SEQUENCE);
    const methodEnd = r.expect(r.valueStart, p, TAG.OID);
    const ocsp = bytesAt(v, r.valueStart, methodEnd, ID_AD_OCSP);
    if (r.read(methodEnd, p) !== p) throw new DerError('bad AccessDescription');
    // id-ad-ocsp with a uniformResourceIdentifier [6] IA5String.
    if (ocsp && r.tag === 0x86 && urls) urls.push(r.valueStart, r.end);
  }
}

function latin1At(v: Uint8Array, start: number, end: number): string {
  return Buffer.from(v.buffer, v.byteOffset + start, end - start).toString('latin1');
}

/**
 * cRLDistributionPoints (RFC 5280 §4.2.1.13): the DER of each DistributionPointName (`[0] fullName` or
 * `[1] nameRelativeToCRLIssuer`, the CHOICE inside the explicit `[0]`), as a partitioned CRL's
 * issuingDistributionPoint carries it (§5.2.5). JPKI names one directoryName per issuing office (spec §8.2).
 * A point with `reasons` or `cRLIssuer` is left out: its CRL covers only some reasons, or is an indirect CRL
 * (§6.3.3 (b)(1), (d)), so it cannot establish the status on its own (fail closed). Checks it, and pushes the
 * start and end offsets of each to `out` if given.
 */
function decodeCrlDistributionPoints(r: TlvReader, start: number, end: number, out: number[] | undefined): void {
  only(r, start, end, TAG.SEQUENCE);
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
    if (nameStart >= 0 && !partial && out) out.push(nameStart, nameEnd);
  }
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

/** The subject's first commonName, or `undefined`. */
export function commonName(cert: ParsedCertificate): string | undefined {
  try {
    if (cert instanceof Certificate) return Certificate.commonName(cert);
    const name = cert.subject;
    return commonNameIn(name, 0, name.length, Buffer.from(name.buffer, name.byteOffset, name.byteLength));
  } catch (e) {
    throw new CertificateInvalidError('ERR_PKI_CERT_MALFORMED', 'parse', 'bad Name', { cause: e });
  }
}

/**
 * Whether `cert`'s issuer Name is byte for byte `name` (name chaining, RFC 5280 §6.1.3 (a)(4)): compared in the
 * DER, without a view of the issuer, for a certificate of {@link parseCertificate}. Internal.
 */
export function issuerIs(cert: ParsedCertificate, name: Uint8Array): boolean {
  return cert instanceof Certificate ? Certificate.issuerIs(cert, name) : equal(cert.issuer, name);
}

/**
 * For a certificate of {@link parseCertificate} whose key it read as RSA (`rsaModulusBits` > 0: an rsaEncryption
 * SubjectPublicKeyInfo whose subjectPublicKey bits are an RSAPublicKey), that RSAPublicKey in base64; else
 * `undefined`. Internal.
 */
export function rsaPublicKeyBase64(cert: ParsedCertificate): string | undefined {
  return cert instanceof Certificate && cert.rsaModulusBits > 0 ? Certificate.publicKeyBase64(cert) : undefined;
}

const ID_AT_CN = Uint8Array.of(0x55, 0x04, 0x03);

/**
 * The first commonName of the Name `der[start..end)`; `buf` a Buffer over `der`. A walk for id-at-commonName
 * (2.5.4.3 = 55 04 03) alone: the verifier describes every new certificate. Throws DerError or TypeError.
 */
function commonNameIn(der: Uint8Array, start: number, end: number, buf: Buffer): string | undefined {
  const r = new TlvReader(der);
  const seqEnd = r.expect(start, end, TAG.SEQUENCE);
  for (let p = r.valueStart; p < seqEnd;) {
    p = r.expect(p, seqEnd, TAG.SET);
    for (let q = r.valueStart; q < p;) {
      q = r.expect(q, p, TAG.SEQUENCE);
      const oidEnd = r.expect(r.valueStart, q, TAG.OID);
      if (!bytesAt(der, r.valueStart, oidEnd, ID_AT_CN)) continue;
      if (oidEnd === q) return '';
      // `text`: UTF8String decoded strictly, any other type as latin1. An ASCII UTF8String is its latin1 too, and
      // is read from the Buffer without a view.
      r.read(oidEnd, q);
      const vs = r.valueStart;
      const ve = r.end;
      if (r.tag === TAG.UTF8)
        for (let i = vs; i < ve; i++) if (der[i]! >= 0x80) return UTF8.decode(der.subarray(vs, ve));
      return buf.toString('latin1', vs, ve);
    }
  }
  return undefined;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Reads the first TLV of `der` (used to slice embedded structures such as OCSP's tbsResponseData). */
export function firstElement(der: Uint8Array): {
  whole: Uint8Array;
  rest: Uint8Array;
} {
  const outer = readTlv(der, 0);
  const first = readTlv(der, outer.valueStart, outer.end);
  return { whole: whole(der, first), rest: der.subarray(first.end, outer.end) };
}
