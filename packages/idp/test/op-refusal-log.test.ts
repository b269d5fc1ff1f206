/**
 * A refused card login leaves the operator one line: `POST /companion/:txn/token` refused (a revoked certificate, a
 * token signed for another origin) writes exactly one `login.refused` JSON line on stderr, with the time, the code,
 * the words refining it and the service's client_id, and nothing of the person: no serial, no subject, no
 * fingerprint, no address. The log is a parameter of the handler (default stderr).
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CertificateRevokedError, RevocationUnknownError, CertificateInvalidError } from '@mynagate/pki';
import { companionToken, loginRefusedEvent } from '../src/interactions/companion.ts';
import type { InteractionContext } from '../src/interactions/context.ts';
import type { LogEvent } from '../src/lib/log.ts';
import {
  cardToken,
  createOpFixture,
  postToken,
  RP_JWT,
  scan,
  startLogin,
  type CompanionViewJson,
  type OpFixture,
  type TestIdp,
} from './support/op-fixture.ts';

let f: OpFixture;
let idp: TestIdp;

before(async () => {
  f = await createOpFixture();
  idp = await f.start();
});
after(() => f.close());

/** The `login.refused` lines written on stderr while `fn` runs (and a moment after, to catch a late second one). */
async function refusedLines(fn: () => Promise<void>): Promise<string[]> {
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
    .filter((l) => l.includes('login.refused'));
}

describe('a refused card token writes one login.refused line on stderr', () => {
  it('a revoked certificate: the code, its reason and source, the client_id; no serial, subject or address', async () => {
    const name = '記録　禁止子';
    const revoked = await f.newCard(name);
    await f.jpki.revoke(revoked.issued.authSerial, 'keyCompromise');
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    const view = (await scan(idp, login.link)).body as unknown as CompanionViewJson;
    const token = await cardToken(revoked, view.origin, view.challenge);
    let status = 0;
    const lines = await refusedLines(async () => {
      status = (await postToken(idp, view.txn, token)).status;
    });
    await login.events.close();
    assert.equal(status, 403);
    assert.equal(lines.length, 1, lines.join('\n'));
    const event = JSON.parse(lines[0]!) as Record<string, string>;
    assert.deepEqual(Object.keys(event).sort(), ['client_id', 'code', 'event', 'reason', 'source', 'time']);
    assert.equal(event['event'], 'login.refused');
    assert.equal(event['code'], 'ERR_PKI_CERT_REVOKED');
    assert.equal(event['reason'], 'keyCompromise');
    assert.equal(event['source'], 'ocsp');
    assert.equal(event['client_id'], RP_JWT.clientId);
    assert.ok(Math.abs(Date.parse(event['time']!) - Date.now()) < 60_000, event['time']);
    const serial = revoked.issued.authSerial.toLowerCase();
    for (const secret of [serial, serial.toUpperCase(), BigInt(`0x${serial}`).toString(), revoked.fingerprint, name]) {
      assert.equal(lines[0]!.includes(secret), false, `the line carries ${secret}`);
    }
    assert.doesNotMatch(lines[0]!, /127\.0\.0\.1|::1|localhost/, 'no address');
  });

  it('a token signed for another origin: one line with ERR_PKI_TOKEN_SIGNATURE and the client_id', async () => {
    const card = await f.newCard();
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    const view = (await scan(idp, login.link)).body as unknown as CompanionViewJson;
    const token = await cardToken(card, 'https://phishing.example', view.challenge);
    const lines = await refusedLines(async () => {
      assert.equal((await postToken(idp, view.txn, token)).status, 400);
    });
    await login.events.close();
    assert.equal(lines.length, 1, lines.join('\n'));
    const event = JSON.parse(lines[0]!) as Record<string, string>;
    assert.equal(event['code'], 'ERR_PKI_TOKEN_SIGNATURE');
    assert.equal(event['client_id'], RP_JWT.clientId);
    assert.equal(lines[0]!.includes(card.fingerprint), false);
  });

  it('a successful login writes no login.refused line', async () => {
    const card = await f.newCard();
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    const view = (await scan(idp, login.link)).body as unknown as CompanionViewJson;
    const token = await cardToken(card, view.origin, view.challenge);
    const lines = await refusedLines(async () => {
      assert.equal((await postToken(idp, view.txn, token)).status, 200);
    });
    await login.events.close();
    assert.deepEqual(lines, []);
  });
});

describe('the login.refused event', () => {
  it('goes to the log the handler is given, once, with the client of the login', async () => {
    const events: LogEvent[] = [];
    const context = {
      config: { now: () => Date.parse('2025-04-01T09:00:00Z') },
      transactions: { get: async () => ({ clientId: 'bank' }) },
    } as unknown as InteractionContext;
    const handle = companionToken(context, (e) => events.push(e));
    const req = Object.assign(Readable.from([Buffer.from('{"format":"web-eid:1"}')]), {
      headers: { 'content-type': 'application/json', 'content-length': '22' },
    }) as unknown as IncomingMessage;
    await assert.rejects(
      handle(req, {} as ServerResponse, { txn: 'T' }, new URL('https://idp.example/companion/T/token')),
      { code: 'ERR_IDP_TOKEN_MALFORMED' },
    );
    assert.deepEqual(events, [
      { time: '2025-04-01T09:00:00.000Z', event: 'login.refused', code: 'ERR_IDP_TOKEN_MALFORMED', client_id: 'bank' },
    ]);
  });

  it('carries the words refining a code (detail, check, source, reason), never a value with digits', () => {
    const at = Date.parse('2025-04-01T09:00:00Z');
    assert.deepEqual(
      loginRefusedEvent(
        new RevocationUnknownError('ERR_PKI_REVOCATION_UNKNOWN', 'unreachable', 'ocsp', 'x'),
        at,
        'shop',
      ),
      {
        time: '2025-04-01T09:00:00.000Z',
        event: 'login.refused',
        code: 'ERR_PKI_REVOCATION_UNKNOWN',
        detail: 'unreachable',
        source: 'ocsp',
        client_id: 'shop',
      },
    );
    const invalid = loginRefusedEvent(
      new CertificateInvalidError('ERR_PKI_UNTRUSTED_ISSUER', 'issuer', 'x'),
      at,
      undefined,
    );
    assert.deepEqual(invalid, {
      time: invalid.time,
      event: 'login.refused',
      code: 'ERR_PKI_UNTRUSTED_ISSUER',
      check: 'issuer',
    });
    const revoked = Object.assign(new CertificateRevokedError(new Date(at), 'keyCompromise', 'crl'), {
      detail: '0a1b2c3d',
    });
    assert.equal(loginRefusedEvent(revoked, at, undefined)['detail'], undefined, 'a hex value is no word');
  });
});
