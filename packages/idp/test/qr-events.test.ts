/** The event stream of an animated-QR page (qr-events.ts): it ends with the browser's connection, however early. */
import assert from 'node:assert/strict';
import { createServer, get, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { MynaGateError } from '@mynagate/errors';
import { streamQrEvents, type QrEventSource } from '../src/interactions/qr-events.ts';

const POLL_MS = 20;

/** A source that counts its looks and its live subscriptions. */
function countingSource() {
  const counts = { looks: 0, watching: 0 };
  const source: QrEventSource<never> = {
    expiresAt: Date.now() + 300_000,
    now: Date.now,
    currentLink: () => ({ t: 0, link: 'https://idp.example/companion/x?t=0&c=y' }),
    async look() {
      counts.looks++;
      return { scanned: false };
    },
    refused: () => ({ error: 'ERR_IDP_INTERNAL', message: { ja: '', en: '' } }),
    watch: () => {
      counts.watching++;
      return () => void counts.watching--;
    },
  };
  return { counts, source };
}

/**
 * A server whose handler first waits `setupMs` (the store reads before a stream: interaction, ownership), then
 * streams; a client that connects and leaves after `leaveMs`. Resolves once the handler has returned.
 */
async function leaveAfter(setupMs: number, leaveMs: number, source: QrEventSource<never>): Promise<void> {
  let handled!: () => void;
  const done = new Promise<void>((resolve) => (handled = resolve));
  const server = createServer(async (_req: IncomingMessage, res: ServerResponse) => {
    await sleep(setupMs);
    await streamQrEvents(res, source, -1, POLL_MS);
    handled();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const request = get({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, path: '/' });
    request.on('error', () => {});
    await sleep(leaveMs);
    request.destroy();
    await done;
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

describe('QR page event stream', () => {
  it('a browser that leaves while the stream runs stops its looks and its subscription', async () => {
    const { counts, source } = countingSource();
    await leaveAfter(0, 5 * POLL_MS, source);
    await sleep(50);
    const looks = counts.looks;
    assert.ok(looks >= 1);
    await sleep(10 * POLL_MS);
    assert.deepEqual(counts, { looks, watching: 0 });
  });

  it('a browser that left before the stream started (during the store reads) leaves no stream behind', async () => {
    // Its 'close' came and went before anyone listened: a stream started now would poll the store and stay
    // subscribed until the transaction expired, and take the outcome meant for the browser's next stream.
    const { counts, source } = countingSource();
    await leaveAfter(100, 10, source);
    await sleep(10 * POLL_MS);
    assert.deepEqual(counts, { looks: 0, watching: 0 });
  });
});

/** Streams `source` to a client; resolves with the events it got once the stream ends (or after `maxMs`). */
async function eventsOf(source: QrEventSource<never>, maxMs: number): Promise<string[]> {
  const server = createServer((_req, res) => void streamQrEvents(res, source, 0, POLL_MS));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    return await new Promise<string[]>((resolve) => {
      const events: string[] = [];
      const request = get({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, path: '/' }, (res) => {
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => events.push(...[...chunk.matchAll(/^event: (\w+)$/gm)].map((m) => m[1]!)));
        res.on('end', () => resolve(events));
      });
      request.on('error', () => resolve(events));
      setTimeout(() => (request.destroy(), resolve(events)), maxMs);
    });
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

describe('QR page event stream and an unreachable store', () => {
  it('a store out of reach for a few looks does not end the login: the stream goes on to done', async () => {
    let looks = 0;
    const source: QrEventSource<never> = {
      expiresAt: Date.now() + 300_000,
      now: Date.now,
      currentLink: () => ({ t: 0, link: 'https://idp.example/companion/x?t=0&c=y' }),
      async look() {
        if (++looks <= 3) throw new MynaGateError('ERR_STORE_UNAVAILABLE', 'Redis is unavailable');
        return { scanned: false, redirect: 'https://idp.example/resume' };
      },
      refused: (e) => ({ error: (e as { code: string }).code, message: { ja: '', en: '' } }),
    };
    assert.deepEqual(await eventsOf(source, 3000), ['done']);
    assert.equal(looks, 4);
  });

  it('any other failure of a look still ends the stream with refused', async () => {
    const source: QrEventSource<never> = {
      expiresAt: Date.now() + 300_000,
      now: Date.now,
      currentLink: () => ({ t: 0, link: 'https://idp.example/companion/x?t=0&c=y' }),
      async look() {
        throw new MynaGateError('ERR_STORE_FAILED', 'rejected');
      },
      refused: (e) => ({ error: (e as { code: string }).code, message: { ja: '', en: '' } }),
    };
    assert.deepEqual(await eventsOf(source, 3000), ['refused']);
  });
});

describe('QR page event stream and repeated scans', () => {
  it('says scanned again for each new scan (a page that showed its code again hides it), once per scan', async () => {
    // What the looks find, one after another: scan a, the same again, scan b, a scan the stream is told of (c, whose
    // id the next look reads), scan d, then the end.
    const looks: Awaited<ReturnType<QrEventSource<never>['look']>>[] = [
      { scanned: false },
      { scanned: true, scanId: 'a' },
      { scanned: true, scanId: 'a' },
      { scanned: true, scanId: 'b' },
      { scanned: true, newScan: true },
      { scanned: true, scanId: 'c' },
      { scanned: true, scanId: 'c' },
      { scanned: true, scanId: 'd' },
      { scanned: false, redirect: 'https://idp.example/resume' },
    ];
    let i = 0;
    const source: QrEventSource<never> = {
      expiresAt: Date.now() + 300_000,
      now: Date.now,
      currentLink: () => ({ t: 0, link: 'https://idp.example/companion/x?t=0&c=y' }),
      look: async () => looks[Math.min(i++, looks.length - 1)]!,
      refused: (e) => ({ error: (e as { code: string }).code, message: { ja: '', en: '' } }),
    };
    assert.deepEqual(await eventsOf(source, 3000), ['scanned', 'scanned', 'scanned', 'scanned', 'done']);
    assert.equal(i, looks.length);
  });
});
