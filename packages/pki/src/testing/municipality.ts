/**
 * The issuing municipality of a card, romanised as JPKI writes it in the signing certificate's localities and in
 * the CRL partition names ("Ibaraki-ken", "Tsukuba-shi", spec §8.2 and §8.3).
 */
import { createHash } from 'node:crypto';

/** A municipality in romanised form. */
export interface Municipality {
  /** e.g. `Ibaraki-ken`, `Tokyo-to`. */
  readonly prefecture: string;
  /** e.g. `Tsukuba-shi`, `Chiyoda-ku`. */
  readonly city: string;
}

const PREFECTURES: readonly (readonly [string, string])[] = [
  ['北海道', 'Hokkaido'],
  ['青森県', 'Aomori-ken'],
  ['岩手県', 'Iwate-ken'],
  ['宮城県', 'Miyagi-ken'],
  ['秋田県', 'Akita-ken'],
  ['山形県', 'Yamagata-ken'],
  ['福島県', 'Fukushima-ken'],
  ['茨城県', 'Ibaraki-ken'],
  ['栃木県', 'Tochigi-ken'],
  ['群馬県', 'Gunma-ken'],
  ['埼玉県', 'Saitama-ken'],
  ['千葉県', 'Chiba-ken'],
  ['東京都', 'Tokyo-to'],
  ['神奈川県', 'Kanagawa-ken'],
  ['新潟県', 'Niigata-ken'],
  ['富山県', 'Toyama-ken'],
  ['石川県', 'Ishikawa-ken'],
  ['福井県', 'Fukui-ken'],
  ['山梨県', 'Yamanashi-ken'],
  ['長野県', 'Nagano-ken'],
  ['岐阜県', 'Gifu-ken'],
  ['静岡県', 'Shizuoka-ken'],
  ['愛知県', 'Aichi-ken'],
  ['三重県', 'Mie-ken'],
  ['滋賀県', 'Shiga-ken'],
  ['京都府', 'Kyoto-fu'],
  ['大阪府', 'Osaka-fu'],
  ['兵庫県', 'Hyogo-ken'],
  ['奈良県', 'Nara-ken'],
  ['和歌山県', 'Wakayama-ken'],
  ['鳥取県', 'Tottori-ken'],
  ['島根県', 'Shimane-ken'],
  ['岡山県', 'Okayama-ken'],
  ['広島県', 'Hiroshima-ken'],
  ['山口県', 'Yamaguchi-ken'],
  ['徳島県', 'Tokushima-ken'],
  ['香川県', 'Kagawa-ken'],
  ['愛媛県', 'Ehime-ken'],
  ['高知県', 'Kochi-ken'],
  ['福岡県', 'Fukuoka-ken'],
  ['佐賀県', 'Saga-ken'],
  ['長崎県', 'Nagasaki-ken'],
  ['熊本県', 'Kumamoto-ken'],
  ['大分県', 'Oita-ken'],
  ['宮崎県', 'Miyazaki-ken'],
  ['鹿児島県', 'Kagoshima-ken'],
  ['沖縄県', 'Okinawa-ken'],
];

/** A few cities the demo data uses, so their names read naturally; others get a stable code (below). */
const CITIES: Readonly<Record<string, string>> = {
  千代田区: 'Chiyoda-ku',
  中央区: 'Chuo-ku',
  港区: 'Minato-ku',
  新宿区: 'Shinjuku-ku',
  渋谷区: 'Shibuya-ku',
  つくば市: 'Tsukuba-shi',
  横浜市: 'Yokohama-shi',
  大阪市: 'Osaka-shi',
  京都市: 'Kyoto-shi',
  札幌市: 'Sapporo-shi',
  名古屋市: 'Nagoya-shi',
  福岡市: 'Fukuoka-shi',
  那覇市: 'Naha-shi',
  仙台市: 'Sendai-shi',
  広島市: 'Hiroshima-shi',
};

const SUFFIX: Readonly<Record<string, string>> = { 市: 'shi', 区: 'ku', 町: 'machi', 村: 'mura' };

/**
 * The municipality of a Japanese address ("東京都千代田区…"). The prefecture comes from a table; a city outside the
 * small table cannot be romanised without a dictionary, so it gets `M<5 digits>-<suffix>`, a stable code derived
 * from its written name, which keeps CRL partitions consistent for the same city.
 *
 * @throws TypeError when the address does not start with one of the 47 prefectures.
 */
export function municipalityOf(address: string): Municipality {
  const pref = prefectureOf(address);
  if (!pref) throw new TypeError('address must start with a prefecture (都道府県)');
  const rest = address.slice(pref[0].length);
  // Designated cities have wards (横浜市中区): the city is the part up to the first 市/区/町/村.
  const m = /^(.+?[市区町村])/u.exec(rest);
  if (!m) return { prefecture: pref[1], city: 'Unknown-shi' };
  const ja = m[1]!;
  const known = CITIES[ja];
  if (known) return { prefecture: pref[1], city: known };
  const code = parseInt(createHash('sha256').update(ja).digest('hex').slice(0, 8), 16) % 100000;
  return { prefecture: pref[1], city: `M${String(code).padStart(5, '0')}-${SUFFIX[ja.slice(-1)] ?? 'shi'}` };
}

/** The prefecture an address starts with, as `[written, romanised]`, or `undefined`. */
export function prefectureOf(address: string): readonly [string, string] | undefined {
  return PREFECTURES.find(([ja]) => address.startsWith(ja));
}
