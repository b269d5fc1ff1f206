/**
 * Anchors of the audit chain. The audit is hash-chained (each row's hash covers the previous one), which shows a row
 * changed in place; but whoever can write the database can also recompute the whole chain, or cut its tail, and the
 * chain alone stays consistent. An anchor is the head at a moment (`seq`, `hash`) signed with the provider's ES256
 * key; kept somewhere the database's writers cannot reach (a write-once bucket, a ticket, an e-mail), it lets a later
 * check prove that the chain still holds that row with that hash.
 *
 * The anchor is a compact JWS, `typ` `mynagate-audit-anchor+jwt`, payload `{ iss, seq, hash, iat }`.
 */
import { link, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CompactSign, compactVerify, createLocalJWKSet, decodeProtectedHeader, importJWK } from 'jose';
import { StoreAuditAnchorError } from './store/errors.ts';
import { assertJwks, isEs256, publicJwks, type PrivateJwks } from './keys.ts';

export const AUDIT_ANCHOR_TYPE = 'mynagate-audit-anchor+jwt';

/** A verified anchor. */
export interface AuditAnchor {
  readonly iss: string;
  /** The audit row it names (the head when it was made). */
  readonly seq: number;
  /** That row's hash, lower-case hex. */
  readonly hash: string;
  /** When it was made, epoch seconds. */
  readonly iat: number;
}

/**
 * Signs the head `{ seq, hash }` with the first ES256 key of `jwks`.
 *
 * @throws TypeError on a bad JWKS or head.
 */
export async function signAuditAnchor(
  head: { readonly seq: number; readonly hash: string },
  jwks: PrivateJwks,
  issuer: string,
  now: () => number = Date.now,
): Promise<string> {
  assertJwks(jwks);
  if (!Number.isSafeInteger(head.seq) || head.seq < 1 || !/^[0-9a-f]{64}$/.test(head.hash))
    throw new TypeError('the audit head must be { seq >= 1, hash: 64 hex }');
  // The key assertJwks found: a P-256 key need not name its alg (a hand-written keys file).
  const jwk = jwks.keys.find(isEs256)!;
  const payload: AuditAnchor = { iss: issuer, seq: head.seq, hash: head.hash, iat: Math.floor(now() / 1000) };
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: 'ES256', kid: jwk.kid, typ: AUDIT_ANCHOR_TYPE })
    .sign(await importJWK(jwk, 'ES256'));
}

/** Options of {@link verifyAuditAnchor}. */
export interface VerifyAuditAnchorOptions {
  /**
   * Public keys the provider signed with before (ES256 JWKs, each with its `kid`): key rotation drops a key from the
   * JWKS after a few rotations, and the anchors it signed must still verify. Keep each retired key's public half.
   */
  readonly retiredKeys?: readonly Record<string, unknown>[];
}

/**
 * Verifies an anchor's signature with the public keys of `jwks` and `options.retiredKeys`, and its issuer.
 *
 * @throws StoreAuditAnchorError `ERR_STORE_AUDIT_ANCHOR` when it is malformed, signed with a key that is not among
 *   those (its message names the key), its signature does not verify, or it is of another issuer.
 * @throws TypeError when a retired key is not a public EC key with a `kid`.
 */
export async function verifyAuditAnchor(
  anchor: string,
  jwks: PrivateJwks,
  issuer: string,
  options: VerifyAuditAnchorOptions = {},
): Promise<AuditAnchor> {
  const retired = options.retiredKeys ?? [];
  for (const k of retired) {
    if (k === null || typeof k !== 'object' || k['kty'] !== 'EC' || typeof k['kid'] !== 'string' || 'd' in k)
      throw new TypeError('a retired anchor key must be a public EC JWK with a kid');
  }
  const keys = [...publicJwks(jwks).keys, ...retired];
  let kid: unknown;
  try {
    kid = decodeProtectedHeader(anchor.trim()).kid;
  } catch (e) {
    throw new StoreAuditAnchorError(`not an audit anchor: ${(e as Error).message}`, { cause: e });
  }
  if (typeof kid !== 'string' || !keys.some((k) => k['kid'] === kid)) {
    throw new StoreAuditAnchorError(
      `not an audit anchor of this provider: signed with key ${JSON.stringify(kid)}, which is neither in its keys nor ` +
        'among the retired keys given (a key rotated out: pass its public key)',
    );
  }
  let payload: Uint8Array;
  try {
    const verified = await compactVerify(anchor.trim(), createLocalJWKSet({ keys } as never), {
      algorithms: ['ES256'],
    });
    if (verified.protectedHeader.typ !== AUDIT_ANCHOR_TYPE) throw new Error(`typ is not ${AUDIT_ANCHOR_TYPE}`);
    payload = verified.payload;
  } catch (e) {
    throw new StoreAuditAnchorError(`not an audit anchor of this provider: ${(e as Error).message}`, { cause: e });
  }
  let a: Partial<AuditAnchor>;
  try {
    a = JSON.parse(new TextDecoder().decode(payload)) as Partial<AuditAnchor>;
  } catch (e) {
    throw new StoreAuditAnchorError('the anchor payload is not JSON', { cause: e });
  }
  if (a === null || typeof a !== 'object') throw new StoreAuditAnchorError('the anchor payload is malformed');
  if (a.iss !== issuer) throw new StoreAuditAnchorError(`the anchor is of another issuer (${String(a.iss)})`);
  if (!Number.isSafeInteger(a.seq) || typeof a.hash !== 'string' || !Number.isSafeInteger(a.iat))
    throw new StoreAuditAnchorError('the anchor payload is malformed');
  return { iss: a.iss, seq: a.seq!, hash: a.hash, iat: a.iat! };
}

/**
 * Checks that the audit still holds the anchored row with the anchored hash.
 *
 * @throws StoreAuditAnchorError `ERR_STORE_AUDIT_ANCHOR` naming the row: cut off, or rewritten.
 */
export async function assertAnchorHeld(
  anchor: AuditAnchor,
  audit: { auditHashAt(seq: number): Promise<string | undefined> },
): Promise<void> {
  const hash = await audit.auditHashAt(anchor.seq);
  if (hash === undefined)
    throw new StoreAuditAnchorError(`the audit no longer has row ${anchor.seq}: it was cut after the anchor was made`);
  if (hash !== anchor.hash)
    throw new StoreAuditAnchorError(`audit row ${anchor.seq} differs from the anchor: the chain was rewritten`);
}

/** Options of {@link startAuditAnchoring}. */
export interface AuditAnchoringOptions {
  readonly audit: { auditHead(): Promise<{ readonly seq: number; readonly hash: string } | undefined> };
  readonly jwks: PrivateJwks;
  readonly issuer: string;
  /** Where the anchors go, one file each: `audit-<seq>.jwt`. Point it where the database's writers cannot write. */
  readonly dir: string;
  /** How often the head is anchored when it moved. */
  readonly everyMs: number;
  /** Told of each anchor written. */
  readonly onAnchor?: (file: string, seq: number) => void;
  /** Told of a failed round (the next one tries again); the server keeps serving. */
  readonly onError?: (error: unknown) => void;
}

/** A running {@link startAuditAnchoring}. */
export interface AuditAnchoring {
  /** Anchors the head now if it moved since the last anchor; the file written, or `undefined`. */
  anchorNow(): Promise<string | undefined>;
  /** Stops the timer, then anchors the head once more (so a stop leaves the last rows anchored). */
  stop(): Promise<void>;
}

/**
 * Anchors the audit head every `everyMs` while the provider runs, into files of their own in `dir`, so the chain is
 * anchored without an operator's cron job: each anchor is the head's `{ seq, hash }` signed as in
 * {@link signAuditAnchor}, written once (an existing file for that row is kept), and nothing is written while the
 * head has not moved. The head is read durable (`RecordStore.auditHead`), so an anchor never names a row a crash
 * could still take back.
 *
 * @throws TypeError on a bad option (the JWKS, an interval under one second).
 */
export function startAuditAnchoring(options: AuditAnchoringOptions): AuditAnchoring {
  assertJwks(options.jwks);
  if (!Number.isSafeInteger(options.everyMs) || options.everyMs < 1000)
    throw new TypeError('everyMs must be an integer >= 1000');
  let anchored = 0;
  let round: Promise<string | undefined> = Promise.resolve(undefined);
  const anchorOnce = async (): Promise<string | undefined> => {
    const head = await options.audit.auditHead();
    if (head === undefined || head.seq <= anchored) return undefined;
    const file = join(options.dir, `audit-${head.seq}.jwt`);
    const jws = await signAuditAnchor(head, options.jwks, options.issuer);
    await mkdir(options.dir, { recursive: true });
    // Written whole beside it, then linked into place, which fails rather than replace a file: a crash never leaves
    // half an anchor under the row's name, and an anchor made before (by this process or another sharing the
    // audit) stands.
    const part = `${file}.${process.pid}.part`;
    let written = true;
    try {
      // A read-only part file a crashed process of the same pid left would refuse the write.
      await rm(part, { force: true });
      await writeFile(part, `${jws}\n`, { mode: 0o444 });
      await link(part, file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      written = false;
    } finally {
      await rm(part, { force: true });
    }
    anchored = head.seq;
    if (!written) return undefined;
    options.onAnchor?.(file, head.seq);
    return file;
  };
  // One round at a time: a slow disk never has two writers racing for one head.
  const anchorNow = (): Promise<string | undefined> => (round = round.then(anchorOnce, anchorOnce));
  const timer = setInterval(() => {
    anchorNow().catch((e: unknown) => options.onError?.(e));
  }, options.everyMs);
  timer.unref();
  return {
    anchorNow,
    async stop() {
      clearInterval(timer);
      await anchorNow();
    },
  };
}
