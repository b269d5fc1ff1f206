/**
 * The test JPKI over HTTP on the loopback interface: an OCSP responder (RFC 6960, POST and GET per appendix A),
 * CRLs, CA certificates, and a JSON status/linking API in the style of a platform provider (spec §9).
 *
 * Routes:
 * - `POST /ocsp/auth`, `POST /ocsp/sign`: body `application/ocsp-request`, answer `application/ocsp-response`.
 * - `GET /ocsp/auth/<url-encoded base64 request>` (and `/ocsp/sign/…`): RFC 6960 appendix A.1.
 * - `GET /crl/auth.crl`, `GET /crl/sign.crl`: DER CRL (`application/pkix-crl`), a fresh CRL number each time.
 * - `GET /crl/<auth|sign>/<prefecture>/<city>.crl` (romanised, e.g. `/crl/sign/Ibaraki-ken/Tsukuba-shi.crl`): the
 *   municipality's CRL partition (spec §8.2); `404 { "error": "unknown_partition" }` where no card was issued.
 * - `GET /crl/<auth|sign>/partitions` → `200 { "partitions": [{ "prefecture", "city", "url" }] }` (url: the path).
 * - `GET /ca/auth.crt`, `GET /ca/sign.crt`: DER CA certificate (`application/pkix-cert`).
 * - `GET /cps`: a plain-text notice that this is a test authority (the CPS URI of issued certificates).
 * - `GET /v1/status?issuer=<auth|sign|CA SHA-256 fingerprint hex>&serial=<hex>` →
 *   `200 { "status": "good" | "revoked" | "unknown", "revokedAt"?: ISO 8601, "reason"?: RFC 5280 reason name }`;
 *   `400 { "error": "invalid_request" }` for a missing or malformed parameter, `404 { "error": "unknown_issuer" }`
 *   for a fingerprint that is neither CA.
 * - `GET /v1/links?issuer=<CA fingerprint>&serial=<hex>` → `200 { "issuer", "serial", "kind", "predecessor"?,
 *   "successor"?, "pair"? }`, each link `{ "issuer", "serial" }` (issuer: the CA certificate's SHA-256, serial: hex,
 *   both canonical lowercase; `pair`: the other certificate of the same card); `404 { "error": "unknown_serial" }`
 *   for a serial not issued by that CA, `404 { "error": "unknown_issuer" }`.
 *
 * Every answer reflects the store as of the request (changes by another process are picked up).
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OCSPResponseStatus } from '@peculiar/asn1-ocsp';
import { isMynaGateError } from '@mynagate/errors';
import { ocspErrorResponse } from './ocsp.ts';
import type { CaKind } from './profiles.ts';
import type { TestJpki } from './test-jpki.ts';

/** Options of {@link serveTestJpki}. */
export interface ServeTestJpkiOptions {
  /** Port; 0 picks a free one. Default: the port in the JPKI's AIA base URL (8790 unless set at init). */
  readonly port?: number;
  /** Default `127.0.0.1`. */
  readonly host?: string;
  /** Clock for thisUpdate/producedAt and status queries. Default: the current time. */
  readonly now?: () => Date;
  /** Who signs OCSP responses. Default `ca`. */
  readonly responder?: 'ca' | 'delegated';
  /** OCSP nextUpdate − thisUpdate in seconds. Default 3600. */
  readonly ocspNextUpdateSeconds?: number;
  /** CRL nextUpdate − thisUpdate in seconds. Default 86400. */
  readonly crlNextUpdateSeconds?: number;
}

/** A running test JPKI server. */
export interface TestJpkiServer {
  /** e.g. `http://127.0.0.1:8790`. */
  readonly url: string;
  readonly port: number;
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}

const MAX_BODY = 64 * 1024;

class HttpError extends Error {
  readonly status: number;
  readonly body: object;
  constructor(status: number, body: object) {
    super(`HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

/**
 * Serves `jpki` over HTTP (see the module comment for the routes).
 *
 * @example
 * ```ts
 * const server = await serveTestJpki(jpki, { port: 0 });
 * // openssl ocsp -issuer auth-ca.pem -serial 0x… -url ${server.url}/ocsp/auth -CAfile auth-ca.pem
 * await server.close();
 * ```
 * @throws the listen error (e.g. `EADDRINUSE`).
 */
export async function serveTestJpki(jpki: TestJpki, options: ServeTestJpkiOptions = {}): Promise<TestJpkiServer> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? Number(new URL(jpki.ocspBaseUrl).port || 80);
  const now = options.now ?? (() => new Date());
  const ocspOptions = {
    responder: options.responder ?? 'ca',
    nextUpdateSeconds: options.ocspNextUpdateSeconds ?? 3600,
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    await jpki.refresh();

    const ocsp = /^\/ocsp\/(auth|sign)(?:\/(.*))?$/.exec(req.url?.split('?')[0] ?? '');
    if (ocsp) {
      const kind = ocsp[1] as CaKind;
      let body: Uint8Array;
      if (req.method === 'POST' && ocsp[2] === undefined) body = await readBody(req);
      else if (req.method === 'GET' && ocsp[2]) body = decodeGetRequest(ocsp[2]);
      else throw new HttpError(405, { error: 'method_not_allowed' });
      const answer =
        body.length === 0
          ? ocspErrorResponse(OCSPResponseStatus.malformedRequest)
          : await jpki.respondOcsp(kind, body, { ...ocspOptions, now: now() });
      return send(res, 200, 'application/ocsp-response', answer);
    }
    if (req.method !== 'GET') throw new HttpError(405, { error: 'method_not_allowed' });

    const crl = /^\/crl\/(auth|sign)(?:\/([A-Za-z-]+)\/([A-Za-z-]+))?\.crl$/.exec(path);
    if (crl) {
      const partition = crl[2] === undefined ? undefined : { prefecture: crl[2], city: crl[3]! };
      let der: Uint8Array;
      try {
        der = await jpki.crl(crl[1] as CaKind, {
          now: now(),
          nextUpdateSeconds: options.crlNextUpdateSeconds ?? 86400,
          ...(partition ? { partition } : {}),
        });
      } catch (e) {
        if (isMynaGateError(e, 'ERR_TESTJPKI_UNKNOWN_PARTITION'))
          throw new HttpError(404, { error: 'unknown_partition' });
        throw e;
      }
      return send(res, 200, 'application/pkix-crl', der);
    }
    const partitions = /^\/crl\/(auth|sign)\/partitions$/.exec(path);
    if (partitions) {
      return json(res, 200, {
        partitions: jpki
          .crlPartitions()
          .map((m) => ({ ...m, url: `/crl/${partitions[1]}/${m.prefecture}/${m.city}.crl` })),
      });
    }
    const ca = /^\/ca\/(auth|sign)\.crt$/.exec(path);
    if (ca) return send(res, 200, 'application/pkix-cert', jpki.caCertificate(ca[1] as CaKind));
    if (path === '/cps') {
      return send(res, 200, 'text/plain; charset=utf-8', 'MynaGate test JPKI. Not J-LIS. Test certificates only.\n');
    }
    if (path === '/v1/status') {
      const kind = issuerKind(jpki, url.searchParams.get('issuer'));
      const s = jpki.status(serialParam(url), { now: now(), kind });
      return json(
        res,
        200,
        s.status === 'revoked' ? { status: s.status, revokedAt: s.revokedAt.toISOString(), reason: s.reason } : s,
      );
    }
    if (path === '/v1/links') {
      const kind = issuerKind(jpki, url.searchParams.get('issuer'));
      const serial = serialParam(url);
      try {
        return json(res, 200, jpki.linksOf(serial, { kind }));
      } catch (e) {
        if (isMynaGateError(e, 'ERR_TESTJPKI_UNKNOWN_SERIAL')) throw new HttpError(404, { error: 'unknown_serial' });
        throw e;
      }
    }
    throw new HttpError(404, { error: 'not_found' });
  };

  const server = createServer((req, res) => {
    // The one place errors become HTTP answers.
    handle(req, res).catch((e: unknown) => {
      if (res.headersSent) return res.destroy();
      if (e instanceof HttpError) return json(res, e.status, e.body);
      json(res, 500, { error: 'internal_error' });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const actual = (server.address() as AddressInfo).port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${actual}`,
    port: actual,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((e) => (e ? reject(e) : resolve()));
        server.closeAllConnections();
      }),
  };
}

/** RFC 6960 appendix A.1: the path is the URL-encoded base64 of the DER request. Base64url is also accepted. */
function decodeGetRequest(encoded: string): Uint8Array {
  let b64: string;
  try {
    b64 = decodeURIComponent(encoded);
  } catch {
    return new Uint8Array(0);
  }
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(b64)) return new Uint8Array(0);
  return new Uint8Array(Buffer.from(b64, b64.includes('-') || b64.includes('_') ? 'base64url' : 'base64'));
}

function issuerKind(jpki: TestJpki, issuer: string | null): CaKind {
  if (issuer === 'auth' || issuer === 'sign') return issuer;
  if (issuer === null || !/^[0-9a-fA-F:]{64,95}$/.test(issuer)) throw new HttpError(400, { error: 'invalid_request' });
  const fp = issuer.replace(/:/g, '').toLowerCase();
  if (fp === jpki.caFingerprint('auth')) return 'auth';
  if (fp === jpki.caFingerprint('sign')) return 'sign';
  throw new HttpError(404, { error: 'unknown_issuer' });
}

function serialParam(url: URL): string {
  const s = url.searchParams.get('serial');
  if (s === null || !/^(0x)?[0-9a-fA-F:]{1,128}$/.test(s)) throw new HttpError(400, { error: 'invalid_request' });
  return s;
}

async function readBody(req: IncomingMessage): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, { error: 'request_too_large' });
    chunks.push(chunk as Buffer);
  }
  return new Uint8Array(Buffer.concat(chunks));
}

function send(res: ServerResponse, status: number, type: string, body: Uint8Array | string): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

function json(res: ServerResponse, status: number, body: object): void {
  send(res, status, 'application/json', JSON.stringify(body));
}
