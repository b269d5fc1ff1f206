/** `mynagate ca …`: the test JPKI's certificate authority. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readCardFile, renewCardFile } from '@mynagate/card/virtual';
import { serveTestJpki, TestJpki } from '@mynagate/pki/testing';
import { oneOf, optional, port, required } from '../args.ts';
import type { Parsed } from '../main.ts';
import { printJson } from '../output.ts';

const REASONS = [
  'unspecified',
  'keyCompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  'privilegeWithdrawn',
] as const;

export async function init(a: Parsed): Promise<void> {
  const dir = required(a, 'dir');
  await mkdir(dir, { recursive: true });
  const jpki = await TestJpki.init(dir, { ocspPort: port(a, 'ocsp-port', 8790) });
  printJson({ dir, authCa: join(dir, 'auth-ca.pem'), signCa: join(dir, 'sign-ca.pem'), ocsp: jpki.ocspBaseUrl });
}

export async function revoke(a: Parsed): Promise<void> {
  const jpki = await TestJpki.open(required(a, 'dir'));
  const serial = required(a, 'serial').toLowerCase().replace(/^0x/, '');
  const reason = oneOf(a, 'reason', REASONS, 'unspecified');
  await jpki.revoke(serial, reason);
  printJson({ serial, status: 'revoked', reason });
}

export async function renew(a: Parsed): Promise<void> {
  const jpki = await TestJpki.open(required(a, 'dir'));
  const file = required(a, 'card');
  const { certificates } = readCardFile(file);
  const renewed = await jpki.renewKeys({
    authCert: Buffer.from(certificates.auth, 'base64'),
    signCert: Buffer.from(certificates.sign, 'base64'),
  });
  renewCardFile(file, renewed);
  printJson({ card: file, authSerial: renewed.authSerial, signSerial: renewed.signSerial });
}

export async function crl(a: Parsed): Promise<void> {
  const jpki = await TestJpki.open(required(a, 'dir'));
  const out = required(a, 'out');
  const kinds = optional(a, 'kind') ? [oneOf(a, 'kind', ['auth', 'sign'] as const)] : (['auth', 'sign'] as const);
  // One file per kind (`-auth`/`-sign` added when both), and with --partitions one per municipality too
  // (`-<prefecture>-<city>`): OUT's name with those parts before its .crl/.der ending.
  const partitions = a.values['partitions'] === true ? jpki.crlPartitions() : [undefined];
  const written: string[] = [];
  for (const kind of kinds) {
    for (const partition of partitions) {
      const parts = [
        kinds.length === 1 ? '' : `-${kind}`,
        partition ? `-${partition.prefecture}-${partition.city}` : '',
      ];
      const path = out.replace(/(\.crl|\.der)?$/, `${parts.join('')}$1`);
      await writeFile(path, await jpki.crl(kind, partition ? { partition } : {}));
      written.push(path);
    }
  }
  printJson({ crl: written });
}

export async function ocsp(a: Parsed): Promise<void> {
  const jpki = await TestJpki.open(required(a, 'dir'));
  const server = await serveTestJpki(jpki, { port: port(a, 'port', 8790), host: optional(a, 'host') ?? '127.0.0.1' });
  // Listening for the signals before saying so: a stop sent on that line is always a clean one.
  const stopped = new Promise<void>((resolve) => {
    const stop = () => void server.close().then(resolve);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  process.stderr.write(
    `test JPKI responder at ${server.url} (OCSP /ocsp/auth /ocsp/sign, CRL /crl/*.crl, /v1/status, /v1/links)\n`,
  );
  await stopped;
}
