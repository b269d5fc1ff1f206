/**
 * Runs the named checks of `checks.ts` over one certificate. No network, no clock: `now` is a parameter.
 */
import { createPublicKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { ParsedCertificate } from '../certificate.ts';
import type { CertKind, ParsedAnchors } from '../anchors.ts';
import { publicKeyPem } from '../keys.ts';
import type { KeyCache } from '../keys.ts';
import { pathChecks } from './checks.ts';
import type { PathCheck, PathContext } from './checks.ts';

/** Inputs of path validation besides the certificate. */
export interface PathOptions {
  readonly anchors: ParsedAnchors;
  readonly policies: {
    readonly auth: ReadonlySet<string>;
    readonly sign: ReadonlySet<string>;
  };
  readonly keys: KeyCache;
  /** ms since the epoch. */
  readonly now: number;
  readonly skewMs: number;
  /** The checks to run; defaults to `pathChecks`. */
  readonly checks?: readonly PathCheck[];
}

/** A certificate that passed every check. */
export interface ValidatedPath {
  readonly cert: ParsedCertificate;
  readonly kind: CertKind;
  /** The anchor that issued it. */
  readonly anchor: ParsedCertificate;
  /** The certificate's public key, imported on first use. */
  readonly key: KeyObject;
  /**
   * The same key as PEM text (`publicKeyPem`): `crypto.verify` decodes it inside the call, which for a key used once
   * costs less than importing a KeyObject and verifying with it.
   */
  readonly keyPem: string;
  /** The window in which this result stays true (validity of certificate and anchor, skew included), ms. */
  readonly validFrom: number;
  readonly validUntil: number;
}

/**
 * Validates `cert` as a `kind` certificate at `now` (RFC 5280 §6.1, single tier).
 *
 * @throws CertificateInvalidError with the code of the first failing check (see `pathChecks`).
 */
export function validatePath(cert: ParsedCertificate, kind: CertKind, opts: PathOptions): ValidatedPath {
  const ctx: PathContext = {
    cert,
    kind,
    now: opts.now,
    skewMs: opts.skewMs,
    anchors: opts.anchors,
    policies: opts.policies,
    keys: opts.keys,
    candidates: [],
    anchor: undefined,
    keyPem: undefined,
  };
  const checks = opts.checks ?? pathChecks;
  for (let i = 0; i < checks.length; i++) checks[i]!.run(ctx);
  const anchor = ctx.anchor!;
  return new Validated(
    cert,
    kind,
    anchor,
    ctx.keyPem ?? publicKeyPem(cert.spki),
    Math.max(cert.notBefore, anchor.notBefore) - opts.skewMs,
    Math.min(cert.notAfter, anchor.notAfter) + opts.skewMs,
  );
}

/** A validated path; frozen, its KeyObject a private memo made on first use. */
class Validated implements ValidatedPath {
  readonly cert: ParsedCertificate;
  readonly kind: CertKind;
  readonly anchor: ParsedCertificate;
  readonly keyPem: string;
  readonly validFrom: number;
  readonly validUntil: number;
  #key: KeyObject | undefined;

  constructor(
    cert: ParsedCertificate,
    kind: CertKind,
    anchor: ParsedCertificate,
    keyPem: string,
    validFrom: number,
    validUntil: number,
  ) {
    this.cert = cert;
    this.kind = kind;
    this.anchor = anchor;
    this.keyPem = keyPem;
    this.validFrom = validFrom;
    this.validUntil = validUntil;
    Object.freeze(this);
  }

  /** @throws Error from node:crypto if OpenSSL refuses the key (the `publicKey` check read it as DER). */
  get key(): KeyObject {
    return (this.#key ??= createPublicKey(this.keyPem));
  }
}
