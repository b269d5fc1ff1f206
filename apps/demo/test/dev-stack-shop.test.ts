/**
 * The development stack registers the shop as a client of its own: its key lives in the data directory beside the
 * bank's (and is added to a directory made before the shop had one), and its port defaults to the bank's + 1,
 * falling back to a free one when that is taken.
 */
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { mkdtemp, readdir, rm, stat, unlink } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openDevData, startDevStack } from '../src/index.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mynagate-devshop-'));
});
after(() => rm(dir, { recursive: true, force: true }));

const publicJwk = (key: Parameters<typeof createPublicKey>[0]) =>
  JSON.stringify(createPublicKey(key).export({ format: 'jwk' }));

describe('dev data: the shop has a key of its own', () => {
  it('is made on the first run beside the bank’s, owner-only, and added to an older directory on open', async () => {
    const data = join(dir, 'data');
    const first = await openDevData(data, { scryptCost: 1 << 10 });
    assert.equal(first.created, true);
    assert.notEqual(publicJwk(first.shopClientKey), publicJwk(first.demoClientKey), 'not the bank’s key');
    assert.equal((await stat(join(data, 'shop-client-key.json'))).mode & 0o777, 0o600);

    // A directory from before the shop had a client: no shop key file.
    await unlink(join(data, 'shop-client-key.json'));
    const reopened = await openDevData(data);
    assert.equal(reopened.created, false);
    assert.ok((await readdir(data)).includes('shop-client-key.json'), 'the key is added');
    assert.equal((await stat(join(data, 'shop-client-key.json'))).mode & 0o777, 0o600);
    assert.notEqual(publicJwk(reopened.shopClientKey), publicJwk(reopened.demoClientKey));
    assert.equal(publicJwk(reopened.demoClientKey), publicJwk(first.demoClientKey), 'the bank keeps its key');
  });
});

/** Listens on `port` (0: any), or undefined when it is taken. */
async function hold(port: number): Promise<Server | undefined> {
  const s = createServer();
  return new Promise((resolve) => {
    s.once('error', () => resolve(undefined));
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}
const portOf = (s: Server) => (s.address() as { port: number }).port;
const release = (s: Server | undefined) => new Promise<void>((r) => (s ? s.close(() => r()) : r()));

describe('dev stack: the shop port', () => {
  it('registers both clients, the shop on its own origin and id', async () => {
    const stack = await startDevStack({ dataDir: join(dir, 'both'), port: 0, demoPort: 0, scryptCost: 1 << 10 });
    try {
      const ids = stack.demo.clients.map((c) => c.client_id);
      assert.deepEqual(ids, ['mynagate-demo', 'mynagate-demo-shop']);
      assert.notEqual(stack.demo.shop.url, stack.demo.url);
      // The provider knows the shop by its own id and callback: an authorization request goes to the login page.
      const auth = new URL('/auth', stack.idp.issuer);
      auth.search = new URLSearchParams({
        client_id: 'mynagate-demo-shop',
        redirect_uri: `${stack.demo.shop.url}/callback`,
        response_type: 'code',
        scope: 'openid',
        code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
        code_challenge_method: 'S256',
        state: 'state-0123456789abcdef',
        nonce: 'nonce-0123456789abcdef',
      }).toString();
      const res = await fetch(auth, { redirect: 'manual' });
      assert.equal(res.status, 303, await res.text());
      assert.match(res.headers.get('location') ?? '', /^\/interaction\//);
    } finally {
      await stack.close();
    }
  });

  it("falls back to a free port when the bank's port + 1 is taken, and uses it when free", async () => {
    // A free port P - 1 whose neighbour P this test holds.
    let held: Server | undefined;
    let bankPort = 0;
    for (let tries = 0; tries < 20 && bankPort === 0; tries++) {
      const s = (await hold(0))!;
      const probe = await hold(portOf(s) - 1);
      if (probe !== undefined) {
        bankPort = portOf(probe);
        await release(probe);
        held = s;
      } else await release(s);
    }
    assert.ok(held && bankPort !== 0, 'found a free port beside a held one');
    try {
      const stack = await startDevStack({ dataDir: join(dir, 'ports'), port: 0, demoPort: bankPort });
      try {
        assert.equal(stack.demo.url, `http://127.0.0.1:${bankPort}`);
        assert.notEqual(new URL(stack.demo.shop.url).port, String(bankPort + 1), 'not the held port');
      } finally {
        await stack.close();
      }
    } finally {
      await release(held);
    }
    const stack = await startDevStack({ dataDir: join(dir, 'ports'), port: 0, demoPort: bankPort });
    try {
      assert.equal(stack.demo.shop.url, `http://127.0.0.1:${bankPort + 1}`);
    } finally {
      await stack.close();
    }
  });
});
