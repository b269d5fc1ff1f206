/**
 * openssl, an independent implementation, accepts what the test JPKI issues: certificate chains, the profile
 * extensions, CRLs, and OCSP answers (with nonce) from the HTTP server.
 */
import { after, before, describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { TestJpki, serveTestJpki } from '@mynagate/pki/testing';
import type { IssuedCard, TestJpkiServer } from '@mynagate/pki/testing';
// The shared system-component rule: skip with a reason, or fail under MYNAGATE_REQUIRE_SYSTEM=1.
import { requireSystem } from '../../card/test/support/system.ts';
import { tempDir } from './support/testing-jpki.ts';

const run = promisify(execFile);

/** Runs openssl asynchronously (the server answering it lives in this process). Never throws; returns the exit code. */
async function openssl(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const p = run('openssl', args, { encoding: 'utf8' });
    if (input !== undefined) p.child.stdin?.end(input);
    const { stdout, stderr } = await p;
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

function pem(der: Uint8Array): string {
  return `-----BEGIN CERTIFICATE-----\n${Buffer.from(der)
    .toString('base64')
    .replace(/.{1,64}/g, '$&\n')}-----END CERTIFICATE-----\n`;
}

let dir: string;
let remove: () => Promise<void>;
let jpki: TestJpki;
let live: IssuedCard;
let revoked: IssuedCard;

before(async () => {
  const t = await tempDir('jpki-openssl');
  dir = t.dir;
  remove = t.remove;
  // openssl checks validity against the real clock, so these fixtures are made at the real current time.
  const now = new Date();
  jpki = await TestJpki.init(dir, { now: new Date(now.getTime() - 3600_000) });
  const holder = {
    name: '試験　一郎',
    address: '東京都千代田区千代田1-1',
    birthDate: '1985-04-01',
    sex: '1',
    pin: '1234',
    password: 'PASS123',
    now,
  } as const;
  [live, revoked] = await Promise.all([jpki.issueCard(holder), jpki.issueCard(holder)]);
  await jpki.revoke(revoked.authSerial, 'keyCompromise', new Date(now.getTime() - 60_000));
  await jpki.revoke(revoked.signSerial, 'affiliationChanged', new Date(now.getTime() - 60_000));
  for (const [name, der] of [
    ['live-auth.pem', live.spec.authCert],
    ['live-sign.pem', live.spec.signCert],
  ] as const) {
    await writeFile(join(dir, name), pem(der));
  }
});
after(() => remove());

async function ready(t: TestContext): Promise<boolean> {
  return requireSystem(t, ['openssl']);
}

describe('openssl verify', () => {
  test('accepts an issued auth certificate against auth-ca.pem', async (t) => {
    if (!(await ready(t))) return;
    const r = await openssl([
      'verify',
      '-CAfile',
      join(dir, 'auth-ca.pem'),
      '-purpose',
      'any',
      join(dir, 'live-auth.pem'),
    ]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /live-auth\.pem: OK/);
  });

  test('accepts an issued sign certificate against sign-ca.pem', async (t) => {
    if (!(await ready(t))) return;
    const r = await openssl([
      'verify',
      '-CAfile',
      join(dir, 'sign-ca.pem'),
      '-purpose',
      'any',
      join(dir, 'live-sign.pem'),
    ]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
  });

  test('rejects an auth certificate against the sign CA (the two CAs are distinct anchors)', async (t) => {
    if (!(await ready(t))) return;
    const r = await openssl([
      'verify',
      '-CAfile',
      join(dir, 'sign-ca.pem'),
      '-purpose',
      'any',
      join(dir, 'live-auth.pem'),
    ]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr + r.stdout, /unable to get local issuer certificate/);
  });
});

describe('openssl x509 -text', () => {
  test('auth certificate: critical KU Digital Signature, critical policy 1.2.392.200149.8.5.1.3.30, clientAuth, OCSP URI', async (t) => {
    if (!(await ready(t))) return;
    const r = await openssl(['x509', '-in', join(dir, 'live-auth.pem'), '-noout', '-text']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /X509v3 Key Usage: critical\s+Digital Signature\n/);
    assert.match(r.stdout, /X509v3 Certificate Policies: critical\s+Policy: 1\.2\.392\.200149\.8\.5\.1\.3\.30/);
    assert.match(r.stdout, /TLS Web Client Authentication/);
    assert.match(r.stdout, new RegExp(`OCSP - URI:http://127\\.0\\.0\\.1:8790/ocsp/auth`));
  });

  test('sign certificate: critical KU with Non Repudiation, critical policy .1.1.20, basic-4 otherNames', async (t) => {
    if (!(await ready(t))) return;
    const r = await openssl(['x509', '-in', join(dir, 'live-sign.pem'), '-noout', '-text', '-nameopt', 'utf8']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /X509v3 Key Usage: critical\s+Digital Signature, Non Repudiation/);
    assert.match(r.stdout, /X509v3 Certificate Policies: critical\s+Policy: 1\.2\.392\.200149\.8\.5\.1\.1\.20/);
    assert.match(r.stdout, /othername: 1\.2\.392\.200149\.8\.5\.5\.1::試験　一郎/);
    assert.match(r.stdout, /othername: 1\.2\.392\.200149\.8\.5\.5\.4::319850401/);
    assert.match(r.stdout, /othername: 1\.2\.392\.200149\.8\.5\.5\.3::1/);
    assert.match(r.stdout, /othername: 1\.2\.392\.200149\.8\.5\.5\.5::東京都千代田区千代田1-1/);
  });
});

describe('openssl crl', () => {
  test('reads the auth CRL (DER) and lists the revoked serial with its reason; signature verifies', async (t) => {
    if (!(await ready(t))) return;
    const path = join(dir, 'auth.crl');
    await writeFile(path, await jpki.crl('auth'));
    const r = await openssl([
      'crl',
      '-inform',
      'DER',
      '-in',
      path,
      '-noout',
      '-text',
      '-CAfile',
      join(dir, 'auth-ca.pem'),
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr + r.stdout, /verify OK/);
    assert.match(r.stdout, /Version 2/);
    assert.match(r.stdout, /X509v3 CRL Number/);
    assert.match(
      r.stdout,
      new RegExp(
        `Serial Number: ${revoked.authSerial.toUpperCase()}\\s+Revocation Date: .*\\s+CRL entry extensions:\\s+X509v3 CRL Reason Code:\\s+Key Compromise`,
      ),
    );
    assert.doesNotMatch(r.stdout, new RegExp(live.authSerial, 'i'));
  });

  test('the sign CRL carries the affiliationChanged reason', async (t) => {
    if (!(await ready(t))) return;
    const path = join(dir, 'sign.crl');
    await writeFile(path, await jpki.crl('sign'));
    const r = await openssl(['crl', '-inform', 'DER', '-in', path, '-noout', '-text']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      new RegExp(`Serial Number: ${revoked.signSerial.toUpperCase()}[\\s\\S]*Affiliation Changed`),
    );
  });
});

describe('openssl and the CRL partitions (one per municipality, spec §8.2)', () => {
  let tsukuba: IssuedCard;
  const crlPem = (der: Uint8Array) =>
    `-----BEGIN X509 CRL-----\n${Buffer.from(der)
      .toString('base64')
      .replace(/.{1,64}/g, '$&\n')}-----END X509 CRL-----\n`;
  before(async () => {
    const now = Date.now();
    tsukuba = await jpki.issueCard({
      name: '試験　三郎',
      address: '茨城県つくば市研究学園1-1-1',
      birthDate: '1980-06-01',
      sex: '1',
      pin: '1234',
      password: 'PASS123',
      now: new Date(now - 60_000),
    });
    await jpki.revoke(tsukuba.signSerial, 'affiliationChanged', new Date(now - 30_000));
    await writeFile(join(dir, 'tsukuba-sign.pem'), pem(tsukuba.spec.signCert));
    for (const [file, partition] of [
      ['crl-tsukuba.pem', { prefecture: 'Ibaraki-ken', city: 'Tsukuba-shi' }],
      ['crl-chiyoda.pem', { prefecture: 'Tokyo-to', city: 'Chiyoda-ku' }],
    ] as const) {
      await writeFile(join(dir, file), crlPem(await jpki.crl('sign', { partition })));
    }
  });
  const crlCheck = (crl: string, cert: string) =>
    openssl([
      'verify',
      '-crl_check',
      '-purpose',
      'any',
      '-CAfile',
      join(dir, 'sign-ca.pem'),
      '-CRLfile',
      join(dir, crl),
      join(dir, cert),
    ]);

  test("the holder's own partition: openssl finds the moved holder's signing certificate revoked", async (t) => {
    if (!(await ready(t))) return;
    const r = await crlCheck('crl-tsukuba.pem', 'tsukuba-sign.pem');
    assert.notEqual(r.code, 0);
    assert.match(r.stdout + r.stderr, /error 23 .*certificate revoked/);
  });

  test("another municipality's partition does not cover it: openssl refuses it as a different CRL scope", async (t) => {
    if (!(await ready(t))) return;
    const r = await crlCheck('crl-chiyoda.pem', 'tsukuba-sign.pem');
    assert.notEqual(r.code, 0);
    assert.match(r.stdout + r.stderr, /error 44 .*different CRL scope/);
  });

  test('a good certificate checked against its own partition: OK', async (t) => {
    if (!(await ready(t))) return;
    const r = await crlCheck('crl-chiyoda.pem', 'live-sign.pem');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /live-sign\.pem: OK/);
  });
});

describe('openssl ocsp against the test JPKI server', () => {
  let server: TestJpkiServer;
  let delegated: TestJpkiServer;
  before(async () => {
    server = await serveTestJpki(jpki, { port: 0 });
    delegated = await serveTestJpki(jpki, { port: 0, responder: 'delegated' });
  });
  after(async () => {
    await server?.close();
    await delegated?.close();
  });

  async function query(url: string, kind: 'auth' | 'sign', serial: string) {
    const ca = join(dir, `${kind}-ca.pem`);
    return openssl([
      'ocsp',
      '-issuer',
      ca,
      '-serial',
      `0x${serial}`,
      '-url',
      `${url}/ocsp/${kind}`,
      '-CAfile',
      ca,
      '-resp_text',
    ]);
  }

  function assertVerified(r: { code: number; stdout: string; stderr: string }): void {
    assert.equal(r.code, 0, r.stderr + r.stdout);
    // openssl sends a nonce by default and checks it; a missing or different one prints a warning/error.
    assert.match(r.stderr, /Response verify OK/);
    assert.doesNotMatch(r.stderr, /no nonce|nonce verify error/i);
    assert.match(r.stdout, /Response Extensions:\s+OCSP Nonce:/);
  }

  test('reports good for a live auth certificate (CA-signed response, nonce echoed)', async (t) => {
    if (!(await ready(t))) return;
    const r = await query(server.url, 'auth', live.authSerial);
    assertVerified(r);
    assert.match(r.stdout, new RegExp(`0x${live.authSerial}: good`));
  });

  test('reports revoked with time and keyCompromise for a revoked auth certificate', async (t) => {
    if (!(await ready(t))) return;
    const r = await query(server.url, 'auth', revoked.authSerial);
    assertVerified(r);
    assert.match(
      r.stdout,
      new RegExp(`0x${revoked.authSerial}: revoked\\n(?:\\t.*\\n)*?\\tReason: keyCompromise\\n\\tRevocation Time:`),
    );
  });

  test('reports good and revoked for sign certificates through a delegated responder (OCSPSigning, nocheck)', async (t) => {
    if (!(await ready(t))) return;
    const good = await query(delegated.url, 'sign', live.signSerial);
    assertVerified(good);
    assert.match(good.stdout, /OCSP Responder \(TEST\)/);
    assert.match(good.stdout, /OCSP Signing/);
    assert.match(good.stdout, /OCSP No Check/);
    assert.match(good.stdout, new RegExp(`0x${live.signSerial}: good`));
    const bad = await query(delegated.url, 'sign', revoked.signSerial);
    assertVerified(bad);
    assert.match(
      bad.stdout,
      new RegExp(`0x${revoked.signSerial}: revoked\\n(?:\\t.*\\n)*?\\tReason: affiliationChanged`),
    );
  });

  test('reports unknown for a sign serial asked of the auth responder', async (t) => {
    if (!(await ready(t))) return;
    const r = await query(server.url, 'auth', live.signSerial);
    assertVerified(r);
    assert.match(r.stdout, new RegExp(`0x${live.signSerial}: unknown`));
  });
});
