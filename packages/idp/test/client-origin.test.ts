/**
 * The one rule of what a client's registration lets the provider say about it (client-origin.ts): which origins a
 * signed statement may name, which clients are offered eKYC (confidential ones whose every redirect a statement names:
 * never a public native app, claimed https redirects or not), what a native app's private-use redirect is (RFC 8252
 * §7.1), and what the pages show for it instead of the origin "null". Then the last guard: a signing transaction for
 * an origin no card may sign is refused, `ERR_IDP_CLIENT_LOGIN_ONLY`, before anything is stored, and the code's
 * answer on a page is a bilingual 403.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  clientOriginLabel,
  CONFIDENTIAL_AUTH_METHODS,
  ekycClient,
  loginOnlyReason,
  offersEkyc,
  privateUseScheme,
  statementOrigin,
  statementOriginRule,
} from '../src/client-origin.ts';
import { SignTransactions } from '../src/ekyc/sign-transaction.ts';
import { IdpClientLoginOnlyError } from '../src/errors.ts';
import { toHttpError } from '../src/http-errors.ts';
import * as idp from '../src/index.ts';
import { createMemoryStores } from '../src/memory-stores.ts';
import type { OneShotPort } from '../src/ports.ts';

const HTTPS_OP = 'https://id.example.jp';
const DEV_OP = 'http://127.0.0.1:8080';

describe('statementOriginRule and statementOrigin', () => {
  it('is exported from @mynagate/idp, the one rule serve-config uses too', () => {
    assert.equal(idp.statementOriginRule, statementOriginRule);
    assert.equal(idp.statementOrigin, statementOrigin);
    assert.deepEqual(statementOriginRule(HTTPS_OP), { allowLoopbackHttp: false });
    assert.deepEqual(statementOriginRule(DEV_OP), { allowLoopbackHttp: true });
  });

  it('names https redirects by their origin, loopback http ones only beside an http provider', () => {
    assert.equal(statementOrigin('https://bank.example.jp/cb?x=1', HTTPS_OP), 'https://bank.example.jp');
    assert.equal(statementOrigin('https://bank.example.jp:8443/cb', HTTPS_OP), 'https://bank.example.jp:8443');
    assert.equal(statementOrigin('http://127.0.0.1:3000/cb', DEV_OP), 'http://127.0.0.1:3000');
    assert.equal(statementOrigin('http://127.0.0.1:3000/cb', HTTPS_OP), undefined);
    assert.equal(statementOrigin('http://bank.example.jp/cb', DEV_OP), undefined);
  });

  it('names no private-use redirect, nor anything that is not a URL (never "null")', () => {
    for (const uri of ['jp.example.bank:/oauth2redirect', 'myapp:/cb', 'jp.example.bank://cb', 'null', '', 42]) {
      assert.equal(statementOrigin(uri, HTTPS_OP), undefined, String(uri));
      assert.equal(statementOrigin(uri, DEV_OP), undefined, String(uri));
    }
  });
});

describe('offersEkyc', () => {
  /** A confidential client (private_key_jwt) registered with `redirectUris`. */
  const confidential = (redirectUris: readonly string[] | undefined) => ({
    redirectUris,
    clientAuthMethod: 'private_key_jwt',
  });

  it('offers eKYC only when a statement can name every redirect URI', () => {
    assert.equal(
      offersEkyc(confidential(['https://bank.example.jp/cb', 'https://bank.example.jp/cb2']), HTTPS_OP),
      true,
    );
    assert.equal(offersEkyc(confidential(['jp.example.bank:/oauth2redirect']), HTTPS_OP), false);
    // One that cannot be named makes the whole client login-only, whichever redirect a request uses.
    assert.equal(
      offersEkyc(confidential(['https://bank.example.jp/app', 'jp.example.bank:/oauth2redirect']), HTTPS_OP),
      false,
    );
    assert.equal(offersEkyc(confidential(['http://127.0.0.1:3000/cb']), HTTPS_OP), false);
    assert.equal(offersEkyc(confidential(['http://127.0.0.1:3000/cb']), DEV_OP), true);
  });

  it('fails closed without redirect URIs, or without a client', () => {
    assert.equal(offersEkyc(confidential(undefined), HTTPS_OP), false);
    assert.equal(offersEkyc(confidential([]), HTTPS_OP), false);
    assert.equal(offersEkyc(undefined, HTTPS_OP), false);
  });

  it('offers eKYC to a confidential client of each auth method the provider takes', () => {
    for (const clientAuthMethod of ['private_key_jwt', 'client_secret_basic', 'client_secret_post']) {
      assert.equal(offersEkyc({ redirectUris: ['https://bank.example.jp/cb'], clientAuthMethod }, HTTPS_OP), true);
    }
    assert.deepEqual(CONFIDENTIAL_AUTH_METHODS, ['private_key_jwt', 'client_secret_basic', 'client_secret_post']);
  });

  it('never offers eKYC to a public native app, even with claimed https redirects (universal links)', () => {
    const links = ['https://bank.example.jp/app/cb', 'https://bank.example.jp/app/cb2'];
    assert.equal(offersEkyc({ redirectUris: links, clientAuthMethod: 'none' }, HTTPS_OP), false);
    assert.equal(loginOnlyReason({ redirectUris: links, clientAuthMethod: 'none' }, HTTPS_OP), 'public-client');
    // Beside a development provider on http, loopback http is nameable: still none for a public client.
    assert.equal(offersEkyc({ redirectUris: ['http://127.0.0.1:3000/cb'], clientAuthMethod: 'none' }, DEV_OP), false);
    // The same registration as node-oidc-provider metadata (ekycClient): public, login only; without the method,
    // the provider's default (private_key_jwt), eKYC.
    const app = { client_id: 'pub-app', application_type: 'native' as const, redirect_uris: links };
    assert.equal(offersEkyc(ekycClient({ ...app, token_endpoint_auth_method: 'none' }), HTTPS_OP), false);
    assert.equal(offersEkyc(ekycClient(app), HTTPS_OP), true);
  });

  it('fails closed on an auth method unknown here, or none at all', () => {
    for (const clientAuthMethod of [undefined, '', 'client_secret_jwt', 'tls_client_auth', 'NONE', 'Private_Key_JWT']) {
      const client = { redirectUris: ['https://bank.example.jp/cb'], clientAuthMethod };
      assert.equal(offersEkyc(client, HTTPS_OP), false, String(clientAuthMethod));
      assert.equal(loginOnlyReason(client, HTTPS_OP), 'public-client', String(clientAuthMethod));
    }
  });

  it('says why a client gets login only: public first, then its redirects', () => {
    assert.equal(loginOnlyReason(confidential(['https://bank.example.jp/cb']), HTTPS_OP), undefined);
    assert.equal(loginOnlyReason(confidential(['jp.example.bank:/cb']), HTTPS_OP), 'redirect-uri');
    assert.equal(
      loginOnlyReason({ redirectUris: ['jp.example.bank:/cb'], clientAuthMethod: 'none' }, HTTPS_OP),
      'public-client',
    );
    assert.equal(loginOnlyReason(undefined, HTTPS_OP), 'public-client');
  });
});

describe('privateUseScheme (RFC 8252 §7.1)', () => {
  it('takes a reverse domain name scheme with one slash and no host', () => {
    assert.equal(privateUseScheme('jp.example.bank:/oauth2redirect'), 'jp.example.bank');
    assert.equal(privateUseScheme('com.example.app:/oauth2redirect/example-provider'), 'com.example.app');
    assert.equal(privateUseScheme('Com.Example.App:/cb'), 'com.example.app');
    assert.equal(privateUseScheme('jp.example-bank.app2:/cb'), 'jp.example-bank.app2');
  });

  it('refuses everything else', () => {
    for (const uri of [
      'myapp:/oauth2redirect', // no period: not a domain name
      'jp.example.bank://bank.example.jp/cb', // a host the app chose
      'jp.example.bank:///cb',
      'jp.example.bank:cb', // no slash
      'jp..bank:/cb',
      'jp.example.bank.:/cb',
      '1jp.example:/cb', // a scheme starts with a letter
      'jp.exa_mple:/cb',
      'https://bank.example.jp/cb',
      'http://127.0.0.1/cb',
      '',
    ]) {
      assert.equal(privateUseScheme(uri), undefined, uri);
    }
  });
});

describe('clientOriginLabel', () => {
  it('is the origin of an http(s) redirect', () => {
    assert.equal(clientOriginLabel('https://bank.example.jp/cb?x'), 'https://bank.example.jp');
    assert.equal(clientOriginLabel('http://127.0.0.1:3000/cb'), 'http://127.0.0.1:3000');
  });

  it('names the app of any other redirect by its scheme, never "null"', () => {
    assert.equal(clientOriginLabel('jp.example.bank:/oauth2redirect'), 'アプリ / app: jp.example.bank');
    assert.equal(clientOriginLabel('myapp://cb'), 'アプリ / app: myapp');
    assert.equal(clientOriginLabel(undefined), 'アプリ / app');
    assert.equal(clientOriginLabel('not a url'), 'アプリ / app');
  });
});

describe('a signing transaction for an origin no statement may name', () => {
  /** A one-shot store that records every write. */
  function recording(): { oneShot: OneShotPort; writes: string[] } {
    const store = createMemoryStores({ now: () => 1_700_000_000_000 }).oneShot;
    const writes: string[] = [];
    const oneShot: OneShotPort = {
      put: (key, value, ttlMs) => (writes.push(key), store.put(key, value, ttlMs)),
      get: (key) => store.get(key),
      getMany: (keys) => store.getMany(keys),
      putDeleting: (key, value, ttlMs, deleteKeys) => (
        writes.push(key),
        store.putDeleting(key, value, ttlMs, deleteKeys)
      ),
      take: (key) => store.take(key),
      takeMarking: (key, markKey, markTtlMs) => store.takeMarking(key, markKey, markTtlMs),
      putIfAbsent: (key, value, ttlMs) => (writes.push(key), store.putIfAbsent(key, value, ttlMs)),
      renew: (key, value, ttlMs) => (writes.push(key), store.renew(key, value, ttlMs)),
      putUnless: (key, value, ttlMs, unless) => (writes.push(key), store.putUnless(key, value, ttlMs, unless)),
      deleteIf: (key, value) => store.deleteIf(key, value),
      delete: (key) => store.delete(key),
    };
    return { oneShot, writes };
  }
  const input = (clientOrigin: string) => ({
    uid: 'uid-1',
    grantId: 'grant-1',
    accountId: 'person-1',
    clientId: 'bank-app',
    clientName: '銀行アプリ',
    clientOrigin,
    purpose: '本人確認 / Identity verification',
    items: [],
    claims: [],
    details: [],
  });

  for (const clientOrigin of ['null', 'jp.example.bank:', 'http://bank.example.jp', 'https://bank.example.jp/', '']) {
    it(`is refused for ${JSON.stringify(clientOrigin)} with ERR_IDP_CLIENT_LOGIN_ONLY, nothing stored`, async () => {
      const { oneShot, writes } = recording();
      const signs = new SignTransactions({
        oneShot,
        now: () => 1_700_000_000_000,
        origin: HTTPS_OP,
        ttlSeconds: 300,
        statementTtlSeconds: 180,
        qrMaxAgeSeconds: 3,
      });
      await assert.rejects(signs.start(input(clientOrigin)), { code: 'ERR_IDP_CLIENT_LOGIN_ONLY' });
      assert.deepEqual(writes, []);
    });
  }

  it('starts for an https origin (the same store records it)', async () => {
    const { oneShot, writes } = recording();
    const signs = new SignTransactions({
      oneShot,
      now: () => 1_700_000_000_000,
      origin: HTTPS_OP,
      ttlSeconds: 300,
      statementTtlSeconds: 180,
      qrMaxAgeSeconds: 3,
    });
    const { transaction } = await signs.start(input('https://bank.example.jp'));
    assert.deepEqual(writes, [`sign:${transaction.txn}`]);
  });

  it('is answered on a page as a bilingual 403 that blames the service, not the person', () => {
    const { status, body } = toHttpError(new IdpClientLoginOnlyError('public-client'));
    assert.equal(status, 403);
    assert.equal(body.error, 'ERR_IDP_CLIENT_LOGIN_ONLY');
    assert.match(body.message.ja, /ログインのみ/);
    assert.match(body.message.en, /login with the My Number Card only/);
  });

  it('says why in its message, ASCII without quotes (an OAuth error_description, RFC 6749 §4.1.2.1)', () => {
    const redirect = new IdpClientLoginOnlyError('redirect-uri');
    const open = new IdpClientLoginOnlyError('public-client');
    assert.equal(redirect.reason, 'redirect-uri');
    assert.equal(open.reason, 'public-client');
    assert.equal(
      redirect.message,
      'eKYC is not offered to this client (card login only): a signed statement cannot name its redirect URI',
    );
    assert.match(open.message, /^eKYC is not offered to this client \(card login only\): it is a public client/);
    for (const e of [redirect, open]) assert.match(`${e.code}: ${e.message}`, /^[\x20\x21\x23-\x5b\x5d-\x7e]+$/);
  });
});
