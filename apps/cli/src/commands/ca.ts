/** `mynagate ca …`: the test JPKI's certificate authority. */
import { randomUUID } from 'node:crypto';
import { copyFile, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { readCardFile, renewCardFile } from '@mynagate/card/virtual';
import type { CardFile, RenewedKeys } from '@mynagate/card/virtual';
import { parseCertificate } from '@mynagate/pki';
import { serveTestJpki, syncDir, TestJpki, writeFileAtomic } from '@mynagate/pki/testing';
import { oneOf, optional, port, required } from '../args.ts';
import type { Parsed } from '../main.ts';
import { printJson, UsageError } from '../output.ts';
import { listening } from '../system-error.ts';

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
  // The port goes into every certificate's OCSP URL: 0 (any free port) names no responder.
  const ocspPort = port(a, 'ocsp-port', 8790, 1);
  await mkdir(dir, { recursive: true });
  const jpki = await TestJpki.init(dir, { ocspPort });
  printJson({ dir, authCa: join(dir, 'auth-ca.pem'), signCa: join(dir, 'sign-ca.pem'), ocsp: jpki.ocspBaseUrl });
}

export async function revoke(a: Parsed): Promise<void> {
  const raw = required(a, 'serial');
  if (!/^[0-9a-fA-F]{1,128}$/.test(raw.replace(/^0x/i, '').replaceAll(':', ''))) {
    throw new UsageError('--serial must be hex (0x and colons allowed)');
  }
  const serial = raw.toLowerCase().replace(/^0x/, '');
  const reason = oneOf(a, 'reason', REASONS, 'unspecified');
  const jpki = await TestJpki.open(required(a, 'dir'));
  await jpki.revoke(serial, reason);
  printJson({ serial, status: 'revoked', reason });
}

/**
 * Renews the card's certificates. The new keys exist only in this process until the card holds them, and the test
 * JPKI keeps no card keys; so they go first to a journal next to the card (`<card>.renewal`), then the renewal is
 * recorded, then they are put on the card and the journal is removed. A run that died in between is finished by the
 * next one: a journal the test JPKI recorded as the successor goes onto the card; any other journal is dropped.
 */
export async function renew(a: Parsed): Promise<void> {
  const jpki = await TestJpki.open(required(a, 'dir'));
  const file = required(a, 'card');
  const journal = `${file}.renewal`;
  const { certificates } = readCardFile(file);
  const current = {
    authCert: Buffer.from(certificates.auth, 'base64'),
    signCert: Buffer.from(certificates.sign, 'base64'),
  };
  const pending = await readJournal(journal);
  if (pending) {
    const onCard = parseCertificate(current.authCert).serialNumber;
    const next = parseCertificate(Buffer.from(pending.certificates.auth, 'base64')).serialNumber;
    const recorded = next === onCard || jpki.linksOf(onCard).successor?.serial === next;
    if (recorded) {
      if (next !== onCard) renewCardFile(file, journalKeys(pending));
      await rm(journal, { force: true });
      await syncDir(dirname(file));
      const signSerial = parseCertificate(Buffer.from(pending.certificates.sign, 'base64')).serialNumber;
      printJson({ card: file, authSerial: next, signSerial, recovered: true });
      return;
    }
    await rm(journal, { force: true });
  }
  const renewed = await jpki.renewKeys(current, { beforeSave: (r) => writeJournal(file, journal, r) });
  renewCardFile(file, renewed);
  await rm(journal, { force: true });
  await syncDir(dirname(file));
  printJson({ card: file, authSerial: renewed.authSerial, signSerial: renewed.signSerial });
}

/** The card as it will be after the renewal, complete under `journal` or not there at all. */
async function writeJournal(file: string, journal: string, renewed: RenewedKeys): Promise<void> {
  const tmp = `${journal}.${randomUUID()}.tmp`;
  try {
    await copyFile(file, tmp);
    renewCardFile(tmp, renewed); // durable: temp file, fsync, rename
    await rename(tmp, journal);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  await syncDir(dirname(journal));
}

/** The journal of an unfinished renewal, if one is there and whole. */
async function readJournal(journal: string): Promise<CardFile | undefined> {
  try {
    await stat(journal);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    return readCardFile(journal);
  } catch {
    return undefined; // not ours to finish: dropped with the renewal that replaces it
  }
}

function journalKeys(f: CardFile): RenewedKeys {
  const bytes = (b64: string) => new Uint8Array(Buffer.from(b64, 'base64'));
  return {
    authKey: bytes(f.keys.auth),
    signKey: bytes(f.keys.sign),
    authCert: bytes(f.certificates.auth),
    signCert: bytes(f.certificates.sign),
  };
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
      // A reader sees the old CRL or the new one, never a part.
      await writeFileAtomic(path, await jpki.crl(kind, partition ? { partition } : {}), 0o644);
      written.push(path);
    }
  }
  printJson({ crl: written });
}

export async function ocsp(a: Parsed): Promise<void> {
  const host = optional(a, 'host') ?? '127.0.0.1';
  // An empty host would listen on every interface, not the loopback one the default keeps it to.
  if (host === '') throw new UsageError('--host must name an address, e.g. 127.0.0.1');
  const jpki = await TestJpki.open(required(a, 'dir'));
  const listenPort = port(a, 'port', 8790);
  const server = await listening(host, listenPort, () => serveTestJpki(jpki, { port: listenPort, host }));
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
