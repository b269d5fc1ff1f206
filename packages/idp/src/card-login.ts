/**
 * Turning a posted card token into a login: consume the login's one challenge (only for a post that names it), claim
 * the login for this post, have the verifier check the token against this provider's origin and that challenge, then
 * find the person (one card = one person; a renewed certificate joins its holder through the linking lookup) and
 * leave the outcome for the browser that started.
 */
import { randomBytes } from 'node:crypto';
import { isMynaGateError } from '@mynagate/errors';
import { ACR_CARD_AUTH, AMR_CARD } from './acr.ts';
import type { CertRef, LinkingSource } from '@mynagate/pki';
import type { LinkCertificate } from './config.ts';
import { IdpTokenMalformedError } from './errors.ts';
import { messageFor } from './http-errors.ts';
import { newGrantId } from './consent/login-grant.ts';
import type { LoginCredentials } from './login-credentials.ts';
import { parseLoginToken, type LoginToken, type LoginVerifier, type VerifiedLogin } from './login-token.ts';
import type { LoginTransactions } from './login-transaction.ts';
import type { CredentialInput, PeoplePort } from './ports.ts';

/** What a card login needs. */
export interface CardLoginDeps {
  readonly transactions: LoginTransactions;
  readonly verifier: LoginVerifier;
  readonly people: PeoplePort;
  readonly linkCertificate: LinkCertificate | undefined;
  readonly renewalLinks?: Pick<LinkingSource, 'links'> | undefined;
  readonly origin: string;
  readonly now: () => number;
  /**
   * Where the card of each login is held for the refresh check (login-credentials.ts): off the durable store, for the
   * login session; a consent that grants `offline_access` keeps it. Without it, nothing is held, and a refresh token
   * of the login is refused.
   */
  readonly logins?: Pick<LoginCredentials, 'hold'> | undefined;
}

/**
 * Verifies `token` for login transaction `txn` and records the outcome for its browser session. The token names the
 * challenge it answers ({@link LoginToken.challenge}): a post that does not name the outstanding one is refused and
 * changes nothing, neither the challenge (the companion that holds it can still post) nor the page. Once a post
 * consumed it, the login is claimed for that post: a second card's scan or token is refused `ERR_IDP_LOGIN_FINISHED`,
 * and its page is not told (its own login goes on). Any other refusal of a post that presented the challenge is
 * recorded (code and message only) so the waiting page can say what went wrong, and gives up the claim, so that the
 * person can scan again.
 *
 * With `handover` (a same-device post of `mynagate bridge`) the outcome is not given to the browser session's event
 * stream: it is kept under a one-time code, returned here for the poster only, and the login finishes for the
 * browser that comes back with that code and owns the transaction ({@link LoginTransactions.takeHandover}).
 *
 * @example
 *   await submitCardToken(deps, txn, text); // a phone: the outcome goes to the page that shows the QR code
 *   const code = await submitCardToken(deps, txn, text, { handover: true }); // the bridge: `?resume&code=…`
 * @throws `ERR_IDP_TOKEN_MALFORMED` (no challenge named), `ERR_IDP_CHALLENGE_INVALID` (not the outstanding
 *   challenge, whether or not the login exists: also for a login that finished or expired), `ERR_IDP_LOGIN_NOT_FOUND`,
 *   `ERR_IDP_LOGIN_FINISHED` (another card answered the login), and the verifier's `ERR_PKI_*`.
 */
export async function submitCardToken(
  deps: CardLoginDeps,
  txn: string,
  token: LoginToken | string,
  options?: { readonly handover?: false },
): Promise<void>;
export async function submitCardToken(
  deps: CardLoginDeps,
  txn: string,
  token: LoginToken | string,
  options: { readonly handover: true },
): Promise<string>;
export async function submitCardToken(
  deps: CardLoginDeps,
  txn: string,
  token: LoginToken | string,
  options: { readonly handover?: boolean } = {},
): Promise<string | void> {
  const challenge = namedChallenge(token);
  // Both at once (one round trip to Redis). The challenge goes only to a post that names it: whoever merely knows the
  // login's id (it is in every QR frame, and in proxy logs) neither uses it up nor reaches the page. Its refusal is
  // reported before the transaction's absence, so that such a post learns nothing of the login: one that finished
  // (ended, `login:<txn>` deleted) answers as one still waiting, `ERR_IDP_CHALLENGE_INVALID`. A challenge consumed
  // for a transaction that is gone is of no use to anyone.
  const [found, consumed] = await Promise.allSettled([
    deps.transactions.get(txn),
    deps.transactions.consumeChallenge(txn, challenge),
  ]);
  if (consumed.status === 'rejected') throw consumed.reason;
  if (found.status === 'rejected') throw found.reason;
  const transaction = found.value;
  // This post's claim: unique, so that it gives up only its own (LoginTransactions.claim), never a later post's.
  const holder = randomBytes(16).toString('base64url');
  try {
    // The claim goes out with the verifier's take of its challenge (one round trip); a token refused gives it up.
    const [verifying, claiming] = await Promise.allSettled([
      deps.verifier.verifyLoginToken(token, { origin: deps.origin, challenge, sessionId: txn }),
      deps.transactions.claim(transaction, holder),
    ]);
    if (claiming.status === 'rejected') throw claiming.reason;
    if (verifying.status === 'rejected') throw verifying.reason;
    const verified = verifying.value;
    if (verified.kind !== 'auth') throw new TypeError('verifyLoginToken returned a non-auth certificate');
    const { accountId, known } = await personFor(deps, verified);
    const now = deps.now();
    const ts = Math.floor(now / 1000);
    // A login that stands as the consent saves a grant when it finishes (consent/login-grant.ts): named here, the
    // grant is in the login's own record, so withdrawal finds it (consent/withdraw.ts) with no second record.
    const grantId = transaction.standsAsConsent === true ? newGrantId() : undefined;
    // The audit record is on disk before the login can finish, and so before its grant can exist (fail closed: no
    // login and no grant without their record); the credential's last use is written in the same commit. Beside it,
    // at once, the card of the login is held under its time, off the durable store, for a consent that grants
    // refresh tokens naming that time (login-credentials.ts).
    await Promise.all([
      deps.people.audit({
        type: 'login.card',
        personId: accountId,
        clientId: transaction.clientId,
        at: new Date(now),
        ...(known ? { credential: verified.fingerprint } : {}),
        ...(grantId === undefined ? {} : { data: { grantId } }),
      }),
      deps.logins?.hold({
        accountId,
        loginTs: ts,
        fingerprint: verified.fingerprint,
        ...(verified.certificate instanceof Uint8Array
          ? { certificate: Buffer.from(verified.certificate).toString('base64') }
          : {}),
      }),
    ]);
    const outcome = { accountId, acr: ACR_CARD_AUTH, amr: AMR_CARD, ts, ...(grantId === undefined ? {} : { grantId }) };
    // The claim is kept for the rest of the login before the outcome is recorded: a later scan is refused while the
    // outcome waits for its browser. Only now, with the record on disk: a post that dies or is refused before keeps
    // the login for no longer than CLAIM_TTL_MS.
    await deps.transactions.keepClaim(transaction, holder);
    if (options.handover === true) return await deps.transactions.handOver(transaction, outcome, holder);
    await deps.transactions.complete(transaction, outcome);
  } catch (e) {
    // Another card answered the login first: this post is refused, and the page, whose login goes on, is not told.
    if (isMynaGateError(e, 'ERR_IDP_LOGIN_FINISHED')) throw e;
    // Given up by its value (only this post's): also after a store error on the claim, which may have been written
    // with its reply lost, while the page is told to scan again.
    await Promise.all([
      deps.transactions.fail(transaction, messageFor(e)),
      deps.transactions.release(transaction, holder),
    ]);
    throw e;
  }
}

/**
 * The challenge a posted token names ({@link LoginToken.challenge}).
 *
 * @throws IdpTokenMalformedError (`ERR_IDP_TOKEN_MALFORMED`) when it names none.
 */
function namedChallenge(token: LoginToken | string): string {
  if (typeof token !== 'string') return parseLoginToken(token).challenge;
  let value: unknown;
  try {
    value = JSON.parse(token);
  } catch {
    throw new IdpTokenMalformedError('not JSON');
  }
  return parseLoginToken(value).challenge;
}

/**
 * One card = one person: the credential's person (`known`), else a linked earlier credential's, else a new person.
 */
async function personFor(
  deps: CardLoginDeps,
  verified: VerifiedLogin,
): Promise<{ readonly accountId: string; readonly known: boolean }> {
  const known = await deps.people.findPersonByCredential(verified.fingerprint);
  if (known !== undefined) return { accountId: known, known: true };
  const credential: CredentialInput = {
    fingerprint: verified.fingerprint,
    serial: verified.serialNumber,
    issuer: verified.issuerFingerprint,
    notAfter: verified.notAfter,
  };
  const now = new Date(deps.now());
  if (deps.linkCertificate !== undefined) {
    for (const previous of await deps.linkCertificate(verified)) {
      if ((await deps.people.findPersonByCredential(previous)) !== undefined) {
        return { accountId: await deps.people.linkCredential(previous, credential, now), known: false };
      }
    }
  }
  if (deps.renewalLinks !== undefined) {
    const previous = await renewedFrom(deps.renewalLinks, deps.people, verified);
    if (previous !== undefined) {
      return { accountId: await deps.people.linkCredential(previous, credential, now), known: false };
    }
  }
  return { accountId: await deps.people.createPersonWithCredential(credential, now), known: false };
}

/** How many renewals back a new certificate is followed (a card renewed twice before its holder logs in again). */
const RENEWALS_BACK = 5;

/**
 * The fingerprint of the registered credential this certificate renews: its predecessor's, or that one's, up to
 * {@link RENEWALS_BACK} links back. Each step names a certificate by its CA and serial, so a renewal under a newer
 * CA generation finds the earlier generation's credential, and a serial that another generation also issued finds
 * no one else's.
 *
 * @throws the source's `ERR_PKI_LINKS_UNAVAILABLE`.
 */
async function renewedFrom(
  links: Pick<LinkingSource, 'links'>,
  people: PeoplePort,
  verified: VerifiedLogin,
): Promise<string | undefined> {
  let at: CertRef = { issuer: verified.issuerFingerprint, serial: verified.serialNumber };
  for (let i = 0; i < RENEWALS_BACK; i++) {
    const predecessor = (await links.links(at.issuer, at.serial))?.predecessor;
    if (predecessor === undefined) return undefined;
    const fingerprint = await people.credentialBySerial(predecessor.issuer, predecessor.serial);
    if (fingerprint !== undefined) return fingerprint;
    at = predecessor;
  }
  return undefined;
}
