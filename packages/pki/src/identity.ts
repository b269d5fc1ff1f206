/**
 * The basic 4 information (基本4情報: name, address, birth date, sex) from a JPKI signing certificate's
 * SubjectAltName otherNames (spec §8.3), its OIDC claims, and age in Japanese law.
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import { SubjectAlternativeName } from '@peculiar/asn1-x509';
import { EXT, parseCertificate } from './certificate.ts';
import type { ParsedCertificate } from './certificate.ts';
import { TAG, readTlv, text } from './der.ts';
import { IdentityError } from './errors.ts';

/** The JPKI personal-data OIDs (spec §8.3; .5 = address and .6 = its substitute positions). */
export const BASIC4_OIDS = Object.freeze({
  name: '1.2.392.200149.8.5.5.1',
  nameSubstitutes: '1.2.392.200149.8.5.5.2',
  sex: '1.2.392.200149.8.5.5.3',
  birthDate: '1.2.392.200149.8.5.5.4',
  address: '1.2.392.200149.8.5.5.5',
  addressSubstitutes: '1.2.392.200149.8.5.5.6',
});

/** The holder's identity as the signing certificate states it. */
export interface Basic4Identity {
  /** 氏名, family and given name separated by a full-width space; unsupported characters are substitutes (〓). */
  readonly name: string;
  /** One `0`/`1` per code point of `name`; `1` marks a substitute character. All `0` when the certificate has none. */
  readonly nameSubstitutes: string;
  /** 住所, from the prefecture, no postcode. */
  readonly address: string;
  /** As `nameSubstitutes`, for `address`. */
  readonly addressSubstitutes: string;
  /** Western date `YYYY-MM-DD`. */
  readonly birthDate: string;
  /** Era code of the certificate's `EYYYYMMDD`: 1 Meiji, 2 Taisho, 3 Showa, 4 Heisei, 5 Reiwa, 0 unknown. */
  readonly birthEra: number;
  /** 性別: certificate code 1, 2, 3. */
  readonly sex: 'male' | 'female' | 'unknown';
}

/** OIDC standard claims (OpenID Connect Core §5.1) for a {@link Basic4Identity}. */
export interface Basic4Claims {
  readonly name: string;
  readonly address: { readonly formatted: string };
  /** `YYYY-MM-DD`. */
  readonly birthdate: string;
  /** `male` or `female`; omitted when the certificate says unknown (3), since "unknown" is not a gender value. */
  readonly gender?: 'male' | 'female';
}

const bad = (message: string): never => {
  throw new IdentityError('ERR_PKI_IDENTITY_MALFORMED', message);
};

/**
 * Reads the basic 4 information from a signing certificate (DER or parsed). Validate the certificate first; this
 * only reads.
 *
 * @throws IdentityError `ERR_PKI_IDENTITY_MALFORMED` when an item is missing, repeated or badly formed.
 * @throws CertificateInvalidError `ERR_PKI_CERT_MALFORMED` when `cert` is DER that does not parse.
 * @example
 * ```ts
 * const id = basic4FromCertificate(signCertDer);
 * const claims = basic4Claims(id); // { name, address: { formatted }, birthdate, gender }
 * ```
 */
export function basic4FromCertificate(cert: Uint8Array | ParsedCertificate): Basic4Identity {
  const c = cert instanceof Uint8Array ? parseCertificate(cert) : cert;
  const san = c.extensions.get(EXT.subjectAltName);
  if (!san) return bad('no SubjectAltName');
  let names: SubjectAlternativeName;
  try {
    names = AsnConvert.parse(san.value, SubjectAlternativeName);
  } catch {
    return bad('SubjectAltName is not DER');
  }
  const values = new Map<string, string>();
  for (const g of names) {
    const o = g.otherName;
    if (!o || !Object.values(BASIC4_OIDS).includes(o.typeId as never)) continue;
    if (values.has(o.typeId)) bad(`repeated ${o.typeId}`);
    // [0] EXPLICIT UTF8String (spec §8.3): asn1-x509 hands over the inner TLV.
    const v = new Uint8Array(o.value);
    let s: string;
    try {
      const t = readTlv(v, 0);
      if (t.tag !== TAG.UTF8 || t.end !== v.length) throw new Error('not UTF8String');
      s = text(v, t);
    } catch {
      return bad(`${o.typeId} is not a UTF8String`);
    }
    values.set(o.typeId, s);
  }
  const need = (oid: string, what: string) => values.get(oid) ?? bad(`${what} missing`);
  const name = need(BASIC4_OIDS.name, 'name');
  const address = need(BASIC4_OIDS.address, 'address');
  const dob = need(BASIC4_OIDS.birthDate, 'birth date');
  const sexCode = need(BASIC4_OIDS.sex, 'sex');

  // EYYYYMMDD: era code, then the Western date (spec §8.3).
  const m = /^([0-5])(\d{4})(\d{2})(\d{2})$/.exec(dob);
  if (!m || !isDate(Number(m[2]), Number(m[3]), Number(m[4]))) bad('birth date is not EYYYYMMDD');
  const sex = sexCode === '1' ? 'male' : sexCode === '2' ? 'female' : sexCode === '3' ? 'unknown' : bad('bad sex code');
  if (name.length === 0 || address.length === 0) bad('empty name or address');

  return Object.freeze({
    name,
    nameSubstitutes: positions(values.get(BASIC4_OIDS.nameSubstitutes), name, 'name'),
    address,
    addressSubstitutes: positions(values.get(BASIC4_OIDS.addressSubstitutes), address, 'address'),
    birthDate: `${m![2]}-${m![3]}-${m![4]}`,
    birthEra: Number(m![1]),
    sex,
  });
}

function positions(v: string | undefined, of: string, what: string): string {
  const n = [...of].length;
  if (v === undefined) return '0'.repeat(n);
  // One digit per character (code point) of the value, 0 or 1 (spec §8.3, OIDs .5.5.2 / .5.5.6).
  if (!/^[01]*$/.test(v) || v.length !== n) bad(`${what} substitute positions do not match`);
  return v;
}

function isDate(y: number, m: number, d: number): boolean {
  const t = new Date(Date.UTC(y, m - 1, d));
  return t.getUTCFullYear() === y && t.getUTCMonth() === m - 1 && t.getUTCDate() === d;
}

/**
 * OIDC claims of an identity: `name`, `address.formatted`, `birthdate`, and `gender` when known.
 *
 * @example basic4Claims(id).birthdate // '1990-01-02'
 */
export function basic4Claims(id: Basic4Identity): Basic4Claims {
  return Object.freeze({
    name: id.name,
    address: Object.freeze({ formatted: id.address }),
    birthdate: id.birthDate,
    ...(id.sex === 'unknown' ? {} : { gender: id.sex }),
  });
}

const JST_OFFSET_MS = 9 * 3600_000;

/**
 * Age in completed years at instant `at`, in Japanese law, for a birth date `YYYY-MM-DD`.
 *
 * The rule implemented: 年齢計算ニ関スル法律 counts age from the day of birth, and 民法 §143 ends each year at the
 * end of the day before the birthday's anniversary; for a 29 February birth, in a year without that day, at the end
 * of 28 February (§143(2): the last day of the month). So age n is reached at 24:00 JST of the day before the
 * anniversary, which is the instant 00:00 JST of the anniversary, or of 1 March for a 29 February birth in a common
 * year. (The "end of the previous day" wording matters for date-granular rules such as school years, 4月1日生まれ;
 * as an instant it is the same as 00:00 JST next day.) Japan time is UTC+9 all year (no DST).
 *
 * @throws TypeError when `birthDate` is not a real `YYYY-MM-DD` date or `at` is not a valid Date.
 * @example ageAt('2006-04-01', new Date('2026-03-31T15:00:00Z')) // 20 (00:00 JST on 1 April 2026)
 */
export function ageAt(birthDate: string, at: Date): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(birthDate);
  const by = Number(m?.[1]);
  const bm = Number(m?.[2]);
  const bd = Number(m?.[3]);
  if (!m || !isDate(by, bm, bd)) throw new TypeError('birthDate must be YYYY-MM-DD');
  if (!(at instanceof Date) || Number.isNaN(at.getTime())) throw new TypeError('at must be a valid Date');
  const j = new Date(at.getTime() + JST_OFFSET_MS);
  const y = j.getUTCFullYear();
  const md = (j.getUTCMonth() + 1) * 100 + j.getUTCDate();
  // This year's anniversary; 29 Feb in a common year counts from 1 March (see above).
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  const anniversary = bm === 2 && bd === 29 && !leap ? 301 : bm * 100 + bd;
  const age = y - by - (md >= anniversary ? 0 : 1);
  return Math.max(age, 0);
}

/**
 * Whether the holder has reached age `n` at `at` (see {@link ageAt} for the rule). Answers only the question asked,
 * e.g. for an `age_over_20` claim.
 *
 * @throws TypeError as {@link ageAt}, or when `n` is not a non-negative integer.
 * @example ageOver(20, id.birthDate, now)
 */
export function ageOver(n: number, birthDate: string, at: Date): boolean {
  if (!Number.isInteger(n) || n < 0) throw new TypeError('n must be a non-negative integer');
  return ageAt(birthDate, at) >= n;
}
