/**
 * `mynagate serve --dev --client FILE` as docs/register-a-service.md has an adopter do it: the doc's own one-liner
 * makes the ES256 key pair, the doc's registration (with that public key in `jwks`) goes into a file, and a service
 * on the RP SDK with the doc's options starts a card login: the provider sends it to its login page, naming it. A
 * virtual card then logs in and the service redeems the code with its private key (private_key_jwt, the default).
 * A file the provider would refuse stops the start with one line `ERR_CLI_CONFIG: --client FILE (client_id): …`.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createMynaGateClient } from '@mynagate/rp';
import { Agent, EventStream } from '../../../packages/idp/test/support/op-agent.ts';
import { cardToken, type TestCard } from '../../../packages/idp/test/support/op-fixture.ts';
import { runCli, startCli, type CliProcess } from './serve-support.ts';

const DOC = join(import.meta.dirname, '..', '..', '..', 'docs', 'register-a-service.md');

/** The stderr lines that are not the runtime notice node-oidc-provider prints on a non-LTS Node. */
const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l !== '' && !l.startsWith('oidc-provider'));

let dir: string;
let data: string;
/** The doc's registration, with the key pair its one-liner made. */
let registration: Record<string, unknown>;
let privateJwk: Record<string, unknown>;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mynagate-serve-client-'));
  data = join(dir, 'data');
  const doc = await readFile(DOC, 'utf8');
  const oneLiner = /^\s*(node -e .*)$/m.exec(doc)?.[1];
  assert.ok(oneLiner, 'the doc has a node one-liner');
  const printed = execFileSync('sh', ['-c', oneLiner], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, PATH: `${dirname(process.execPath)}:${process.env['PATH']}` },
  });
  privateJwk = JSON.parse(await readFile(join(dir, 'svc-key.json'), 'utf8')) as Record<string, unknown>;
  const json = /```json\n(\s*\{\s*"client_id"[^]*?)```/.exec(doc)?.[1];
  assert.ok(json, 'the doc has a registration');
  registration = { ...(JSON.parse(json) as object), jwks: { keys: [JSON.parse(printed) as unknown] } };
});
after(() => rm(dir, { recursive: true, force: true }));

/** Writes `value` as `name` in the test folder and returns its path. */
async function file(name: string, value: unknown): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, typeof value === 'string' ? value : JSON.stringify(value));
  return path;
}

/** `serve --dev` on free ports with the test's data, and `args`. */
const dev = (args: string[]) =>
  startCli(['serve', '--dev', '--data', data, '--port', '0', '--demo-port', '0', '--ocsp-port', '0', ...args]);

describe('mynagate serve --dev --client FILE', () => {
  let server: CliProcess | undefined;
  after(() => void server?.child.kill('SIGKILL'));

  it("registers the doc's service: its card login reaches the provider's login page for it, and completes", async () => {
    assert.equal(privateJwk['kid'], (registration['jwks'] as { keys: { kid: string }[] }).keys[0]!.kid);
    assert.equal(typeof privateJwk['d'], 'string', 'the private key stays with the service');
    server = dev(['--client', await file('svc.json', registration)]);
    await server.waitFor(/Ctrl-C to stop/, 120_000);
    const issuer = /MynaGate \(OpenID Provider\):\s+(\S+)/.exec(server.stdout())![1]!;
    const [, pin, card] = /PIN (\d{4})\s+password \S+\s+(\S+)/.exec(server.stdout())!;

    // The SDK options of the doc, on the provider the stack printed.
    const redirectUri = (registration['redirect_uris'] as string[])[0]!;
    const client = createMynaGateClient({
      issuer,
      clientId: registration['client_id'] as string,
      privateJwk,
      redirectUri,
      allowLoopbackHttp: true,
    });
    const { url, transaction } = await client.cardLogin();
    const browser = new Agent();
    const { url: pageUrl, response } = await browser.follow(url);
    const page = await response.text();
    assert.equal(response.status, 200, page);
    const uid = /^\/interaction\/([^/]+)$/.exec(pageUrl.pathname)?.[1];
    assert.ok(uid, `the login page: ${pageUrl.href}`);
    assert.equal(/id="client-name">([^<]*)</.exec(page)?.[1], registration['client_name']);

    // A test card logs in through the companion API, and the service redeems the code with its own key.
    const events = new EventStream(await browser.fetch(new URL(`/interaction/${uid}/events`, pageUrl)));
    const link = /data-link="([^"]+)"/.exec(page)![1]!.replaceAll('&amp;', '&');
    const view = (await (await fetch(link)).json()) as { txn: string; origin: string; challenge: string };
    const token = await cardToken({ file: card } as TestCard, view.origin, view.challenge, pin);
    const posted = await fetch(new URL(`/companion/${view.txn}/token`, issuer), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(token),
    });
    assert.equal(posted.status, 200, await posted.text());
    const done = (await events.next('done', 10_000)) as { redirect: string };
    await events.close();
    const { url: callback } = await browser.follow(done.redirect);
    assert.equal(`${callback.origin}${callback.pathname}`, redirectUri);
    const result = await client.complete(transaction, callback);
    assert.match(result.sub, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(result.acr, 'urn:mynagate:acr:card-auth');

    server.child.kill('SIGINT');
    assert.equal(await server.exited, 0, server.stderr());
    server = undefined;
  });

  it('says at start, on stderr, which --client registrations get card login only (a native app), one line each', async () => {
    const app = {
      ...registration,
      client_id: 'bank-app',
      application_type: 'native',
      redirect_uris: ['jp.example.bank:/oauth2redirect'],
    };
    // Beside the development provider (http on 127.0.0.1) a loopback redirect can be named: eKYC, no line.
    const desktop = { ...app, client_id: 'desk-app', redirect_uris: ['http://127.0.0.1/cb'] };
    server = dev([
      '--client',
      await file('svc.json', registration),
      '--client',
      await file('apps.json', [app, desktop]),
    ]);
    await server.waitFor(/Ctrl-C to stop/, 120_000);
    assert.deepEqual(
      errorLines(server.stderr()).filter((l) => l.startsWith('client ')),
      ['client bank-app: card login only (native app redirect jp.example.bank:/oauth2redirect; eKYC is not offered)'],
    );
    server.child.kill('SIGINT');
    assert.equal(await server.exited, 0, server.stderr());
    server = undefined;
  });

  /** Runs `serve --dev` with `args` and expects it to stop before it is ready, with one line; returns that line. */
  async function refused(args: string[]): Promise<string> {
    const p = dev(args);
    const ready = await p.waitFor(/Ctrl-C to stop/, 120_000).then(
      () => true,
      () => false,
    );
    // Started, or neither started nor stopped (a provider that failed while listening): stopped here, and failed.
    if (ready || p.child.exitCode === null) p.child.kill('SIGKILL');
    assert.equal(ready, false, `started with ${args.join(' ')}`);
    assert.equal(await p.exited, 1, p.stderr());
    const lines = errorLines(p.stderr());
    assert.equal(lines.length, 1, p.stderr());
    return lines[0]!;
  }

  it('refuses a registration without jwks (private_key_jwt, the default) with one line naming the file', async () => {
    const { jwks: _, ...without } = registration;
    const f = await file('no-jwks.json', without);
    assert.equal(
      await refused(['--client', f]),
      `ERR_CLI_CONFIG: --client ${f} (my-service): jwks or jwks_uri is mandatory for this client`,
    );
  });

  it("refuses a list holding the demo's client_id, naming the entry", async () => {
    const f = await file('list.json', [registration, { ...registration, client_id: 'mynagate-demo' }]);
    assert.equal(
      await refused(['--client', f]),
      `ERR_CLI_CONFIG: --client ${f}[1] (mynagate-demo): client_id is already registered (デモ銀行 / Demo Bank)`,
    );
  });

  it('refuses a redirect an eKYC statement cannot name (http off the loopback host)', async () => {
    const f = await file('public-http.json', { ...registration, redirect_uris: ['http://svc.example/callback'] });
    assert.match(
      await refused(['--client', f]),
      /^ERR_CLI_CONFIG: --client \S+ \(my-service\): redirect_uris\[0\] http:\/\/svc\.example\/callback: a signed eKYC statement names the service by this origin/,
    );
  });

  it('refuses a file that is not JSON before anything starts', async () => {
    const f = await file('broken.json', '{ "client_id": ');
    const r = await runCli(['serve', '--dev', '--data', join(dir, 'never'), '--client', f]);
    assert.equal(r.code, 1);
    assert.deepEqual(errorLines(r.stderr), [`ERR_CLI_CONFIG: --client ${f}: ${f} is not JSON`]);
    assert.equal(existsSync(join(dir, 'never')), false, 'no data directory made');
  });

  it('refuses --client with --config (ERR_CLI_USAGE, exit 2)', async () => {
    const r = await runCli(['serve', '--config', join(dir, 'mynagate.json'), '--client', join(dir, 'svc.json')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^ERR_CLI_USAGE: --client is for --dev/m);
  });
});
