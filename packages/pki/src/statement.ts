/**
 * Statements signed with the signing certificate (eKYC, 犯収法 施行規則 6条1項1号ワ): what the person agreed to, who
 * asked, when, bound by a nonce, serialised canonically so the server can rebuild the exact signed bytes from its
 * own copy and never trusts a client's.
 */
import { createHash } from 'node:crypto';
import { StatementError } from './errors.ts';
import { checkOrigin, type OriginOptions } from './origin.ts';
import { sha256DigestInfo } from './digest-info.ts';

/** A statement to be signed. Extra members (e.g. the claims released) are allowed and signed too. */
export interface Statement {
  /** Who asks: the relying party's display name and origin. */
  readonly client: { readonly name: string; readonly origin: string };
  /** What for, as shown to the person. */
  readonly purpose: string;
  /** When the server issued it, ISO 8601 UTC with `Z`. */
  readonly time: string;
  /** A single-use server nonce, e.g. a challenge nonce. */
  readonly nonce: string;
  readonly [member: string]: unknown;
}

/**
 * The electronic-signature evidence of a verified statement: the fields of OpenID Connect for Identity Assurance
 * `evidence` of type `electronic_signature` (`issuer`, `serial_number`, `created_at`), plus the statement's hash.
 */
export interface SignatureEvidence {
  readonly type: 'electronic_signature';
  /** The signing certificate's issuer DN (RFC 4514). */
  readonly issuer: string;
  /** The signing certificate's serial, lower-case hex. */
  readonly serialNumber: string;
  /** The statement's `time` (when the server had it signed). */
  readonly signedAt: string;
  /** base64url SHA-256 of the canonical statement bytes. */
  readonly statementHash: string;
}

const malformed = (message: string): never => {
  throw new StatementError('ERR_PKI_STATEMENT_MALFORMED', message);
};

/**
 * Canonical JSON: object members sorted by UTF-16 code units, no whitespace, strings and integers only as
 * leaves (plus booleans and null), as RFC 8785 (JCS) serialises that subset.
 *
 * @throws StatementError `ERR_PKI_STATEMENT_MALFORMED` on numbers that are not safe integers, undefined,
 *   functions, or other non-JSON values.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean') return JSON.stringify(value);
  if (typeof value === 'string') {
    if (!value.isWellFormed()) malformed('string with a lone surrogate');
    return JSON.stringify(value);
  }
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) malformed('only safe integers are signed');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return malformed('not a JSON value');
}

/**
 * The exact bytes the card signs for `statement` (UTF-8 of its canonical JSON), after checking its shape.
 *
 * @throws StatementError `ERR_PKI_STATEMENT_MALFORMED`
 * @example
 * ```ts
 * const bytes = statementBytes({ client: { name: 'Example Bank', origin: 'https://bank.example' },
 *   purpose: '口座開設の本人確認', time: new Date().toISOString(), nonce });
 * const signature = await card.sign('sign', statementDigestInfo(bytes));
 * ```
 */
export function statementBytes(statement: Statement, options: OriginOptions = {}): Uint8Array {
  const s = statement as Partial<Statement> | null;
  if (typeof s !== 'object' || s === null) return malformed('statement must be an object');
  if (typeof s.client?.name !== 'string' || s.client.name.length === 0) malformed('client.name missing');
  try {
    checkOrigin(s.client!.origin, options);
  } catch {
    malformed('client.origin is not an exact https origin');
  }
  if (typeof s.purpose !== 'string' || s.purpose.length === 0) malformed('purpose missing');
  if (typeof s.nonce !== 'string' || s.nonce.length < 16) malformed('nonce missing or short');
  if (
    typeof s.time !== 'string' ||
    !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$/.test(s.time) ||
    Number.isNaN(Date.parse(s.time))
  )
    malformed('time must be ISO 8601 UTC');
  return new TextEncoder().encode(canonicalJson(statement));
}

/** DigestInfo(SHA-256(bytes)), what the card's sign key is given (spec §4.5). */
export function statementDigestInfo(bytes: Uint8Array): Uint8Array {
  return sha256DigestInfo(bytes);
}

/** base64url SHA-256 of the canonical bytes (the evidence's `statementHash`). */
export function statementHash(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('base64url');
}
