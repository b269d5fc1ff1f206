/**
 * The basic 4 information (基本4情報) as the signing certificate carries it: SubjectAltName otherNames with the
 * JPKI personal-data OIDs, in the order observed in a real certificate (spec §8.3).
 */
import { GeneralName, GeneralNames, OtherName } from '@peculiar/asn1-x509';
import { ab, der, utf8String } from './lib/der.ts';
import type { CivilDate } from './lib/time.ts';
import { pad } from './lib/time.ts';

/** `1.2.392.200149.8.5.5`: the JPKI personal-data arc (spec §8.3). */
export const JPKI_PERSONAL_DATA_OIDS = {
  name: '1.2.392.200149.8.5.5.1',
  nameSubstitutes: '1.2.392.200149.8.5.5.2',
  sex: '1.2.392.200149.8.5.5.3',
  birthDate: '1.2.392.200149.8.5.5.4',
  address: '1.2.392.200149.8.5.5.5',
  addressSubstitutes: '1.2.392.200149.8.5.5.6',
} as const;

/** The substitute character (〓, U+3013 GETA MARK) put in place of a character the JPKI character set lacks. */
export const SUBSTITUTE_CHAR = '\u3013';

/**
 * Era starts by Western (Gregorian) date: Taisho 1912-07-30, Showa 1926-12-25, Heisei 1989-01-08, Reiwa 2019-05-01.
 * Dates before Meiji get code 0 ("unknown", spec §8.3).
 */
const ERAS: readonly { code: string; from: CivilDate }[] = [
  { code: '5', from: { year: 2019, month: 5, day: 1 } }, // Reiwa
  { code: '4', from: { year: 1989, month: 1, day: 8 } }, // Heisei
  { code: '3', from: { year: 1926, month: 12, day: 25 } }, // Showa
  { code: '2', from: { year: 1912, month: 7, day: 30 } }, // Taisho
  { code: '1', from: { year: 1868, month: 10, day: 23 } }, // Meiji (the proclamation, Gregorian)
];

/**
 * The era code of a Western date: 1 Meiji, 2 Taisho, 3 Showa, 4 Heisei, 5 Reiwa, 0 unknown (spec §8.3, OID .5.5.4).
 *
 * @example eraCode({ year: 1989, month: 1, day: 7 }) // '3'
 */
export function eraCode(d: CivilDate): string {
  const key = d.year * 10000 + d.month * 100 + d.day;
  for (const era of ERAS) {
    if (key >= era.from.year * 10000 + era.from.month * 100 + era.from.day) return era.code;
  }
  return '0';
}

/**
 * The certificate's DOB value `EYYYYMMDD`: era code then the Western date (spec §8.3).
 *
 * @example certificateBirthDate({ year: 1990, month: 1, day: 2 }) // '419900102'
 */
export function certificateBirthDate(d: CivilDate): string {
  return eraCode(d) + pad(d.year, 4) + pad(d.month, 2) + pad(d.day, 2);
}

/** ISO/IEC 5218 (the text AP, spec §6.2) to the certificate's code: 1 male, 2 female, 3 unknown (spec §8.3). */
export function certificateSex(iso5218: '0' | '1' | '2' | '9'): '1' | '2' | '3' {
  return iso5218 === '1' ? '1' : iso5218 === '2' ? '2' : '3';
}

/**
 * Whether a character is in our approximation of the JPKI character set (JIS X 0208 plus JIS X 0212, spec §8.3):
 * ASCII, CJK symbols and punctuation, kana, the BMP CJK unified ideographs and the full-width forms. Everything
 * else (notably characters outside the BMP such as 𠮷) is replaced. This is deliberately coarse: it gives tests a
 * predictable way to produce substitutions, not a faithful JIS table.
 */
export function inJpkiCharset(ch: string): boolean {
  const c = ch.codePointAt(0)!;
  return (
    (c >= 0x20 && c <= 0x7e) ||
    (c >= 0x3000 && c <= 0x30ff) ||
    (c >= 0x4e00 && c <= 0x9fff) ||
    (c >= 0xff00 && c <= 0xffef)
  );
}

/**
 * Replaces characters outside the JPKI character set with 〓 and returns the position string: one `0`/`1` per
 * character (code point), `1` where substituted (spec §8.3, OIDs .5.5.2 and .5.5.6).
 *
 * @example substitute('山田　𠮷男') // { text: '山田　〓男', positions: '00010' }
 */
export function substitute(s: string): { text: string; positions: string } {
  let text = '';
  let positions = '';
  for (const ch of s) {
    const ok = inJpkiCharset(ch);
    text += ok ? ch : SUBSTITUTE_CHAR;
    positions += ok ? '0' : '1';
  }
  return { text, positions };
}

/** The holder data a signing certificate encodes. */
export interface Basic4 {
  readonly name: string;
  readonly address: string;
  readonly birthDate: CivilDate;
  readonly sex: '0' | '1' | '2' | '9';
}

function otherName(typeId: string, value: string): GeneralName {
  // Each entry is [0] { type-id, [0] EXPLICIT UTF8String } (spec §8.3); asn1-x509 makes value [0] EXPLICIT.
  return new GeneralName({ otherName: new OtherName({ typeId, value: ab(utf8String(value)) }) });
}

/**
 * The SubjectAltName value (GeneralNames DER) of a signing certificate: name, DOB, sex, address, name substitute
 * positions, address substitute positions — the order of the observed real certificate (spec §8.3).
 */
export function basic4SubjectAltName(b: Basic4): Uint8Array {
  const name = substitute(b.name);
  const address = substitute(b.address);
  return der(
    new GeneralNames([
      otherName(JPKI_PERSONAL_DATA_OIDS.name, name.text),
      otherName(JPKI_PERSONAL_DATA_OIDS.birthDate, certificateBirthDate(b.birthDate)),
      otherName(JPKI_PERSONAL_DATA_OIDS.sex, certificateSex(b.sex)),
      otherName(JPKI_PERSONAL_DATA_OIDS.address, address.text),
      otherName(JPKI_PERSONAL_DATA_OIDS.nameSubstitutes, name.positions),
      otherName(JPKI_PERSONAL_DATA_OIDS.addressSubstitutes, address.positions),
    ]),
  );
}
