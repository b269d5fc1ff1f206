/**
 * A platform provider's status and linking API (spec §9: most relying parties reach J-LIS revocation and
 * old→new serial links through a プラットフォーム事業者). The contract is the test JPKI's (`@mynagate/pki/testing`
 * server): `GET /v1/status?issuer=<CA SHA-256 fingerprint hex>&serial=<hex>` → `{ status, revokedAt?, reason? }`
 * and `GET /v1/links?issuer=<CA SHA-256 fingerprint hex>&serial=<hex>` → `{ issuer, serial, kind, predecessor?,
 * successor?, pair? }`, each link an `{ issuer, serial }` of its own; a real provider is adapted to it.
 *
 * A serial number is unique only under its CA (RFC 5280 §4.1.2.2), and J-LIS's CA generations (2015, 2019, 2023)
 * share one name while each numbers its own four-byte serials: a serial alone, or a serial with the issuer's name,
 * can name two people's certificates. Every certificate here is named by its CA certificate's fingerprint and its
 * serial ({@link CertRef}), a link across a CA generation included.
 */
import { LinksUnavailableError, RevocationUnknownError } from './errors.ts';
import { BodyTooLargeError, readBodyLimited } from './http-body.ts';
import type { CertKind } from './anchors.ts';
import { httpFailureDetail } from './revocation.ts';
import type { RevocationSource, RevocationStatus } from './revocation.ts';

/** Options of {@link platformSource} and {@link platformLinks}. */
export interface PlatformOptions {
  /**
   * Base URL, e.g. `http://127.0.0.1:8790`; the API's paths go under it, a path included (`https://p.example/api`
   * asks `https://p.example/api/v1/status`).
   */
  readonly baseUrl: string;
  /** The HTTP seam. Default `globalThis.fetch`. */
  readonly fetch?: typeof globalThis.fetch;
  /** Per-request timeout in ms. Default 5000. */
  readonly timeoutMs?: number;
  /** Extra headers, e.g. the provider's API key. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Largest answer read; a longer one is cut off and counts as no answer. Default 64 KiB. */
  readonly maxResponseBytes?: number;
}

/** One certificate: its issuing CA and its serial, the only pair a CA keeps unique. */
export interface CertRef {
  /** SHA-256 of the issuing CA's certificate (DER), lower-case hex. */
  readonly issuer: string;
  /** Canonical lower-case hex. */
  readonly serial: string;
}

/** Where a certificate sits in the renewal chain, and its card. */
export interface SerialLinks extends CertRef {
  readonly kind: CertKind;
  /** The certificate this one renewed, if any (under the same CA or an earlier generation). */
  readonly predecessor?: CertRef;
  /** The certificate that renewed this one, if any. */
  readonly successor?: CertRef;
  /**
   * The certificate of the other kind issued with this one on the same card (J-LIS 証明書紐付け情報, which platform
   * providers resell): the authentication certificate of a signing certificate, and the other way round.
   */
  readonly pair?: CertRef;
}

/**
 * Old→new serial links across renewal and reissue (spec §9 "linking"), so an account survives a new card, and the
 * pairing of a card's two certificates, so a signature can be tied to the card a person logs in with.
 */
export interface LinkingSource {
  /**
   * The links of the certificate `serial` of the CA whose certificate's SHA-256 is `issuer` (hex), or `null` when
   * the source does not know it.
   *
   * @throws LinksUnavailableError `ERR_PKI_LINKS_UNAVAILABLE` when the source cannot answer (for
   *   {@link platformLinks}, the message says why in the words of `ERR_PKI_REVOCATION_UNKNOWN`'s details); TypeError
   *   when `issuer` or `serial` is not hex.
   */
  links(issuer: string, serial: string): Promise<SerialLinks | null>;
}

const REASONS = new Set([
  'unspecified',
  'keyCompromise',
  'cACompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  'removeFromCRL',
  'privilegeWithdrawn',
  'aACompromise',
]);

function setup(options: PlatformOptions) {
  if (typeof options?.baseUrl !== 'string') throw new TypeError('baseUrl required');
  const base = new URL(options.baseUrl);
  if (base.protocol !== 'https:' && base.protocol !== 'http:') throw new TypeError('baseUrl must be http(s)');
  // The API's paths are relative to the base's path, as to a directory.
  if (!base.pathname.endsWith('/')) base.pathname += '/';
  const fetchFn = options.fetch ?? globalThis.fetch;
  if (typeof fetchFn !== 'function') throw new TypeError('fetch must be a function');
  const timeoutMs = options.timeoutMs ?? 5000;
  if (!(timeoutMs > 0)) throw new TypeError('timeoutMs must be positive');
  const maxBytes = options.maxResponseBytes ?? 64 * 1024;
  if (!(Number.isSafeInteger(maxBytes) && maxBytes > 0)) throw new TypeError('maxResponseBytes must be positive');
  return async (path: string, params: Record<string, string>): Promise<{ status: number; body: unknown }> => {
    const url = new URL(path, base);
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    const res = await fetchFn(url, {
      headers: { accept: 'application/json', ...options.headers },
      signal: AbortSignal.timeout(timeoutMs),
    });
    // Only a 200 has a body the contract reads. Any other status is the answer by itself, whatever page came with it
    // (a proxy's or a load balancer's error page may be larger than any answer: it is not read, nor `too_large`).
    if (res.status !== 200) {
      await res.body?.cancel().catch(() => {});
      return { status: res.status, body: undefined };
    }
    const text = Buffer.from(await readBodyLimited(res, maxBytes)).toString('utf8');
    // `readBodyLimited` gives the bytes as they came; a body that is not JSON (empty, HTML, cut off) is `undefined`,
    // which no JSON text parses to.
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    return { status: res.status, body };
  };
}

/**
 * Why a platform answer is no answer, as a `detail` of `ERR_PKI_REVOCATION_UNKNOWN` and in the words of the links'
 * messages; `null` when it is a 200 with a JSON object, the only answer there is. A status other than 200 is
 * `refused` or `unreachable` by the one rule of `httpFailureDetail` (408 and 429 are transient, other 4xx an
 * operator's to fix). A 200 whose body is not JSON, or JSON but not an object, is the platform answering nonsense
 * (`malformed`), not an outage: a proxy's or a captive portal's page, a wrong `baseUrl`, a contract mismatch.
 */
function answerFailure(r: { status: number; body: unknown }): { detail: string; message: string } | null {
  if (r.status !== 200) return { detail: httpFailureDetail(r.status), message: `HTTP ${r.status}` };
  if (r.body === undefined) return { detail: 'malformed', message: 'answer is not JSON' };
  if (typeof r.body !== 'object' || r.body === null || Array.isArray(r.body))
    return { detail: 'malformed', message: 'answer is not a JSON object' };
  return null;
}

/**
 * A `RevocationSource` over the platform status API. Answers are not cached: the provider bills and caches.
 * `status` rejects with `ERR_PKI_REVOCATION_UNKNOWN` (fail closed), whose `detail` says why: `refused` (an HTTP 4xx
 * answer other than 408 and 429, e.g. a wrong API key or a CA the platform does not know: the operator's to fix),
 * `unreachable` (a network error, a timeout, a 5xx, 408 (Request Timeout), 429 (Too Many Requests) or any other
 * status but 200: transient), `too_large` (a 200 over `maxResponseBytes`), `malformed` (a 200 whose body is not JSON, not
 * a JSON object, has no `status` of the contract, or is revoked without a valid revokedAt). An HTTP status is in
 * the message. A Retry-After is not read: the check fails closed at once.
 *
 * @throws TypeError on a bad option.
 * @example
 * ```ts
 * const revocation = platformSource({ baseUrl: server.url });
 * ```
 */
export function platformSource(options: PlatformOptions): RevocationSource {
  const get = setup(options);
  const unknown = (detail: string, message: string, cause?: unknown): never => {
    throw new RevocationUnknownError('ERR_PKI_REVOCATION_UNKNOWN', detail, 'platform', message, { cause });
  };
  return {
    // Asked by the CA's fingerprint and the serial, all a subject named by reference has.
    answersByReference: true,
    async status(cert, issuer): Promise<RevocationStatus> {
      let r: { status: number; body: unknown };
      try {
        r = await get('v1/status', {
          issuer: issuer.fingerprint,
          serial: cert.serialNumber,
        });
      } catch (e) {
        if (e instanceof BodyTooLargeError) return unknown('too_large', `platform ${e.message}`, e);
        return unknown('unreachable', 'platform unreachable', e);
      }
      // A 4xx is the platform refusing this client or request (a wrong API key, an unknown CA): an operator's to fix,
      // not an outage, so it gets its own detail; a 408, a 429 or a 5xx is an outage, and a 200 of nonsense is
      // `malformed`. Fail closed every way.
      const failure = answerFailure(r);
      if (failure?.detail === 'refused') return unknown('refused', `platform refused the request: ${failure.message}`);
      if (failure) return unknown(failure.detail, `platform ${failure.message}`);
      const b = r.body as { status?: unknown; revokedAt?: unknown; reason?: unknown };
      if (b.status === 'good') return { status: 'good', source: 'platform' };
      if (b.status === 'revoked') {
        const at = typeof b.revokedAt === 'string' ? new Date(b.revokedAt) : undefined;
        if (!at || Number.isNaN(at.getTime())) return unknown('malformed', 'platform revokedAt missing');
        const reason = typeof b.reason === 'string' && REASONS.has(b.reason) ? b.reason : 'unspecified';
        return { status: 'revoked', source: 'platform', revokedAt: at, reason };
      }
      if (b.status === 'unknown') return { status: 'unknown', source: 'platform' };
      // The contract has three answers; anything else is not one, and must not pass for `unknown` either.
      return unknown('malformed', 'platform status missing');
    },
  };
}

/**
 * A `LinkingSource` over the platform links API. A 404 is `null` (the platform does not know the certificate); every
 * other failure rejects with `ERR_PKI_LINKS_UNAVAILABLE`, never a guessed link. Its `detail` (also in the message,
 * after `platform links `) is one of `platformSource`'s: `refused` (an HTTP 4xx other than 404, 408 and 429), `unreachable` (a network error, a
 * timeout, a 5xx, 408, 429 or another status but 200), `too_large`, `malformed` (a 200 that is not JSON, not a JSON
 * object, not a link of the contract, or names another certificate). An HTTP status is in the message. A Retry-After
 * is not read: the call fails at once.
 *
 * @throws TypeError on a bad option.
 * @example
 * ```ts
 * const links = await platformLinks({ baseUrl }).links(verified.issuerFingerprint, verified.serialNumber);
 * // { issuer, serial, kind: 'auth', successor: { issuer, serial } }
 * ```
 */
export function platformLinks(options: PlatformOptions): LinkingSource {
  const get = setup(options);
  const fail = (detail: string, message: string, cause?: unknown): never => {
    throw new LinksUnavailableError('ERR_PKI_LINKS_UNAVAILABLE', `platform links ${detail}: ${message}`, {
      cause,
      detail,
    });
  };
  const hex = (v: unknown): v is string => typeof v === 'string' && /^[0-9a-f]{1,128}$/.test(v);
  const fingerprint = (v: unknown): v is string => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v);
  const ref = (v: unknown): CertRef => {
    const r = v as Partial<CertRef> | null;
    if (typeof r !== 'object' || r === null || !fingerprint(r.issuer) || !hex(r.serial))
      return fail('malformed', 'not a link of the contract');
    return Object.freeze({ issuer: r.issuer, serial: r.serial });
  };
  return {
    async links(issuer: string, serial: string): Promise<SerialLinks | null> {
      if (typeof issuer !== 'string' || !/^[0-9a-fA-F]{64}$/.test(issuer))
        throw new TypeError('issuer must be a SHA-256 fingerprint (hex)');
      if (typeof serial !== 'string' || !/^[0-9a-fA-F]{1,128}$/.test(serial)) throw new TypeError('serial must be hex');
      const asked = { issuer: issuer.toLowerCase(), serial: serial.toLowerCase() };
      let r: { status: number; body: unknown };
      try {
        r = await get('v1/links', asked);
      } catch (e) {
        if (e instanceof BodyTooLargeError) return fail('too_large', e.message, e);
        return fail('unreachable', 'no answer', e);
      }
      if (r.status === 404) return null;
      const failure = answerFailure(r);
      if (failure) return fail(failure.detail, failure.message);
      const b = r.body as Partial<Record<keyof SerialLinks, unknown>>;
      if (b.kind !== 'auth' && b.kind !== 'sign') return fail('malformed', 'kind missing');
      const self = ref(b);
      // An answer about another certificate (a serial matched under another CA) must never pass for this one's.
      if (self.issuer !== asked.issuer || self.serial !== asked.serial)
        fail('malformed', 'the answer names another certificate');
      return Object.freeze({
        ...self,
        kind: b.kind,
        ...(b.predecessor === undefined ? {} : { predecessor: ref(b.predecessor) }),
        ...(b.successor === undefined ? {} : { successor: ref(b.successor) }),
        ...(b.pair === undefined ? {} : { pair: ref(b.pair) }),
      });
    },
  };
}
