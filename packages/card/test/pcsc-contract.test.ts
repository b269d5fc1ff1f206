/**
 * The card contract through real PC/SC: each test's card file is served by the vpcd bridge, pcscd sees it in the
 * "Virtual PCD" reader, and the client reaches it with PcscTransport (short APDUs, T=1), as it would a real card.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import { PcscTransport } from '../src/pcsc.ts';
import { cardContract } from './contract.ts';
import { makeCardFile, testCardSpec } from './support/fixture.ts';
import { insertCardFile } from './support/pcscd.ts';
import { systemSkipReason } from './support/system.ts';

const skip = await systemSkipReason(['pcscd', 'vpcd']);

describe('PC/SC (pcscd + vpcd)', { skip }, () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mynagate-pcsc-'));
    await testCardSpec(); // keys and certificates once, outside the per-test timing
  });
  after(() => rm(dir, { recursive: true, force: true }));

  cardContract('pcscd+vpcd', async () => {
    const cardFile = await makeCardFile(dir);
    const inserted = await insertCardFile(cardFile);
    try {
      const transport = await PcscTransport.connect({ reader: inserted.reader });
      return {
        transport,
        cardFile,
        close: async () => {
          await transport.close();
          await inserted.remove();
        },
      };
    } catch (e) {
      await inserted.remove();
      throw e;
    }
  });
});
