/** The provider the CLI's companion commands (`login`, `bridge`) are tested against. */
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createOpFixture, type OpFixture, type TestIdp } from '../../../packages/idp/test/support/op-fixture.ts';
import { freePort, startCli, type CliProcess } from './serve-support.ts';

/**
 * A provider on loopback TLS. The commands run as other processes: `env` makes them trust its test CA, and a QR
 * code lives 30 s so that it survives their start-up.
 */
export async function startCompanionProvider(): Promise<{ f: OpFixture; idp: TestIdp; env: Record<string, string> }> {
  const f = await createOpFixture();
  const idp = await f.start({ qrMaxAgeSeconds: 30 });
  const ca = join(f.dir, 'tls-ca.pem');
  await writeFile(ca, f.tls.cert);
  return { f, idp, env: { NODE_EXTRA_CA_CERTS: ca } };
}

/**
 * A phishing server for `idp`: its companion link answers with the real provider's origin and a challenge, as a
 * relay of the real login would. Returns its origin; `close` stops it.
 */
export async function startRelay(idp: TestIdp): Promise<{ readonly origin: string; close(): void }> {
  const relay = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        txn: 'x',
        clientName: 'テスト銀行',
        clientOrigin: 'https://bank.example',
        origin: idp.server.issuer,
        intent: 'login',
        challenge: Buffer.alloc(32, 7).toString('base64'),
      }),
    );
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(relay.address() as AddressInfo).port}`,
    close: () => void relay.close(),
  };
}

/** A running `mynagate bridge` on a free port. */
export interface Bridge {
  readonly origin: string;
  readonly port: number;
  readonly proc: CliProcess;
  stop(): Promise<void>;
}

/** Starts `mynagate bridge` with `args` (and `env`, for the provider's test CA) once it says it listens. */
export async function startBridge(args: readonly string[], env: Record<string, string>): Promise<Bridge> {
  const port = await freePort();
  const proc = startCli(['bridge', '--port', String(port), ...args], { env });
  const m = await proc.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
  return {
    origin: m[1]!,
    port,
    proc,
    async stop() {
      proc.child.kill('SIGTERM');
      await proc.exited;
    },
  };
}
