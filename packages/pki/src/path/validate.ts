/**
 * Runs the named checks of `checks.ts` over one certificate. No network, no clock: `now` is a parameter.
 */
import type { KeyObject } from 'node:crypto';
import type { ParsedCertificate } from '../certificate.ts';
import type { CertKind, ParsedAnchors } from '../anchors.ts';
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
  /** The certificate's public key. */
  readonly key: KeyObject;
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
    key: undefined,
  };
  const checks = opts.checks ?? pathChecks;
  for (let i = 0; i < checks.length; i++) checks[i]!.run(ctx);
  const anchor = ctx.anchor!;
  return Object.freeze({
    cert,
    kind,
    anchor,
    key: ctx.key ?? opts.keys.get(cert.spki),
    validFrom: Math.max(cert.notBefore, anchor.notBefore) - opts.skewMs,
    validUntil: Math.min(cert.notAfter, anchor.notAfter) + opts.skewMs,
  });
}
