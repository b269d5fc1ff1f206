/**
 * One provider process of `bench/op.ts`: the card provider and, beside it on the same stores, the trivial one (whose
 * interaction logs a fixed person in at once: no page, no card, no verifier), each on its own port. Several of these
 * processes share a deployment's ports with `reusePort` (Linux SO_REUSEPORT, as `listen.reusePort` of
 * `mynagate serve --config`), over PostgreSQL + Redis; SQLite is one process.
 *
 * Started by `fork` (an IPC channel); the parent sends {@link ProviderSetup} as the first message and then commands
 * ({@link ProviderCommand}); this process answers each with one {@link ProviderReply}. Its event log goes to a file,
 * as a deployment's would, not to the benchmark's output.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import {
  buildProvider,
  oneShotChallengeStore,
  openStores,
  providerStores,
  resolveConfig,
  startServer,
  type PrivateJwks,
  type ServerConfig,
  type StoreConfig,
} from '../packages/idp/src/index.ts';
import type { Stores } from '../packages/idp/src/store/types.ts';
import { createVerifier, ocspSource } from '../packages/pki/src/index.ts';

/** What the parent sends first. Ports 0: free ones (the first process); the others reuse the first's. */
export interface ProviderSetup {
  readonly store: StoreConfig;
  readonly cardPort: number;
  readonly trivialPort: number;
  readonly reusePort: boolean;
  readonly clients: ServerConfig['clients'];
  readonly jwks: PrivateJwks;
  readonly cookieKeys: readonly string[];
  /** base64 */
  readonly pairwiseSecret: string;
  /** The test JPKI's CA certificates, base64 DER. */
  readonly anchors: { readonly auth: string; readonly sign: string };
  readonly ocspUrl: string;
  readonly logFile: string;
}

/**
 * `start`: from now on, count this process's CPU time and event-loop delay (and profile it when `profile` is set);
 * `stop`: report them since `start` (and write the profile to `profile`); `close`: close the servers and stores.
 */
export type ProviderCommand =
  | { readonly kind: 'start'; readonly profile?: boolean }
  | { readonly kind: 'stop'; readonly profile?: string }
  | { readonly kind: 'close' };

export type ProviderReply =
  | { readonly kind: 'ready'; readonly issuer: string; readonly trivialUrl: string }
  | { readonly kind: 'started' }
  | {
      readonly kind: 'stopped';
      readonly cpuMs: number;
      readonly loopDelayP99Ms: number;
      readonly loopDelayMaxMs: number;
    }
  | { readonly kind: 'closed' }
  | { readonly kind: 'failed'; readonly message: string };

const reply = (r: ProviderReply) => process.send!(r);
// The benchmark gone (stopped, or failed without closing us): nothing is left running.
process.once('disconnect', () => process.exit(0));

const setup = await new Promise<ProviderSetup>((resolve) =>
  process.once('message', (m) => resolve(m as ProviderSetup)),
);
const log = createWriteStream(setup.logFile, { flags: 'a' });
let stores: Stores | undefined;
try {
  stores = await openStores(setup.store);
  const ports = providerStores(stores);
  const config: ServerConfig = {
    clients: setup.clients,
    jwks: setup.jwks,
    cookieKeys: setup.cookieKeys,
    pairwiseSecret: Buffer.from(setup.pairwiseSecret, 'base64'),
    verifier: createVerifier({
      anchors: { auth: [Buffer.from(setup.anchors.auth, 'base64')], sign: [Buffer.from(setup.anchors.sign, 'base64')] },
      revocation: ocspSource({ url: setup.ocspUrl }),
      challenges: oneShotChallengeStore(ports.oneShot),
      allowLoopbackHttp: true,
    }),
    stores: ports,
    qrMaxAgeSeconds: 60,
    log: (event) => void log.write(`${JSON.stringify(event)}\n`),
    host: '127.0.0.1',
    port: setup.cardPort,
    reusePort: setup.reusePort,
  };
  const idp = await startServer(config);
  const trivial = await startTrivial(config, stores, setup);
  const open = stores;
  let measuring:
    { cpu: NodeJS.CpuUsage; delay: ReturnType<typeof monitorEventLoopDelay>; profiler?: Profiler } | undefined;
  process.on('message', (m) => {
    const command = m as ProviderCommand;
    void (async () => {
      if (command.kind === 'start') {
        const delay = monitorEventLoopDelay({ resolution: 5 });
        delay.enable();
        const profiler = command.profile === true ? await startProfile() : undefined;
        measuring = { cpu: process.cpuUsage(), delay, ...(profiler ? { profiler } : {}) };
        reply({ kind: 'started' });
      } else if (command.kind === 'stop') {
        const m = measuring!;
        measuring = undefined;
        const used = process.cpuUsage(m.cpu);
        m.delay.disable();
        if (m.profiler && command.profile !== undefined) await m.profiler.stop(command.profile);
        reply({
          kind: 'stopped',
          cpuMs: (used.user + used.system) / 1000,
          loopDelayP99Ms: m.delay.percentile(99) / 1e6,
          loopDelayMaxMs: m.delay.max / 1e6,
        });
      } else {
        await trivial.close();
        await idp.close();
        await open.close();
        await new Promise<void>((resolve) => log.end(resolve));
        reply({ kind: 'closed' });
        process.disconnect();
      }
    })().catch((e: unknown) => reply({ kind: 'failed', message: String((e as Error)?.stack ?? e) }));
  });
  reply({ kind: 'ready', issuer: idp.issuer, trivialUrl: trivial.url });
} catch (e) {
  await stores?.close().catch(() => {});
  reply({ kind: 'failed', message: String((e as Error)?.stack ?? e) });
  process.disconnect();
}

/** The trivial login's provider: the same configuration on the same stores, an interaction that finishes at once. */
async function startTrivial(
  config: ServerConfig,
  stores: Stores,
  s: ProviderSetup,
): Promise<{ url: string; close(): Promise<void> }> {
  const person = await stores.records.createPersonWithCredential({
    kind: 'jpki-auth',
    fingerprint: randomBytes(32).toString('hex'),
    // One person per process (a credential is its issuer and serial).
    serial: randomBytes(8).toString('hex'),
    issuer: 'CN=bench',
    notAfter: new Date(Date.now() + 86_400_000),
  });
  const accountId = person.person.id;
  let provider: ReturnType<typeof buildProvider> | undefined;
  const server: Server = createServer((req, res) => {
    if (req.method === 'GET' && req.url?.startsWith('/interaction/')) {
      void (async () => {
        const details = await provider!.interactionDetails(req, res);
        const grant = new provider!.Grant({ accountId, clientId: String(details.params['client_id']) });
        grant.addOIDCScope(String(details.params['scope']));
        const grantId = await grant.save();
        await provider!.interactionFinished(req, res, { login: { accountId }, consent: { grantId } });
      })().catch(() => res.writeHead(500).end());
      return;
    }
    callback(req, res);
  });
  await new Promise<void>((resolve) =>
    server.listen({ port: s.trivialPort, host: '127.0.0.1', reusePort: s.reusePort }, resolve),
  );
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  provider = buildProvider(resolveConfig({ ...config, stores: config.stores!, issuer: url }));
  const callback = provider.callback();
  return {
    url,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface Profiler {
  stop(file: string): Promise<void>;
}

/** Starts this process's CPU profiler (`MYNAGATE_BENCH_OP_PROFILE` of op.ts); `stop` writes the profile. */
async function startProfile(): Promise<Profiler> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 250 });
  await session.post('Profiler.start');
  return {
    async stop(file) {
      const { profile } = await session.post('Profiler.stop');
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, JSON.stringify(profile));
      session.disconnect();
    },
  };
}
