/**
 * Withdrawal reaches every grant the person gave the service, whichever browser it was made in: a plain card login's
 * grant too (the login's `login.card` record names its id, on disk before the login can finish). And a consent's
 * grant is never saved without its record: an audit that cannot be written fails the consent, and leaves no grant.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import type Provider from 'oidc-provider';
import { saveAuditedGrant } from '../src/consent/audited-grant.ts';
import { memoryConsentRecords } from '../src/consent/records.ts';
import { EventStream, type Agent } from './support/op-agent.ts';
import {
  completeLogin,
  createOpFixture,
  startLogin,
  type OpFixture,
  type StartedLogin,
  type TestIdp,
} from './support/op-fixture.ts';
import { authorizeExtra, fullFlow, issueCard, RP_JWT, startEkycIdp, silentLogin } from './support/ekyc-fixture.ts';

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

describe('withdrawal from another browser', () => {
  it('revokes the grant a plain card login saved in a third browser: prompt=none there gets consent_required', async () => {
    const card = await issueCard(f, { name: '撤回　次郎' });
    // Browser 1: consents to age_over_20 (and signs for it).
    const l1 = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri, {
      extra: authorizeExtra({ id_token: { age_over_20: null } }),
    });
    await fullFlow(idp, l1, card);
    // Browser 2: the same service asks for openid alone: no consent screen, the login's grant.
    const l2 = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    const cb2 = await completeLogin(idp, l2, card);
    assert.ok(cb2.searchParams.has('code'));
    const before = await silent(l2.agent);
    assert.match(before.sub ?? '', /^[A-Za-z0-9_-]{43}$/, 'the login grant works before the withdrawal');
    // Browser 3: /me, withdraw the service.
    const agent = idp.agent();
    const started = await agent.follow(new URL('/me/login', idp.server.url));
    const page = await started.response.text();
    const uid = started.url.pathname.split('/')[2]!;
    const me: StartedLogin = {
      agent,
      uid,
      pageUrl: started.url,
      page,
      link: /data-link="([^"]+)"/.exec(page)![1]!.replaceAll('&amp;', '&'),
      codeVerifier: '',
      state: '',
      events: new EventStream(await agent.fetch(new URL(`/interaction/${uid}/events`, started.url))),
    };
    await completeLogin(idp, me, card);
    const html = await (await agent.fetch(new URL('/me', idp.server.url))).text();
    assert.match(
      html,
      /<tr data-type="login.card">(?:(?!<\/tr>)[^])*your identifier given/,
      'the login grant is in the history',
    );
    const csrf = /name="csrf"\s+value="([^"]+)"/.exec(html)![1]!;
    const res = await agent.fetch(new URL('/me/withdraw', idp.server.url), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: RP_JWT.clientId, csrf }).toString(),
    });
    assert.equal(res.status, 303);
    const person = (await idp.stores.records.findCredentialByFingerprint(card.fingerprint))!.personId;
    const withdrawn = (await idp.stores.records.listAudit(person)).filter((e) => e.type === 'consent.withdrawn');
    assert.deepEqual(
      withdrawn.map((e) => e.data),
      [{ consents: 1, grants: 2 }],
      'the consent’s grant and the login’s',
    );
    assert.deepEqual(await silent(l1.agent), { error: 'consent_required' });
    assert.deepEqual(await silent(l2.agent), { error: 'consent_required' });
  });
});

describe('a grant is saved only with its audit record', () => {
  /** A grant model enough for saveAuditedGrant: records what was saved and destroyed. */
  function grantOf(jti?: string) {
    const log: string[] = [];
    const grant = {
      jti,
      generateTokenId: () => 'new-grant',
      save: async () => {
        log.push(`save:${grant.jti}`);
        return grant.jti!;
      },
      destroy: async () => void log.push(`destroy:${grant.jti}`),
    };
    return { grant: grant as unknown as InstanceType<Provider['Grant']>, log };
  }
  const down = Object.assign(new Error('down'), { code: 'ERR_STORE_UNAVAILABLE' });

  it('names a new grant in the record and resolves its id once both are written', async () => {
    const records = memoryConsentRecords();
    const { grant, log } = grantOf();
    const id = await saveAuditedGrant(records, grant, (grantId) => ({
      type: 'login.grant',
      personId: 'p',
      data: { grantId },
    }));
    assert.equal(id, 'new-grant');
    assert.deepEqual(log, ['save:new-grant']);
    assert.deepEqual(
      (await records.listAudit('p')).map((e) => e.data),
      [{ grantId: 'new-grant' }],
    );
  });

  it('destroys a grant it created when the record fails, and fails with the store’s error', async () => {
    const records = { appendAudit: () => Promise.reject(down) };
    const { grant, log } = grantOf();
    await assert.rejects(
      saveAuditedGrant(records, grant, (grantId) => ({ type: 'login.grant', data: { grantId } })),
      { code: 'ERR_STORE_UNAVAILABLE' },
    );
    assert.deepEqual(log, ['save:new-grant', 'destroy:new-grant']);
  });

  it('keeps a grant that existed before (named by its own record) when the record fails', async () => {
    const records = { appendAudit: () => Promise.reject(down) };
    const { grant, log } = grantOf('old-grant');
    await assert.rejects(
      saveAuditedGrant(records, grant, (grantId) => ({ type: 'consent.granted', data: { grantId } })),
      { code: 'ERR_STORE_UNAVAILABLE' },
    );
    assert.deepEqual(log, ['save:old-grant']);
  });
});
