/**
 * An OCSP `RevocationSource` (RFC 6960): POSTs a nonce-bearing request with a timeout, checks the response
 * (`response.ts`), and caches answers by CertID until their nextUpdate. Concurrent asks for one certificate share
 * one request.
 */
import { BoundedMap } from '../bounded-map.ts';
import { BodyTooLargeError, readBodyLimited } from '../http-body.ts';
import { RevocationUnknownError } from '../errors.ts';
import type { ParsedCertificate } from '../certificate.ts';
import { KeyCache } from '../keys.ts';
import { httpFailureDetail, instant } from '../revocation.ts';
import type { RevocationSource, RevocationSubject } from '../revocation.ts';
import { buildOcspRequest } from './request.ts';
import { checkOcspResponse } from './response.ts';
import type { OcspAnswer } from './response.ts';

/** Options of {@link ocspSource}. Every duration is in ms. */
export interface OcspSourceOptions {
  /** Responder URL; a function picks one per certificate. Default: the certificate's AIA id-ad-ocsp URL. */
  readonly url?: string | ((cert: RevocationSubject) => string | undefined);
  /** The HTTP seam. Default `globalThis.fetch`. */
  readonly fetch?: typeof globalThis.fetch;
  /** Request timeout. Default 5000 (Web eID's default). */
  readonly timeoutMs?: number;
  /** Tolerated clock difference for thisUpdate/nextUpdate. Default 15 min (Web eID's default). */
  readonly skewMs?: number;
  /** Oldest acceptable thisUpdate at fetch time. Default 5 min. */
  readonly maxAgeMs?: number;
  /** Send and require a nonce (RFC 8954). Default true. */
  readonly nonce?: boolean;
  /** Maximum cached answers. Default 100 000; 0 disables the cache. */
  readonly cacheSize?: number;
  /** Largest response read; a longer one is cut off and refused. Default 64 KiB (a response with a delegated
   * responder's certificate is 2-4 KiB). */
  readonly maxResponseBytes?: number;
}

/**
 * Creates an OCSP source. Answers with a nextUpdate are cached (keyed by CertID) and served without a request
 * until nextUpdate; answers without one are not cached (RFC 5019 §2.2.4: newer information is always available).
 * `status` rejects with the `ERR_PKI_OCSP_*` codes of `checkOcspResponse`, or `ERR_PKI_REVOCATION_UNKNOWN` whose
 * `detail` is `refused` (an HTTP 4xx answer other than 408 and 429, e.g. a wrong API key: the operator's to fix;
 * the status is in the message), `unreachable` (a network error, a timeout, a 5xx, 408 (Request Timeout), 429 (Too
 * Many Requests) or any other status but 200, the status then in the message), `malformed` (a 200 of another media
 * type than application/ocsp-response: a captive portal's or a proxy's page), `too_large`, `unavailable` (no URL), `stale` or `future`. A Retry-After is not read: the check fails closed at
 * once, and a failure is never cached.
 *
 * @throws TypeError on a bad option.
 * @example
 * ```ts
 * const revocation = ocspSource({ url: 'http://127.0.0.1:8080/ocsp' });
 * const verifier = createVerifier({ anchors, revocation });
 * ```
 */
export function ocspSource(options: OcspSourceOptions = {}): RevocationSource & { readonly cacheSize: number } {
  const fetchFn = options.fetch ?? globalThis.fetch;
  const timeoutMs = positive(options.timeoutMs ?? 5000, 'timeoutMs');
  const skewMs = nonNegative(options.skewMs ?? 15 * 60_000, 'skewMs');
  const maxAgeMs = positive(options.maxAgeMs ?? 5 * 60_000, 'maxAgeMs');
  const maxCache = nonNegative(options.cacheSize ?? 100_000, 'cacheSize');
  const maxResponseBytes = positive(options.maxResponseBytes ?? 64 * 1024, 'maxResponseBytes');
  const useNonce = options.nonce ?? true;
  if (typeof fetchFn !== 'function') throw new TypeError('fetch must be a function');
  const pickUrl = (cert: RevocationSubject): string | undefined =>
    typeof options.url === 'function' ? options.url(cert) : (options.url ?? cert.ocspUrls[0]);

  const keys = new KeyCache(1000);
  const cache = new BoundedMap<string, OcspAnswer>(maxCache);
  const inflight = new Map<string, Promise<OcspAnswer>>();

  async function ask(cert: RevocationSubject, issuer: ParsedCertificate, now: number): Promise<OcspAnswer> {
    const url = pickUrl(cert);
    if (!url) throw new RevocationUnknownError('ERR_PKI_REVOCATION_UNKNOWN', 'unavailable', 'ocsp', 'no OCSP URL');
    const req = buildOcspRequest(cert, issuer);
    let body: Uint8Array;
    try {
      const res = await fetchFn(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/ocsp-request',
          accept: 'application/ocsp-response',
        },
        body: req.der,
        signal: AbortSignal.timeout(timeoutMs),
      });
      // RFC 6960 Appendix A.2: the response media type is application/ocsp-response.
      if (
        res.status !== 200 ||
        res.headers.get('content-type')?.split(';')[0]?.trim() !== 'application/ocsp-response'
      ) {
        await res.body?.cancel();
        // A 4xx is the responder (or a provider's gateway before it) refusing this client or request, e.g. a wrong
        // API key: an operator's to fix, not an outage, so it gets its own detail; but a 408 or a 429 is the
        // responder asking to be asked later, transient as a 5xx is (`httpFailureDetail`).
        if (res.status !== 200) {
          const detail = httpFailureDetail(res.status);
          throw new RevocationUnknownError(
            'ERR_PKI_REVOCATION_UNKNOWN',
            detail,
            'ocsp',
            detail === 'refused'
              ? `OCSP responder refused the request: HTTP ${res.status}`
              : `OCSP responder unreachable: HTTP ${res.status}`,
          );
        }
        // A 200 of another media type (a captive portal's or a proxy's page): something answered, but not OCSP.
        throw new RevocationUnknownError(
          'ERR_PKI_REVOCATION_UNKNOWN',
          'malformed',
          'ocsp',
          `OCSP answer is not application/ocsp-response: ${res.headers.get('content-type') === null ? 'no media type' : 'another media type'}`,
        );
      }
      body = await readBodyLimited(res, maxResponseBytes);
    } catch (e) {
      if (e instanceof RevocationUnknownError) throw e;
      if (e instanceof BodyTooLargeError)
        throw new RevocationUnknownError('ERR_PKI_REVOCATION_UNKNOWN', 'too_large', 'ocsp', e.message, { cause: e });
      throw new RevocationUnknownError(
        'ERR_PKI_REVOCATION_UNKNOWN',
        'unreachable',
        'ocsp',
        'OCSP responder unreachable',
        {
          cause: e,
        },
      );
    }
    return checkOcspResponse(body, {
      issuer,
      certId: req.certId,
      nonce: useNonce ? req.nonce : null,
      now,
      skewMs,
      maxAgeMs,
      keys,
    });
  }

  return {
    get cacheSize() {
      return cache.size;
    },
    // The CertID is the issuer's name and key and the serial (RFC 6960 §4.1.1): all a subject named by reference has.
    answersByReference: true,
    async status(cert, issuer, nowDate) {
      const now = instant(nowDate);
      // The CertID is determined by (issuer key, issuer name, serial); this key is equivalent and cheaper.
      const id = `${issuer.fingerprint}:${cert.serialNumber}`;
      const hit = cache.get(id);
      if (hit && hit.nextUpdate && now < hit.nextUpdate.getTime() && now >= hit.thisUpdate.getTime() - skewMs)
        return hit;
      if (hit) cache.delete(id);
      let p = inflight.get(id);
      if (!p) {
        p = ask(cert, issuer, now).finally(() => inflight.delete(id));
        inflight.set(id, p);
      }
      const answer = await p;
      if (answer.nextUpdate && answer.status !== 'unknown') cache.set(id, answer);
      return answer;
    },
  };
}

function positive(v: number, name: string): number {
  if (!(typeof v === 'number' && v > 0 && Number.isFinite(v))) throw new TypeError(`${name} must be a positive number`);
  return v;
}

function nonNegative(v: number, name: string): number {
  if (!(typeof v === 'number' && v >= 0 && Number.isFinite(v))) throw new TypeError(`${name} must be >= 0`);
  return v;
}
