/**
 * The worker-thread side of `loadCrlInWorker`: runs `checkAndIndexCrl` and sends the index tables back by
 * transfer (no copy), or the error as plain data.
 */
import { parentPort } from 'node:worker_threads';
import { checkAndIndexCrl } from './load.ts';

/** The request the worker receives. */
export interface CrlWorkerRequest {
  der: Uint8Array;
  issuer: Uint8Array;
  now: number;
  skewMs: number | undefined;
  maxAgeMs: number | undefined;
}

if (parentPort) {
  const port = parentPort;
  port.once('message', (req: CrlWorkerRequest) => {
    try {
      const data = checkAndIndexCrl(req.der, {
        issuer: req.issuer,
        now: new Date(req.now),
        skewMs: req.skewMs,
        maxAgeMs: req.maxAgeMs,
      });
      const transfer = [data.hi, data.lo, data.date, data.reason, data.longKeys, data.longDate, data.longReason].map(
        (a) => a.buffer as ArrayBuffer,
      );
      port.postMessage({ ok: true, data }, transfer);
    } catch (e) {
      const err = e as Error & Record<string, unknown>;
      port.postMessage({
        ok: false,
        error: { ...err, name: err.name, message: err.message },
      });
    }
  });
}
