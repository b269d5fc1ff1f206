/**
 * OpenID Provider figures: complete card logins per second and their latency, on SQLite and on PostgreSQL + Redis,
 * against the same provider's trivial login measured in the same run.
 *
 * The provider runs in this process; the load comes from `bench/op-load.ts` in a separate process (the pinned Node),
 * which plays both the browsers and the companions with virtual cards. A card login is: authorize → login page →
 * event stream → companion scan → card signature → token post (path validation, OCSP, person lookup) → `done` →
 * code → tokens. The trivial login is the same provider (same configuration, stores, keys and client) with an
 * interaction that finishes at once for a fixed person: authorize → interaction → code → tokens.
 *
 * 1. maximum rate: closed loop, a fixed number of logins in flight; 2. latency at half that rate: open loop (starts
 * on a fixed schedule), p99. PostgreSQL is skipped, with a note, when PostgreSQL or Redis is unreachable.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { writeCardFile } from '../packages/card/src/virtual/index.ts';
import {
  buildProvider,
  generateSigningKey,
  oneShotChallengeStore,
  openStores,
  providerStores,
  resolveConfig,
  startServer,
  type IdpServer,
  type ServerConfig,
} from '../packages/idp/src/index.ts';
import type { Stores } from '../packages/idp/src/store/types.ts';
import { PG_URL, reachable, REDIS_URL } from '../packages/idp/test/support/op-fixture.ts';
import { createVerifier, ocspSource } from '../packages/pki/src/index.ts';
import { createKeyPool, serveTestJpki, TestJpki } from '../packages/pki/src/testing/index.ts';
import type { Bench, Figure } from './figure.ts';
import type { LoadConfig, LoadResult } from './op-load.ts';

const CARDS = 48;
const PIN = '1234';
const CONCURRENCY = 12;
const WARMUP_MS = 1500;
const DURATION_MS = 5000;
const RP = {
  clientId: 'bench-rp',
  secret: randomBytes(32).toString('base64url'),
  redirectUri: 'https://rp.example/cb',
};

export const bench: Bench = async (log) => {
  log(`op: fixture: test JPKI and ${CARDS} virtual cards…`);
  const dir = await mkdtemp(join(tmpdir(), 'mynagate-bench-op-'));
  const keys = await createKeyPool(400, { cacheFile: join(tmpdir(), 'mynagate-keypool-400.json') });
  const jpki = await TestJpki.init(join(dir, 'jpki'), { keys });
  const issued = await jpki.issueCards(
    Array.from({ length: CARDS }, (_, i) => ({
      name: `試験　${i + 1}`,
      address: '東京都千代田区千代田1-1',
      birthDate: '1990-01-02',
      sex: '1' as const,
      pin: PIN,
      password: 'BENCH2025',
    })),
  );
  const cards = await Promise.all(
    issued.map(async (c, i) => {
      const file = join(dir, `card-${i}.json`);
      await writeCardFile(file, c.spec, { scryptCost: 1 << 10 });
      return file;
    }),
  );
  const ocsp = await serveTestJpki(jpki, { port: 0 });
  const figures: Figure[] = [];
  try {
    figures.push(
      ...(await storeFigures('sqlite', log, { jpki, ocspUrl: `${ocsp.url}/ocsp/auth`, cards }, () =>
        openStores({ kind: 'sqlite', path: join(dir, `idp-${randomBytes(4).toString('hex')}.db`) }),
      )),
    );
    if ((await reachable(PG_URL)) && (await reachable(REDIS_URL))) {
      const schema = `mg_bench_${randomBytes(6).toString('hex')}`;
      try {
        figures.push(
          ...(await storeFigures('postgres', log, { jpki, ocspUrl: `${ocsp.url}/ocsp/auth`, cards }, () =>
            openStores({
              kind: 'postgres',
              url: PG_URL,
              schema,
              redisUrl: REDIS_URL,
              redisPrefix: `mg-bench-${randomBytes(6).toString('hex')}:`,
            }),
          )),
        );
      } finally {
        const admin = new pg.Pool({ connectionString: PG_URL, max: 1 });
        await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).finally(() => admin.end());
      }
    } else {
      log(
        `op: PostgreSQL figures skipped: PostgreSQL (${new URL(PG_URL).host}) or Redis (${new URL(REDIS_URL).host}) unreachable`,
      );
    }
  } finally {
    await ocsp.close();
    await rm(dir, { recursive: true, force: true });
  }
  return figures;
};

interface Fixture {
  readonly jpki: TestJpki;
  readonly ocspUrl: string;
  readonly cards: readonly string[];
}

async function storeFigures(
  store: 'sqlite' | 'postgres',
  log: (line: string) => void,
  f: Fixture,
  open: () => Promise<Stores>,
): Promise<Figure[]> {
  const stores = await open();
  const ports = providerStores(stores);
  const config: ServerConfig = {
    clients: [
      {
        client_id: RP.clientId,
        client_name: 'Bench RP',
        client_secret: RP.secret,
        redirect_uris: [RP.redirectUri],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys: [generateSigningKey()] },
    cookieKeys: [randomBytes(32).toString('base64url')],
    pairwiseSecret: randomBytes(32),
    verifier: createVerifier({
      anchors: { auth: [f.jpki.caCertificate('auth')], sign: [f.jpki.caCertificate('sign')] },
      revocation: ocspSource({ url: f.ocspUrl }),
      challenges: oneShotChallengeStore(ports.oneShot),
      allowLoopbackHttp: true,
    }),
    stores: ports,
    qrMaxAgeSeconds: 60,
  };
  const idp = await startServer(config);
  const trivial = await startTrivial(config, stores);
  try {
    const run = (mode: LoadConfig['mode'], issuer: string, load: LoadConfig['load']) =>
      runLoad({
        mode,
        issuer,
        clientId: RP.clientId,
        clientSecret: RP.secret,
        redirectUri: RP.redirectUri,
        cards: f.cards,
        pin: PIN,
        load,
        warmupMs: WARMUP_MS,
        durationMs: DURATION_MS,
      });
    log(`op[${store}]: trivial logins, ${CONCURRENCY} in flight…`);
    const base = await run('trivial', trivial.url, { kind: 'closed', concurrency: CONCURRENCY });
    log(`op[${store}]: card logins, ${CONCURRENCY} in flight…`);
    const max = await run('card', idp.issuer, { kind: 'closed', concurrency: CONCURRENCY });
    const rate = Math.max(1, max.perSecond / 2);
    log(`op[${store}]: card logins at half the maximum (${rate.toFixed(1)}/s)…`);
    const half = await run('card', idp.issuer, { kind: 'open', rate });
    for (const [what, r] of [
      ['trivial', base],
      ['card', max],
      ['card at half max', half],
    ] as const) {
      log(
        `op[${store}]: ${what}: ${r.completed} logins, ${r.errors} errors${r.firstError ? ` (${r.firstError})` : ''}, ` +
          `${r.perSecond.toFixed(1)}/s, p50 ${r.p50Ms.toFixed(1)} ms, p99 ${r.p99Ms.toFixed(1)} ms`,
      );
    }
    const baseline = { name: `op.trivial_login_per_s_${store}`, value: base.perSecond, unit: 'ops/s' };
    return [
      { name: `op.login_per_s_${store}`, value: max.perSecond, unit: 'ops/s', baseline },
      {
        name: `op.login_p99_ms_${store}`,
        value: max.p99Ms,
        unit: 'ms',
        baseline: { name: `op.trivial_login_p99_ms_${store}`, value: base.p99Ms, unit: 'ms' },
      },
      {
        name: `op.overhead_ratio_${store}`,
        value: max.perSecond / base.perSecond,
        unit: 'ratio',
        baseline,
        target: '>= 0.5',
      },
      {
        name: `op.login_p99_ms_at_half_max_${store}`,
        value: half.p99Ms,
        unit: 'ms',
        baseline: { name: `op.login_p50_ms_at_half_max_${store}`, value: half.p50Ms, unit: 'ms' },
        target: '< 50',
      },
      {
        name: `op.login_errors_${store}`,
        value: base.errors + max.errors + half.errors,
        unit: 'count',
        baseline: null,
        target: '= 0',
      },
    ];
  } finally {
    await trivial.close();
    await idp.close();
    await stores.close();
  }
}

/**
 * The baseline: the same provider configuration on the same stores, whose interaction logs a fixed person in at
 * once (no page, no card, no verifier).
 */
async function startTrivial(config: ServerConfig, stores: Stores): Promise<{ url: string; close(): Promise<void> }> {
  const person = await stores.records.createPersonWithCredential({
    kind: 'jpki-auth',
    fingerprint: randomBytes(32).toString('hex'),
    serial: '01',
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
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
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

/** Spawns the load generator with the pinned Node and reads its result. */
function runLoad(config: LoadConfig): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(import.meta.dirname, 'op-load.ts'), JSON.stringify(config)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_NO_WARNINGS: '1' },
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0)
        return reject(new Error(`op-load exited ${code}: ${err.trim().split('\n').slice(-3).join(' | ')}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').at(-1)!) as LoadResult);
      } catch {
        reject(new Error(`op-load printed no result: ${out} ${err}`));
      }
    });
  });
}
