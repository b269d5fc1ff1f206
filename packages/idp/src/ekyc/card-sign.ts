/**
 * The card signature of an eKYC statement: the card side (what a companion does with `JpkiClient`) and the server
 * side (verify with the configured verifier: path, JPKI signing policy, revocation; then keep the identity with the
 * grant and the evidence in the audit).
 */
import { randomUUID } from 'node:crypto';
import type { CertRef, SignedStatement, Statement, StatementResult } from '@mynagate/pki';
import { signingCertificateRef, statementDigestInfo } from '@mynagate/pki';
import { IdpBadRequestError, IdpEkycUnpairedError, IdpSignCardMismatchError } from '../errors.ts';
import type { SigningCardPair } from '../config.ts';
import type { PeoplePort } from '../ports.ts';
import type { ConsentRecords } from '../consent/records.ts';
import { TRUST_FRAMEWORK } from '../claims/names.ts';
import { retainForRelease, type SignedCoverage } from '../claims/retention.ts';
import type { VerifiedIdentity } from './identity-store.ts';
import { signErrorBody } from './messages.ts';
import type { SignTransactions } from './sign-transaction.ts';
import { isStatementNonce, statementClaimPurposes } from './statement.ts';

/** The verifier's statement check (`@mynagate/pki` `createVerifier(...)` has it). */
export interface StatementVerifier {
  verifyStatement(signed: SignedStatement, at?: Date): Promise<StatementResult>;
}

/** The parts of `@mynagate/card`'s `JpkiClient` a statement signature needs. */
export interface SigningCard {
  verify(key: 'sign', password: string): Promise<void>;
  readCertificate(which: 'sign'): Promise<Uint8Array>;
  sign(key: 'sign', data: Uint8Array): Promise<Uint8Array>;
}

/**
 * What the companion posts: base64 of the card's signature and of the signing certificate (DER), and the `nonce` of
 * the statement it signed (the statement's own member, as the scan gave it): the provider uses the outstanding
 * statement up only for a post that names it, so whoever merely knows the transaction's id can neither use it up nor
 * put a refusal on the person's page.
 */
export interface StatementSignature {
  readonly signature: string;
  readonly certificate: string;
  readonly nonce: string;
}

/**
 * Signs a canonical statement with the card's signing key, as a companion does: VERIFY the signing password, read
 * the signing certificate, and have the card sign DigestInfo(SHA-256(statement)) (the card pads, spec §4.5). The
 * answer names the statement by the `nonce` of the canonical text the card signed, so it is the post body as is.
 *
 * @example
 * ```ts
 * const body = await signStatementWithCard(new JpkiClient(transport), view.canonical, password);
 * await fetch(`/companion/sign/${view.txn}/signature`, { method: 'POST', body: JSON.stringify(body), … });
 * ```
 * @throws the card's `ERR_CARD_PIN_FORMAT`, `ERR_CARD_PIN_INCORRECT` (with `retriesLeft`), `ERR_CARD_PIN_BLOCKED`;
 *   TypeError, before the card is asked anything, when `canonical` is not a statement with a nonce.
 */
export async function signStatementWithCard(
  card: SigningCard,
  canonical: string,
  password: string,
): Promise<StatementSignature> {
  const nonce = canonicalNonce(canonical);
  await card.verify('sign', password);
  const certificate = await card.readCertificate('sign');
  const signature = await card.sign('sign', statementDigestInfo(new TextEncoder().encode(canonical)));
  return {
    signature: Buffer.from(signature).toString('base64'),
    certificate: Buffer.from(certificate).toString('base64'),
    nonce,
  };
}

/** The `nonce` of a canonical statement; a TypeError (a misuse) for anything else, which no provider would take. */
function canonicalNonce(canonical: string): string {
  let nonce: unknown;
  try {
    nonce = (JSON.parse(canonical) as Record<string, unknown> | null)?.['nonce'];
  } catch {
    nonce = undefined;
  }
  if (!isStatementNonce(nonce)) throw new TypeError('canonical must be a statement with a nonce');
  return nonce;
}

/**
 * Checks the shape of a posted signature ({@link StatementSignature}), the `nonce` it names included (not whether it
 * is the outstanding statement's: {@link submitStatementSignature} asks the store).
 *
 * @throws IdpBadRequestError (`ERR_IDP_BAD_REQUEST`).
 */
export function parseStatementSignature(value: unknown): {
  signature: Uint8Array;
  certificate: Uint8Array;
  nonce: string;
} {
  const v = value as Record<string, unknown> | null;
  const decode = (name: string): Uint8Array => {
    const s = v?.[name];
    if (typeof s !== 'string' || s.length === 0 || s.length > 16384 || !/^[A-Za-z0-9+/]+={0,2}$/.test(s)) {
      throw new IdpBadRequestError(`${name} must be base64`);
    }
    return Buffer.from(s, 'base64');
  };
  const nonce = v?.['nonce'];
  if (!isStatementNonce(nonce)) throw new IdpBadRequestError("nonce must be the signed statement's nonce");
  return { signature: decode('signature'), certificate: decode('certificate'), nonce };
}

/** What {@link submitStatementSignature} needs. */
export interface CardSignDeps {
  readonly transactions: SignTransactions;
  readonly verifier: Partial<StatementVerifier>;
  readonly records: ConsentRecords;
  readonly keepCertificate: boolean;
  /**
   * `EkycConfig.signingCardPair`: a function, and the signing card must pair with a card the person logged in with;
   * `'unchecked'`, and the signing certificate alone decides (the explicit opt-out); `undefined`, and no signature is
   * taken at all (`ERR_IDP_EKYC_UNPAIRED`: the provider offers no eKYC).
   */
  readonly signingCardPair?: SigningCardPair | 'unchecked' | undefined;
  readonly people?: Pick<PeoplePort, 'credentialRefs'>;
  readonly now: () => number;
}

/**
 * Verifies a signature over transaction `txn`'s outstanding statement and records the outcome for its browser,
 * sealed so that only that browser's cookie opens it (sign-transaction.ts; the store never holds it in clear): the
 * verified identity, cut to what the statement listed and recording that coverage (with the signing certificate
 * only if configured), which the grant gets when that browser takes the outcome, and the evidence (issuer, serial,
 * the certificate's SHA-256, time, statement hash, what was listed and its purposes) into the audit.
 *
 * The post names the statement it signed ({@link StatementSignature.nonce}), and uses it up only if it is the
 * outstanding one ({@link SignTransactions.consumeStatement}). A post that does not is refused and changes nothing:
 * the companion that scanned can still post, and the page is not told. Once a post used the statement up, any
 * refusal is recorded for the page (code and message), and the person scans again.
 *
 * @example
 *   await submitStatementSignature(deps, txn, await signStatementWithCard(card, view.canonical, password));
 * @throws `ERR_IDP_BAD_REQUEST` (a malformed body, no nonce named), `ERR_IDP_CHALLENGE_INVALID` (not the outstanding
 *   statement's nonce, whether or not the transaction exists: also for one that finished or expired),
 *   `ERR_IDP_LOGIN_NOT_FOUND`, `ERR_IDP_EKYC_UNPAIRED` (no `signingCardPair`: nothing is verified or kept),
 *   `ERR_IDP_SIGN_CARD_MISMATCH` and `ERR_PKI_LINKS_UNAVAILABLE` (with a `signingCardPair` function),
 *   and the verifier's `ERR_PKI_*` (e.g. `ERR_PKI_WRONG_CERT_KIND` for an authentication certificate,
 *   `ERR_PKI_STATEMENT_SIGNATURE`, `ERR_PKI_CERT_REVOKED`, `ERR_PKI_REVOCATION_UNKNOWN`).
 */
export async function submitStatementSignature(deps: CardSignDeps, txn: string, body: unknown): Promise<void> {
  const { signature, certificate, nonce } = parseStatementSignature(body);
  // Both at once (the transaction's read with the statement's). The statement goes only to a post that names it:
  // whoever merely knows the transaction's id (it is in every QR frame, and in proxy logs) neither uses it up nor
  // reaches the page. Its refusal is reported before the transaction's absence, so that such a post learns nothing
  // of the transaction: one that finished (ended, its keys deleted) or expired answers as one still waiting,
  // `ERR_IDP_CHALLENGE_INVALID`. A statement used up for a transaction that is gone is of no use to anyone.
  const [found, consumed] = await Promise.allSettled([
    deps.transactions.get(txn),
    deps.transactions.consumeStatement(txn, nonce),
  ]);
  if (consumed.status === 'rejected') throw consumed.reason;
  if (found.status === 'rejected') throw found.reason;
  const transaction = found.value;
  const statement: Statement = consumed.value;
  try {
    // The second line behind the authorization endpoint's refusal (ekyc/unpaired.ts): a provider that cannot tie the
    // signing card to the login card takes no signature, whatever started the transaction.
    if (deps.signingCardPair === undefined) throw new IdpEkycUnpairedError();
    if (typeof deps.verifier.verifyStatement !== 'function') {
      throw new TypeError('the configured verifier cannot verify statements (verifyStatement)');
    }
    const now = new Date(deps.now());
    const result = await deps.verifier.verifyStatement({ statement, signature, certificate }, now);
    if (deps.signingCardPair !== 'unchecked') {
      await assertLoginCard(deps.signingCardPair, deps.people, transaction.accountId, result.certificate);
    }
    const verificationProcess = randomUUID();
    // What the statement listed, and of the basic-4 only what that needs: a yes/no question keeps its answer, not
    // the birth date or the address behind it. A transaction without details (started before they were recorded)
    // covers no verified claim and no prefecture. The purpose, the per-claim purposes and the service are the signed
    // statement's own, so a later request reuses this identity only for exactly those (ekyc/policy.ts `unsignedTerms`).
    const signed: SignedCoverage = {
      claims: [...transaction.claims],
      details: [...(transaction.details ?? [])],
      purpose: statement.purpose,
      claimPurposes: statementClaimPurposes(statement),
      client: { id: transaction.clientId, name: statement.client.name, origin: statement.client.origin },
    };
    const retained = retainForRelease(result.identity, signed, now);
    // Recorded for the grant only when the browser that owns this transaction takes the outcome (pages.ts): a
    // signature over the statement of a page the person has left (reloaded, or finished elsewhere) is never theirs.
    const identity: VerifiedIdentity = {
      grantId: transaction.grantId,
      accountId: transaction.accountId,
      clientId: transaction.clientId,
      identity: retained.identity,
      derived: retained.derived,
      signed,
      evidence: {
        issuer: result.evidence.issuer,
        serialNumber: result.evidence.serialNumber,
        signedAt: result.evidence.signedAt,
      },
      statementHash: result.evidence.statementHash,
      verifiedAt: now.toISOString(),
      verificationProcess,
      // The signing certificate by reference (nothing personal), so that its revocation and expiry are asked about
      // again before the identity is reused (signing-recheck.ts), without keeping the certificate.
      signingCertificate: signingCertificateRef(result.certificate),
      // Personal data (the whole basic-4 is in it, whatever was signed): kept only with the identity, whose lifetime
      // and deletion it shares, and only when the operator asks for it.
      ...(deps.keepCertificate ? { certificate: Buffer.from(certificate).toString('base64') } : {}),
    };
    await deps.records.appendAudit({
      type: 'ekyc.signature',
      personId: transaction.accountId,
      clientId: transaction.clientId,
      data: {
        grantId: transaction.grantId,
        verificationProcess,
        trustFramework: TRUST_FRAMEWORK,
        issuer: result.evidence.issuer,
        serialNumber: result.evidence.serialNumber,
        signedAt: result.evidence.signedAt,
        statementHash: result.evidence.statementHash,
        purpose: statement.purpose,
        claimPurposes: signed.claimPurposes,
        claims: signed.claims,
        details: signed.details,
        // Which certificate signed, without its personal data: the audit is an append-only chain and can erase nothing.
        certificateSha256: result.certificate.fingerprint,
      },
    });
    await deps.transactions.complete(transaction, {
      accountId: transaction.accountId,
      ts: Math.floor(now.getTime() / 1000),
      identity,
    });
  } catch (e) {
    await deps.transactions.fail(transaction, signErrorBody(e));
    throw e;
  }
}

/**
 * The signing certificate's card must be one the person logged in with: its paired authentication certificate
 * (J-LIS 証明書紐付け情報) is one of their credentials. An unknown pairing fails closed.
 *
 * @throws IdpSignCardMismatchError (`ERR_IDP_SIGN_CARD_MISMATCH`); the source's `ERR_PKI_LINKS_UNAVAILABLE`.
 */
async function assertLoginCard(
  signingCardPair: SigningCardPair,
  people: Pick<PeoplePort, 'credentialRefs'> | undefined,
  personId: string,
  signing: { readonly issuerFingerprint: string; readonly serialNumber: string },
): Promise<void> {
  if (people === undefined) throw new TypeError('signingCardPair needs the people store');
  const [paired, cards] = await Promise.all([
    signingCardPair({ issuerFingerprint: signing.issuerFingerprint, serialNumber: signing.serialNumber }),
    people.credentialRefs(personId),
  ]);
  // The serial and its CA: the same serial from another CA generation is another card.
  const same = (c: CertRef) =>
    paired !== undefined && c.issuer === paired.issuer.toLowerCase() && c.serial === paired.serial.toLowerCase();
  if (!cards.some(same)) throw new IdpSignCardMismatchError();
}
