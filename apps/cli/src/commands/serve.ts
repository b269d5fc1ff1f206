/**
 * `mynagate serve --config FILE [--init]`: MynaGate as configured by the operator (serve-config.ts). `mynagate serve
 * --dev`: MynaGate with the demo service on embedded defaults (development).
 */
import { resolve } from 'node:path';
import { optional, port } from '../args.ts';
import type { Parsed } from '../main.ts';
import { errorLine, UsageError } from '../output.ts';
import { listening } from '../system-error.ts';

export async function serve(a: Parsed): Promise<void> {
  if (a.positionals.length > 0) throw new UsageError(`unexpected argument "${a.positionals[0]}"`);
  const config = optional(a, 'config');
  if (config !== undefined) {
    if (a.values['dev'] === true) throw new UsageError('--config and --dev exclude each other');
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

  // Loaded after the options are checked, so a usage error costs no provider start-up.
  const { startDevStack } = await import('@mynagate/demo');
  const stack = await startDevStack({
    dataDir,
    port: idpPort,
    demoPort,
    ...(shopPort !== undefined ? { shopPort } : {}),
    ...(ocspPort !== undefined ? { ocspPort } : {}),
  });
  const { data } = stack;
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
  const { loadConfig } = await import('./serve-config.ts');
  const { startAuditAnchoring, startServer } = await import('@mynagate/idp');
  const { server: config, stores, auditAnchoring, issuerUpgrade } = await loadConfig(file, { init });
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
    await stores.close();
    throw e;
  }
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
    await stores.close();
  });
  process.stdout.write(`MynaGate: ${idp.issuer} (listening on ${idp.url})\n`);
  await stopped;
}
