/**
 * Derived claims: the answer to the question a service asks, and nothing more (the German eID answers age and place
 * questions the same way, intl-anchors §3; the EU wallet's `age_over_NN` booleans, §4).
 */
import { ageOver } from '@mynagate/pki';

/** The 47 prefectures (都道府県) as a JPKI address begins with them (spec §8.3: the address starts at the prefecture). */
export const PREFECTURES: readonly string[] = Object.freeze([
  '北海道',
  '青森県',
  '岩手県',
  '宮城県',
  '秋田県',
  '山形県',
  '福島県',
  '茨城県',
  '栃木県',
  '群馬県',
  '埼玉県',
  '千葉県',
  '東京都',
  '神奈川県',
  '新潟県',
  '富山県',
  '石川県',
  '福井県',
  '山梨県',
  '長野県',
  '岐阜県',
  '静岡県',
  '愛知県',
  '三重県',
  '滋賀県',
  '京都府',
  '大阪府',
  '兵庫県',
  '奈良県',
  '和歌山県',
  '鳥取県',
  '島根県',
  '岡山県',
  '広島県',
  '山口県',
  '徳島県',
  '香川県',
  '愛媛県',
  '高知県',
  '福岡県',
  '佐賀県',
  '長崎県',
  '熊本県',
  '大分県',
  '宮崎県',
  '鹿児島県',
  '沖縄県',
]);

/**
 * The prefecture an address starts with, or `undefined` when it starts with none of the 47.
 *
 * @example prefectureOf('東京都千代田区千代田1-1') // '東京都'
 */
export function prefectureOf(address: string): string | undefined {
  return PREFECTURES.find((p) => address.startsWith(p));
}

/**
 * Whether the person lives in one of `prefectures` (names as in {@link PREFECTURES}). The address is not revealed.
 *
 * @example residesIn('東京都千代田区千代田1-1', ['東京都']) // true
 */
export function residesIn(address: string, prefectures: readonly unknown[]): boolean {
  const own = prefectureOf(address);
  return own !== undefined && prefectures.includes(own);
}

/** `age_over_NN` claim names → NN. */
export const AGE_CLAIM = /^age_over_(18|20)$/;

/**
 * The answer to an `age_over_NN` claim at `now` (Japan time, 民法 §143: see `@mynagate/pki` `ageAt`), or
 * `undefined` when `claim` is not an age claim we answer.
 *
 * @example ageClaim('age_over_20', '2006-04-02', new Date('2026-04-01T15:00:00Z')) // true (00:00 JST on 2 April)
 */
export function ageClaim(claim: string, birthDate: string, now: Date): boolean | undefined {
  const m = AGE_CLAIM.exec(claim);
  return m === null ? undefined : ageOver(Number(m[1]), birthDate, now);
}
