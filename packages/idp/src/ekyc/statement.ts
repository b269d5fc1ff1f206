/**
 * The statement a person signs with the signing certificate for eKYC: which service, what for, when, and what it
 * receives, in Japanese and English. The server keeps its own copy and checks the signature against it
 * (`@mynagate/pki` `verifyStatement`), so the companion can show it but never change it. Signing has to have a real
 * purpose (japan-anchors §1.3: meaningless text is not allowed), so the purpose is always part of it.
 */
import { randomBytes } from 'node:crypto';
import type { Statement } from '@mynagate/pki';
import type { BilingualMessage } from '../http-errors.ts';

/**
 * A statement's `nonce`: 32 random bytes, base64url (43 characters). Each scan gets a fresh one, so it tells apart
 * the statements of one signing transaction, and a companion's signature post names the statement it signed by it
 * (card-sign.ts `submitStatementSignature`): unguessable, it is what lets only the companion that scanned use the
 * statement up.
 */
export function statementNonce(): string {
  return randomBytes(32).toString('base64url');
}

/** Whether `value` has the shape of a {@link statementNonce}. */
export function isStatementNonce(value: unknown): value is string {
  return typeof value === 'string' && /^[A-Za-z0-9_-]{43}$/.test(value);
}

/**
 * One item of a statement: its label, and the service's per-claim purposes for it as the consent screen showed them
 * (consent/items.ts `ConsentItem.purpose`), if it gave any.
 */
export interface StatementItem extends BilingualMessage {
  readonly purpose?: string;
}

/** What {@link buildStatement} needs. */
export interface StatementInput {
  /** The service: its display name and the origin of its redirect URI. */
  readonly clientName: string;
  readonly clientOrigin: string;
  /** This provider's origin (who asks for the signature). */
  readonly issuer: string;
  /** What for: the request's `purpose`, or the one configured for the client. */
  readonly purpose: string;
  /** What the service will receive, as listed on the consent screen (one line per item, with its purposes). */
  readonly items: readonly StatementItem[];
  /**
   * The per-claim purposes by grant entry (consent/items.ts `claimPurposesOf`); entries without any are left out of
   * the statement, and a statement of none has no `claimPurposes` member (as before they were signed).
   */
  readonly claimPurposes?: Readonly<Record<string, readonly string[]>>;
  readonly nonce: string;
  readonly now: Date;
}

/** The purpose used when neither the request nor the configuration gives one and verified claims are asked. */
export const DEFAULT_PURPOSE =
  '本人確認（犯罪収益移転防止法に基づく取引時確認）/ Identity verification (Japanese AML Act)';

/**
 * The purpose when neither the request nor the configuration gives one: for derived answers only (`age_over_N`,
 * `residence_in_prefecture`), a check of that, never the identity verification of the AML Act the person is not
 * asked for (a signed statement must not say what it is not); for verified claims, {@link DEFAULT_PURPOSE}.
 */
export function defaultPurpose(claims: readonly string[]): string {
  const age = claims.some((c) => /^age_over_\d+$/.test(c));
  const residence = claims.includes('residence_in_prefecture');
  if (claims.some((c) => !/^age_over_\d+$/.test(c) && c !== 'residence_in_prefecture') || (!age && !residence))
    return DEFAULT_PURPOSE;
  if (age && residence) return '年齢と居住地の確認 / Checking age and place of residence';
  return age ? '年齢の確認 / Age check' : '居住地の確認 / Checking the place of residence';
}

/**
 * The purpose a statement for a request gives: the request's own `purpose` (OIDC4IA §5.5.1, checked by
 * `claims/provider-options.ts`), else the one configured for the client (`ekyc.purposes`), else
 * {@link defaultPurpose} of the claim keys the statement lists. The signing page builds its statement with it, and
 * the `ekyc` prompt compares it with the purpose an earlier signature was made for (ekyc/policy.ts), so both take it
 * from here.
 *
 * @example
 * ```ts
 * statementPurpose({ requested: params['purpose'], purposes: {}, clientId, claims: ['age_over_20'] })
 * // '年齢の確認 / Age check'
 * ```
 */
export function statementPurpose(input: {
  /** The request's `purpose` parameter, if any. */
  readonly requested: unknown;
  /** `ekyc.purposes`: the purpose configured per client id. */
  readonly purposes: Readonly<Record<string, string>>;
  readonly clientId: string;
  /** The claim keys the statement lists (for {@link defaultPurpose}). */
  readonly claims: readonly string[];
}): string {
  if (typeof input.requested === 'string') return input.requested;
  // Own members only: a client id such as `constructor` must not pick up Object.prototype's.
  const configured = Object.hasOwn(input.purposes, input.clientId) ? input.purposes[input.clientId] : undefined;
  return configured ?? defaultPurpose(input.claims);
}

/**
 * Builds the statement. `time` is the server's, in UTC (`Z`); the Japanese text shows it in Japan time. Each item's
 * per-claim purposes follow it in the text, in the consent screen's words, and are signed as data too: the member
 * `claimPurposes` (entry → sorted purposes), which canonical JSON serialises in one way only, so a kept signature is
 * compared with a request's purposes entry by entry (ekyc/policy.ts `unsignedTerms`).
 *
 * @example
 * ```ts
 * const statement = buildStatement({ clientName, clientOrigin, issuer, purpose, items, claimPurposes, nonce, now });
 * const canonical = new TextDecoder().decode(statementBytes(statement)); // what the card signs
 * ```
 */
export function buildStatement(input: StatementInput): Statement {
  const time = new Date(Math.floor(input.now.getTime() / 1000) * 1000).toISOString().replace('.000Z', 'Z');
  const jst = new Date(input.now.getTime() + 9 * 3600_000).toISOString().slice(0, 16).replace('T', ' ');
  const itemsJa = input.items.map((i) => `${i.ja}${i.purpose ? `（目的: ${i.purpose}）` : ''}`);
  const itemsEn = input.items.map((i) => `${i.en}${i.purpose ? ` (purpose: ${i.purpose})` : ''}`);
  const ja = `私は、${input.clientName}（${input.clientOrigin}）が次の目的で私の本人確認をすることに同意し、署名用電子証明書で署名します。目的: ${input.purpose}。提供する情報: ${itemsJa.join('、') || 'なし'}。日時: ${jst}（日本時間）。`;
  const en = `I agree that ${input.clientName} (${input.clientOrigin}) verifies my identity for this purpose, and I sign with my signing certificate. Purpose: ${input.purpose}. Information provided: ${itemsEn.join(', ') || 'none'}. Time: ${time}.`;
  const claimPurposes = Object.fromEntries(
    Object.entries(input.claimPurposes ?? {})
      .filter(([, list]) => list.length > 0)
      .map(([entry, list]) => [entry, Object.freeze([...new Set(list)].sort())]),
  );
  return Object.freeze({
    client: Object.freeze({ name: input.clientName, origin: input.clientOrigin }),
    purpose: input.purpose,
    time,
    nonce: input.nonce,
    issuer: input.issuer,
    intent: 'ekyc',
    text: Object.freeze({ ja, en }),
    ...(Object.keys(claimPurposes).length > 0 ? { claimPurposes: Object.freeze(claimPurposes) } : {}),
  });
}

/**
 * The per-claim purposes a statement signed (its `claimPurposes` member; `{}` for a statement without one, which
 * listed none). The statement is the server's own copy, built by {@link buildStatement}; anything else there is
 * read as no purposes rather than trusted.
 *
 * @example statementClaimPurposes(statement) // { age_over_20: ['酒類の購入'] }
 */
export function statementClaimPurposes(statement: Statement): Record<string, readonly string[]> {
  const member = statement['claimPurposes'];
  if (typeof member !== 'object' || member === null || Array.isArray(member)) return {};
  const out: Record<string, readonly string[]> = {};
  for (const [entry, list] of Object.entries(member)) {
    if (Array.isArray(list) && list.length > 0 && list.every((p) => typeof p === 'string')) out[entry] = [...list];
  }
  return out;
}
