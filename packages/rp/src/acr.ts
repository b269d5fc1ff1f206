/**
 * The authentication context classes and methods of a MynaGate provider, as the relying party ranks them. These are
 * the provider's own URNs (japan-anchors §4.5: no NIST level is claimed).
 */

/** Login with the user-authentication certificate (利用者証明用電子証明書) and its 4-digit PIN. */
export const ACR_CARD_AUTH = 'urn:mynagate:acr:card-auth';

/** A signature with the signing certificate (署名用電子証明書): identity proofing (犯収法 施行規則 6条1項1号ワ). */
export const ACR_CARD_SIGN = 'urn:mynagate:acr:card-sign';

/**
 * The rank of each ACR, weakest first. A card signature also proves possession of the card and knowledge of its
 * (longer) password, so it satisfies a request for card login; the reverse never holds.
 */
const RANK: ReadonlyMap<string, number> = new Map([
  [ACR_CARD_AUTH, 1],
  [ACR_CARD_SIGN, 2],
]);

/** Whether `actual` (the ID token's `acr`) meets `required`. An unknown or absent `acr` meets nothing. */
export function acrMeets(actual: unknown, required: string): boolean {
  if (typeof actual !== 'string') return false;
  const have = RANK.get(actual);
  const need = RANK.get(required);
  return have !== undefined && need !== undefined && have >= need;
}

/**
 * What `amr` (RFC 8176 §2) must hold for any card login: `hwk` (a key in hardware) and `sc` (a smart card), plus one
 * knowledge factor, `pin` (the 4-digit login PIN) or `pwd` (the 6–16 character signing password).
 *
 * @returns the missing methods (empty when satisfied); `pin|pwd` stands for "no knowledge factor".
 */
export function missingCardAmr(amr: unknown): string[] {
  const methods = Array.isArray(amr) ? amr.filter((m): m is string => typeof m === 'string') : [];
  const missing = ['hwk', 'sc'].filter((m) => !methods.includes(m));
  if (!methods.includes('pin') && !methods.includes('pwd')) missing.push('pin|pwd');
  return missing;
}
