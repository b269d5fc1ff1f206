/** The provider the CLI's companion commands (`login`, `bridge`) are tested against. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createOpFixture, type OpFixture, type TestIdp } from '../../../packages/idp/test/support/op-fixture.ts';

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
