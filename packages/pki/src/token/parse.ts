/**
 * Strict parsing of an authentication token: nothing here trusts the content, it only refuses anything that is not
 * exactly the format. Verification is `verifier.ts`.
 */
import { TokenInvalidError } from '../errors.ts';
import { TOKEN_ALGORITHMS, TOKEN_FORMAT, TOKEN_FORMAT_PATTERN, TOKEN_MAX_LENGTH, TOKEN_MIN_LENGTH } from './format.ts';
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
  return scanFlatToken(text) ?? parseFields(text);
}

/** The full checks over `JSON.parse`: every token the fast scan does not accept, and every refusal. */
function parseFields(text: string): TokenFields {
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
 * The member `t.slice(start, end)` names, as an index into the token's members (unverifiedCertificate, algorithm,
 * signature, format, appVersion), or -1 for any other name: compared in place, without slicing the name.
 */
function member(t: string, start: number, end: number): number {
  switch (end - start) {
    case 21:
      return t.startsWith('unverifiedCertificate', start) ? 0 : -1;
    case 9:
      return t.startsWith('algorithm', start) ? 1 : t.startsWith('signature', start) ? 2 : -1;
    case 6:
      return t.startsWith('format', start) ? 3 : -1;
    case 10:
      return t.startsWith('appVersion', start) ? 4 : -1;
    default:
      return -1;
  }
}

/**
 * The fast path of {@link parseTokenFields}: one pass over a flat object whose values are all strings without
 * escapes (what every client sends), slicing the values instead of building a parse tree. It returns fields only
 * when the token is plainly valid; anything else (escapes, nested or non-string values, a duplicate name, a failing
 * check) returns `undefined` and `JSON.parse` decides, so both paths accept and refuse exactly the same tokens.
 * One thing is left to the caller, which checks it anyway: control characters inside `unverifiedCertificate` and
 * `signature` fail strict base64 (`ERR_PKI_TOKEN_MALFORMED`, as `JSON.parse` would), so a caller decodes (or
 * recognises) both before any other check.
 */
function scanFlatToken(t: string): TokenFields | undefined {
  const n = t.length;
  let i = ws(t, 0);
  if (t.charCodeAt(i) !== 0x7b /* { */) return undefined;
  let unverifiedCertificate: string | undefined;
  let algorithm: string | undefined;
  let signature: string | undefined;
  let format: string | undefined;
  let appVersion: string | undefined;
  let others: string[] | undefined;
  i = ws(t, i + 1);
  for (;;) {
    if (t.charCodeAt(i) !== 0x22) return undefined;
    const ke = t.indexOf('"', i + 1);
    if (ke < 0) return undefined;
    // A member's name is plain text; any other name is sliced and checked.
    const m = member(t, i + 1, ke);
    const key = m < 0 ? t.slice(i + 1, ke) : undefined;
    i = ws(t, ke + 1);
    if (t.charCodeAt(i) !== 0x3a /* : */) return undefined;
    i = ws(t, i + 1);
    if (t.charCodeAt(i) !== 0x22) return undefined;
    const ve = t.indexOf('"', i + 1);
    if (ve < 0) return undefined;
    const val = t.slice(i + 1, ve);
    // An escape anywhere means the first quote may not end the string: JSON.parse decides. Control characters are
    // checked here for short strings; in the two long base64 members strict base64 decoding refuses them.
    if (m === 0 || m === 2 ? val.includes('\\') : !plain(val)) return undefined;
    if (key !== undefined) {
      if (!plain(key) || others?.includes(key)) return undefined;
      (others ??= []).push(key);
    } else if (m === 0) {
      if (unverifiedCertificate !== undefined) return undefined;
      unverifiedCertificate = val;
    } else if (m === 1) {
      if (algorithm !== undefined) return undefined;
      algorithm = val;
    } else if (m === 2) {
      if (signature !== undefined) return undefined;
      signature = val;
    } else if (m === 3) {
      if (format !== undefined) return undefined;
      format = val;
    } else {
      if (appVersion !== undefined) return undefined;
      appVersion = val;
    }
    i = ws(t, ve + 1);
    const c = t.charCodeAt(i);
    if (c === 0x7d /* } */) break;
    if (c !== 0x2c /* , */) return undefined;
    i = ws(t, i + 1);
  }
  if (ws(t, i + 1) !== n) return undefined;
  if (
    !unverifiedCertificate ||
    !signature ||
    format === undefined ||
    // The format every client writes is compared, not matched.
    (format !== TOKEN_FORMAT && !TOKEN_FORMAT_PATTERN.test(format)) ||
    algorithm === undefined ||
    !TOKEN_ALGORITHMS.has(algorithm)
  )
    return undefined;
  return { unverifiedCertificate, algorithm: 'RS256', signature, format, appVersion };
}

/** Index of the first non-whitespace character at or after `i` (RFC 8259 §2: space, tab, LF, CR). */
function ws(t: string, i: number): number {
  for (;;) {
    const c = t.charCodeAt(i);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return i;
    i++;
  }
}

/** No backslash (an escape: left to JSON.parse) and no control character (invalid in a JSON string). */
function plain(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x5c) return false;
  }
  return true;
}

/**
 * Decodes standard base64 (RFC 4648 §4) strictly: alphabet `+/`, `=` padding required, no whitespace, and canonical
 * (re-encoding gives the same text, so the pad bits are zero and one text means one byte string).
 *
 * @throws TokenInvalidError `ERR_PKI_TOKEN_MALFORMED`
 */
export function strictBase64(s: unknown, field: string): Uint8Array {
  const bytes = strictBase64Buffer(s, field);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * {@link strictBase64} as the Buffer Node decoded, for bytes used only inside (a signature handed to
 * `crypto.verify`): no Uint8Array view made over it. Internal.
 *
 * @throws TokenInvalidError `ERR_PKI_TOKEN_MALFORMED`
 */
export function strictBase64Buffer(s: unknown, field: string): Buffer {
  const length = strictBase64Length(s, field);
  // Memory of its own, not a slice of Node's shared Buffer pool: these bytes are handed out (a login result's
  // `certificate`) and kept in caches, and a view into the pool would expose, through its `.buffer`, whatever else
  // the pool holds, and keep the whole pool block alive. Decoded in place, so it costs no copy.
  const bytes = Buffer.allocUnsafeSlow(length);
  if (bytes.write(s as string, 0, length, 'base64') !== length) malformed(`${field} is not canonical standard base64`);
  return bytes;
}

/**
 * {@link strictBase64Buffer} decoded into `reuse` when it has the decoded length (else into a new Buffer, which the
 * caller keeps for the next): for bytes read once, synchronously, such as a token's signature. Internal.
 *
 * @throws TokenInvalidError `ERR_PKI_TOKEN_MALFORMED`
 */
export function strictBase64Into(s: unknown, field: string, reuse: Buffer | undefined): Buffer {
  const length = strictBase64Length(s, field);
  const bytes = reuse?.length === length ? reuse : Buffer.allocUnsafe(length);
  if (bytes.write(s as string, 0, length, 'base64') !== length) malformed(`${field} is not canonical standard base64`);
  return bytes;
}

/**
 * Every check of {@link strictBase64} but the decoded length, which it returns: the caller decodes and compares.
 *
 * @throws TokenInvalidError `ERR_PKI_TOKEN_MALFORMED`
 */
function strictBase64Length(s: unknown, field: string): number {
  if (typeof s !== 'string' || s.length === 0) return malformed(`${field} missing`);
  const n = s.length;
  if (n % 4 !== 0) malformed(`${field} is not padded base64`);
  // Node's decoder is lenient: it skips characters outside the alphabet, takes -_ too, and ignores pad bits. So:
  // no -_; every other character must have been decoded, which the exact output length proves (each skipped or
  // terminating character costs at least one output byte, so fewer come out); and the pad bits are zero. That
  // admits exactly the canonical standard base64, without re-encoding the text.
  const pad = s.charCodeAt(n - 1) === 0x3d ? (s.charCodeAt(n - 2) === 0x3d ? 2 : 1) : 0;
  const last = B64[s.charCodeAt(n - 1 - pad)] ?? -1;
  if (last < 0 || (pad === 1 && last & 0x03) || (pad === 2 && last & 0x0f) || s.includes('-') || s.includes('_'))
    malformed(`${field} is not canonical standard base64`);
  // Node's decoder reads a character beyond ASCII by its low byte ('あ' U+3042 as 'B'): such a text would decode to
  // the same bytes as the canonical one. Its UTF-8 takes more bytes than it has characters, an ASCII text's does
  // not: encoded into room for at least n bytes, it reads all n characters into exactly n bytes only if ASCII.
  // (`Buffer.byteLength(s, 'utf8')` tells the same, but counts character by character: 0.3 us for a certificate's
  // text, where this SIMD encoder takes 0.09; measured. It is still the check for texts longer than any token.)
  if (n <= ascii.length) {
    const e = utf8.encodeInto(s, ascii);
    if (e.read !== n || e.written !== n) malformed(`${field} is not canonical standard base64`);
  } else if (Buffer.byteLength(s, 'utf8') !== n) malformed(`${field} is not canonical standard base64`);
  return (n / 4) * 3 - pad;
}

// Scratch space for the ASCII check of strictBase64 (its contents are never read): room for a member of the longest
// token (TOKEN_MAX_LENGTH characters).
const utf8 = new TextEncoder();
const ascii = new Uint8Array(TOKEN_MAX_LENGTH);

// Standard base64 alphabet values by character code (RFC 4648 §4 Table 1); -1 elsewhere.
const B64 = (() => {
  const t = new Int8Array(128).fill(-1);
  const a = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let i = 0; i < 64; i++) t[a.charCodeAt(i)] = i;
  return t;
})();

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
