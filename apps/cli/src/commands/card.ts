/** `mynagate card …`: virtual cards and cards in readers. */
import { createHash, randomUUID } from 'node:crypto';
import { link, lstat, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { digestInfo, JpkiClient, type Transport } from '@mynagate/card';
import { PcscTransport } from '@mynagate/card/pcsc';
import { attachToVpcd, VirtualCard, VirtualTransport, writeCardFile } from '@mynagate/card/virtual';
import { nameToString, parseCertificate } from '@mynagate/pki';
import { syncDir, TestJpki } from '@mynagate/pki/testing';
import { oneOf, optional, positional, required } from '../args.ts';
import type { Parsed } from '../main.ts';
import { printJson, UsageError } from '../output.ts';
import { readSecret } from '../secret.ts';

/**
 * Issues a card into a new file `--out`. An existing file is never replaced: it holds another card's keys. The card
 * is written (under a temporary name) before the test JPKI records it, then linked into place, which fails rather
 * than replace a file that appeared meanwhile: a failure before the record changes nothing, one after it leaves at
 * most certificates that no card holds.
 */
export async function issue(a: Parsed): Promise<void> {
  const jpki = await TestJpki.open(required(a, 'dir'));
  const birthDate = required(a, 'birthdate');
  if (!/^\d{4}-\d{2}-\d{2}$/.test(birthDate)) throw new UsageError('--birthdate must be YYYY-MM-DD');
  const holder = {
    name: required(a, 'name'),
    address: required(a, 'address'),
    birthDate,
    sex: oneOf(a, 'sex', ['1', '2', '9'] as const),
    pin: required(a, 'pin'),
    password: required(a, 'password'),
    profile: oneOf(a, 'profile', ['card', 'android'] as const, 'card'),
  };
  const out = required(a, 'out');
  await refuseExisting(out);
  const tmp = `${out}.${randomUUID()}.tmp`;
  try {
    const issued = await jpki.issueCard({ ...holder, beforeSave: (card) => writeCardFile(tmp, card.spec) });
    await linkNew(tmp, out);
    await syncDir(dirname(out));
    printJson({
      card: out,
      profile: issued.spec.profile,
      authSerial: issued.authSerial,
      signSerial: issued.signSerial,
    });
  } finally {
    await rm(tmp, { force: true });
  }
}

/** Gives `tmp` the name `path` unless `path` exists (link fails then; rename would replace it). */
async function linkNew(tmp: string, path: string): Promise<void> {
  try {
    await link(tmp, path);
  } catch (e) {
    // A file system without hard links: check, then rename (a race with another writer is then possible).
    if (!['EPERM', 'ENOTSUP', 'ENOSYS'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
    await refuseExisting(path);
    await rename(tmp, path);
  }
}

/** Fails with a file error naming `path` (`ERR_CLI_FILE`) when something is there already. */
async function refuseExisting(path: string): Promise<void> {
  try {
    await lstat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  throw Object.assign(
    new Error(`EEXIST: ${path} already exists; card issue writes a new file, it never replaces a card`),
    {
      code: 'EEXIST',
      syscall: 'open',
      path,
    },
  );
}

export async function attach(a: Parsed): Promise<void> {
  const file = positional(a, 'card file');
  const [host, portText] = (optional(a, 'vpcd') ?? '127.0.0.1:35963').split(':');
  const port = Number(portText);
  if (!host || !Number.isInteger(port)) throw new UsageError('--vpcd must be HOST:PORT');
  const card = await VirtualCard.open(file);
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  process.once('SIGTERM', () => controller.abort());
  const bridge = attachToVpcd(card, {
    host,
    port,
    signal: controller.signal,
    onEvent: (e) => process.stderr.write(`vpcd: ${typeof e === 'string' ? e : JSON.stringify(e)}\n`),
  });
  process.stderr.write(`serving ${file} to vpcd at ${host}:${port}; Ctrl-C to remove the card\n`);
  await bridge.closed;
}

/** A transport to the card named by `--file` (a virtual card in-process) or in a PC/SC reader. */
async function openCard(a: Parsed): Promise<Transport> {
  const file = optional(a, 'file');
  if (file) return new VirtualTransport(await VirtualCard.open(file));
  return PcscTransport.connect({ reader: optional(a, 'reader') });
}

function describe(der: Uint8Array) {
  const c = parseCertificate(der);
  return {
    subject: nameToString(c.subject),
    issuer: nameToString(c.issuer),
    serial: c.serialNumber,
    notBefore: new Date(c.notBefore).toISOString(),
    notAfter: new Date(c.notAfter).toISOString(),
  };
}

export async function info(a: Parsed): Promise<void> {
  const transport = await openCard(a);
  try {
    const jpki = new JpkiClient(transport);
    await jpki.selectJpki();
    const token = await jpki.readToken();
    // The Android token guards its auth certificate with the PIN; reading it would need one, so we don't.
    const auth = token.kind === 'android' ? null : describe(await jpki.readCertificate('auth'));
    printJson({
      token: token.kind,
      authCertificate: auth,
      authCa: describe(await jpki.readCertificate('authCa')),
      signCa: describe(await jpki.readCertificate('signCa')),
      signCertificate: 'readable only after the signing password',
      triesLeft: { auth: await jpki.triesLeft('auth'), sign: await jpki.triesLeft('sign') },
    });
  } finally {
    await transport.close();
  }
}

export async function sign(a: Parsed): Promise<void> {
  const key = oneOf(a, 'key', ['auth', 'sign'] as const);
  const data = await readFile(required(a, 'in'));
  const out = required(a, 'out');
  const secret = await readSecret(
    a.values['pin-stdin'] === true,
    key === 'auth' ? '利用者証明用暗証番号 / auth PIN (4 digits): ' : '署名用パスワード / signing password: ',
  );
  const transport = await openCard(a);
  try {
    const jpki = new JpkiClient(transport);
    await jpki.selectJpki();
    await jpki.verify(key, secret);
    const signature = await jpki.sign(key, digestInfo('sha256', createHash('sha256').update(data).digest()));
    await writeFile(out, signature);
    printJson({ key, out, algorithm: 'sha256WithRSAEncryption', bytes: signature.length });
  } finally {
    await transport.close();
  }
}
