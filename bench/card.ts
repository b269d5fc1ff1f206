/**
 * Card figures: APDU round trips through the in-process virtual card, and virtual-card signing against a plain
 * `crypto.sign` measured in the same run (the card adds parsing, state checks and padding around the same RSA op).
 */
import { createHash, createPrivateKey, generateKeyPairSync, sign } from 'node:crypto';
import { digestInfo } from '../packages/card/src/digest-info.ts';
import { fakeMyNumber } from '../packages/card/src/my-number.ts';
import { VirtualCard } from '../packages/card/src/virtual/card.ts';
import { VirtualTransport } from '../packages/card/src/virtual/transport.ts';
import { opsPerSecond, type Bench, type Figure } from './figure.ts';

const hex = (s: string) => Uint8Array.from(s.split(' '), (b) => parseInt(b, 16));

export const bench: Bench = async (log) => {
  const key = () =>
    generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'der', type: 'pkcs8' });
  // The card only needs certificate EFs shaped like DER (30 82 LL LL); no X.509 is parsed here.
  const cert = Uint8Array.from({ length: 1004 }, (_, i) => [0x30, 0x82, 0x03, 0xe8][i] ?? 0);
  const authKey = key();
  const card = await VirtualCard.fromSpec(
    {
      profile: 'card',
      authKey,
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
  const transport = new VirtualTransport(card);
  const send = (command: string) => transport.transmit(hex(command));
  await send('00 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01');
  await send('00 A4 02 0C 02 00 18');

  log('card: empty VERIFY round trips');
  const emptyVerify = hex('00 20 00 80');
  const roundTrips = await opsPerSecond(() => transport.transmit(emptyVerify));
  const direct = await opsPerSecond(() => card.process(emptyVerify));

  log('card: signatures');
  await send('00 20 00 80 04 31 32 33 34');
  await send('00 A4 02 0C 02 00 17');
  const message = Buffer.from('bench');
  const di = digestInfo('sha256', createHash('sha256').update(message).digest());
  const signApdu = Uint8Array.of(0x80, 0x2a, 0x00, 0x80, di.length, ...di, 0x00);
  const virtualSign = await opsPerSecond(() => transport.transmit(signApdu), 1500);
  const keyObject = createPrivateKey({ key: authKey, format: 'der', type: 'pkcs8' });
  const plainSign = await opsPerSecond(() => sign('sha256', message, keyObject), 1500);
  await transport.close();

  const signBaseline = { name: 'crypto.sign RSA-2048 per s', value: plainSign, unit: 'ops/s' };
  const figures: Figure[] = [
    {
      name: 'card.apdu_roundtrips_per_s_inprocess',
      value: roundTrips,
      unit: 'ops/s',
      baseline: { name: 'VirtualCard.process direct per s', value: direct, unit: 'ops/s' },
    },
    { name: 'card.virtual_sign_per_s', value: virtualSign, unit: 'ops/s', baseline: signBaseline },
    { name: 'card.virtual_sign_ratio', value: virtualSign / plainSign, unit: 'ratio', baseline: signBaseline },
  ];
  return figures;
};
