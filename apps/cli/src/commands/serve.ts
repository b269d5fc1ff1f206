/**
 * `mynagate serve --config FILE [--init]`: MynaGate as configured by the operator (serve-config.ts). `mynagate serve
 * --dev [--client FILE]…`: MynaGate with the demo service on embedded defaults (development), and services of your
 * own registered beside it (docs/register-a-service.md).
 */
import { resolve } from 'node:path';
import type { DevStackOptions } from '@mynagate/demo';
import { isMynaGateError, MynaGateError } from '@mynagate/errors';
import { optional, port } from '../args.ts';
import type { Parsed } from '../main.ts';
import { errorLine, UsageError } from '../output.ts';
import { listening } from '../system-error.ts';

export async function serve(a: Parsed): Promise<void> {
  if (a.positionals.length > 0) throw new UsageError(`unexpected argument "${a.positionals[0]}"`);
  const config = optional(a, 'config');
  const clientFiles = (a.values['client'] as unknown as string[] | undefined) ?? [];
  if (config !== undefined) {
    if (a.values['dev'] === true) throw new UsageError('--config and --dev exclude each other');
    if (clientFiles.length > 0) throw new UsageError('--client is for --dev (with --config, "clients" in its file)');
    return serveConfigured(config, a.values['init'] === true);
  }
  // Without a configuration only development mode exists: a deployment needs J-LIS trust anchors, real clients and
  // TLS, which come with the operator configuration. Saying so beats silently starting test CAs in production.
  if (a.values['dev'] !== true) {
    throw new UsageError('run "mynagate serve --config FILE" (a deployment) or "mynagate serve --dev" (npm start)');
  }
  const idpPort = port(a, 'port', 8080);
  const demoPort = port(a, 'demo-port', idpPort === 0 ? 0 : idpPort + 1);
  // Without them the stack picks: the shop on the bank's port + 1, OCSP on its certificates' port (else free ones).
  const shopPort = optional(a, 'shop-port') === undefined ? undefined : port(a, 'shop-port', 0);
  const ocspPort = optional(a, 'ocsp-port') === undefined ? undefined : port(a, 'ocsp-port', 0);
  const dataDir = resolve(optional(a, 'data') ?? '.mynagate');
  const ports: Record<PortOption, number | undefined> = {
    '--port': idpPort,
    '--demo-port': demoPort,
    '--shop-port': shopPort,
    '--ocsp-port': ocspPort,
  };
  distinctPorts(ports, optional(a, 'demo-port') === undefined);
  const own = clientFiles.length === 0 ? {} : await devClients(clientFiles);

  // Loaded after the options are checked, so a usage error costs no provider start-up.
  const { startDevStack } = await import('@mynagate/demo');
  const stack = await startDevStack({
    dataDir,
    port: idpPort,
    demoPort,
    ...(shopPort !== undefined ? { shopPort } : {}),
    ...(ocspPort !== undefined ? { ocspPort } : {}),
    ...own,
  }).catch((e: unknown) => {
    throw withPortOption(e, ports);
  });
  const { data } = stack;
  // The demo's own clients are offered eKYC; only a --client one may be card login only.
  if (own.clients !== undefined) {
    const { loginOnlyLines } = await import('./serve-config.ts');
    for (const line of loginOnlyLines(own.clients, stack.idp.issuer)) process.stderr.write(`${line}\n`);
  }
  const w = Math.max(...data.cards.map((c) => c.name.length));
  const stopped = stopOnSignal(() => stack.close());
  process.stdout.write(
    [
      '',
      'MynaGate 開発モード / development mode (test cards only, never for production)',
      '',
      `  デモサービスを開く / Open the demo:  ${stack.demo.url}/`,
      `  デモ酒店 / Demo liquor shop:         ${stack.demo.shop.url}/`,
      `  MynaGate (OpenID Provider):         ${stack.idp.issuer}`,
      `  仮想スマートフォン / Virtual phone:  ${stack.idp.issuer}/dev/phone`,
      `  テストJPKI OCSP / test JPKI OCSP:    ${stack.ocsp.url}`,
      '',
      '  テスト用カード / Test cards (fake):',
      ...data.cards.map((c) => `    ${c.name.padEnd(w, '　')}  PIN ${c.pin}  password ${c.password}  ${c.file}`),
      '',
      `  data: ${data.dir}${data.created ? ' (created)' : ' (reused)'}`,
      '  Ctrl-C で終了 / Ctrl-C to stop',
      '',
    ].join('\n') + '\n',
  );

  await stopped;
}

/**
 * The registrations of the `--client` files, read (and their shape checked) before anything starts, and the check
 * the stack runs on them once it knows the demo's (serve-config.ts `checkClients`).
 *
 * @throws ConfigError `ERR_CLI_CONFIG`, naming the file (and the entry of a list).
 */
async function devClients(files: readonly string[]): Promise<Pick<DevStackOptions, 'clients' | 'checkClients'>> {
  const { checkClients, readClientFiles } = await import('./serve-config.ts');
  const { clients, names } = await readClientFiles(files);
  return {
    clients,
    checkClients: async (own, { issuer, registered }) =>
      void (await checkClients(own, issuer, (i) => names[i]!, registered)),
  };
}

type PortOption = '--port' | '--demo-port' | '--shop-port' | '--ocsp-port';
const SERVICE: Readonly<Record<PortOption, string>> = {
  '--port': 'provider',
  '--demo-port': 'demo bank',
  '--shop-port': 'demo shop',
  '--ocsp-port': 'OCSP responder',
};

/**
 * Refuses one port given to two services (0 is any free port, so it may repeat): the second would find it taken by
 * the first, and the error could not say which option to change.
 */
function distinctPorts(ports: Record<PortOption, number | undefined>, demoDefault: boolean): void {
  const seen = new Map<number, PortOption>();
  for (const [option, n] of Object.entries(ports) as [PortOption, number | undefined][]) {
    if (n === undefined || n === 0) continue;
    const first = seen.get(n);
    if (first !== undefined) {
      const note = first === '--demo-port' && demoDefault ? ` (${first} is --port + 1 unless given)` : '';
      throw new UsageError(`${first} and ${option} are both ${n}${note}: give each its own port`);
    }
    seen.set(n, option);
  }
}

/**
 * `ERR_DEV_PORT_IN_USE` naming the option that moves the port taken, with a command line that moves the stack: the
 * stack says which of its services wanted the port, the command line knows how it is chosen. Other errors as they are.
 */
function withPortOption(e: unknown, ports: Record<PortOption, number | undefined>): unknown {
  const taken = isMynaGateError(e, 'ERR_DEV_PORT_IN_USE') ? (e as { port?: unknown }).port : undefined;
  if (typeof taken !== 'number' || taken === 0) return e;
  const option = (Object.keys(ports) as PortOption[]).find((o) => ports[o] === taken);
  if (option === undefined) return e;
  // npm sets npm_lifecycle_event for the script it runs: `npm start` is how most people start the stack.
  const command = process.env['npm_lifecycle_event'] === 'start' ? 'npm start --' : 'mynagate serve --dev';
  const example = `--port 9080 --demo-port 9081 --shop-port 9082${option === '--ocsp-port' ? ' --ocsp-port 9083' : ''}`;
  return new MynaGateError(
    'ERR_DEV_PORT_IN_USE',
    `port ${taken} (${SERVICE[option]}) is already in use; choose another with ${option}, e.g. ${command} ${example}`,
    { cause: e },
  );
}

/**
 * Runs `stop` on the first SIGINT or SIGTERM and says so on stderr; resolves once stopped. The handlers are in place
 * when this returns, so a caller sets them up before it says it is ready: a signal sent on that word (by a person or
 * a supervisor) then always stops the server cleanly, never kills it half-way through its first instants.
 */
function stopOnSignal(stop: () => Promise<void>): Promise<void> {
  return new Promise<void>((done) => {
    const on = (signal: string) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      process.stderr.write(`${signal}: stopping…\n`);
      void stop().then(done);
    };
    const onInt = () => on('SIGINT');
    const onTerm = () => on('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
  }).then(() => void process.stderr.write('stopped\n'));
}

/** Runs the provider from a configuration file until SIGINT or SIGTERM. */
async function serveConfigured(file: string, init: boolean): Promise<void> {
  const { ekycLine, loadConfig, loginOnlyLines } = await import('./serve-config.ts');
  const { ekycMode, startAuditAnchoring, startServer } = await import('@mynagate/idp');
  const loaded = await loadConfig(file, { init });
  const { server: config, stores, auditAnchoring, issuerUpgrade } = loaded;
  if (issuerUpgrade.relabelled > 0)
    process.stderr.write(`credentials: ${issuerUpgrade.relabelled} now named by their CA's fingerprint\n`);
  for (const name of issuerUpgrade.ambiguous)
    process.stderr.write(
      `credentials: several trusted CAs are named ${name}: a credential still under that name stays so, and a renewal of its card starts a new person\n`,
    );
  let idp: Awaited<ReturnType<typeof startServer>>;
  try {
    idp = await listening(config.host ?? '127.0.0.1', config.port ?? 0, () => startServer(config));
  } catch (e) {
    await loaded.close();
    throw e;
  }
  for (const line of loginOnlyLines(config.clients, idp.issuer)) process.stderr.write(`${line}\n`);
  // A failed round is said on stderr and tried again at the next; the provider keeps serving.
  const failed = (e: unknown) => process.stderr.write(`audit anchor failed: ${errorLine(e)}\n`);
  const anchoring =
    auditAnchoring &&
    startAuditAnchoring({
      audit: stores.records,
      jwks: config.jwks,
      issuer: idp.issuer,
      ...auditAnchoring,
      onAnchor: (f, seq) => process.stderr.write(`audit anchor: row ${seq} in ${f}\n`),
      onError: failed,
    });
  const stopped = stopOnSignal(async () => {
    await idp.close();
    // The rows written until the server closed are anchored before the store goes.
    await anchoring?.stop().catch(failed);
    // The stores, then the CRL files' watcher (revocation.crl).
    await loaded.close();
  });
  // Which eKYC it offers, beside where it listens: paired by the platform, unchecked, or off (no pairing source).
  process.stdout.write(`MynaGate: ${idp.issuer} (listening on ${idp.url})\n${ekycLine(ekycMode(config.ekyc))}\n`);
  await stopped;
}
