/**
 * `mynagate serve --config FILE` as an operator runs it: a real process from one JSON file (TLS, trust anchors from
 * a folder, the platform provider for revocation, renewal links and the eKYC card binding, SQLite), with `--init`
 * creating the key and secret files once (mode 0600) and later runs reusing them. A relying party discovers it and
 * a card logs in through the companion API; SIGINT stops it. The start says which eKYC it offers: paired by the
 * platform, off without one (an eKYC request is then refused with ERR_IDP_EKYC_UNPAIRED), or unchecked when the file
 * opts out explicitly. Bad configurations stop before anything starts, with
 * one line `ERR_CLI_CONFIG: …` naming the field or file (exit 1); `--config` with `--dev` is ERR_CLI_USAGE (exit 2).
 * An http issuer on 127.0.0.1 (a provider tried on this computer) logs a card in over plain http; one off the loopback
 * host, and every client the provider would refuse at its first request, stop the start instead.
 * `audit anchor` signs the audit head and `audit verify --anchor` finds a chain cut after it (which the chain alone,
 * consistent in itself, cannot show). The same file with a PostgreSQL + Redis store serves too (skipped with the reason when they are unreachable,
 * unless MYNAGATE_REQUIRE_SYSTEM=1).
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import { ekycMode, generateSigningKey, signAuditAnchor } from '@mynagate/idp';
import { Agent, tlsFetch } from '../../../packages/idp/test/support/op-agent.ts';
import {
  completeLogin,
  createOpFixture,
  dropPostgresRedis,
  PG_URL,
  postgresRedisSkip,
  REDIS_URL,
  startLogin,
  type OpFixture,
  type TestIdp,
} from '../../../packages/idp/test/support/op-fixture.ts';
import { ekycLine, loadConfig } from '../src/commands/serve-config.ts';
import { freePort, runCli, startCli } from './serve-support.ts';

const skipPg = await postgresRedisSkip();

const CLIENT = { id: 'bank', secret: 'a-client-secret-of-32-characters!', redirect: 'https://bank.example/cb' };
/** CLIENT's registration, with `change` over it. */
const registration = (change: Record<string, unknown> = {}) => ({
  client_id: CLIENT.id,
  client_secret: CLIENT.secret,
  redirect_uris: [CLIENT.redirect],
  token_endpoint_auth_method: 'client_secret_basic',
  ...change,
});

let f: OpFixture;
let dir: string;
let env: Record<string, string>;

/** Writes `config` (over a valid base) as `name` in the test folder and returns its path. */
async function configFile(name: string, config: Record<string, unknown>): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, JSON.stringify(config));
  return file;
}

function validConfig(port: number): Record<string, unknown> {
  return {
    issuer: `https://127.0.0.1:${port}`,
    listen: { host: '127.0.0.1', port },
    name: 'Operator ID',
    tls: { key: 'tls/key.pem', cert: 'tls/cert.pem' },
    clients: 'clients.json',
    keys: 'secrets/oidc-keys.json',
    secrets: 'secrets/secrets.json',
    trust: f.jpki.dir,
    platform: { url: f.ocsp.url },
    store: { kind: 'sqlite', path: 'mynagate.db' },
  };
}

/**
 * A relying party discovers the provider at `issuer` and a new card logs in through the companion API: over TLS, or
 * over plain http for an http issuer.
 */
async function cardLogin(issuer: string): Promise<void> {
  const https = new URL(issuer).protocol === 'https:';
  const fetch = https ? tlsFetch(f.tls.cert) : globalThis.fetch;
  const rp = await client.discovery(new URL(issuer), CLIENT.id, {}, client.ClientSecretBasic(CLIENT.secret), {
    [client.customFetch]: fetch as client.CustomFetch,
    ...(https ? {} : { execute: [client.allowInsecureRequests] }),
  });
  assert.equal(rp.serverMetadata().issuer, issuer);
  // The helpers of the provider's own tests drive a browser and a companion against any provider.
  const agent = () => (https ? new Agent(f.tls.cert) : new Agent());
  const idp = { server: { url: issuer, issuer }, fetch, agent } as unknown as TestIdp;
  const login = await startLogin(idp, rp, CLIENT.redirect);
  const callback = await completeLogin(idp, login, await f.newCard());
  const tokens = await client.authorizationCodeGrant(rp, callback, {
    pkceCodeVerifier: login.codeVerifier,
    expectedState: login.state,
  });
  assert.match(tokens.claims()!.sub, /^[A-Za-z0-9_-]{43}$/, 'a pairwise sub');
  assert.equal(tokens.claims()!.acr, 'urn:mynagate:acr:card-auth');
}

/** The stderr lines that are not the runtime notice node-oidc-provider prints on a non-LTS Node. */
const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l !== '' && !l.startsWith('oidc-provider'));

before(async () => {
  f = await createOpFixture();
  dir = await mkdtemp(join(tmpdir(), 'mynagate-serve-config-'));
  await mkdir(join(dir, 'tls'));
  await writeFile(join(dir, 'tls', 'key.pem'), f.tls.key);
  await writeFile(join(dir, 'tls', 'cert.pem'), f.tls.cert);
  await writeFile(join(dir, 'clients.json'), JSON.stringify([registration()]));
  const ca = join(dir, 'tls-ca.pem');
  await writeFile(ca, f.tls.cert);
  env = { NODE_EXTRA_CA_CERTS: ca };
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
  await f.close();
});

describe('mynagate serve --config', () => {
  it('creates its secrets with --init, serves discovery over TLS and logs a card in; SIGINT stops it', async () => {
    const port = await freePort();
    const file = await configFile('mynagate.json', validConfig(port));
    const cli = startCli(['serve', '--config', file, '--init'], { env });
    try {
      const [, issuer] = await cli.waitFor(/^MynaGate: (\S+) /m);
      assert.equal(issuer, `https://127.0.0.1:${port}`);
      // With a platform, eKYC is bound to the login card, and the start says so.
      assert.match(
        cli.stdout(),
        /^eKYC: paired by the platform \(a signature counts only on a card the person logged in with\)$/m,
      );
      for (const secret of ['oidc-keys.json', 'secrets.json']) {
        assert.equal((await stat(join(dir, 'secrets', secret))).mode & 0o777, 0o600, secret);
      }
      assert.doesNotMatch(cli.stdout() + cli.stderr(), /pairwiseSecret|"d":/, 'no secret is printed');
      // The clients' check builds a provider of its own, which must not warn of node-oidc-provider's memory adapter.
      assert.doesNotMatch(cli.stderr(), /in-memory adapter/);

      await cardLogin(issuer!);
    } finally {
      cli.child.kill('SIGINT');
    }
    assert.equal(await cli.exited, 0, cli.stderr());
    assert.match(cli.stderr(), /SIGINT: stopping…\nstopped/);
  });

  it('serves from PostgreSQL and Redis named in the same file', { skip: skipPg }, async () => {
    const port = await freePort();
    const schema = `mg_test_${randomBytes(6).toString('hex')}`;
    // Unnamed statements here (as behind a transaction-mode pooler); the store tests run the prepared ones.
    const store = {
      kind: 'postgres',
      url: PG_URL,
      redisUrl: REDIS_URL,
      schema,
      redisPrefix: `${schema}:`,
      preparedStatements: false,
    };
    const cli = startCli(['serve', '--config', await configFile('pg.json', { ...validConfig(port), store })], { env });
    try {
      const [, issuer] = await cli.waitFor(/^MynaGate: (\S+) /m);
      await cardLogin(issuer!);
    } finally {
      cli.child.kill('SIGINT');
      await cli.exited;
      await dropPostgresRedis(schema, `${schema}:`);
    }
    assert.match(cli.stderr(), /stopped/);
  });

  it(
    'runs two processes on one port (listen.reusePort) over PostgreSQL and Redis: logins succeed across them, and on one when the other stops',
    { skip: skipPg },
    async () => {
      const port = await freePort();
      const schema = `mg_test_${randomBytes(6).toString('hex')}`;
      const store = { kind: 'postgres', url: PG_URL, redisUrl: REDIS_URL, schema, redisPrefix: `${schema}:` };
      const file = await configFile('reuse.json', {
        ...validConfig(port),
        listen: { host: '127.0.0.1', port, reusePort: true },
        store,
      });
      const a = startCli(['serve', '--config', file], { env });
      const b = startCli(['serve', '--config', file], { env });
      try {
        // Without reusePort the second process could not listen (EADDRINUSE).
        const [[, issuer]] = await Promise.all([a.waitFor(/^MynaGate: (\S+) /m), b.waitFor(/^MynaGate: (\S+) /m)]);
        // The kernel spreads the connections of these logins (their browsers, companions and relying party) over
        // both processes.
        for (let i = 0; i < 3; i++) await cardLogin(issuer!);
        a.child.kill('SIGINT');
        assert.equal(await a.exited, 0, a.stderr());
        await cardLogin(issuer!);
      } finally {
        a.child.kill('SIGINT');
        b.child.kill('SIGINT');
        await Promise.all([a.exited, b.exited]);
        await dropPostgresRedis(schema, `${schema}:`);
      }
      assert.match(b.stderr(), /stopped/);
    },
  );

  it('anchors the audit head while it runs (audit.anchorDir) and once more on stop; audit verify accepts each anchor', async () => {
    const anchors = join(dir, 'anchors');
    const file = await configFile('anchoring.json', {
      ...validConfig(await freePort()),
      audit: { anchorDir: 'anchors', anchorEverySeconds: 1 },
    });
    const cli = startCli(['serve', '--config', file], { env });
    let written: string[];
    try {
      const [, issuer] = await cli.waitFor(/^MynaGate: (\S+) /m);
      await cardLogin(issuer!);
      // A round within a second or so of the login's audit rows.
      const deadline = Date.now() + 10_000;
      while (!/audit anchor: row \d+ in /.test(cli.stderr()) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      assert.match(cli.stderr(), /audit anchor: row \d+ in /);
      // Rows written after the last round (this login) are anchored on stop.
      await cardLogin(issuer!);
    } finally {
      cli.child.kill('SIGINT');
    }
    assert.equal(await cli.exited, 0, cli.stderr());
    written = [...cli.stderr().matchAll(/audit anchor: row (\d+) in (\S+)/g)].map((m) => m[2]!);
    const rows = [...cli.stderr().matchAll(/audit anchor: row (\d+) in /g)].map((m) => Number(m[1]));
    assert.ok(written.length >= 2, cli.stderr());
    assert.deepEqual(
      rows,
      [...rows].sort((a, b) => a - b),
      'each anchor names a later row',
    );
    assert.deepEqual((await readdir(anchors)).sort(), written.map((f) => basename(f)).sort());
    const head = await runCli(['audit', 'anchor', '--config', file]);
    const headSeq = (
      JSON.parse(Buffer.from(head.stdout.trim().split('.')[1]!, 'base64url').toString()) as { seq: number }
    ).seq;
    assert.equal(rows.at(-1), headSeq, 'the stop anchored the last row');
    const checked = await runCli(['audit', 'verify', '--config', file, ...written.flatMap((f) => ['--anchor', f])]);
    assert.equal(checked.code, 0, checked.stderr);
    assert.equal((JSON.parse(checked.stdout) as { anchors: unknown[] }).anchors.length, written.length);
  });

  it('serves an http issuer on 127.0.0.1 (a provider tried on this computer) and logs a card in over http', async () => {
    // The card signs the provider's http origin, which its verifier accepts only for a loopback issuer: before,
    // this started and then refused every login (ERR_PKI_TOKEN_ORIGIN).
    const port = await freePort();
    const http = { ...validConfig(port), issuer: `http://127.0.0.1:${port}`, tls: undefined };
    const cli = startCli(['serve', '--config', await configFile('http.json', http), '--init'], { env });
    try {
      const [, issuer] = await cli.waitFor(/^MynaGate: (\S+) /m);
      assert.equal(issuer, `http://127.0.0.1:${port}`);
      await cardLogin(issuer!);
    } finally {
      cli.child.kill('SIGINT');
    }
    assert.equal(await cli.exited, 0, cli.stderr());
  });

  it('reuses the key files it created: a second start without --init keeps the signing key', async () => {
    const keys = await readFile(join(dir, 'secrets', 'oidc-keys.json'), 'utf8');
    // Any free port (nothing here needs the issuer's): no race for a port picked in advance.
    const again = { ...validConfig(await freePort()), listen: { host: '127.0.0.1', port: 0 } };
    const cli = startCli(['serve', '--config', await configFile('again.json', again)], { env });
    try {
      await cli.waitFor(/^MynaGate: /m);
      assert.equal(await readFile(join(dir, 'secrets', 'oidc-keys.json'), 'utf8'), keys);
    } finally {
      cli.child.kill('SIGINT');
    }
    assert.equal(await cli.exited, 0, cli.stderr());
  });

  it('says at start, on stderr, which clients get card login only (native apps), one line each', async () => {
    const native = { client_secret: CLIENT.secret, token_endpoint_auth_method: 'client_secret_basic' };
    const clients = [
      registration(),
      { ...native, client_id: 'bank-app', application_type: 'native', redirect_uris: ['jp.example.bank:/cb'] },
      { ...native, client_id: 'desk-app', application_type: 'native', redirect_uris: ['http://127.0.0.1/cb'] },
    ];
    const config = { ...validConfig(await freePort()), listen: { host: '127.0.0.1', port: 0 }, clients };
    const cli = startCli(['serve', '--config', await configFile('native.json', config), '--init'], { env });
    try {
      await cli.waitFor(/^MynaGate: /m);
      assert.deepEqual(
        errorLines(cli.stderr()).filter((l) => l.startsWith('client ')),
        [
          'client bank-app: card login only (native app redirect jp.example.bank:/cb; eKYC is not offered)',
          'client desk-app: card login only (native app redirect http://127.0.0.1/cb; eKYC is not offered)',
        ],
      );
      assert.doesNotMatch(cli.stdout(), /card login only/);
    } finally {
      cli.child.kill('SIGINT');
    }
    assert.equal(await cli.exited, 0, cli.stderr());
  });

  it('offers no eKYC without a platform (no pairing source): the start says so, and an eKYC request is refused', async () => {
    // OCSP for revocation, nothing to pair a signing card with its login card.
    const config = {
      ...validConfig(await freePort()),
      platform: undefined,
      revocation: { ocsp: `${f.ocsp.url}/ocsp/auth` },
      store: { kind: 'sqlite', path: 'no-platform.db' },
    };
    const cli = startCli(['serve', '--config', await configFile('no-platform.json', config), '--init'], { env });
    try {
      const [, issuer] = await cli.waitFor(/^MynaGate: (\S+) /m);
      assert.match(
        cli.stdout(),
        /^eKYC: off \(no pairing source: add "platform", whose links pair the signing card with the login card\); requests for it are refused with ERR_IDP_EKYC_UNPAIRED$/m,
      );
      const fetch = tlsFetch(f.tls.cert);
      const rp = await client.discovery(new URL(issuer!), CLIENT.id, {}, client.ClientSecretBasic(CLIENT.secret), {
        [client.customFetch]: fetch as client.CustomFetch,
      });
      const url = client.buildAuthorizationUrl(rp, {
        redirect_uri: CLIENT.redirect,
        scope: 'openid',
        acr_values: 'urn:mynagate:acr:card-sign',
        code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
        code_challenge_method: 'S256',
        state: client.randomState(),
      });
      const res = await new Agent(f.tls.cert).fetch(url);
      await res.body?.cancel();
      const back = new URL(res.headers.get('location')!);
      assert.equal(back.origin + back.pathname, CLIENT.redirect);
      assert.equal(back.searchParams.get('error'), 'invalid_request');
      assert.match(back.searchParams.get('error_description')!, /^ERR_IDP_EKYC_UNPAIRED: /);
    } finally {
      cli.child.kill('SIGINT');
    }
    assert.equal(await cli.exited, 0, cli.stderr());
  });

  it('runs eKYC unchecked only when the file says so ("ekyc": { "signingCardPair": "unchecked" }), and says it loudly', async () => {
    const file = await configFile('unchecked.json', {
      ...validConfig(await freePort()),
      platform: undefined,
      revocation: { ocsp: `${f.ocsp.url}/ocsp/auth` },
      ekyc: { signingCardPair: 'unchecked' },
      store: { kind: 'sqlite', path: 'unchecked.db' },
    });
    const loaded = await loadConfig(file, { init: true });
    await loaded.close();
    assert.equal(loaded.server.ekyc?.signingCardPair, 'unchecked');
    assert.equal(ekycMode(loaded.server.ekyc), 'unchecked');
    assert.match(
      ekycLine('unchecked'),
      /^eKYC: UNCHECKED .*any valid signing certificate is attached to whoever logged in/,
    );
  });

  it('takes trustProxy as the list of the proxies in front, which stands for tls beside an https issuer', async () => {
    const trustProxy = ['10.0.0.0/8', '2001:db8:1::/48'];
    const file = await configFile('proxies.json', {
      ...validConfig(await freePort()),
      tls: undefined,
      trustProxy,
      store: { kind: 'sqlite', path: 'proxies.db' },
    });
    const loaded = await loadConfig(file, { init: true });
    await loaded.close();
    assert.deepEqual(loaded.server.trustProxy, trustProxy);
    assert.equal(loaded.server.tls, undefined);
  });

  it('hands the connection limits of the file to the server', async () => {
    const limits = { headersTimeoutMs: 5000, idleTimeoutMs: 20_000, maxConnections: 2000 };
    const file = await configFile('limits.json', {
      ...validConfig(await freePort()),
      store: { kind: 'sqlite', path: 'limits.db' },
      limits,
    });
    const loaded = await loadConfig(file, { init: true });
    await loaded.stores.close();
    assert.deepEqual(loaded.server.limits, limits);
  });

  const bad: [string, (c: Record<string, unknown>) => Record<string, unknown>, RegExp][] = [
    ['missing key files without --init', (c) => ({ ...c, keys: 'nowhere/keys.json' }), /^keys: cannot read .*--init/],
    ['no revocation source', (c) => ({ ...c, platform: undefined }), /^revocation names no source/],
    ['an unknown store kind', (c) => ({ ...c, store: { kind: 'mysql' } }), /^store\.kind must be sqlite or postgres/],
    ['a trust folder without anchors', (c) => ({ ...c, trust: 'tls' }), /^trust: /],
    ['a platform URL that is not a URL', (c) => ({ ...c, platform: { url: 'platform' } }), /^platform\.url must/],
    ['no clients', (c) => ({ ...c, clients: [] }), /^clients must be a non-empty list/],
    ['a bridge port out of range', (c) => ({ ...c, bridgePort: 70000 }), /^bridgePort must be a port number/],
    ['an https issuer with neither tls nor trustProxy', (c) => ({ ...c, tls: undefined }), /^an https issuer needs/],
    [
      'preparedStatements that is not true or false',
      (c) => ({
        ...c,
        store: { kind: 'postgres', url: PG_URL, redisUrl: REDIS_URL, preparedStatements: 'no' },
      }),
      /^store\.preparedStatements must be true or false/,
    ],
    [
      'a listen.reusePort that is not true or false',
      (c) => ({ ...c, listen: { ...(c['listen'] as object), reusePort: 1 } }),
      /^listen\.reusePort must be true or false/,
    ],
    [
      'an audit anchor interval under a second',
      (c) => ({ ...c, audit: { anchorDir: 'anchors', anchorEverySeconds: 0.5 } }),
      /^audit\.anchorEverySeconds must be a whole number of seconds >= 1/,
    ],
    ['an audit section without anchorDir', (c) => ({ ...c, audit: {} }), /^audit\.anchorDir/],
    [
      'a trustProxy that is not true, false or a list',
      (c) => ({ ...c, trustProxy: 'true' }),
      /^trustProxy must be true, false or a list of the proxies' addresses or networks \(CIDR\)$/,
    ],
    [
      'a trustProxy entry that is not an address or a network',
      (c) => ({ ...c, trustProxy: ['10.0.0.0/8', '10.0.0.0/33'] }),
      /^trustProxy: "10\.0\.0\.0\/33" is not an IP address or a network in CIDR form/,
    ],
    [
      'an https issuer with trustProxy false and no tls',
      (c) => ({ ...c, tls: undefined, trustProxy: false }),
      /^an https issuer needs "tls" \(serve HTTPS here\) or "trustProxy"/,
    ],
    ['a client without client_id', (c) => ({ ...c, clients: [{ foo: 1 }] }), /^clients\[0\]: client_id must be/],
    [
      'an http issuer off the loopback host',
      (c) => ({ ...c, issuer: 'http://id.example.jp', tls: undefined }),
      /^issuer must be https \(http only on 127\.0\.0\.1, localhost or \[::1\]/,
    ],
    [
      'an http issuer on a loopback address a card login cannot name (127.0.0.2)',
      (c) => ({ ...c, issuer: 'http://127.0.0.2:8080', tls: undefined }),
      /^issuer must be https/,
    ],
    [
      'an issuer with a path',
      (c) => ({ ...c, issuer: 'https://id.example.jp/op' }),
      /^issuer must be a bare origin without a path or trailing slash$/,
    ],
    [
      'a client with only a client_id',
      (c) => ({ ...c, clients: [{ client_id: 'x' }] }),
      /^clients\[0\] \(x\): redirect_uris is mandatory property$/,
    ],
    [
      'a client on private_key_jwt (the default) without jwks',
      (c) => ({ ...c, clients: [{ client_id: 'svc', redirect_uris: ['https://svc.example/cb'] }] }),
      /^clients\[0\] \(svc\): jwks or jwks_uri is mandatory for this client$/,
    ],
    [
      'a client that publishes its private key in jwks',
      (c) => ({
        ...c,
        clients: [
          {
            client_id: 'svc',
            redirect_uris: ['https://svc.example/cb'],
            jwks: { keys: [generateSigningKey()] },
          },
        ],
      }),
      /^clients\[0\] \(svc\): jwks holds a private key \("d"\): register only its public half$/,
    ],
    [
      'two clients with one client_id',
      (c) => ({ ...c, clients: [registration(), registration({ redirect_uris: ['https://bank.example/cb2'] })] }),
      /^clients\[1\] \(bank\): client_id is already clients\[0\]'s$/,
    ],
    [
      "the provider's own client_id",
      (c) => ({ ...c, clients: [registration({ client_id: 'mynagate-me' })] }),
      /^clients\[0\] \(mynagate-me\): client_id is the provider's own/,
    ],
    [
      'a client whose redirect is http on a public host',
      (c) => ({ ...c, clients: [registration({ redirect_uris: ['http://bank.example/cb'] })] }),
      /^clients\[0\] \(bank\): redirect_uris\[0\] http:\/\/bank\.example\/cb: a signed eKYC statement names the service by this origin, which must be https/,
    ],
    [
      'a client whose redirect is http on loopback beside an https provider',
      (c) => ({ ...c, clients: [registration({ redirect_uris: ['http://127.0.0.1:3000/cb'] })] }),
      /^clients\[0\] \(bank\): redirect_uris\[0\] http:\/\/127\.0\.0\.1:3000\/cb: .* only beside a provider on http\)$/,
    ],
    ['an unknown limit', (c) => ({ ...c, limits: { timeoutMs: 1000 } }), /^limits\.timeoutMs is not a limit/],
    [
      'a limit that is not a whole number >= 1',
      (c) => ({ ...c, limits: { maxConnections: 0 } }),
      /^limits\.maxConnections must be a whole number >= 1/,
    ],
    [
      'a request timeout below the (default) headers timeout',
      (c) => ({ ...c, limits: { requestTimeoutMs: 5000 } }),
      /^limits\.requestTimeoutMs must be at least limits\.headersTimeoutMs/,
    ],
    [
      'a TLS key file that cannot be read',
      (c) => ({ ...c, tls: { key: 'tls/none.pem', cert: 'tls/cert.pem' } }),
      /^tls\.key: cannot read/,
    ],
    [
      'an ekyc.signingCardPair other than "unchecked"',
      (c) => ({ ...c, ekyc: { signingCardPair: 'platform' } }),
      /^ekyc\.signingCardPair must be "unchecked" \(the card binding itself comes from "platform"/,
    ],
    [
      'ekyc.signingCardPair "unchecked" beside a platform',
      (c) => ({ ...c, ekyc: { signingCardPair: 'unchecked' } }),
      /^ekyc\.signingCardPair "unchecked" and "platform" exclude each other/,
    ],
    [
      'an unknown ekyc option',
      (c) => ({ ...c, ekyc: { keepCertificate: true } }),
      /^ekyc\.keepCertificate is not an option/,
    ],
    [
      'a client asking for eKYC by default with eKYC off (no platform)',
      (c) => ({
        ...c,
        platform: undefined,
        revocation: { ocsp: true },
        clients: [registration({ default_acr_values: ['urn:mynagate:acr:card-sign'] })],
      }),
      /^client bank: default_acr_values asks for urn:mynagate:acr:card-sign \(eKYC\), but eKYC is off/,
    ],
    [
      'listen.reusePort with a SQLite store',
      (c) => ({ ...c, listen: { ...(c['listen'] as object), reusePort: true } }),
      /^listen\.reusePort needs a postgres store/,
    ],
  ];
  for (const [name, change, message] of bad) {
    it(`refuses ${name} with one line ERR_CLI_CONFIG (exit 1)`, async () => {
      const file = await configFile(`bad-${name.replaceAll(' ', '-')}.json`, change(validConfig(await freePort())));
      const cli = startCli(['serve', '--config', file], { env });
      // A fault let through would leave it serving (or hanging): stop it (and fail below) rather than wait for ever.
      const started = await cli.waitFor(/^MynaGate: /m, 60_000).then(
        () => true,
        () => false,
      );
      if (started || cli.child.exitCode === null) cli.child.kill('SIGKILL');
      const r = { code: await cli.exited, stderr: cli.stderr() };
      assert.equal(r.code, 1, r.stderr);
      const lines = errorLines(r.stderr);
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, /^ERR_CLI_CONFIG: /);
      assert.match(lines[0]!.slice('ERR_CLI_CONFIG: '.length), message);
    });
  }

  it(
    'exits on a bad configuration found after PostgreSQL and Redis are open (their connections are closed)',
    { skip: skipPg },
    async () => {
      // A cookie key too short is the provider's own check (resolveConfig), made once the stores are open.
      await mkdir(join(dir, 'secrets'), { recursive: true });
      await writeFile(
        join(dir, 'secrets', 'short-cookie.json'),
        JSON.stringify({ cookieKeys: ['short'], pairwiseSecret: randomBytes(32).toString('base64url') }),
      );
      const store = {
        kind: 'postgres',
        url: PG_URL,
        redisUrl: REDIS_URL,
        schema: 'serve_config_bad',
        redisPrefix: 'serve_config_bad:',
      };
      const file = await configFile('bad-after-open.json', {
        ...validConfig(await freePort()),
        store,
        secrets: 'secrets/short-cookie.json',
      });
      const cli = startCli(['serve', '--config', file], { env });
      // Before, the open connections kept the process alive after the error line: a supervisor never restarted it.
      const hung = setTimeout(() => cli.child.kill('SIGKILL'), 20_000);
      const code = await cli.exited;
      clearTimeout(hung);
      assert.equal(code, 1, cli.stderr());
      assert.match(errorLines(cli.stderr())[0]!, /^ERR_CLI_CONFIG: each cookie key must be a string of >= 32/);
    },
  );

  it('reports a listen port in use as one line ERR_CLI_LISTEN naming host:port (exit 1)', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const taken = (blocker.address() as AddressInfo).port;
    try {
      const file = await configFile('taken.json', validConfig(taken));
      const r = await runCli(['serve', '--config', file, '--init'], { env });
      assert.equal(r.code, 1, r.stderr);
      assert.deepEqual(errorLines(r.stderr), [
        `ERR_CLI_LISTEN: cannot listen on 127.0.0.1:${taken}: the port is already in use (another program listens on it) (EADDRINUSE)`,
      ]);
    } finally {
      blocker.close();
    }
  });

  it('refuses a configuration that is not JSON (ERR_CLI_CONFIG)', async () => {
    const file = join(dir, 'broken.json');
    await writeFile(file, '{ "issuer": ');
    const r = await runCli(['serve', '--config', file], { env });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^ERR_CLI_CONFIG: the configuration: .* is not JSON$/m);
  });

  it('refuses --config with --dev (ERR_CLI_USAGE, exit 2)', async () => {
    const r = await runCli(['serve', '--dev', '--config', join(dir, 'mynagate.json')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^ERR_CLI_USAGE: --config and --dev exclude each other/m);
  });
});

describe('mynagate audit anchor / verify', () => {
  const config = () => join(dir, 'mynagate.json');
  const anchorFile = () => join(dir, 'anchor.jws');

  it('signs the audit head with the provider key, and verify finds the chain holding it', async () => {
    const made = await runCli(['audit', 'anchor', '--config', config()]);
    assert.equal(made.code, 0, made.stderr);
    const jws = made.stdout.trim();
    assert.match(jws, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'one compact JWS line');
    const payload = JSON.parse(Buffer.from(jws.split('.')[1]!, 'base64url').toString()) as { seq: number };
    assert.ok(payload.seq >= 1, 'the head row (the logins above wrote the audit)');
    await writeFile(anchorFile(), `${jws}\n`);
    const checked = await runCli(['audit', 'verify', '--config', config(), '--anchor', anchorFile()]);
    assert.equal(checked.code, 0, checked.stderr);
    const out = JSON.parse(checked.stdout) as { verified: boolean; count: number; anchors: { seq: number }[] };
    assert.equal(out.verified, true);
    assert.deepEqual(
      out.anchors.map((x) => x.seq),
      [payload.seq],
    );
  });

  it('refuses a store that is not there, creating nothing (ERR_STORE_MISSING), for verify and anchor alike', async () => {
    // A mistyped store.path used to create and migrate an empty database, then report it verified (count 0).
    const file = join(dir, 'mistyped.json');
    const c = JSON.parse(await readFile(config(), 'utf8')) as Record<string, unknown>;
    await writeFile(file, JSON.stringify({ ...c, store: { kind: 'sqlite', path: 'mynagate-typo.db' } }));
    for (const command of ['verify', 'anchor']) {
      const r = await runCli(['audit', command, '--config', file]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^ERR_STORE_MISSING: no SQLite database at .*mynagate-typo\.db$/m);
    }
    assert.deepEqual(
      (await readdir(dir)).filter((name) => name.startsWith('mynagate-typo')),
      [],
    );
  });

  it('refuses an anchor signed with another key (ERR_STORE_AUDIT_ANCHOR)', async () => {
    const forged = join(dir, 'forged.jws');
    await writeFile(
      forged,
      await signAuditAnchor({ seq: 1, hash: 'a'.repeat(64) }, { keys: [generateSigningKey()] }, 'https://x.example'),
    );
    const r = await runCli(['audit', 'verify', '--config', config(), '--anchor', forged]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^ERR_STORE_AUDIT_ANCHOR: not an audit anchor of this provider/m);
  });

  it('verifies an anchor signed with a key rotated out when given that key (--anchor-keys), and names it otherwise', async () => {
    const made = JSON.parse(
      Buffer.from((await readFile(anchorFile(), 'utf8')).split('.')[1]!, 'base64url').toString(),
    ) as { iss: string; seq: number; hash: string };
    const old = { keys: [generateSigningKey()] };
    const oldKeys = join(dir, 'old-oidc-keys.json');
    await writeFile(oldKeys, JSON.stringify(old));
    const rotated = join(dir, 'rotated.jws');
    await writeFile(rotated, await signAuditAnchor({ seq: made.seq, hash: made.hash }, old, made.iss));
    const without = await runCli(['audit', 'verify', '--config', config(), '--anchor', rotated]);
    assert.equal(without.code, 1);
    assert.match(without.stderr, new RegExp(`^ERR_STORE_AUDIT_ANCHOR: .*signed with key "${old.keys[0]!.kid}"`, 'm'));
    const given = await runCli([
      'audit',
      'verify',
      '--config',
      config(),
      '--anchor',
      rotated,
      '--anchor-keys',
      oldKeys,
    ]);
    assert.equal(given.code, 0, given.stderr);
    assert.deepEqual(
      (JSON.parse(given.stdout) as { anchors: { seq: number }[] }).anchors.map((x) => x.seq),
      [made.seq],
    );
    const notKeys = join(dir, 'not-keys.json');
    await writeFile(notKeys, '{"keys": [{"kty": "RSA"}]}');
    const bad = await runCli(['audit', 'verify', '--config', config(), '--anchor', rotated, '--anchor-keys', notKeys]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^ERR_CLI_USAGE: --anchor-keys .*not-keys\.json is not a JWKS of EC keys/m);
  });

  it('finds a chain cut after the anchor, which the chain alone cannot show (ERR_STORE_AUDIT_ANCHOR)', async () => {
    // Someone with write access to the file: the append-only trigger dropped, the newest row deleted.
    const db = new DatabaseSync(join(dir, 'mynagate.db'));
    try {
      db.exec('DROP TRIGGER audit_no_delete');
      db.exec('DELETE FROM audit WHERE seq = (SELECT MAX(seq) FROM audit)');
    } finally {
      db.close();
    }
    const plain = await runCli(['audit', 'verify', '--config', config()]);
    assert.equal(plain.code, 0, 'the shortened chain is consistent in itself');
    const r = await runCli(['audit', 'verify', '--config', config(), '--anchor', anchorFile()]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^ERR_STORE_AUDIT_ANCHOR: the audit no longer has row \d+: it was cut/m);
  });
});
