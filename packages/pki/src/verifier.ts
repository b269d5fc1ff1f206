/**
 * The validator, built once with safe defaults (Web eID's shape: parse + validate, intl-anchors §1.2): card login
 * tokens, certificates of either kind, and signed statements. Path validation results are cached by certificate
 * fingerprint for the window in which they stay true; revocation is asked every time (the source caches).
 */
import { hash, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { parseAnchors } from './anchors.ts';
import type { CertKind, ParsedAnchors, TrustAnchors } from './anchors.ts';
import { BoundedMap } from './bounded-map.ts';
import { readRef } from './certificate-ref.ts';
import type { SigningCertificateRef } from './certificate-ref.ts';
import { commonName, nameToString, parseCertificate, parseCertificateBuffer } from './certificate.ts';
import type { ParsedCertificate } from './certificate.ts';
import { DEFAULT_CHALLENGE_TTL_MS, MemoryChallengeStore, newChallenge } from './challenge.ts';
import type { Challenge, ChallengeStore } from './challenge.ts';
import { CertificateInvalidError, RevocationUnknownError, StatementError, TokenInvalidError } from './errors.ts';
import { basic4FromCertificate } from './identity.ts';
import type { Basic4Identity } from './identity.ts';
import { KeyCache } from './keys.ts';
import { checkOrigin } from './origin.ts';
import { JPKI_POLICIES } from './path/checks.ts';
import { validatePath } from './path/validate.ts';
import type { ValidatedPath } from './path/validate.ts';
import { goodOrThrow, revocationFailure } from './revocation.ts';
import type { RevocationSource, RevocationStatus } from './revocation.ts';
import { statementBytes, statementHash } from './statement.ts';
import type { SignatureEvidence, Statement } from './statement.ts';
import { parseTokenFields, strictBase64Buffer, strictBase64Into } from './token/parse.ts';
import type { AuthTokenJson } from './token/format.ts';
import { authSignedDataInto } from './token/signed-data.ts';

/** Options of {@link createVerifier}. Durations in ms. */
export interface VerifierOptions {
  /** CA certificates per kind (see `loadTrustDir`). */
  readonly anchors: TrustAnchors;
  /** Where revocation status comes from. Required: there is no "skip" default (fail closed). */
  readonly revocation: RevocationSource;
  /** Where login challenges live. Default: a {@link MemoryChallengeStore} (one process). */
  readonly challenges?: ChallengeStore;
  /** Challenge lifetime. Default 5 min. */
  readonly challengeTtlMs?: number;
  /** The clock. Default `() => new Date()`. */
  readonly now?: () => Date;
  /** Tolerated clock difference for certificate validity. Default 0. */
  readonly skewMs?: number;
  /**
   * Allowed certificate policy OIDs per kind; replaces the defaults (`JPKI_POLICIES`) for the kinds given, e.g. to
   * add smartphone certificate policies.
   */
  readonly policies?: {
    readonly auth?: readonly string[];
    readonly sign?: readonly string[];
  };
  /** Maximum cached path validation results. Default 10 000; 0 disables the cache. */
  readonly pathCacheSize?: number;
  /** Accept loopback `http://` origins (development servers; see `checkOrigin`). Default false. */
  readonly allowLoopbackHttp?: boolean;
}

/** A certificate that passed path validation and revocation. */
export interface VerifiedCertificate {
  readonly kind: CertKind;
  /** SHA-256 of the DER, lower-case hex: the stable handle of this certificate. */
  readonly fingerprint: string;
  /** Lower-case hex. */
  readonly serialNumber: string;
  /** Issuer DN (RFC 4514). J-LIS's CA generations share one name: it does not tell them apart. */
  readonly issuer: string;
  /**
   * SHA-256 of the issuing CA's certificate (the trust anchor that verified it), lower-case hex: with the serial, the
   * certificate's name that no other CA generation shares (see `CertRef`).
   */
  readonly issuerFingerprint: string;
  /** Subject CN: for an auth certificate an opaque ID, never personal data (spec §8.2). */
  readonly subjectCommonName: string | undefined;
  readonly notAfter: Date;
  /** Which revocation source answered `good`. */
  readonly revocationSource: string;
  /** The certificate, DER. */
  readonly certificate: Uint8Array;
}

/** The answer of {@link Verifier.signingStatus}: the certificate it names stands. */
export interface SigningStatus {
  readonly issuerFingerprint: string;
  readonly serialNumber: string;
  readonly notAfter: Date;
  /** Which revocation source answered `good`. */
  readonly revocationSource: string;
}

/** The result of a successful card login. */
export interface LoginResult extends VerifiedCertificate {
  readonly kind: 'auth';
  /** The token's format, e.g. `web-eid:1.0`. */
  readonly format: string;
}

/** The result of a verified statement signature. */
export interface StatementResult {
  readonly evidence: SignatureEvidence;
  readonly identity: Basic4Identity;
  readonly certificate: VerifiedCertificate & { readonly kind: 'sign' };
}

/** What a login is checked against: all from the server's side, never from the token. */
export interface LoginContext {
  /** The origin the person saw, exactly `https://host[:port]`. */
  readonly origin: string;
  /** The challenge nonce the token answers. */
  readonly challenge: string;
  /** The browser session the challenge was issued to. */
  readonly sessionId: string;
}

/** Inputs of {@link Verifier.verifyStatement}. */
export interface SignedStatement {
  /** The server's own copy of the statement it had signed. */
  readonly statement: Statement;
  /** The card's signature (RSASSA-PKCS1-v1_5 over the canonical bytes, SHA-256). */
  readonly signature: Uint8Array;
  /** The signing certificate, DER. */
  readonly certificate: Uint8Array;
}

/** The validator. Immutable; safe to share. */
export interface Verifier {
  /**
   * Issues a challenge bound to `sessionId` and stores it. `alongside`, if given, is called with the challenge as
   * soon as it is minted, and its promise awaited with the store's: the caller's own record of it (which transaction
   * holds which challenge) goes out with the challenge's write, in the same round trip to a pipelining store. The
   * challenge is returned once both are stored; if either fails, it is not returned.
   *
   * @throws TypeError when `sessionId` is empty; whatever the store or `alongside` rejects with.
   */
  issueChallenge(sessionId: string, alongside?: (challenge: Challenge) => Promise<void>): Promise<Challenge>;
  /**
   * Verifies a login token: consumes the challenge (atomically, even if the token then fails), parses the token,
   * validates the auth certificate, checks the signature over `SHA-256(origin) ‖ SHA-256(challenge)`, then
   * revocation.
   *
   * @throws TokenInvalidError `ERR_PKI_TOKEN_*`
   * @throws ChallengeError `ERR_PKI_CHALLENGE_*`
   * @throws CertificateInvalidError `ERR_PKI_CERT_*` and the other path codes
   * @throws CertificateRevokedError `ERR_PKI_CERT_REVOKED`
   * @throws RevocationUnknownError `ERR_PKI_REVOCATION_UNKNOWN`, `ERR_PKI_OCSP_*`
   */
  verifyLoginToken(token: string | Uint8Array | AuthTokenJson, context: LoginContext): Promise<LoginResult>;
  /**
   * Validates a certificate of `kind` at `at` (default now), revocation included.
   *
   * @throws CertificateInvalidError, CertificateRevokedError, RevocationUnknownError
   */
  verifyCertificate(der: Uint8Array, kind: CertKind, at?: Date): Promise<VerifiedCertificate>;
  /**
   * Verifies the card's signature over a statement with the signing certificate (validated, revocation checked)
   * and returns the evidence and the basic 4 information.
   *
   * @throws StatementError `ERR_PKI_STATEMENT_MALFORMED`, `ERR_PKI_STATEMENT_SIGNATURE`
   * @throws IdentityError `ERR_PKI_IDENTITY_MALFORMED`
   * @throws CertificateInvalidError, CertificateRevokedError, RevocationUnknownError
   */
  verifyStatement(signed: SignedStatement, at?: Date): Promise<StatementResult>;
  /**
   * Whether a signing certificate verified before still stands at `at` (default now), named by reference
   * (`signingCertificateRef`) since its bytes were not kept: not expired, its CA still a configured signing anchor
   * and valid, and not revoked, asked of the configured revocation source (and its cache) by CA and serial. Its path
   * was validated when it was verified; a policy or anchor set that changed since is not applied again, except that
   * its CA must still be trusted. Fails closed: an unknown status rejects.
   *
   * A CRL answers by serial alone only from an unpartitioned CRL, or `revoked` from a partition that lists it: a
   * reference keeps no distribution point (`SigningCertificateRef`). A source is asked only when it answers by
   * reference (`RevocationSource.answersByReference`, set by the built-in sources and by `firstAnswer` when all its
   * sources do); any other makes this reject with `ERR_PKI_REVOCATION_UNKNOWN` (detail `unavailable`), and so does
   * a source that reads a field of the subject that a reference does not have.
   *
   * @throws TypeError when `ref` is malformed.
   * @throws CertificateInvalidError `ERR_PKI_CERT_EXPIRED`, `ERR_PKI_UNTRUSTED_ISSUER` (its CA is no configured
   *   signing anchor), `ERR_PKI_ANCHOR_EXPIRED`, `ERR_PKI_ANCHOR_NOT_YET_VALID`
   * @throws CertificateRevokedError `ERR_PKI_CERT_REVOKED`
   * @throws RevocationUnknownError `ERR_PKI_REVOCATION_UNKNOWN` (detail `unavailable` when the source does not
   *   answer by reference), `ERR_PKI_OCSP_*`
   * @example
   * ```ts
   * await verifier.signingStatus(identity.signingCertificate); // rejects unless it stands
   * ```
   */
  signingStatus(ref: SigningCertificateRef, at?: Date): Promise<SigningStatus>;
}

/**
 * Builds a verifier. Options are checked here (a bad option is a `TypeError`) and frozen.
 *
 * @throws TypeError on a bad option.
 * @example
 * ```ts
 * const verifier = createVerifier({ anchors: await loadTrustDir(dir), revocation: ocspSource() });
 * const { nonce } = await verifier.issueChallenge(session.id);
 * // … the card signs …
 * const login = await verifier.verifyLoginToken(body, { origin: 'https://idp.example', challenge: nonce, sessionId: session.id });
 * ```
 */
export function createVerifier(options: VerifierOptions): Verifier {
  if (typeof options !== 'object' || options === null) throw new TypeError('options required');
  const anchors: ParsedAnchors = parseAnchors(options.anchors);
  const revocation = options.revocation;
  if (!revocation || typeof revocation.status !== 'function')
    throw new TypeError('revocation must be a RevocationSource (there is no default: fail closed)');
  const { answersByReference } = revocation;
  if (answersByReference !== undefined && typeof answersByReference !== 'boolean')
    throw new TypeError('revocation.answersByReference must be a boolean');
  const challenges = options.challenges ?? new MemoryChallengeStore();
  if (typeof challenges.take !== 'function' || typeof challenges.put !== 'function')
    throw new TypeError('challenges must be a ChallengeStore');
  const ttlMs = options.challengeTtlMs ?? DEFAULT_CHALLENGE_TTL_MS;
  if (!(ttlMs > 0)) throw new TypeError('challengeTtlMs must be positive');
  const clock = options.now ?? (() => new Date());
  if (typeof clock !== 'function') throw new TypeError('now must be a function returning a Date');
  const skewMs = options.skewMs ?? 0;
  if (!(skewMs >= 0 && Number.isFinite(skewMs))) throw new TypeError('skewMs must be >= 0');
  const policyList = (l: readonly string[] | undefined, d: readonly string[]) => {
    if (l !== undefined && (!Array.isArray(l) || l.length === 0 || l.some((p) => !/^\d+(\.\d+)+$/.test(p))))
      throw new TypeError('policies must be non-empty lists of dotted OIDs');
    return new Set(l ?? d);
  };
  const policies = Object.freeze({
    auth: policyList(options.policies?.auth, JPKI_POLICIES.auth),
    sign: policyList(options.policies?.sign, JPKI_POLICIES.sign),
  });
  const pathCacheSize = options.pathCacheSize ?? 10_000;
  if (!(Number.isInteger(pathCacheSize) && pathCacheSize >= 0)) throw new TypeError('pathCacheSize must be >= 0');

  // The anchors' keys (a certificate's own key lives with its validated path).
  const keys = new KeyCache(1000);
  type Described = Omit<VerifiedCertificate, 'revocationSource'>;
  /** A validated path and, once asked for, the description every result of it shares. */
  interface Known {
    readonly path: ValidatedPath;
    described: Described | undefined;
    /** Whether a signature was verified with this path's key before (see `keyFor`). */
    keyUsed: boolean;
    /** For a login certificate, the token's exact certificate text (see `byText`). */
    text: string | undefined;
  }
  // Path results by `${kind}:${fingerprint}` (certificates and statements), and login results by the token's exact
  // certificate text; an entry is used only inside its validity window.
  const paths = new BoundedMap<string, Known>(pathCacheSize);
  // Keyed by the certificate text's last 12 characters (of its CA signature: 9 bytes that differ from certificate to
  // certificate); an entry is used only when the whole text is equal, so keys that collide only miss. Under 13
  // characters a slice is a copy, not a view that keeps the whole token alive, and it hashes in a few nanoseconds
  // (96 characters cost about 0.1 us a login in hashing, measured).
  const byText = new BoundedMap<string, Known>(pathCacheSize);
  // signedData and the signature of the login being verified: written and read by `crypto.verify` in one
  // synchronous step (no await between), so one of each serves every login.
  const signedData = Buffer.alloc(64);
  let signatureBytes: Buffer | undefined;
  // Origins already seen in exact form, with their SHA-256 (parsing a URL costs more than a warm login's checks).
  const origins = new Map<string, Uint8Array>();

  const nowMs = (at?: Date): number => {
    const d = at ?? clock();
    if (!(d instanceof Date) || Number.isNaN(d.getTime())) throw new TypeError('now must be a valid Date');
    return d.getTime();
  };

  function cached(id: string, now: number): Known | undefined {
    const hit = paths.get(id);
    if (hit && now >= hit.path.validFrom && now <= hit.path.validUntil) return hit;
    return undefined;
  }

  function validated(cert: ParsedCertificate, kind: CertKind, now: number): Known {
    return {
      path: validatePath(cert, kind, { anchors, policies, keys, now, skewMs }),
      described: undefined,
      keyUsed: false,
      text: undefined,
    };
  }

  /**
   * The key for one signature check. The first with a certificate's key passes its PEM text, which OpenSSL decodes
   * inside the verify: a KeyObject (import, then a handle the GC finalises) costs more than that and pays only if the
   * certificate comes back, as most new ones do not soon. The second imports it, once, for every later check. May
   * throw (node:crypto refusing the key), so it is called inside the caller's try.
   */
  function keyFor(k: Known): KeyObject | string {
    if (k.keyUsed) return k.path.key;
    k.keyUsed = true;
    return k.path.keyPem;
  }

  function path(cert: ParsedCertificate, kind: CertKind, now: number): Known {
    const id = `${kind}:${cert.fingerprint}`;
    const hit = cached(id, now);
    if (hit) return hit;
    const p = validated(cert, kind, now);
    paths.set(id, p);
    return p;
  }

  // Signing anchors by fingerprint: what a `SigningCertificateRef` names.
  const signAnchors = new Map(anchors.sign.map((a) => [a.fingerprint, a]));

  // Issuer names as text, per anchor: name chaining made the certificate's issuer byte-for-byte its anchor's subject.
  const issuerNames = new Map<ParsedCertificate, string>();

  function description(k: Known): Described {
    if (k.described) return k.described;
    const p = k.path;
    let issuer = issuerNames.get(p.anchor);
    if (issuer === undefined) issuerNames.set(p.anchor, (issuer = nameToString(p.anchor.subject)));
    // Internal (results are frozen copies of it), so not frozen itself.
    const d: Described = {
      kind: p.kind,
      fingerprint: p.cert.fingerprint,
      serialNumber: p.cert.serialNumber,
      issuer,
      issuerFingerprint: p.anchor.fingerprint,
      subjectCommonName: commonName(p.cert),
      notAfter: new Date(p.cert.notAfter),
      certificate: p.cert.der,
    };
    k.described = d;
    return d;
  }

  /** Revocation, asked every time (the source caches answers until their nextUpdate): fails closed. */
  async function revoked(k: Known, now: number): Promise<VerifiedCertificate> {
    let s: RevocationStatus;
    try {
      s = await revocation.status(k.path.cert, k.path.anchor, new Date(now));
    } catch (e) {
      throw revocationFailure(e);
    }
    return Object.freeze({ ...description(k), revocationSource: goodOrThrow(s).source });
  }

  return Object.freeze({
    async issueChallenge(sessionId, alongside): Promise<Challenge> {
      const c = newChallenge(sessionId, nowMs(), ttlMs);
      if (alongside === undefined) await challenges.put(c);
      else await Promise.all([challenges.put(c), alongside(c)]);
      return c;
    },

    async verifyLoginToken(token, context): Promise<LoginResult> {
      if (typeof context !== 'object' || context === null) throw new TypeError('context required');
      const now = nowMs();
      let originHash = origins.get(context.origin);
      if (!originHash) {
        checkOrigin(context.origin, { allowLoopbackHttp: options.allowLoopbackHttp === true });
        originHash = hash('sha256', context.origin, 'buffer');
        if (origins.size < 1000) origins.set(context.origin, originHash);
      }
      // Consumed before anything else: a failed attempt burns the challenge (Web eID getAndRemove).
      const challenge = await challenges.take(context.challenge, context.sessionId, now);
      const fields = parseTokenFields(
        typeof token === 'object' && !(token instanceof Uint8Array) && token !== null ? JSON.stringify(token) : token,
      );
      // Both base64 members are decoded (or recognised) before any other check, so a malformed token is always
      // ERR_PKI_TOKEN_MALFORMED whatever else is wrong with it.
      const signature = (signatureBytes = strictBase64Into(fields.signature, 'signature', signatureBytes));
      // A certificate seen before is recognised by its exact base64 text (which was canonical base64 then): no
      // decode, no hash, no parse. The cached path is used only inside its validity window, so validity at now is
      // still checked on every login; revocation is asked below on every login.
      const text = fields.unverifiedCertificate;
      const tail = text.slice(-12);
      const seen = byText.get(tail);
      let k =
        seen && seen.text === text && now >= seen.path.validFrom && now <= seen.path.validUntil ? seen : undefined;
      if (!k) {
        const der = strictBase64Buffer(text, 'unverifiedCertificate');
        // Not through `paths`: a login certificate is found again by its text, so a fingerprint key would only be
        // built, inserted and evicted on every new certificate.
        k = validated(parseCertificateBuffer(der), 'auth', now);
        k.text = text;
        byText.set(tail, k);
      }
      const p = k.path;
      // RS256 = RSASSA-PKCS1-v1_5 with SHA-256 over signedData (RFC 7518 §3.3); the card got its DigestInfo.
      let ok = false;
      try {
        ok = verify('sha256', authSignedDataInto(signedData, originHash, challenge.nonce), keyFor(k), signature);
      } catch {
        ok = false;
      }
      if (!ok) throw new TokenInvalidError('ERR_PKI_TOKEN_SIGNATURE', 'token signature does not verify');
      // Revocation inline (not through `revoked`): one promise less on the path every login takes.
      let s: RevocationStatus;
      try {
        s = await revocation.status(p.cert, p.anchor, new Date(now));
      } catch (e) {
        throw revocationFailure(e);
      }
      // One literal in the spread's order (kind first): a spread copies into a new shape and then grows it.
      const d = description(k);
      return Object.freeze({
        kind: 'auth' as const,
        fingerprint: d.fingerprint,
        serialNumber: d.serialNumber,
        issuer: d.issuer,
        issuerFingerprint: d.issuerFingerprint,
        subjectCommonName: d.subjectCommonName,
        notAfter: d.notAfter,
        certificate: d.certificate,
        revocationSource: goodOrThrow(s).source,
        format: fields.format,
      });
    },

    async verifyCertificate(der, kind, at): Promise<VerifiedCertificate> {
      if (!(der instanceof Uint8Array)) throw new TypeError('certificate must be a Uint8Array');
      if (kind !== 'auth' && kind !== 'sign') throw new TypeError("kind must be 'auth' or 'sign'");
      const now = nowMs(at);
      return revoked(path(parseCertificate(der), kind, now), now);
    },

    async verifyStatement(signed, at): Promise<StatementResult> {
      if (typeof signed !== 'object' || signed === null) throw new TypeError('signed statement required');
      if (!(signed.signature instanceof Uint8Array) || !(signed.certificate instanceof Uint8Array))
        throw new TypeError('signature and certificate must be Uint8Array');
      const now = nowMs(at);
      const bytes = statementBytes(signed.statement, { allowLoopbackHttp: options.allowLoopbackHttp === true });
      const k = path(parseCertificate(signed.certificate), 'sign', now);
      const p = k.path;
      let ok = false;
      try {
        ok = verify('sha256', bytes, keyFor(k), signed.signature);
      } catch {
        ok = false;
      }
      if (!ok) throw new StatementError('ERR_PKI_STATEMENT_SIGNATURE', 'statement signature does not verify');
      const identity = basic4FromCertificate(p.cert);
      const v = await revoked(k, now);
      return Object.freeze({
        evidence: Object.freeze({
          type: 'electronic_signature' as const,
          issuer: v.issuer,
          serialNumber: v.serialNumber,
          signedAt: signed.statement.time,
          statementHash: statementHash(bytes),
        }),
        identity,
        certificate: v as VerifiedCertificate & { kind: 'sign' },
      });
    },

    async signingStatus(ref, at): Promise<SigningStatus> {
      const r = readRef(ref);
      const now = nowMs(at);
      // RFC 5280 §6.1.3 (a)(2): the certificate's validity period includes now. Its notBefore passed when it was
      // verified.
      if (now > r.notAfter + skewMs)
        throw new CertificateInvalidError('ERR_PKI_CERT_EXPIRED', 'validity', 'certificate expired');
      // RFC 5280 §6.1.1 (d): the trust anchor that validated it is still one; and it is valid now (the path's
      // `anchorValidity` check).
      const anchor = signAnchors.get(r.issuerFingerprint);
      if (anchor === undefined)
        throw new CertificateInvalidError(
          'ERR_PKI_UNTRUSTED_ISSUER',
          'nameChaining',
          'issuer is not a trusted sign CA',
        );
      if (now < anchor.notBefore - skewMs)
        throw new CertificateInvalidError('ERR_PKI_ANCHOR_NOT_YET_VALID', 'anchorValidity', 'CA not yet valid');
      if (now > anchor.notAfter + skewMs)
        throw new CertificateInvalidError('ERR_PKI_ANCHOR_EXPIRED', 'anchorValidity', 'CA expired');
      // Only a source that says it answers from CA and serial alone is asked (`RevocationSource.answersByReference`):
      // one written for whole certificates would read undefined for what a reference lacks and could answer good.
      if (answersByReference !== true)
        throw new RevocationUnknownError(
          'ERR_PKI_REVOCATION_UNKNOWN',
          'unavailable',
          'source',
          'the revocation source does not answer by reference (answersByReference)',
        );
      // Name chaining made the certificate's issuer its anchor's subject, byte for byte.
      const subject = r.subject(anchor.subject);
      let s: RevocationStatus;
      try {
        s = await revocation.status(subject, anchor, new Date(now));
      } catch (e) {
        throw revocationFailure(e);
      }
      return Object.freeze({
        issuerFingerprint: r.issuerFingerprint,
        serialNumber: subject.serialNumber,
        notAfter: new Date(r.notAfter),
        revocationSource: goodOrThrow(s).source,
      });
    },
  } satisfies Verifier);
}
