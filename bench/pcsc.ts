/**
 * PC/SC figures: empty VERIFY round trips through pcscd + vpcd (PcscTransport → pcscd → vpcd driver → TCP → the
 * vpcd bridge → VirtualCard), beside the same command on the same card file in-process, measured in the same run.
 *
 * Skips (no figures) when pcscd or its vpcd reader is not available, or when vpcd slot 0 already holds a card.
 * It never starts pcscd itself.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fakeMyNumber } from '../packages/card/src/my-number.ts';
import { listReaders, PcscTransport } from '../packages/card/src/pcsc.ts';
import { VirtualCard } from '../packages/card/src/virtual/card.ts';
import { writeCardFile } from '../packages/card/src/virtual/card-file.ts';
import { VirtualTransport } from '../packages/card/src/virtual/transport.ts';
import { insertCardFile, vpcdReaders } from '../packages/card/test/support/pcscd.ts';
import { opsPerSecond, type Bench, type Figure } from './figure.ts';

const hex = (s: string) => Uint8Array.from(s.split(' '), (b) => parseInt(b, 16));

export const bench: Bench = async (log) => {
  try {
    await listReaders();
  } catch (e) {
    log(`pcsc: skipped, pcscd is not available (${(e as { code?: string }).code ?? String(e)})`);
    return [];
  }
  const reader = (await vpcdReaders()).get(0);
  if (reader === undefined) {
    log('pcsc: skipped, pcscd has no vpcd reader (install vsmartcard-vpcd and restart pcscd)');
    return [];
  }
  if ((await listReaders()).find((r) => r.name === reader)?.cardPresent) {
    log(`pcsc: skipped, ${reader} already holds a card`);
    return [];
  }

  const dir = await mkdtemp(join(tmpdir(), 'mynagate-bench-pcsc-'));
  try {
    const key = () =>
      generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'der', type: 'pkcs8' });
    // The card only needs certificate EFs shaped like DER (30 82 LL LL); no X.509 is parsed here.
    const cert = Uint8Array.from({ length: 1004 }, (_, i) => [0x30, 0x82, 0x03, 0xe8][i] ?? 0);
    const cardFile = join(dir, 'card.json');
    await writeCardFile(
      cardFile,
      {
        profile: 'card',
        authKey: key(),
        signKey: key(),
        authCert: cert,
        authCaCert: cert,
        signCert: cert,
        signCaCert: cert,
        authPin: '1234',
        signPassword: 'BENCH2025',
        text: { myNumber: fakeMyNumber(), name: 'ベンチ　太郎', address: '東京都', birthDate: '20000101', sex: '9' },
      },
      { scryptCost: 1 << 10 },
    );
    const emptyVerify = hex('00 20 00 80');
    const prepare = async (transmit: (c: Uint8Array) => Promise<Uint8Array>) => {
      await transmit(hex('00 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01'));
      await transmit(hex('00 A4 02 0C 02 00 18'));
    };

    log('pcsc: empty VERIFY round trips in-process (baseline)');
    const local = new VirtualTransport(VirtualCard.open(cardFile));
    await prepare((c) => local.transmit(c));
    const inProcess = await opsPerSecond(() => local.transmit(emptyVerify));
    await local.close();

    log(`pcsc: empty VERIFY round trips through pcscd + vpcd (${reader})`);
    const inserted = await insertCardFile(cardFile);
    let throughPcscd: number;
    try {
      const transport = await PcscTransport.connect({ reader: inserted.reader });
      try {
        await prepare((c) => transport.transmit(c));
        throughPcscd = await opsPerSecond(() => transport.transmit(emptyVerify), 2000);
      } finally {
        await transport.close();
      }
    } finally {
      await inserted.remove();
    }

    const baseline = { name: 'card.apdu_roundtrips_per_s in-process, same card file', value: inProcess, unit: 'ops/s' };
    const figures: Figure[] = [
      { name: 'card.apdu_roundtrips_per_s_pcscd', value: throughPcscd, unit: 'ops/s', baseline },
      { name: 'card.apdu_roundtrips_pcscd_ratio', value: throughPcscd / inProcess, unit: 'ratio', baseline },
      // Per APDU on Linux, vpcd writes the 2-byte length and the payload separately; Nagle holds the payload until
      // the length's delayed ACK (~40 ms) comes back, so this figure is mostly that wait, not pcscd.
      {
        name: 'card.apdu_roundtrip_ms_pcscd',
        value: 1000 / throughPcscd,
        unit: 'ms',
        baseline: { name: 'in-process', value: 1000 / inProcess, unit: 'ms' },
      },
    ];
    return figures;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
};
