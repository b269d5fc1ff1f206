/**
 * The verifier's challenge store (`@mynagate/pki` `ChallengeStore`) on the one-shot store, so that with many nodes a
 * challenge issued by one node is consumed by whichever node receives the token, exactly once (the one-shot store's
 * take is atomic: Redis GETDEL, SQL DELETE … RETURNING).
 */
import { ChallengeError, type Challenge, type ChallengeStore } from '@mynagate/pki';
import type { OneShotPort } from './ports.ts';

/** How long a consumed challenge is remembered, so a replay reads "used" rather than "not found". */
const USED_GRACE_MS = 5 * 60_000;

/**
 * A `ChallengeStore` over the one-shot store.
 *
 * @example
 * ```ts
 * const verifier = createVerifier({ anchors, revocation, challenges: oneShotChallengeStore(stores.oneShot) });
 * ```
 */
export function oneShotChallengeStore(oneShot: OneShotPort): ChallengeStore {
  return {
    async put(challenge: Challenge): Promise<void> {
      const ttl = Math.max(1000, challenge.expiresAt - challenge.issuedAt);
      await oneShot.put(challengeKey(challenge.nonce), JSON.stringify(challenge), ttl);
    },
    /**
     * @throws ChallengeError `ERR_PKI_CHALLENGE_NOT_FOUND`, `ERR_PKI_CHALLENGE_USED`, `ERR_PKI_CHALLENGE_EXPIRED`,
     *   `ERR_PKI_CHALLENGE_WRONG_SESSION` (the challenge is burnt then: its nonce leaked).
     */
    async take(nonce: string, sessionId: string, now: number): Promise<Challenge> {
      // Taken and marked used in one atomic step (one round trip).
      const json = await oneShot.takeMarking(challengeKey(nonce), `pki-challenge-used:${nonce}`, USED_GRACE_MS);
      if (json === undefined) {
        const used = await oneShot.get(`pki-challenge-used:${nonce}`);
        throw used === undefined
          ? new ChallengeError('ERR_PKI_CHALLENGE_NOT_FOUND', 'challenge not found')
          : new ChallengeError('ERR_PKI_CHALLENGE_USED', 'challenge already used');
      }
      const challenge = JSON.parse(json) as Challenge;
      if (challenge.expiresAt <= now) throw new ChallengeError('ERR_PKI_CHALLENGE_EXPIRED', 'challenge expired');
      if (challenge.sessionId !== sessionId) {
        throw new ChallengeError('ERR_PKI_CHALLENGE_WRONG_SESSION', 'challenge belongs to another session');
      }
      return challenge;
    },
  };
}

/**
 * Forgets an issued challenge that was never used: a login's rescan replaced it (login-transaction.ts), and it would
 * otherwise wait out its lifetime in the store. Does nothing where the verifier keeps its challenges elsewhere.
 *
 * @example
 * ```ts
 * await forgetChallenge(stores.oneShot, replaced);
 * ```
 */
export function forgetChallenge(oneShot: Pick<OneShotPort, 'delete'>, nonce: string): Promise<void> {
  return oneShot.delete(challengeKey(nonce));
}

/** Where {@link oneShotChallengeStore} keeps the challenge `nonce` until it is taken. */
function challengeKey(nonce: string): string {
  return `pki-challenge:${nonce}`;
}
