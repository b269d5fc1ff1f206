/**
 * `mynagate login` tells the person, before the PIN, when the login was started on another network than the one it
 * scans from (the provider's `network: 'other'`: a QR code relayed by a phishing page looks like that), and says
 * nothing more when both are on one network. A provider that does not say gets the caution (fail closed).
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { NETWORK_CAUTION as IDP_NETWORK_CAUTION } from '../../../packages/idp/src/interactions/companion.ts';
import {
  expectedSub,
  redeemLogin,
  PIN,
  RP_JWT,
  startLogin,
  type OpFixture,
  type TestCard,
  type TestIdp,
} from '../../../packages/idp/test/support/op-fixture.ts';
import { describeView, NETWORK_CAUTION, scan, type LoginView } from '../src/companion.ts';
import { startCompanionProvider } from './companion-support.ts';
import { runCli } from './serve-support.ts';

let f: OpFixture;
let idp: TestIdp;
let env: Record<string, string>;
let card: TestCard;

before(async () => {
  ({ f, idp, env } = await startCompanionProvider());
  card = await f.newCard('試験　網子');
});
after(() => f?.close());

describe('mynagate login and the network the login started on', () => {
  it('same network (browser and companion on 127.0.0.1): no caution, and the login completes', async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    const r = await runCli(['login', login.link, '--file', card.file, '--pin-stdin'], { input: `${PIN}\n`, env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /サービス \/ Service:\s+テスト銀行/);
    assert.equal(r.stderr.includes(NETWORK_CAUTION.ja), false, r.stderr);
    assert.equal(r.stderr.includes(NETWORK_CAUTION.en), false, r.stderr);
    assert.doesNotMatch(r.stderr, /Caution/);
    const claims = await redeemLogin(idp.jwtRp, login);
    assert.equal(claims.sub, await expectedSub(idp, card, RP_JWT.redirectUri));
  });

  it('another network: the caution in both languages, after the service and before the PIN prompt', async () => {
    // Behind a trusted proxy the browser came from 203.0.113.7; the companion's request carries no X-Forwarded-For,
    // so its network is unknown: "other" (the provider's comparison of two known networks is tested in the idp).
    const proxied = await f.start({ qrMaxAgeSeconds: 30, trustProxy: true });
    const login = await startLogin(proxied, proxied.jwtRp, RP_JWT.redirectUri);
    const res = await login.agent.fetch(login.pageUrl, { headers: { 'x-forwarded-for': '203.0.113.7' } });
    const link = /data-link="([^"]+)"/.exec(await res.text())![1]!.replaceAll('&amp;', '&');
    const r = await runCli(['login', link, '--file', card.file], { env });
    // No --pin-stdin and no terminal: it stops where it would ask for the PIN; what matters is what came before.
    const service = r.stderr.indexOf('Service:');
    const ja = r.stderr.indexOf(`注意 / Caution: ${NETWORK_CAUTION.ja}`);
    const en = r.stderr.indexOf(NETWORK_CAUTION.en);
    const asked = r.stderr.indexOf('no terminal to ask for the PIN');
    assert.ok(service >= 0 && ja > service && en > ja, r.stderr);
    assert.ok(asked > en + NETWORK_CAUTION.en.length, r.stderr);
    await login.events.close();
  });

  it('with --pin-stdin the caution is still shown, and the person may go on: the login completes', async () => {
    const proxied = await f.start({ qrMaxAgeSeconds: 30, trustProxy: true });
    const login = await startLogin(proxied, proxied.jwtRp, RP_JWT.redirectUri);
    const r = await runCli(['login', login.link, '--file', card.file, '--pin-stdin'], { input: `${PIN}\n`, env });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stderr.includes(NETWORK_CAUTION.ja), r.stderr);
    const claims = await redeemLogin(proxied.jwtRp, login);
    assert.equal(claims.acr, 'urn:mynagate:acr:card-auth');
  });
});

describe('the network field of a login view', () => {
  /** A provider on loopback http answering `network` as given (absent for undefined). */
  async function scanWith(network: unknown): Promise<LoginView> {
    const server = createServer((_req, res) => {
      const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          txn: 'x',
          clientName: 'テスト銀行',
          clientOrigin: 'https://bank.example',
          origin,
          intent: 'login',
          challenge: Buffer.alloc(32, 7).toString('base64'),
          ...(network === undefined ? {} : { network }),
        }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      return (await scan(new URL(`http://127.0.0.1:${port}/companion/x?t=0&c=y`))) as LoginView;
    } finally {
      server.close();
    }
  }

  it('is "same" only when the provider says so; anything else, or nothing, is "other" with the caution', async () => {
    assert.equal((await scanWith('same')).network, 'same');
    for (const answer of [undefined, 'other', 'SAME', true, null, 'unknown']) {
      const view = await scanWith(answer);
      assert.equal(view.network, 'other', String(answer));
      assert.ok(
        describeView(view).some((l) => l.includes(NETWORK_CAUTION.en)),
        String(answer),
      );
    }
    assert.equal(
      describeView(await scanWith('same')).some((l) => l.includes('Caution')),
      false,
    );
  });

  it("says what the provider's own companion pages say", () => {
    assert.deepEqual(NETWORK_CAUTION, IDP_NETWORK_CAUTION);
  });
});
