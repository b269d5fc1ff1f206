/**
 * The other ways a card login ends without a login leave the operator the same kind of line as a refused
 * `POST /companion/:txn/token` (op-refusal-log.test.ts): a token the development phone posts (`POST /dev/phone/sign`)
 * and is refused writes one `login.refused` line; a failure a companion reports (`POST /companion/:txn/failure`,
 * e.g. a locked PIN) writes one `login.failed` line. Each has the time, the code and the client_id, and nothing of
 * the person. A report that is itself refused (a wrong challenge) writes nothing.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { companionFailure } from '../src/interactions/companion.ts';
import type { InteractionContext } from '../src/interactions/context.ts';
import type { LogEvent } from '../src/lib/log.ts';
import {
  createOpFixture,
  PIN,
  RP_JWT,
  scan,
  startLogin,
  type CompanionViewJson,
  type OpFixture,
  type TestCard,
  type TestIdp,
} from './support/op-fixture.ts';

let f: OpFixture;
let idp: TestIdp;
let revoked: TestCard;
const NAME = '記録　経路子';

before(async () => {
  f = await createOpFixture();
  revoked = await f.newCard(NAME);
  await f.jpki.revoke(revoked.issued.authSerial, 'keyCompromise');
  idp = await f.start({ dev: { cards: [{ label: 'Revoked test card', file: revoked.file }] } });
});
after(() => f.close());

/** The lines naming `event` written on stderr while `fn` runs (and a moment after, to catch a late second one). */
async function eventLines(event: string, fn: () => Promise<void>): Promise<string[]> {
  const written: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    written.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stderr.write;
  try {
    await fn();
    await sleep(50);
  } finally {
    process.stderr.write = write;
  }
  return written
    .join('')
    .split('\n')
    .filter((l) => l.includes(`"${event}"`));
}

function assertNothingPersonal(line: string, card: TestCard): void {
  const serial = card.issued.authSerial.toLowerCase();
  for (const secret of [serial, serial.toUpperCase(), BigInt(`0x${serial}`).toString(), card.fingerprint, NAME, PIN]) {
    assert.equal(line.includes(secret), false, `the line carries ${secret}`);
  }
  assert.doesNotMatch(line, /127\.0\.0\.1|::1|localhost/, 'no address');
}

async function scanned(): Promise<{ view: CompanionViewJson; close: () => Promise<void> }> {
  const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
  const view = (await scan(idp, login.link)).body as unknown as CompanionViewJson;
  return { view, close: () => login.events.close() };
}

function post(path: string, body: unknown): Promise<Response> {
  return idp.fetch(new URL(path, idp.server.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

describe('the development phone', () => {
  it('a refused token it posts writes one login.refused line, as the companion API does', async () => {
    const { view, close } = await scanned();
    let status = 0;
    const lines = await eventLines('login.refused', async () => {
      const res = await post('/dev/phone/sign', {
        txn: view.txn,
        origin: view.origin,
        challenge: view.challenge,
        card: 0,
        pin: PIN,
      });
      status = res.status;
      await res.arrayBuffer();
    });
    await close();
    assert.equal(status, 403);
    assert.equal(lines.length, 1, lines.join('\n'));
    const event = JSON.parse(lines[0]!) as Record<string, string>;
    assert.deepEqual(Object.keys(event).sort(), ['client_id', 'code', 'event', 'reason', 'source', 'time']);
    assert.equal(event['event'], 'login.refused');
    assert.equal(event['code'], 'ERR_PKI_CERT_REVOKED');
    assert.equal(event['reason'], 'keyCompromise');
    assert.equal(event['client_id'], RP_JWT.clientId);
    assertNothingPersonal(lines[0]!, revoked);
  });
});

describe('a failure the companion reports', () => {
  it('writes one login.failed line with the code and the client_id', async () => {
    const { view, close } = await scanned();
    let status = 0;
    const lines = await eventLines('login.failed', async () => {
      const res = await post(`/companion/${view.txn}/failure`, {
        challenge: view.challenge,
        error: 'ERR_CARD_PIN_BLOCKED',
      });
      status = res.status;
      await res.arrayBuffer();
    });
    await close();
    assert.equal(status, 200);
    assert.equal(lines.length, 1, lines.join('\n'));
    const event = JSON.parse(lines[0]!) as Record<string, string>;
    assert.deepEqual(Object.keys(event).sort(), ['client_id', 'code', 'event', 'time']);
    assert.equal(event['event'], 'login.failed');
    assert.equal(event['code'], 'ERR_CARD_PIN_BLOCKED');
    assert.equal(event['client_id'], RP_JWT.clientId);
    assert.ok(Math.abs(Date.parse(event['time']!) - Date.now()) < 60_000, event['time']);
    assertNothingPersonal(lines[0]!, revoked);
  });

  it('a report with the wrong challenge is refused and writes nothing', async () => {
    const { view, close } = await scanned();
    let status = 0;
    const lines = await eventLines('login.failed', async () => {
      const res = await post(`/companion/${view.txn}/failure`, {
        challenge: `${view.challenge}x`,
        error: 'ERR_CARD_PIN_BLOCKED',
      });
      status = res.status;
      await res.arrayBuffer();
    });
    await close();
    assert.notEqual(status, 200);
    assert.deepEqual(lines, []);
  });
});

describe('the login.failed event', () => {
  it('goes to the log the handler is given, once, with the client of the login', async () => {
    const events: LogEvent[] = [];
    const context = {
      config: { now: () => Date.parse('2025-04-01T09:00:00Z') },
      transactions: { reportFailure: async () => {}, get: async () => ({ clientId: 'bank' }) },
    } as unknown as InteractionContext;
    const handle = companionFailure(context, (e) => events.push(e));
    const body = Buffer.from('{"challenge":"c","error":"ERR_CARD_NOT_JPKI"}');
    const req = Object.assign(Readable.from([body]), {
      headers: { 'content-type': 'application/json', 'content-length': String(body.length) },
    }) as unknown as IncomingMessage;
    const res = { setHeader: () => {}, writeHead: () => {}, end: () => {} } as unknown as ServerResponse;
    await handle(req, res, { txn: 'T' }, new URL('https://idp.example/companion/T/failure'));
    assert.deepEqual(events, [
      { time: '2025-04-01T09:00:00.000Z', event: 'login.failed', code: 'ERR_CARD_NOT_JPKI', client_id: 'bank' },
    ]);
  });
});
