/**
 * One person across a renewed card: the linking lookup (here the test JPKI's platform-style `/v1/links` API through
 * `platformLinks`) names the previous certificate, so the renewed card logs into the same person and every
 * relying party keeps seeing the same pairwise `sub`. Without a link, a new card is a new person. The same with the
 * ready-made `renewalLinks` (the serial links themselves), also for a card renewed twice between two logins, and a
 * source that cannot answer fails the login (ERR_PKI_LINKS_UNAVAILABLE) rather than split the person.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import { nameToString, parseCertificate, platformLinks, type CertRef, type LinkingSource } from '@mynagate/pki';
import { upgradeCredentialIssuers } from '../src/credential-issuers.ts';
import { writeCardFile } from '@mynagate/card/virtual';
import type { LinkCertificate } from '../src/config.ts';
import {
  completeLogin,
  createOpFixture,
  RP_JWT,
  startLogin,
  type OpFixture,
  type TestCard,
  type TestIdp,
} from './support/op-fixture.ts';

let f: OpFixture;
let idp: TestIdp;
/** serial → certificate fingerprint of every auth certificate the test issued (what a credential store can answer). */
const fingerprints = new Map<string, string>();

before(async () => {
  f = await createOpFixture();
  const links = platformLinks({ baseUrl: f.ocsp.url });
  const linkCertificate: LinkCertificate = async (login) => {
    const found = await links.links(login.issuerFingerprint, login.serialNumber);
    const previous = found?.predecessor === undefined ? undefined : fingerprints.get(found.predecessor.serial);
    return previous === undefined ? [] : [previous];
  };
  idp = await f.start({ linkCertificate });
});
after(() => f.close());

async function subOf(card: TestCard, on: TestIdp = idp): Promise<string> {
  fingerprints.set(card.issued.authSerial, card.fingerprint);
  const login = await startLogin(on, on.jwtRp, RP_JWT.redirectUri);
  const tokens = await client.authorizationCodeGrant(on.jwtRp, await completeLogin(on, login, card), {
    pkceCodeVerifier: login.codeVerifier,
    expectedState: login.state,
  });
  return tokens.claims()!.sub;
}

/** A CA generation other than the test JPKI's: J-LIS's generations share one name, each with its own serials. */
const EARLIER_GENERATION = 'cd'.repeat(32);

/** The test JPKI's links, except that `card`'s certificate names `predecessor` as the one it renewed. */
function linksWithPredecessor(card: TestCard, predecessor: CertRef): LinkingSource {
  const real = platformLinks({ baseUrl: f.ocsp.url });
  const ca = f.jpki.caFingerprint('auth');
  return {
    links: async (issuer, serial) =>
      issuer === ca && serial === card.issued.authSerial
        ? { issuer, serial, kind: 'auth', predecessor }
        : real.links(issuer, serial),
  };
}

describe('renewed certificates', () => {
  it('keeps the person and the pairwise sub when the linking lookup names the previous certificate', async () => {
    const old = await f.newCard('試験　更新');
    const before = await subOf(old);
    const renewed = await f.jpki.renew(old.issued.spec);
    const file = join(f.dir, `renewed-${renewed.authSerial}.json`);
    await writeCardFile(file, renewed.spec, { scryptCost: 1 << 10 });
    const fingerprint = createHash('sha256').update(renewed.spec.authCert).digest('hex');
    const after = await subOf({ file, issued: renewed, fingerprint });
    assert.equal(after, before);
    const oldCredential = await idp.stores.records.findCredentialByFingerprint(old.fingerprint);
    const newCredential = await idp.stores.records.findCredentialByFingerprint(fingerprint);
    assert.equal(newCredential?.personId, oldCredential?.personId);
  });

  /** Renews `card` in the test JPKI and writes the new virtual card file. */
  async function renew(card: TestCard): Promise<TestCard> {
    const renewed = await f.jpki.renew(card.issued.spec);
    const file = join(f.dir, `renewed-${renewed.authSerial}.json`);
    await writeCardFile(file, renewed.spec, { scryptCost: 1 << 10 });
    return { file, issued: renewed, fingerprint: createHash('sha256').update(renewed.spec.authCert).digest('hex') };
  }

  it('keeps the person with renewalLinks, also across two renewals between logins', async () => {
    const linked = await f.start({ renewalLinks: platformLinks({ baseUrl: f.ocsp.url }) });
    try {
      const old = await f.newCard('試験　二回');
      const before = await subOf(old, linked);
      const once = await renew(old);
      assert.equal(await subOf(once, linked), before, 'renewed once');
      const twice = await renew(await renew(once));
      assert.equal(await subOf(twice, linked), before, 'renewed twice more before logging in');
      const person = (await linked.stores.records.findCredentialByFingerprint(old.fingerprint))!.personId;
      assert.equal((await linked.stores.records.listCredentials(person)).length, 3, 'the cards logged in with');
    } finally {
      await linked.close();
    }
  });

  it("never joins a person whose serial another CA generation's predecessor happens to share (J-LIS CAs share one name)", async () => {
    const ca = f.jpki.caFingerprint('auth');
    const holder = await f.newCard('試験　先客');
    const stranger = await f.newCard('試験　別人');
    // The stranger's card renewed one the earlier CA generation issued with the same serial as the holder's card.
    const linked = await f.start({
      renewalLinks: linksWithPredecessor(stranger, { issuer: EARLIER_GENERATION, serial: holder.issued.authSerial }),
    });
    try {
      const holderSub = await subOf(holder, linked);
      assert.notEqual(await subOf(stranger, linked), holderSub);
      const person = async (card: TestCard) =>
        (await linked.stores.records.findCredentialByFingerprint(card.fingerprint))!.personId;
      assert.notEqual(await person(stranger), await person(holder));
      // The credential is kept under its CA's fingerprint, not the name all generations share.
      const credential = await linked.stores.records.findCredentialByFingerprint(holder.fingerprint);
      assert.equal(credential?.issuer, ca);
    } finally {
      await linked.close();
    }
  });

  it("joins a renewal to a credential still under its CA's name once start-up relabelled it (upgradeCredentialIssuers)", async () => {
    const linked = await f.start({ renewalLinks: platformLinks({ baseUrl: f.ocsp.url }) });
    try {
      const card = await f.newCard('試験　旧形式');
      const caDer = f.jpki.caCertificate('auth');
      const cert = parseCertificate(card.issued.spec.authCert);
      // As a login registered it before credentials were named by their CA's fingerprint.
      await linked.stores.records.createPersonWithCredential({
        kind: 'jpki-auth',
        fingerprint: card.fingerprint,
        issuer: nameToString(parseCertificate(caDer).subject),
        serial: cert.serialNumber,
        notAfter: new Date(cert.notAfter),
      });
      const before = await subOf(card, linked);
      assert.deepEqual(await upgradeCredentialIssuers(linked.stores.records, [caDer, caDer]), {
        relabelled: 1,
        ambiguous: [],
      });
      assert.equal(await subOf(await renew(card), linked), before);
    } finally {
      await linked.close();
    }
  });

  it('joins the person of a predecessor an earlier CA generation issued (the link names that CA)', async () => {
    const ca = f.jpki.caFingerprint('auth');
    const renewed = await f.newCard('試験　世代');
    const linked = await f.start({
      renewalLinks: linksWithPredecessor(renewed, { issuer: EARLIER_GENERATION, serial: '1d2c3b4a' }),
    });
    try {
      // The person's card of the earlier generation, as its login registered it.
      const { person } = await linked.stores.records.createPersonWithCredential({
        kind: 'jpki-auth',
        fingerprint: createHash('sha256').update('earlier generation card').digest('hex'),
        issuer: EARLIER_GENERATION,
        serial: '1d2c3b4a',
        notAfter: new Date('2027-03-31T14:59:59Z'),
      });
      await subOf(renewed, linked);
      const credential = await linked.stores.records.findCredentialByFingerprint(renewed.fingerprint);
      assert.equal(credential?.personId, person.id);
      assert.equal(credential?.issuer, ca);
    } finally {
      await linked.close();
    }
  });

  it("fails a renewed card's login when the links source cannot answer (ERR_PKI_LINKS_UNAVAILABLE), splitting no one", async () => {
    const down = await f.start({ renewalLinks: platformLinks({ baseUrl: 'http://127.0.0.1:1', timeoutMs: 500 }) });
    try {
      const card = await f.newCard('試験　不通');
      const login = await startLogin(down, down.jwtRp, RP_JWT.redirectUri);
      await assert.rejects(completeLogin(down, login, card), (e: Error) => {
        assert.match(e.message, /ERR_PKI_LINKS_UNAVAILABLE/);
        return true;
      });
      assert.equal(await down.stores.records.findCredentialByFingerprint(card.fingerprint), undefined);
    } finally {
      await down.close();
    }
  });

  it('makes a new person for an unrelated card', async () => {
    const a = await subOf(await f.newCard('試験　一郎'));
    const b = await subOf(await f.newCard('試験　二郎'));
    assert.notEqual(a, b);
  });
});
