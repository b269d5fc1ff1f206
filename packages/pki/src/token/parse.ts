/**
 * Strict parsing of an authentication token: nothing here trusts the content, it only refuses anything that is not
 * exactly the format. Verification is `verifier.ts`.
 */
import { TokenInvalidError } from '../errors.ts';
import { TOKEN_ALGORITHMS, TOKEN_FORMAT_PATTERN, TOKEN_MAX_LENGTH, TOKEN_MIN_LENGTH } from './format.ts';
import type { AuthToken } from './format.ts';

const malformed = (message: string): never => {
  throw new TokenInvalidError('ERR_PKI_TOKEN_MALFORMED', message);
};

/**
 * Parses a token from its JSON text (or UTF-8 bytes).
 *
 * - length 100..10 000 characters (Web eID's bounds);
 * - RFC 8259 JSON whose top level is an object, with no duplicate member name at any depth (JSON.parse would keep
 *   the last one silently, so two parsers could disagree on which certificate was sent);
 * - `format` is `web-eid:1` or `web-eid:1.N` exactly (`web-eid:10` is not version 1);
 * - `algorithm` on the allow-list (RS256);
 * - `unverifiedCertificate` and `signature` in standard base64 with padding, no whitespace, no base64url, canonical
 *   (unused bits zero), non-empty;
 * - `appVersion` a string when present. Unknown members are ignored (minor versions add members).
 *
 * @throws TokenInvalidError `ERR_PKI_TOKEN_MALFORMED`, `ERR_PKI_TOKEN_FORMAT`, `ERR_PKI_TOKEN_ALGORITHM`
 * @example
 * ```ts
 * const token = parseAuthToken(request.body);
 * ```
 */
export function parseAuthToken(input: string | Uint8Array): AuthToken {
  const f = parseTokenFields(input);
  return Object.freeze({
    unverifiedCertificate: strictBase64(f.unverifiedCertificate, 'unverifiedCertificate'),
    algorithm: f.algorithm,
    signature: strictBase64(f.signature, 'signature'),
    format: f.format,
    appVersion: f.appVersion,
  });
}

/** The token's members as text; base64 members are checked to be non-empty strings but not decoded. */
export interface TokenFields {
  readonly unverifiedCertificate: string;
  readonly algorithm: 'RS256';
  readonly signature: string;
  readonly format: string;
  readonly appVersion: string | undefined;
}

/**
 * Every check of {@link parseAuthToken} except decoding the base64 members, which the verifier does only for a
 * certificate it has not seen (a known certificate is recognised by its exact text). Internal.
 *
 * @throws TokenInvalidError `ERR_PKI_TOKEN_MALFORMED`, `ERR_PKI_TOKEN_FORMAT`, `ERR_PKI_TOKEN_ALGORITHM`
 */
export function parseTokenFields(input: string | Uint8Array): TokenFields {
  let text: string;
  if (typeof input === 'string') text = input;
  else if (input instanceof Uint8Array) {
    if (input.length > TOKEN_MAX_LENGTH * 4) malformed('token too long');
    try {
      text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(input);
    } catch {
      return malformed('token is not UTF-8');
    }
  } else throw new TypeError('token must be a string or Uint8Array');
  if (text.length < TOKEN_MIN_LENGTH) malformed('token too short');
  if (text.length > TOKEN_MAX_LENGTH) malformed('token too long');

  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return malformed('token is not JSON');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) malformed('token is not a JSON object');
  assertNoDuplicateKeys(text);
  const o = json as Record<string, unknown>;

  if (typeof o.format !== 'string') malformed('format missing');
  if (!TOKEN_FORMAT_PATTERN.test(o.format as string))
    throw new TokenInvalidError('ERR_PKI_TOKEN_FORMAT', 'unsupported token format');
  if (typeof o.algorithm !== 'string') malformed('algorithm missing');
  if (!TOKEN_ALGORITHMS.has(o.algorithm as string))
    throw new TokenInvalidError('ERR_PKI_TOKEN_ALGORITHM', 'algorithm not allowed');
  if (o.appVersion !== undefined && typeof o.appVersion !== 'string') malformed('appVersion is not a string');
  if (typeof o.unverifiedCertificate !== 'string' || o.unverifiedCertificate.length === 0)
    malformed('unverifiedCertificate missing');
  if (typeof o.signature !== 'string' || o.signature.length === 0) malformed('signature missing');
  return {
    unverifiedCertificate: o.unverifiedCertificate as string,
    algorithm: 'RS256',
    signature: o.signature as string,
    format: o.format as string,
    appVersion: o.appVersion as string | undefined,
  };
}

/**
 * Decodes standard base64 (RFC 4648 §4) strictly: alphabet `+/`, `=` padding required, no whitespace, and canonical
 * (re-encoding gives the same text, so the pad bits are zero and one text means one byte string).
 *
 * @throws TokenInvalidError `ERR_PKI_TOKEN_MALFORMED`
 */
export function strictBase64(s: unknown, field: string): Uint8Array {
  if (typeof s !== 'string' || s.length === 0) return malformed(`${field} missing`);
  if (s.length % 4 !== 0) malformed(`${field} is not padded base64`);
  // Node's decoder is lenient (it skips whitespace, takes -_ too, ignores pad bits); re-encoding only ever
  // yields the standard alphabet with padding and zero pad bits, so equality admits exactly canonical base64.
  const bytes = Buffer.from(s, 'base64');
  if (bytes.toString('base64') !== s) malformed(`${field} is not canonical standard base64`);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Walks already-valid JSON text and throws on a member name repeated within one object. Names are compared after
 * unescaping (`"a"` and `"\u0061"` are the same name, RFC 8259 §8.3).
 */
function assertNoDuplicateKeys(text: string): void {
  const stack: (Set<string> | null)[] = [];
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x7b /* { */) stack.push(new Set());
    else if (c === 0x5b /* [ */) stack.push(null);
    else if (c === 0x7d /* } */ || c === 0x5d /* ] */) stack.pop();
    else if (c === 0x22 /* " */) {
      // Find the closing quote: the first '"' not preceded by an odd run of backslashes.
      let j = i + 1;
      let escaped = false;
      for (;;) {
        j = text.indexOf('"', j);
        let k = j - 1;
        let bs = 0;
        while (text.charCodeAt(k) === 0x5c) {
          bs++;
          k--;
        }
        if (bs % 2 === 0) break;
        escaped = true;
        j++;
      }
      const top = stack[stack.length - 1];
      if (top) {
        let k = j + 1;
        while (
          k < n &&
          (text.charCodeAt(k) === 0x20 ||
            text.charCodeAt(k) === 0x0a ||
            text.charCodeAt(k) === 0x0d ||
            text.charCodeAt(k) === 0x09)
        )
          k++;
        if (text.charCodeAt(k) === 0x3a /* : */) {
          let raw = text.slice(i + 1, j);
          if (escaped || raw.includes('\\')) raw = JSON.parse(text.slice(i, j + 1)) as string;
          if (top.has(raw)) malformed('duplicate member name in token');
          top.add(raw);
        }
      }
      i = j;
    }
  }
}
