/**
 * `loadCrlInWorker`: `loadCrl` on a worker thread, so indexing millions of entries never blocks the event loop
 * that answers validations. The index tables come back by transfer; errors come back as the same classes.
 */
import { Worker } from 'node:worker_threads';
import {
  CrlBadSignatureError,
  CrlExpiredError,
  CrlIssuerNotCrlSignerError,
  CrlMalformedError,
  CrlNotYetValidError,
  CrlUnknownCriticalExtensionError,
  CrlUnsupportedError,
  CrlWrongIssuerError,
} from './errors.ts';
import { CrlIndex, type CrlIndexData } from './index.ts';
import { readIssuer, type IssuerCertificate } from './issuer.ts';
import type { LoadCrlOptions } from './load.ts';
import type { CrlWorkerRequest } from './worker.ts';

/**
 * Like `loadCrl`, on a worker thread. The DER is copied once (a memcpy on the calling thread) and then owned by the
 * worker.
 *
 * @throws the same errors as `loadCrl`.
 */
export async function loadCrlInWorker(der: Uint8Array, options: LoadCrlOptions): Promise<CrlIndex> {
  if (!(der instanceof Uint8Array)) throw new TypeError('der must be a Uint8Array');
  if (!(options?.now instanceof Date)) throw new TypeError('now must be a Date');
  readIssuer(options.issuer); // misuse is a TypeError here, on the caller's stack
  const issuer = issuerBytes(options.issuer);
  const copy = der.slice();
  const req: CrlWorkerRequest = {
    der: copy,
    issuer,
    now: options.now.getTime(),
    skewMs: options.skewMs,
    maxAgeMs: options.maxAgeMs,
  };
  const worker = new Worker(new URL('./worker.ts', import.meta.url));
  try {
    const reply = await new Promise<{ ok: true; data: CrlIndexData } | { ok: false; error: Record<string, unknown> }>(
      (resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
        worker.once('exit', (code) => reject(new Error(`CRL worker exited with code ${code}`)));
        worker.postMessage(req, [copy.buffer as ArrayBuffer]);
      },
    );
    if (reply.ok) return new CrlIndex(reply.data);
    throw revive(reply.error);
  } finally {
    void worker.terminate();
  }
}

function issuerBytes(cert: IssuerCertificate): Uint8Array {
  return cert instanceof Uint8Array ? cert.slice() : new Uint8Array(cert.rawData.slice(0));
}

/** Rebuilds the error class a worker reported, by its code. */
function revive(e: Record<string, unknown>): Error {
  const s = (k: string) => String(e[k] ?? '');
  const date = (k: string) => (e[k] instanceof Date ? (e[k] as Date) : null);
  switch (e.code) {
    case 'ERR_PKI_CRL_MALFORMED':
      return new CrlMalformedError(s('detail'), Number(e.offset ?? 0));
    case 'ERR_PKI_CRL_UNSUPPORTED':
      return new CrlUnsupportedError(s('detail'));
    case 'ERR_PKI_CRL_WRONG_ISSUER':
      return new CrlWrongIssuerError();
    case 'ERR_PKI_CRL_ISSUER_NOT_CRL_SIGNER':
      return new CrlIssuerNotCrlSignerError();
    case 'ERR_PKI_CRL_BAD_SIGNATURE':
      return new CrlBadSignatureError();
    case 'ERR_PKI_CRL_NOT_YET_VALID':
      return new CrlNotYetValidError(date('thisUpdate') ?? new Date(NaN));
    case 'ERR_PKI_CRL_EXPIRED':
      return new CrlExpiredError(date('nextUpdate'), s('message').replace(/^the CRL is stale: /, ''));
    case 'ERR_PKI_CRL_UNKNOWN_CRITICAL_EXTENSION':
      return new CrlUnknownCriticalExtensionError(s('oid'), e.entry === true);
    default:
      return e.name === 'TypeError' ? new TypeError(s('message')) : new Error(s('message'));
  }
}
