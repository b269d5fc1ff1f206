/** The card contract against the in-process virtual card (VirtualCard.open + VirtualTransport). */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { VirtualCard } from '../src/virtual/card.ts';
import { VirtualTransport } from '../src/virtual/transport.ts';
import { cardContract } from './contract.ts';
import { makeCardFile, testCardSpec } from './support/fixture.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mynagate-card-'));
  await testCardSpec(); // generate keys and certificates once, outside the per-test timing
});
after(() => rm(dir, { recursive: true, force: true }));

cardContract('in-process virtual card', async () => {
  const cardFile = await makeCardFile(dir);
  const transport = new VirtualTransport(VirtualCard.open(cardFile));
  return { transport, cardFile, close: () => transport.close() };
});
