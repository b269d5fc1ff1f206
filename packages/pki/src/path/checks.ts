/**
 * Path validation as data: each check is one rule (RFC 5280 §6.1 or the JPKI profile, spec §8) that throws
 * exactly one code. JPKI is a single tier (spec §8.1: self-signed CAs issue end-entity certificates directly), so
 * the path is `anchor → certificate` and every §6.1.3/§6.1.5 step applies to that one certificate.
 */
import { CertificateInvalidError } from '../errors.ts';
import { EXT, issuerIs } from '../certificate.ts';
import type { ParsedCertificate } from '../certificate.ts';
import type { CertKind, ParsedAnchors } from '../anchors.ts';
import { certificateKeyPem, signedBy } from '../keys.ts';
import type { KeyCache } from '../keys.ts';

/** JPKI certificate policy OIDs (spec §8.2, §8.3). */
export const JPKI_POLICIES: {
  readonly auth: readonly string[];
  readonly sign: readonly string[];
} = Object.freeze({
  /** 利用者証明用 (user authentication), spec §8.2. */
  auth: Object.freeze(['1.2.392.200149.8.5.1.3.30']),
  /** 署名用 (digital signature), spec §8.3. */
  sign: Object.freeze(['1.2.392.200149.8.5.1.1.20']),
});

/** id-kp-clientAuth (RFC 5280 §4.2.1.12). */
export const ID_KP_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

/**
 * Extensions this validator processes or knows to be harmless; a critical extension outside this set fails
 * (RFC 5280 §4.2: "A certificate-using system MUST reject the certificate if it encounters a critical extension
 * it does not recognize").
 */
export const KNOWN_EXTENSIONS: ReadonlySet<string> = new Set([
  EXT.subjectKeyIdentifier,
  EXT.keyUsage,
  EXT.subjectAltName,
  EXT.issuerAltName,
  EXT.basicConstraints,
  EXT.crlDistributionPoints,
  EXT.certificatePolicies,
  EXT.authorityKeyIdentifier,
  EXT.extKeyUsage,
  EXT.authorityInfoAccess,
]);

/** Smallest RSA modulus accepted for a key whose signatures we verify (spec §8.2/§8.3: the card keys are RSA-2048). */
export const MIN_RSA_MODULUS_BITS = 2048;

/**
 * Whether `cert`'s subject key is RSA of at least {@link MIN_RSA_MODULUS_BITS} bits: the rule of the `publicKey`
 * check, also applied to a delegated OCSP responder (`ocsp/response.ts`). The size comes from the DER, which the
 * parser read as RSAPublicKey (two positive, minimal INTEGERs); a key that is not RSA has size 0.
 *
 * @example
 * ```ts
 * if (!strongRsaKey(parseCertificate(der))) throw new Error('weak key');
 * ```
 */
export function strongRsaKey(cert: ParsedCertificate): boolean {
  return cert.rsaModulusBits >= MIN_RSA_MODULUS_BITS;
}

/** What the checks see. `candidates` and `anchor` are filled in by the chaining and signature checks. */
export interface PathContext {
  readonly cert: ParsedCertificate;
  readonly kind: CertKind;
  /** ms since the epoch. */
  readonly now: number;
  readonly skewMs: number;
  readonly anchors: ParsedAnchors;
  /** Allowed policy OIDs per kind. */
  readonly policies: {
    readonly auth: ReadonlySet<string>;
    readonly sign: ReadonlySet<string>;
  };
  readonly keys: KeyCache;
  /** Anchors whose subject equals the certificate's issuer, DER-exact. */
  candidates: readonly ParsedCertificate[];
  /** The anchor whose key verified the signature. */
  anchor: ParsedCertificate | undefined;
  /** The certificate's public key as PEM text, read by the `publicKey` check. */
  keyPem: string | undefined;
}

/** One named rule. */
export interface PathCheck {
  readonly name: string;
  /** Where the rule comes from. */
  readonly rule: string;
  /** Throws `CertificateInvalidError` with one code, or returns. */
  run(ctx: PathContext): void;
}

const fail = (code: string, check: string, message: string): never => {
  throw new CertificateInvalidError(code, check, message);
};

const other = (kind: CertKind): CertKind => (kind === 'auth' ? 'sign' : 'auth');

// Loops, not `some` with a closure: these run on every new certificate, and each closure is an allocation.
function anyIn(oids: readonly string[], allowed: ReadonlySet<string>): boolean {
  for (let i = 0; i < oids.length; i++) if (allowed.has(oids[i]!)) return true;
  return false;
}

// The issuer compared in the certificate's DER (`issuerIs`), not through a view of it.
function issuedBy(anchors: readonly ParsedCertificate[], cert: ParsedCertificate): boolean {
  for (let i = 0; i < anchors.length; i++) if (issuerIs(cert, anchors[i]!.subject)) return true;
  return false;
}

/** The checks, in order. The order fixes which code a certificate with several faults gets. */
export const pathChecks: readonly PathCheck[] = Object.freeze([
  {
    name: 'kind',
    rule: 'spec §8.2/§8.3: a signing certificate is never a login certificate, and vice versa; an end entity is not a CA',
    run(ctx) {
      const { cert, kind } = ctx;
      const policies = cert.policies;
      const otherPolicy = anyIn(policies, ctx.policies[other(kind)]) && !anyIn(policies, ctx.policies[kind]);
      const otherIssuer = issuedBy(ctx.anchors[other(kind)], cert) && !issuedBy(ctx.anchors[kind], cert);
      if (otherPolicy || otherIssuer) fail('ERR_PKI_WRONG_CERT_KIND', 'kind', `not a ${kind} certificate`);
      if (cert.isCa) fail('ERR_PKI_WRONG_CERT_KIND', 'kind', 'a CA certificate is not an end-entity certificate');
    },
  },
  {
    name: 'nameChaining',
    rule: 'RFC 5280 §6.1.3 (a)(4): issuer name equals the working issuer name (here: an anchor subject, DER-exact)',
    run(ctx) {
      const anchors = ctx.anchors[ctx.kind];
      let candidates: ParsedCertificate[] | undefined;
      for (let i = 0; i < anchors.length; i++) {
        const a = anchors[i]!;
        if (issuerIs(ctx.cert, a.subject)) candidates === undefined ? (candidates = [a]) : candidates.push(a);
      }
      ctx.candidates = candidates ?? [];
      if (ctx.candidates.length === 0)
        fail('ERR_PKI_UNTRUSTED_ISSUER', 'nameChaining', `issuer is not a trusted ${ctx.kind} CA`);
    },
  },
  {
    name: 'signature',
    rule: 'RFC 5280 §6.1.3 (a)(1): the signature verifies with the working public key; every same-name anchor is tried',
    run(ctx) {
      // A look-alike CA with the same name but another key fails here: only a key we pinned can verify.
      const candidates = ctx.candidates;
      let anchor: ParsedCertificate | undefined;
      for (let i = 0; i < candidates.length && !anchor; i++)
        if (signedBy(ctx.cert, ctx.keys.get(candidates[i]!.spki))) anchor = candidates[i];
      ctx.anchor = anchor;
      if (!ctx.anchor) fail('ERR_PKI_BAD_SIGNATURE', 'signature', 'signature does not verify with any trusted CA key');
    },
  },
  {
    name: 'anchorValidity',
    rule: 'Web eID / RFC 5280 §6.1 with the anchor validity enforced: the trust anchor itself is valid at now',
    run(ctx) {
      const a = ctx.anchor!;
      if (ctx.now < a.notBefore - ctx.skewMs)
        fail('ERR_PKI_ANCHOR_NOT_YET_VALID', 'anchorValidity', 'CA not yet valid');
      if (ctx.now > a.notAfter + ctx.skewMs) fail('ERR_PKI_ANCHOR_EXPIRED', 'anchorValidity', 'CA expired');
    },
  },
  {
    name: 'issuerIsCa',
    rule: 'RFC 5280 §6.1.4 (k), §4.2.1.9 and §4.2.1.3: the issuer has basicConstraints cA and keyCertSign',
    run(ctx) {
      const a = ctx.anchor!;
      if (!a.isCa || !a.keyUsage?.keyCertSign) fail('ERR_PKI_ISSUER_NOT_CA', 'issuerIsCa', 'issuer is not a CA');
    },
  },
  {
    name: 'validity',
    rule: 'RFC 5280 §6.1.3 (a)(2): now is within notBefore..notAfter (± the configured skew)',
    run(ctx) {
      if (ctx.now < ctx.cert.notBefore - ctx.skewMs)
        fail('ERR_PKI_CERT_NOT_YET_VALID', 'validity', 'certificate not yet valid');
      if (ctx.now > ctx.cert.notAfter + ctx.skewMs) fail('ERR_PKI_CERT_EXPIRED', 'validity', 'certificate expired');
    },
  },
  {
    name: 'criticalExtensions',
    rule: 'RFC 5280 §4.2 and §6.1.4 (o): an unrecognised critical extension rejects the certificate',
    run(ctx) {
      const critical = ctx.cert.criticalExtensions;
      for (let i = 0; i < critical.length; i++)
        if (!KNOWN_EXTENSIONS.has(critical[i]!))
          fail('ERR_PKI_UNKNOWN_CRITICAL_EXTENSION', 'criticalExtensions', `unknown critical extension ${critical[i]}`);
    },
  },
  {
    name: 'publicKey',
    rule: 'spec §8.2/§8.3: the subject key is RSA of at least 2048 bits',
    run(ctx) {
      // The size comes from the DER (`strongRsaKey`): asking node:crypto for key details costs as much as an import.
      // No KeyObject is made here: a new certificate's login verifies with the PEM text, and the path imports the
      // key if it is used again (`ValidatedPath.key`).
      if (!strongRsaKey(ctx.cert)) fail('ERR_PKI_CERT_MALFORMED', 'publicKey', 'subject key is not RSA-2048 or larger');
      try {
        ctx.keyPem = certificateKeyPem(ctx.cert);
      } catch {
        fail('ERR_PKI_CERT_MALFORMED', 'publicKey', 'subject public key cannot be read');
      }
    },
  },
  {
    name: 'keyUsage',
    rule: 'RFC 5280 §4.2.1.3, spec §8.2/§8.3: auth = digitalSignature; sign = digitalSignature + nonRepudiation; never keyCertSign/cRLSign',
    run(ctx) {
      const ku = ctx.cert.keyUsage;
      if (!ku) return fail('ERR_PKI_KEY_USAGE', 'keyUsage', 'keyUsage missing');
      const ok = ku.digitalSignature && (ctx.kind === 'auth' || ku.nonRepudiation) && !ku.keyCertSign && !ku.cRLSign;
      if (!ok) fail('ERR_PKI_KEY_USAGE', 'keyUsage', `keyUsage not that of a ${ctx.kind} certificate`);
    },
  },
  {
    name: 'extendedKeyUsage',
    rule: 'RFC 5280 §4.2.1.12, spec §8.2: an auth certificate carries id-kp-clientAuth (stricter than Web eID, which allows none)',
    run(ctx) {
      if (ctx.kind === 'auth' && !ctx.cert.extendedKeyUsage?.includes(ID_KP_CLIENT_AUTH))
        fail('ERR_PKI_EKU', 'extendedKeyUsage', 'extendedKeyUsage lacks clientAuth');
    },
  },
  {
    name: 'policy',
    rule: 'RFC 5280 §6.1.3 (d) with an allow-list as initial-policy-set, spec §8.2/§8.3: a JPKI policy of this kind',
    run(ctx) {
      const allowed = ctx.policies[ctx.kind];
      if (!ctx.cert.policies.some((p) => allowed.has(p)))
        fail('ERR_PKI_POLICY', 'policy', `no allowed ${ctx.kind} certificate policy`);
    },
  },
] satisfies PathCheck[]);
