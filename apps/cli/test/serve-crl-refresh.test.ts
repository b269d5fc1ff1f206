/**
 * `mynagate serve --config` with `revocation.crl`: the CRL file is replaced while the provider runs (as a job
 * fetching CRLs does) and the next login of a card revoked in the new CRL is refused, without a restart; a corrupt
 * replacement is said on stderr and the CRL in use stays. A CRL that cannot be loaded at start still stops the start
 * with one `ERR_CLI_CONFIG` line naming the field and file.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import { Agent, tlsFetch } from '../../../packages/idp/test/support/op-agent.ts';
import {
  cardToken,
  createOpFixture,
  postToken,
  scan,
  startLogin,
  type CompanionViewJson,
  type OpFixture,
  type TestCard,
  type TestIdp,
} from '../../../packages/idp/test/support/op-fixture.ts';
import { loadConfig } from '../src/commands/serve-config.ts';
import { freePort, runCli, startCli, type CliProcess } from './serve-support.ts';

const CLIENT = { id: 'bank', secret: 'a-client-secret-of-32-characters!', redirect: 'https://bank.example/cb' };

let f: OpFixture;
let dir: string;
let env: Record<string, string>;

before(async () => {
  f = await createOpFixture();
  dir = await mkdtemp(join(tmpdir(), 'mynagate-serve-crl-'));
  await mkdir(join(dir, 'tls'));
  await writeFile(join(dir, 'tls', 'key.pem'), f.tls.key);
  await writeFile(join(dir, 'tls', 'cert.pem'), f.tls.cert);
  await writeFile(
    join(dir, 'clients.json'),
    JSON.stringify([
      {
        client_id: CLIENT.id,
        client_secret: CLIENT.secret,
        redirect_uris: [CLIENT.redirect],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ]),
  );
  const ca = join(dir, 'tls-ca.pem');
  await writeFile(ca, f.tls.cert);
  env = { NODE_EXTRA_CA_CERTS: ca };
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
  await f.close();
});

/** A configuration whose only revocation source is `crl`, looked at every second. */
async function configFile(name: string, port: number, crl: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(
    file,
    JSON.stringify({
      issuer: `https://127.0.0.1:${port}`,
      listen: { host: '127.0.0.1', port },
      tls: { key: 'tls/key.pem', cert: 'tls/cert.pem' },
      clients: 'clients.json',
      keys: 'secrets/oidc-keys.json',
      secrets: 'secrets/secrets.json',
      trust: f.jpki.dir,
      revocation: { crl: [crl], crlCheckSeconds: 1 },
      store: { kind: 'sqlite', path: `${name}.db` },
    }),
  );
  return file;
}

/** A card's login up to the companion posting its token: the provider's answer (200, or 403 with the code). */
async function cardLogin(issuer: string, card: TestCard): Promise<{ status: number; error: unknown }> {
  const fetch = tlsFetch(f.tls.cert);
  const rp = await client.discovery(new URL(issuer), CLIENT.id, {}, client.ClientSecretBasic(CLIENT.secret), {
    [client.customFetch]: fetch as client.CustomFetch,
  });
  const idp = { server: { url: issuer, issuer }, fetch, agent: () => new Agent(f.tls.cert) } as unknown as TestIdp;
  const login = await startLogin(idp, rp, CLIENT.redirect);
  try {
    const scanned = await scan(idp, login.link);
    assert.equal(scanned.status, 200, JSON.stringify(scanned.body));
    const view = scanned.body as unknown as CompanionViewJson;
    const posted = await postToken(idp, view.txn, await cardToken(card, view.origin, view.challenge));
    return { status: posted.status, error: posted.body['error'] };
  } finally {
    await login.events.close();
  }
}

/** Replaces `file` as a fetching job should: written beside it, then renamed over it. */
async function replace(file: string, der: Uint8Array): Promise<void> {
  await writeFile(`${file}.tmp`, der);
  await rename(`${file}.tmp`, file);
}

/** Waits for `pattern` on the process's stderr. */
async function stderrLine(cli: CliProcess, pattern: RegExp, ms = 10_000): Promise<RegExpExecArray> {
  const end = Date.now() + ms;
  for (;;) {
    const m = pattern.exec(cli.stderr());
    if (m) return m;
    if (Date.now() > end) assert.fail(`no ${pattern} on stderr: ${cli.stderr()}`);
    await sleep(50);
  }
}

describe('mynagate serve --config with revocation.crl', () => {
  it('uses a CRL file replaced while it runs: a card revoked in the new CRL is refused, without a restart', async () => {
    const card = await f.newCard();
    const crlFile = join(dir, 'auth.crl');
    await writeFile(crlFile, await f.jpki.crl('auth'));
    const port = await freePort();
    const cli = startCli(['serve', '--config', await configFile('crl.json', port, 'auth.crl'), '--init'], { env });
    try {
      const [, issuer] = await cli.waitFor(/^MynaGate: (\S+) /m);
      assert.deepEqual(await cardLogin(issuer!, card), { status: 200, error: undefined });

      await f.jpki.revoke(card.issued.authSerial, 'keyCompromise');
      const next = await f.jpki.crl('auth');
      await replace(crlFile, next);
      await stderrLine(cli, /^crl: \S+auth\.crl: now in use \(cRLNumber \d+, nextUpdate \S+\)$/m);
      assert.deepEqual(await cardLogin(issuer!, card), { status: 403, error: 'ERR_PKI_CERT_REVOKED' });

      // A torn copy is refused and said; the CRL in use (which revokes the card) stays.
      await replace(crlFile, next.subarray(0, 40));
      await stderrLine(cli, /^crl: \S+auth\.crl: not used: ERR_PKI_CRL_MALFORMED: /m);
      assert.deepEqual(await cardLogin(issuer!, card), { status: 403, error: 'ERR_PKI_CERT_REVOKED' });
      assert.equal((await cardLogin(issuer!, await f.newCard())).status, 200, 'other cards still log in');
    } finally {
      cli.child.kill('SIGINT');
    }
    assert.equal(await cli.exited, 0, cli.stderr());
  });

  it('refuses an empty CRL list and a check interval that is not a whole number of seconds >= 1', async () => {
    const file = await configFile('empty.json', await freePort(), 'auth.crl');
    const config = JSON.parse(await readFile(file, 'utf8')) as { revocation: Record<string, unknown> };
    for (const [revocation, message] of [
      [{ crl: [] }, 'revocation.crl must be a list of CRL files'],
      [{ crl: ['auth.crl'], crlCheckSeconds: 0 }, 'revocation.crlCheckSeconds must be a whole number of seconds >= 1'],
      [
        { crl: ['auth.crl'], crlCheckSeconds: 0.5 },
        'revocation.crlCheckSeconds must be a whole number of seconds >= 1',
      ],
    ] as const) {
      await writeFile(file, JSON.stringify({ ...config, revocation }));
      await assert.rejects(loadConfig(file, { init: true }), { code: 'ERR_CLI_CONFIG', message });
    }
  });

  it('stops the start on a CRL file that cannot be loaded, with one ERR_CLI_CONFIG line naming it', async () => {
    const bad = join(dir, 'bad.crl');
    await writeFile(bad, Uint8Array.of(0x30, 0x80, 0x00, 0x00));
    const r = await runCli(['serve', '--config', await configFile('bad.json', await freePort(), 'bad.crl'), '--init'], {
      env,
    });
    assert.equal(r.code, 1);
    const lines = r.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('oidc-provider'));
    assert.deepEqual(lines, [`ERR_CLI_CONFIG: revocation.crl[0] (${bad}): malformed CRL: indefinite length at byte 1`]);
  });
});
