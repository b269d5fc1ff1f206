/**
 * What a service asks for, as a person reads it: one line per requested claim or scope, in plain Japanese and
 * English, marked optional unless the service said `essential` (OIDC Core §5.5.1), each with the purposes the service
 * gave for it (OIDC4IA §5.5.1). The consent screen shows these lines, the signed eKYC statement repeats them, and the
 * consent record keeps their text.
 */
import { CONSENT_DETAIL } from '../claims/names.ts';
import type { BilingualMessage } from '../http-errors.ts';
import { isEssential, verifiedClaimsRequests, type RequestedClaims } from '../claims/request.ts';

/** One thing a service asks for. */
export interface ConsentItem {
  /** The claim (or scope, `scope:<name>`) the grant records. */
  readonly key: string;
  readonly label: BilingualMessage;
  /** Whether the person may leave it out. */
  readonly optional: boolean;
  /**
   * The service's stated purposes for this item (OIDC4IA `purpose` of a claim request, §5.5.1), by grant entry: the
   * item's key, or for `verified_claims` each `verified_claims.<claim>` (its `claims` members' purposes). Each list
   * is distinct and sorted (UTF-16 code units), so the same request gives the same map whatever the order of its
   * targets and elements; an entry no request gave a purpose has no member. The signed statement carries these
   * (ekyc/statement.ts), and a kept signature or a consent stands only for the same ones.
   */
  readonly claimPurposes: Readonly<Record<string, readonly string[]>>;
  /**
   * {@link ConsentItem.claimPurposes} as the person reads them, if any: one entry's purposes side by side (`；`), and
   * for `verified_claims` by the claims they are for (`氏名・住所: …`). The consent screen, its recorded text, the
   * signing page and the signed statement all show these same words.
   */
  readonly purpose?: string;
  /**
   * What exactly the item gives, recorded in the grant beside `key` (claim names alone would let a later request of
   * the same claim ask for more without a new screen): `verified_claims.<claim>` per verified claim, and
   * `residence_in_prefecture=<prefecture>` per prefecture asked about. Empty for the other claims.
   */
  readonly details: readonly string[];
}

const CLAIM_LABELS: Readonly<Record<string, BilingualMessage>> = Object.freeze({
  name: { ja: '氏名', en: 'Your full name' },
  family_name: { ja: '姓', en: 'Your family name' },
  given_name: { ja: '名', en: 'Your given name' },
  address: { ja: '住所', en: 'Your address' },
  birthdate: { ja: '生年月日', en: 'Your date of birth' },
  gender: { ja: '性別', en: 'Your sex' },
  age_over_18: {
    ja: '18歳以上かどうか（はい／いいえだけ。生年月日は伝えません）',
    en: 'Whether you are 18 or older (yes or no only; not your date of birth)',
  },
  age_over_20: {
    ja: '20歳以上かどうか（はい／いいえだけ。生年月日は伝えません）',
    en: 'Whether you are 20 or older (yes or no only; not your date of birth)',
  },
  residence_prefecture: {
    ja: 'お住まいの都道府県名（それより詳しい住所は伝えません）',
    en: 'Your prefecture of residence (not your address)',
  },
});

const VERIFICATION_LABEL: BilingualMessage = {
  ja: '本人確認の記録（署名用電子証明書の発行者とシリアル番号、署名の日時）',
  en: 'The record of the identity check (issuer and serial number of your signing certificate, time of signing)',
};

/**
 * The items of a request: `openid` (always, not optional), each requested claim of the `claims` parameter (once,
 * whether asked for the ID token or UserInfo), and `offline_access`.
 *
 * @example consentItems(requestedClaims(params.claims), 'openid offline_access')
 */
export function consentItems(requested: RequestedClaims, scope: string): ConsentItem[] {
  const items: ConsentItem[] = [
    {
      key: 'scope:openid',
      label: {
        ja: 'このサービス専用の利用者ID（ほかのサービスとは共通になりません）とログインした日時',
        en: 'An identifier for you that only this service gets (not shared with other services), and when you logged in',
      },
      optional: false,
      claimPurposes: {},
      details: [],
    },
  ];
  // A claim asked for both the ID token and UserInfo is one item, made of both requests: what either asks for is
  // shown (and signed, and granted), and it is required if either says essential.
  const requests = new Map<string, unknown[]>();
  for (const target of [requested.id_token, requested.userinfo]) {
    for (const [name, request] of Object.entries(target)) {
      const list = requests.get(name);
      if (list === undefined) requests.set(name, [request]);
      else list.push(request);
    }
  }
  for (const [name, list] of requests) {
    const item = claimItem(name, list);
    if (item !== undefined) items.push(item);
  }
  if (scope.split(' ').includes('offline_access')) {
    items.push({
      key: 'scope:offline_access',
      label: {
        ja: 'ログアウトした後も、同意を取り消すまで上の情報を受け取り続けること',
        en: 'Keep receiving the information above after you log out, until you withdraw this consent',
      },
      optional: true,
      claimPurposes: {},
      details: [],
    });
  }
  return items;
}

/**
 * The grant entries a request needs beyond claim names ({@link ConsentItem.details}), except those of claims the
 * person declined: when the grant lacks one, the consent screen is shown again.
 */
export function missingConsentDetails(
  requested: RequestedClaims,
  granted: readonly string[],
  rejected: readonly string[],
): string[] {
  const have = new Set(granted);
  return consentItems(requested, '')
    .filter((i) => !rejected.includes(i.key))
    .flatMap((i) => i.details.filter((d) => !have.has(d)));
}

function claimItem(name: string, requests: readonly unknown[]): ConsentItem | undefined {
  const optional = !requests.some(isEssential);
  if (name === 'verified_claims') {
    const inner = new Set<string>();
    const purposes = new Map<string, string[]>();
    let essential = false;
    for (const element of requests.flatMap((r) => verifiedClaimsRequests(r))) {
      for (const [claim, r] of Object.entries(element.claims)) {
        if (CLAIM_LABELS[claim] === undefined) continue;
        inner.add(claim);
        essential ||= isEssential(r);
        const entry = CONSENT_DETAIL.verifiedClaim(claim);
        purposes.set(entry, [...(purposes.get(entry) ?? []), ...purposeOf(r)]);
      }
    }
    const labels = [...inner].map((c) => CLAIM_LABELS[c]!);
    const claimPurposes = canonicalPurposes(purposes);
    // Inner claims given the same purposes are shown together (the RP SDK gives every one the request's purpose).
    const groups = new Map<string, { claims: string[]; purposes: readonly string[] }>();
    for (const claim of inner) {
      const list = claimPurposes[CONSENT_DETAIL.verifiedClaim(claim)];
      if (list === undefined) continue;
      const group = groups.get(JSON.stringify(list));
      if (group === undefined) groups.set(JSON.stringify(list), { claims: [claim], purposes: list });
      else group.claims.push(claim);
    }
    const text = [...groups.values()]
      .map((g) => `${g.claims.map((c) => CLAIM_LABELS[c]!.ja).join('・')}: ${purposeText(g.purposes)}`)
      .join(' ／ ');
    return {
      key: name,
      label: {
        ja: `電子署名で確認した本人情報: ${labels.map((l) => l.ja).join('、')}、および${VERIFICATION_LABEL.ja}`,
        en: `Identity information checked by your electronic signature: ${labels.map((l) => l.en.replace(/^Your /, 'your ')).join(', ')}, and ${VERIFICATION_LABEL.en.replace(/^The /, 'the ')}`,
      },
      optional: !essential,
      claimPurposes,
      ...(text === '' ? {} : { purpose: text }),
      details: [...inner].map(CONSENT_DETAIL.verifiedClaim),
    };
  }
  const claimPurposes = canonicalPurposes(new Map([[name, requests.flatMap(purposeOf)]]));
  const purpose = claimPurposes[name] === undefined ? {} : { purpose: purposeText(claimPurposes[name]) };
  if (name === 'residence_in_prefecture') {
    const values = [
      ...new Set(requests.flatMap((r) => ((r as { values?: unknown[] } | null)?.values ?? []).map(String))),
    ];
    return {
      key: name,
      label: {
        ja: `${values.join('・')}に住んでいるかどうか（はい／いいえだけ。住所は伝えません）`,
        en: `Whether you live in ${values.join(' or ')} (yes or no only; not your address)`,
      },
      optional,
      claimPurposes,
      ...purpose,
      details: values.map(CONSENT_DETAIL.prefecture),
    };
  }
  const label = CLAIM_LABELS[name];
  if (label === undefined) return undefined;
  return { key: name, label, optional, claimPurposes, ...purpose, details: [] };
}

/** The `purpose` of one claim request (OIDC4IA §5.5.1; `claims/request.ts` checked its length), if any. */
function purposeOf(request: unknown): string[] {
  const purpose = typeof request === 'object' && request !== null ? (request as { purpose?: unknown }).purpose : null;
  return typeof purpose === 'string' ? [purpose] : [];
}

/** Per entry, its purposes distinct and sorted; entries without any left out ({@link ConsentItem.claimPurposes}). */
function canonicalPurposes(purposes: ReadonlyMap<string, readonly string[]>): Record<string, readonly string[]> {
  const out: Record<string, readonly string[]> = {};
  for (const [entry, list] of purposes) if (list.length > 0) out[entry] = [...new Set(list)].sort();
  return out;
}

/** The purposes of one entry as shown: one alone as given, several (ID token and UserInfo differ) side by side. */
function purposeText(purposes: readonly string[]): string {
  return purposes.join('；');
}

/**
 * The per-claim purposes of `items` together (each item's {@link ConsentItem.claimPurposes}; entries never overlap
 * across items), for every entry the items list, their keys and details: `[]` for one given no purpose. What a
 * statement for these items signs, and what a kept signature or a consent is compared with.
 *
 * @example claimPurposesOf(items) // { age_over_20: ['酒類の購入'], verified_claims: [], 'verified_claims.name': [] }
 */
export function claimPurposesOf(items: readonly ConsentItem[]): Record<string, readonly string[]> {
  const out: Record<string, readonly string[]> = {};
  for (const item of items) {
    if (item.key.startsWith('scope:')) continue;
    for (const entry of [item.key, ...item.details]) out[entry] = item.claimPurposes[entry] ?? [];
  }
  return out;
}

/** The exact text of a consent screen, as recorded with the consent (APPI: what the person agreed to, when). */
export function consentText(input: {
  readonly clientName: string;
  readonly clientOrigin: string;
  readonly purpose: string | undefined;
  readonly items: readonly ConsentItem[];
}): string {
  const lines = [
    `${input.clientName}（${input.clientOrigin}）に次の情報を提供します。 / ${input.clientName} (${input.clientOrigin}) will receive:`,
    ...(input.purpose ? [`目的 / Purpose: ${input.purpose}`] : []),
    ...input.items.map(
      (i) =>
        `- ${i.label.ja}${i.optional ? '［任意］' : '［必須］'} / ${i.label.en}${i.optional ? ' [optional]' : ' [required]'}${i.purpose ? `（${i.purpose}）` : ''}`,
    ),
  ];
  return lines.join('\n');
}
