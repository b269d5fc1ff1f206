/**
 * `checkClients` (what `serve --config` and `serve --dev --client` check at start) and native apps: a native client
 * (`application_type: "native"`) with a private-use URI scheme redirect (RFC 8252 §7.1) or a loopback IP redirect
 * (RFC 8252 §7.3, any port at request time) is accepted beside any provider, and gets card login only beside an https
 * one (the provider refuses its eKYC: packages/idp/test/op-native-client.test.ts); a scheme without a period, one with
 * a host, a private-use scheme on a web client, a native `localhost` redirect (RFC 8252 §8.3), and a web client's
 * loopback http beside an https provider are refused with one `ERR_CLI_CONFIG` line naming the client and the
 * redirect. Starts from one valid registration and changes one field per refusal. A native app may be public
 * (`token_endpoint_auth_method: "none"`, RFC 8252 §8.5); a web client may not. A public client gets card login only,
 * claimed https redirects or not, and no client that gets card login only may list the card-signature ACR in
 * `default_acr_values`. `loginOnlyLines` says at start which clients get card login only, and which are public.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { checkClients, loginOnlyLines } from '../src/commands/serve-config.ts';

const ISSUER = 'https://id.example.jp';
const DEV_ISSUER = 'http://127.0.0.1:8080';
const publicJwk = {
  ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }),
  kid: 'app-1',
  alg: 'ES256',
  use: 'sig',
};

/** A native app whose backend holds its key (private_key_jwt, the default), with `change` over it. */
const app = (change: Record<string, unknown> = {}) => ({
  client_id: 'bank-app',
  client_name: '銀行アプリ / Bank app',
  application_type: 'native',
  redirect_uris: ['jp.example.bank:/oauth2redirect'],
  jwks: { keys: [publicJwk] },
  ...change,
});

/** The same app, public: no key, nothing to authenticate with at the token endpoint (RFC 8252 §8.5). */
const publicApp = (change: Record<string, unknown> = {}) => {
  const { jwks: _, ...rest } = app({ client_id: 'pub-app', token_endpoint_auth_method: 'none', ...change });
  return rest;
};

const check = (clients: unknown[], issuer = ISSUER) => checkClients(clients, issuer, (i) => `clients[${i}]`);

/** The ConfigError `check` rejects with: its code and message. */
async function refusal(clients: unknown[], issuer = ISSUER): Promise<{ code: string; message: string }> {
  try {
    await check(clients, issuer);
  } catch (e) {
    return { code: (e as { code: string }).code, message: (e as Error).message };
  }
  assert.fail('expected checkClients to refuse');
}

describe('checkClients: native apps', () => {
  it('accepts a native client with a private-use scheme redirect (card login only), as registered', async () => {
    const clients = await check([app()]);
    assert.deepEqual(clients, [app()]);
  });

  it('accepts one beside a development provider, and one with two redirects of its scheme', async () => {
    assert.equal((await check([app()], DEV_ISSUER)).length, 1);
    const twoPaths = app({ redirect_uris: ['jp.example.bank:/oauth2redirect', 'jp.example.bank:/oauth2redirect/alt'] });
    assert.equal((await check([twoPaths])).length, 1);
  });

  it('accepts a native client whose redirects are claimed https ones (app links): those are https', async () => {
    assert.equal((await check([app({ redirect_uris: ['https://bank.example.jp/app/cb'] })])).length, 1);
  });

  it('refuses a private-use scheme without a period (not a reverse domain name)', async () => {
    assert.deepEqual(await refusal([app({ redirect_uris: ['myapp:/oauth2redirect'] })]), {
      code: 'ERR_CLI_CONFIG',
      message:
        'clients[0] (bank-app): redirect_uris[0] myapp:/oauth2redirect: a native app\'s private-use redirect must be a reverse domain name the app controls (with a period), then ":/" and a path, without a host, e.g. jp.example.bank:/oauth2redirect (RFC 8252 §7.1)',
    });
  });

  it('refuses a private-use scheme with a host (RFC 8252 §7.1: one slash), naming the redirect', async () => {
    const { code, message } = await refusal([app({ redirect_uris: ['jp.example.bank://bank.example.jp/cb'] })]);
    assert.equal(code, 'ERR_CLI_CONFIG');
    assert.match(
      message,
      /^clients\[0\] \(bank-app\): redirect_uris\[0\] jp\.example\.bank:\/\/bank\.example\.jp\/cb: a native app's private-use redirect must be a reverse domain name/,
    );
  });

  it('refuses a private-use scheme on a client that is not native, saying how to register it', async () => {
    const { application_type: _, ...web } = app();
    assert.deepEqual(await refusal([web]), {
      code: 'ERR_CLI_CONFIG',
      message:
        'clients[0] (bank-app): redirect_uris[0] jp.example.bank:/oauth2redirect: a private-use scheme is a native app\'s redirect: register the client with "application_type": "native" (it then gets card login only)',
    });
  });

  it("refuses a scheme node-oidc-provider forbids, in node-oidc-provider's words", async () => {
    assert.deepEqual(await refusal([app({ redirect_uris: ['javascript:/alert(1)'] })]), {
      code: 'ERR_CLI_CONFIG',
      message: 'clients[0] (bank-app): redirect_uris must not use the javascript URI scheme',
    });
  });

  it('accepts a native loopback IP redirect (RFC 8252 §7.3) beside an https provider (card login only), as registered', async () => {
    for (const redirect_uris of [
      ['http://127.0.0.1/cb'],
      ['http://[::1]/cb'],
      ['http://127.0.0.1:7000/cb'],
      ['http://127.0.0.1/cb', 'http://127.0.0.1/cb/alt'],
    ]) {
      assert.deepEqual(await check([app({ redirect_uris })]), [app({ redirect_uris })], redirect_uris[0]);
    }
    assert.equal((await check([app({ redirect_uris: ['http://127.0.0.1/cb'] })], DEV_ISSUER)).length, 1);
  });

  it('refuses a native redirect on localhost (RFC 8252 §8.3), beside any provider, saying to use the IP address', async () => {
    for (const issuer of [ISSUER, DEV_ISSUER]) {
      assert.deepEqual(await refusal([app({ redirect_uris: ['http://localhost:7000/cb'] })], issuer), {
        code: 'ERR_CLI_CONFIG',
        message:
          "clients[0] (bank-app): redirect_uris[0] http://localhost:7000/cb: a native app's loopback redirect must name the loopback IP address, http://127.0.0.1/… or http://[::1]/…, not localhost (RFC 8252 §8.3); the app may listen on any port (RFC 8252 §7.3)",
      });
    }
  });

  it("refuses a native http redirect off the loopback host, in node-oidc-provider's words", async () => {
    const { code, message } = await refusal([app({ redirect_uris: ['http://127.0.0.2/cb'] })]);
    assert.equal(code, 'ERR_CLI_CONFIG');
    assert.match(message, /^clients\[0\] \(bank-app\): redirect_uris for native clients using http .* loopback/);
  });

  it("refuses a web client's loopback http redirect beside an https provider, with the eKYC statement rule as before", async () => {
    const { application_type: _, ...web } = app({ redirect_uris: ['http://127.0.0.1:7000/cb'] });
    assert.deepEqual(await refusal([web]), {
      code: 'ERR_CLI_CONFIG',
      message:
        'clients[0] (bank-app): redirect_uris[0] http://127.0.0.1:7000/cb: a signed eKYC statement names the service by this origin, which must be https (http on 127.0.0.1, localhost or [::1] only beside a provider on http)',
    });
  });

  it('refuses an http redirect off the loopback host on a web client, with the eKYC statement rule as before', async () => {
    const { application_type: _, ...web } = app({ redirect_uris: ['http://bank.example.jp/cb'] });
    assert.deepEqual(await refusal([web]), {
      code: 'ERR_CLI_CONFIG',
      message:
        'clients[0] (bank-app): redirect_uris[0] http://bank.example.jp/cb: a signed eKYC statement names the service by this origin, which must be https (http on 127.0.0.1, localhost or [::1] only beside a provider on http)',
    });
  });
});

describe('checkClients: public clients (token_endpoint_auth_method none)', () => {
  it('accepts a public native client with a private-use or a loopback redirect, as registered', async () => {
    assert.deepEqual(await check([publicApp()]), [publicApp()]);
    const desktop = publicApp({ redirect_uris: ['http://127.0.0.1/cb'] });
    assert.deepEqual(await check([desktop], DEV_ISSUER), [desktop]);
  });

  it('refuses it on a client that is not native, saying how to register it, with any redirect', async () => {
    const { application_type: _, ...web } = publicApp({ redirect_uris: ['https://bank.example.jp/cb'] });
    for (const client of [web, { ...web, application_type: 'web' }]) {
      assert.deepEqual(await refusal([client]), {
        code: 'ERR_CLI_CONFIG',
        message:
          'clients[0] (pub-app): token_endpoint_auth_method none is for a native app only (RFC 8252 §8.5): register it with "application_type": "native" or give it a secret or a key (client_secret_basic, client_secret_post or private_key_jwt)',
      });
    }
  });

  it('accepts a public native client with claimed https redirects: it gets card login only', async () => {
    const links = publicApp({ redirect_uris: ['https://bank.example.jp/app/cb'] });
    assert.deepEqual(await check([links]), [links]);
  });

  it('refuses the card-signature ACR in default_acr_values of a client that gets card login only', async () => {
    const sign = { default_acr_values: ['urn:mynagate:acr:card-sign'] };
    assert.deepEqual(await refusal([publicApp({ redirect_uris: ['https://bank.example.jp/app/cb'], ...sign })]), {
      code: 'ERR_CLI_CONFIG',
      message:
        "clients[0] (pub-app): default_acr_values asks for urn:mynagate:acr:card-sign (eKYC), but the client gets card login only: it is public (token_endpoint_auth_method none), and eKYC goes to a confidential client only: have the app's own server redeem the code with a key or a secret (private_key_jwt, client_secret_basic or client_secret_post)",
    });
    assert.match(
      (await refusal([app(sign)])).message,
      /^clients\[0\] \(bank-app\): default_acr_values asks for .* card login only: a signed eKYC statement cannot name one of its redirect URIs/,
    );
    // The card-auth ACR is anyone's; a confidential app with claimed https redirects may ask for the signature.
    const auth = publicApp({ default_acr_values: ['urn:mynagate:acr:card-auth'] });
    assert.deepEqual(await check([auth]), [auth]);
    const confidential = app({ redirect_uris: ['https://bank.example.jp/app/cb'], ...sign });
    assert.deepEqual(await check([confidential]), [confidential]);
  });
});

describe('loginOnlyLines: what serve says at start of the clients that get card login only', () => {
  it('one line per such client, naming its first redirect no statement can name; none for the others', async () => {
    const web = { client_id: 'bank', redirect_uris: ['https://bank.example.jp/cb'] };
    const desktop = app({ client_id: 'desk-app', redirect_uris: ['http://127.0.0.1/cb'] });
    const claimed = app({ client_id: 'links-app', redirect_uris: ['https://bank.example.jp/app/cb'] });
    assert.deepEqual(loginOnlyLines([web, app(), desktop, claimed] as never, ISSUER), [
      'client bank-app: card login only (native app redirect jp.example.bank:/oauth2redirect; eKYC is not offered)',
      'client desk-app: card login only (native app redirect http://127.0.0.1/cb; eKYC is not offered)',
    ]);
    // Beside a development provider on http a loopback redirect can be named: eKYC is offered.
    assert.deepEqual(loginOnlyLines([web, desktop] as never, DEV_ISSUER), []);
  });

  it('says a public native app is public, and card login only even with claimed https redirects', async () => {
    const claimed = publicApp({ client_id: 'pub-links', redirect_uris: ['https://bank.example.jp/app/cb'] });
    assert.deepEqual(loginOnlyLines([publicApp(), claimed] as never, ISSUER), [
      'client pub-app: card login only (native app redirect jp.example.bank:/oauth2redirect; eKYC is not offered), public (no client authentication)',
      'client pub-links: card login only (eKYC is not offered to a public client), public (no client authentication)',
    ]);
    // Beside a development provider too; the same app with a key (its server's) is offered eKYC: no line.
    assert.deepEqual(loginOnlyLines([claimed] as never, DEV_ISSUER), [
      'client pub-links: card login only (eKYC is not offered to a public client), public (no client authentication)',
    ]);
    const confidential = app({ client_id: 'links-app', redirect_uris: ['https://bank.example.jp/app/cb'] });
    assert.deepEqual(loginOnlyLines([confidential] as never, ISSUER), []);
  });
});
