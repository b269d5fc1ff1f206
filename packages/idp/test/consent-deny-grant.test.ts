/**
 * A card login stands as the consent only to what its own screen said: the service's pairwise identifier, for a
 * request that asks for nothing else. When the service asks for more (claims, `offline_access`, `prompt=consent`),
 * the consent screen decides, and the login saves no grant before it: pressing 同意しない, or leaving the screen
 * unanswered, leaves the service nothing, not even the `sub` through `prompt=none`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import type { Agent } from './support/op-agent.ts';
import { completeLogin, createOpFixture, startLogin, type OpFixture, type TestIdp } from './support/op-fixture.ts';
import {
  authorizeExtra,
  consent,
  issueCard,
  loginThenStop,
  RP_JWT,
  startEkycIdp,
  silentLogin,
} from './support/ekyc-fixture.ts';

let f: OpFixture;
let idp: TestIdp;
before(async () => {
  f = await createOpFixture();
  idp = await startEkycIdp(f);
});
after(async () => {
  await idp.close();
  await f.close();
});

const silent = (agent: Agent) => silentLogin(idp, agent);

async function personOf(fingerprint: string): Promise<string> {
  return (await idp.stores.records.findCredentialByFingerprint(fingerprint))!.personId;
}

const AGE = { id_token: { age_over_20: null } };

describe('a consent screen after the card login', () => {
  it('refused with 同意しない: access_denied, and prompt=none then gets consent_required, not the sub', async () => {
    const card = await issueCard(f, { name: '拒否　花子' });
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri, {
      extra: authorizeExtra(AGE, { acr_values: 'urn:mynagate:acr:card-auth' }),
    });
    const step = await loginThenStop(idp, login, card);
    assert.match(step.page, /consent-form/);
    const denied = await consent(login.agent, step, { decision: 'deny' });
    assert.equal(denied.url.searchParams.get('error'), 'access_denied');
    assert.deepEqual(await silent(login.agent), { error: 'consent_required' });
    const person = await personOf(card.fingerprint);
    assert.equal((await idp.stores.records.listConsents(person)).length, 0);
    const audit = await idp.stores.records.listAudit(person);
    assert.deepEqual(
      audit.filter((e) => e.data['grantId'] !== undefined),
      [],
      'no grant was saved for the service',
    );
  });

  it('left unanswered: prompt=none gets consent_required', async () => {
    const card = await issueCard(f, { name: '放置　次郎' });
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri, {
      extra: authorizeExtra(AGE, { acr_values: 'urn:mynagate:acr:card-auth' }),
    });
    const step = await loginThenStop(idp, login, card);
    assert.match(step.page, /consent-form/);
    assert.deepEqual(await silent(login.agent), { error: 'consent_required' });
  });

  it('prompt=consent for openid alone: the screen is shown (the login does not answer it)', async () => {
    const card = await issueCard(f, { name: '確認　三郎' });
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri, { extra: { prompt: 'consent' } });
    const step = await loginThenStop(idp, login, card);
    assert.match(step.page, /consent-form/);
    assert.deepEqual(
      [...step.page.matchAll(/data-key="([^"]+)"/g)].map((m) => m[1]),
      ['scope:openid'],
    );
    const denied = await consent(login.agent, step, { decision: 'deny' });
    assert.equal(denied.url.searchParams.get('error'), 'access_denied');
    assert.deepEqual(await silent(login.agent), { error: 'consent_required' });
  });

  it('accepted: the grant is the consent’s, audited with its id, and prompt=none gets the sub', async () => {
    const card = await issueCard(f, { name: '同意　四郎' });
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri, {
      extra: authorizeExtra(AGE, { acr_values: 'urn:mynagate:acr:card-auth' }),
    });
    const step = await loginThenStop(idp, login, card);
    const next = await consent(login.agent, step);
    assert.match(next.page, /署名用電子証明書で本人確認/, 'on to the card signature an age answer needs');
    const person = await personOf(card.fingerprint);
    const granted = (await idp.stores.records.listAudit(person)).filter((e) => e.data['grantId'] !== undefined);
    assert.deepEqual(
      granted.map((e) => e.type),
      ['consent.granted'],
    );
    const { sub } = await silent(login.agent);
    assert.match(sub ?? '', /^[A-Za-z0-9_-]{43}$/);
  });
});

describe('a card login for openid alone', () => {
  it('needs no screen: its grant is audited (login.card, with the grant id) before the service gets a code', async () => {
    const card = await issueCard(f, { name: '単純　五郎' });
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    const back = await completeLogin(idp, login, card);
    assert.ok(back.searchParams.has('code'), 'straight back to the service');
    const person = await personOf(card.fingerprint);
    const audit = await idp.stores.records.listAudit(person);
    // The login's own record names the grant (written at the token post, before the grant can exist): no second one.
    const events = audit.filter((e) => e.type === 'login.card');
    assert.equal(events.length, 1);
    assert.deepEqual(
      audit.filter((e) => e.data['grantId'] !== undefined),
      events,
      'the login record is the one naming the grant',
    );
    assert.equal(events[0]!.clientId, RP_JWT.clientId);
    const grantId = String(events[0]!.data['grantId']);
    const grant = (await idp.server.provider.Grant.find(grantId))!;
    assert.equal(grant.accountId, person);
    assert.equal(grant.getOIDCScope(), 'openid');
  });
});
