/**
 * `mynagate login` tells the person, before the PIN, when the login was started on another network than the one it
 * scans from (the provider's `network: 'other'`: a QR code relayed by a phishing page looks like that), and says
 * nothing more when both are on one network. A provider that does not say gets the caution (fail closed). The same
 * for an eKYC signing link, with the signing caution (before the password; the whole flow: login-sign.test.ts).
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { NETWORK_CAUTION as IDP_NETWORK_CAUTION } from '../../../packages/idp/src/interactions/companion.ts';
import { SIGN_NETWORK_CAUTION as IDP_SIGN_NETWORK_CAUTION } from '../../../packages/idp/src/ekyc/pages.ts';
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
import {
  describeView,
  NETWORK_CAUTION,
  scan,
  SIGN_NETWORK_CAUTION,
  type CompanionView,
  type LoginView,
  type SignView,
} from '../src/companion.ts';
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

/**
 * A provider on loopback http answering a login view (or, with `sign`, a signing view) with `network` as given
 * (absent for undefined), scanned by the companion.
 */
/** A statement without a nonce (`scanAnswer`'s default is one). */
const ABSENT = Symbol('no nonce');

async function scanAnswer(
  network: unknown,
  sign = false,
  nonce: unknown = Buffer.alloc(32, 9).toString('base64url'),
): Promise<CompanionView> {
  const server = createServer((_req, res) => {
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const canonical = JSON.stringify({
      client: { name: 'テスト銀行', origin: 'https://bank.example' },
      issuer: origin,
      purpose: '口座開設の本人確認 / Account opening',
      text: { ja: '私は、テスト銀行の本人確認に同意します。', en: 'I agree that テスト銀行 verifies my identity.' },
      ...(nonce === ABSENT ? {} : { nonce }),
    });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        txn: 'x',
        clientName: 'テスト銀行',
        clientOrigin: 'https://bank.example',
        origin,
        ...(sign
          ? { intent: 'sign', canonical }
          : { intent: 'login', challenge: Buffer.alloc(32, 7).toString('base64') }),
        ...(network === undefined ? {} : { network }),
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const port = (server.address() as AddressInfo).port;
    return await scan(new URL(`http://127.0.0.1:${port}/companion/${sign ? 'sign/' : ''}x?t=0&c=y`));
  } finally {
    server.close();
  }
}

describe('a signing view', () => {
  it('names the nonce of the statement it shows; one without a nonce is ERR_CLI_COMPANION_RESPONSE, before any password', async () => {
    const view = (await scanAnswer('same', true)) as SignView;
    assert.equal(view.statement.nonce, Buffer.alloc(32, 9).toString('base64url'));
    for (const nonce of [ABSENT, '', 7, null]) {
      await assert.rejects(scanAnswer('same', true, nonce), { code: 'ERR_CLI_COMPANION_RESPONSE' }, String(nonce));
    }
  });
});

describe('the network field of a login view', () => {
  const scanWith = async (network: unknown) => (await scanAnswer(network)) as LoginView;

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
    assert.deepEqual(SIGN_NETWORK_CAUTION, IDP_SIGN_NETWORK_CAUTION);
  });

  it('names this device, not a phone: the companion may be a computer', () => {
    for (const caution of [NETWORK_CAUTION, SIGN_NETWORK_CAUTION]) {
      assert.match(caution.ja, /この端末とは別のネットワーク/);
      assert.match(caution.en, /another network than this device\./);
      assert.doesNotMatch(caution.ja + caution.en, /スマートフォン|phone/i);
    }
  });
});

describe('the network field of a signing view', () => {
  const scanWith = async (network: unknown) => (await scanAnswer(network, true)) as SignView;
  const cautioned = (view: CompanionView) => describeView(view).some((l) => l.includes(SIGN_NETWORK_CAUTION.en));

  it('is "same" only when the provider says so; anything else, or nothing, is "other" with the signing caution', async () => {
    const same = await scanWith('same');
    assert.equal(same.intent, 'sign');
    assert.equal(same.network, 'same');
    assert.equal(cautioned(same), false);
    assert.equal(
      describeView(same).some((l) => l.includes('Caution')),
      false,
    );
    for (const answer of [undefined, 'other', 'SAME', true, null, 'unknown']) {
      const view = await scanWith(answer);
      assert.equal(view.network, 'other', String(answer));
      assert.ok(cautioned(view), String(answer));
      // The signing caution, not the login's (which speaks of a PIN).
      assert.equal(
        describeView(view).some((l) => l.includes(NETWORK_CAUTION.en)),
        false,
        String(answer),
      );
    }
  });

  it('puts the caution last, after the statement it would have the person sign', async () => {
    const lines = describeView(await scanWith('other'));
    const statement = lines.findIndex((l) => l.startsWith('I agree that'));
    const ja = lines.indexOf(`注意 / Caution: ${SIGN_NETWORK_CAUTION.ja}`);
    assert.ok(statement >= 0 && ja > statement, lines.join('\n'));
    assert.equal(lines.at(-1), SIGN_NETWORK_CAUTION.en);
  });
});
