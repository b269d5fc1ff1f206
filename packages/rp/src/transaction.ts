/**
 * A login transaction: what the application keeps in its server-side session between the redirect to the provider
 * and the callback. Plain JSON (no Date, no class) so any session store can hold it; it carries secrets (the PKCE
 * verifier), so never put it in a URL or an unencrypted client-side cookie.
 */
import { ACR_CARD_AUTH, ACR_CARD_SIGN } from './acr.ts';

/** Verified claims the SDK can ask for (the basic four of the signing certificate, japan-anchors §3.4). */
export type IdentityClaimName = 'name' | 'address' | 'birthdate' | 'gender';

/** The ages a provider answers `age_over_N` for. */
export type AgeThreshold = 18 | 20;

interface TransactionBase {
  /** Format version of this object. */
  readonly v: 1;
  /** The client that started it (finishing with another client is a programmer error). */
  readonly clientId: string;
  readonly state: string;
  readonly nonce: string;
  /** PKCE code verifier (RFC 7636 §4.1). Secret. */
  readonly codeVerifier: string;
  /** The weakest `acr` accepted in the result. */
  readonly acr: string;
  /** `max_age` sent, seconds; `auth_time` must be at most this old. */
  readonly maxAge?: number;
  /** `login` when a fresh login was demanded: `auth_time` must not precede {@link createdAt}. */
  readonly prompt?: 'login';
  /** When the request was built, epoch ms (the client's clock). */
  readonly createdAt: number;
  /** The person the login must be (their pairwise `sub`), when the request named one. */
  readonly sub?: string;
}

/** A transaction of `cardLogin` (`kind: 'login'`) or `stepUp` (`kind: 'step-up'`). */
export interface CardLoginTransaction extends TransactionBase {
  readonly kind: 'login' | 'step-up';
}

/** A transaction of `identityProofing`. */
export interface IdentityProofingTransaction extends TransactionBase {
  readonly kind: 'identity';
  /** The verified claims asked for. */
  readonly claims: readonly IdentityClaimName[];
}

/** A transaction of `ageCheck`. */
export interface AgeCheckTransaction extends TransactionBase {
  readonly kind: 'age';
  readonly over: AgeThreshold;
}

/** Any transaction. */
export type Transaction = CardLoginTransaction | IdentityProofingTransaction | AgeCheckTransaction;

/** The verified claims the SDK knows, in request order. */
export const IDENTITY_CLAIMS: readonly IdentityClaimName[] = Object.freeze(['name', 'address', 'birthdate', 'gender']);

/** The age thresholds the SDK knows. */
export const AGE_THRESHOLDS: readonly AgeThreshold[] = Object.freeze([18, 20]);

/**
 * Checks that `value` is a transaction made by this SDK (after a round trip through a session store). A malformed
 * one is a bug in the application's session handling, hence a TypeError.
 *
 * @throws TypeError naming the first bad member.
 */
export function assertTransaction(value: unknown): asserts value is Transaction {
  if (typeof value !== 'object' || value === null) throw new TypeError('transaction must be an object');
  const t = value as Record<string, unknown>;
  if (t['v'] !== 1) throw new TypeError('transaction.v must be 1 (not a transaction of this SDK)');
  for (const key of ['clientId', 'state', 'nonce', 'codeVerifier'] as const) {
    if (typeof t[key] !== 'string' || t[key] === '') throw new TypeError(`transaction.${key} must be a string`);
  }
  if (t['acr'] !== ACR_CARD_AUTH && t['acr'] !== ACR_CARD_SIGN) throw new TypeError('transaction.acr is unknown');
  if (t['maxAge'] !== undefined && !(Number.isSafeInteger(t['maxAge']) && (t['maxAge'] as number) >= 0)) {
    throw new TypeError('transaction.maxAge must be a non-negative integer');
  }
  if (t['prompt'] !== undefined && t['prompt'] !== 'login') throw new TypeError("transaction.prompt must be 'login'");
  if (!Number.isSafeInteger(t['createdAt'])) throw new TypeError('transaction.createdAt must be epoch ms');
  if (t['sub'] !== undefined && (typeof t['sub'] !== 'string' || t['sub'] === '')) {
    throw new TypeError('transaction.sub must be a non-empty string');
  }
  switch (t['kind']) {
    case 'login':
    case 'step-up':
      return;
    case 'identity': {
      const claims = t['claims'];
      if (
        !Array.isArray(claims) ||
        claims.length === 0 ||
        claims.some((c) => !IDENTITY_CLAIMS.includes(c as IdentityClaimName))
      ) {
        throw new TypeError('transaction.claims must list identity claims');
      }
      return;
    }
    case 'age':
      if (!AGE_THRESHOLDS.includes(t['over'] as AgeThreshold)) throw new TypeError('transaction.over must be 18 or 20');
      return;
    default:
      throw new TypeError('transaction.kind is unknown');
  }
}
