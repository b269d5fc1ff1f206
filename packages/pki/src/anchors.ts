/**
 * Trust anchors, pinned per certificate kind (auth vs sign) and per environment (the test JPKI vs J-LIS): a
 * login certificate is only ever chained to an auth CA, a signing certificate to a sign CA (spec §8.1, §8.4).
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { nameToString, parseCertificate } from './certificate.ts';
import type { ParsedCertificate } from './certificate.ts';
import { CertificateInvalidError } from './errors.ts';
import { importPublicKey } from './keys.ts';

/** The two JPKI certificate kinds: user authentication (利用者証明用) and digital signature (署名用). */
export type CertKind = 'auth' | 'sign';

/** Trust anchors as configured: DER certificates of the self-signed JPKI CAs, per kind. */
export interface TrustAnchors {
  readonly auth: readonly Uint8Array[];
  readonly sign: readonly Uint8Array[];
}

/** Anchors parsed once, per kind. Internal shape used by path validation. */
export interface ParsedAnchors {
  readonly auth: readonly ParsedCertificate[];
  readonly sign: readonly ParsedCertificate[];
}

/**
 * Parses anchors once. Every anchor must be a CA certificate (basicConstraints cA, keyCertSign) whose public key
 * node:crypto imports; a wrong file is a configuration error.
 *
 * @throws TypeError when an anchor is not a parseable CA certificate, its key cannot be imported, or a kind has no
 *   anchor.
 */
export function parseAnchors(anchors: TrustAnchors): ParsedAnchors {
  const one = (der: Uint8Array, kind: CertKind) => {
    let c: ParsedCertificate;
    try {
      c = parseCertificate(der);
    } catch (e) {
      throw new TypeError(`${kind} trust anchor is not a certificate`, {
        cause: e,
      });
    }
    if (!c.isCa || !c.keyUsage?.keyCertSign) throw new TypeError(`${kind} trust anchor is not a CA certificate`);
    // The key is imported now, as path validation will: a key node:crypto refuses would otherwise pass start-up and
    // then fail every verification with a raw OpenSSL error.
    try {
      importPublicKey(c.spki);
    } catch (e) {
      throw new TypeError(`${kind} trust anchor ${nameToString(c.subject)} has a public key that cannot be imported`, {
        cause: e,
      });
    }
    return c;
  };
  if (!anchors || !Array.isArray(anchors.auth) || !Array.isArray(anchors.sign))
    throw new TypeError('anchors must be { auth: Uint8Array[], sign: Uint8Array[] }');
  if (anchors.auth.length + anchors.sign.length === 0) throw new TypeError('no trust anchor configured');
  return Object.freeze({
    auth: Object.freeze(anchors.auth.map((d) => one(d, 'auth'))),
    sign: Object.freeze(anchors.sign.map((d) => one(d, 'sign'))),
  });
}

/**
 * Reads every `*.pem`, `*.crt` and `*.cer` (PEM or DER) in `dir` and sorts the CA certificates into auth and sign
 * anchors by subject: `OU=JPKI for user authentication` → auth, `OU=JPKI for digital signature` → sign (spec
 * §8.1). Files with no such subject are sorted by a `auth`/`sign` in the file name; end-entity certificates and
 * other files are ignored, and so are CAs that name no kind, unless `options.unclassified` says which kind they
 * anchor (an operator pointing at a folder of some other CA's certificates for one kind of check).
 *
 * @throws TypeError when the directory holds no anchor; CertificateInvalidError `ERR_PKI_CERT_MALFORMED` (naming the
 *   file) for a `.pem`/`.crt`/`.cer` file that holds no certificate or one that does not parse.
 * @example
 * ```ts
 * const verifier = createVerifier({ anchors: await loadTrustDir('trust/test-jpki'), revocation });
 * ```
 */
export async function loadTrustDir(dir: string, options: { unclassified?: CertKind } = {}): Promise<TrustAnchors> {
  const auth: Uint8Array[] = [];
  const sign: Uint8Array[] = [];
  for (const file of (await readdir(dir)).sort()) {
    if (!/\.(pem|crt|cer)$/i.test(file)) continue;
    const bytes = await readFile(join(dir, file));
    const ders = pemOrDer(bytes);
    // A file here that holds no certificate, or one that does not parse, is refused by name: skipped, it left a kind
    // of anchor silently missing, found only later as logins failing path validation.
    if (ders.length === 0)
      throw new CertificateInvalidError('ERR_PKI_CERT_MALFORMED', 'trust', `${file}: no certificate`);
    for (const der of ders) {
      let c: ParsedCertificate;
      try {
        c = parseCertificate(der);
      } catch (e) {
        throw new CertificateInvalidError('ERR_PKI_CERT_MALFORMED', 'trust', `${file}: ${(e as Error).message}`, {
          cause: e,
        });
      }
      if (!c.isCa || !c.keyUsage?.keyCertSign) continue;
      const dn = nameToString(c.subject).toLowerCase();
      const kind: CertKind | undefined = dn.includes('user authentication')
        ? 'auth'
        : dn.includes('digital signature')
          ? 'sign'
          : /auth/i.test(file)
            ? 'auth'
            : /sign/i.test(file)
              ? 'sign'
              : options.unclassified;
      if (kind === 'auth') auth.push(der);
      else if (kind === 'sign') sign.push(der);
    }
  }
  if (auth.length + sign.length === 0) throw new TypeError(`no JPKI CA certificate in ${dir}`);
  return Object.freeze({
    auth: Object.freeze(auth),
    sign: Object.freeze(sign),
  });
}

/**
 * The certificates in a PEM file (all `CERTIFICATE` blocks), or the file itself when it is DER. A block whose body is
 * not canonical base64 (a stray character, data after the padding, which Node's decoder would drop) gives an empty
 * certificate, which no parse accepts.
 */
export function pemOrDer(bytes: Uint8Array): Uint8Array[] {
  const s = Buffer.from(bytes).toString('latin1');
  if (!s.includes('-----BEGIN')) return [new Uint8Array(bytes)];
  const out: Uint8Array[] = [];
  for (const m of s.matchAll(/-----BEGIN CERTIFICATE-----([^-]*)-----END CERTIFICATE-----/g)) {
    const text = m[1]!.replace(/[ \t\r\n]+/g, '');
    const der = Buffer.from(text, 'base64');
    out.push(der.toString('base64') === text ? new Uint8Array(der) : new Uint8Array(0));
  }
  return out;
}
