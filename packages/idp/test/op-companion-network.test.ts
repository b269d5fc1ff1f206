/**
 * The companion learns whether it scanned from the network the login started on (QRLJacking: a phishing page relays
 * the QR code of a login its owner's browser started): `network` is `same` for the browser's IPv4 /24 or IPv6 /64,
 * `other` for another one or an unknown one. Another network is real here: a companion bound to 127.0.1.1 on Linux
 * loopback, or, behind a trusted proxy, another `X-Forwarded-For`. The store keeps a keyed tag, never the address,
 * and the operator's log gets one `login.scanned` line with the client and `same`/`other`. The same for the eKYC
 * signing QR code (`/companion/sign/…`, compared with the browser that opened the signing page; `sign.scanned`): a
 * relayed one would have the person's signature give the relaying page's session a verified identity.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { request } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createMemoryStores } from '../src/memory-stores.ts';
import { LoginTransactions } from '../src/login-transaction.ts';
import { clientAddress, compareNetworks, networkPrefix, networkTagger, proxyTrust } from '../src/network-tag.ts';
import { loginScannedEvent } from '../src/interactions/companion.ts';
import { signScannedEvent } from '../src/ekyc/pages.ts';
import { SignTransactions } from '../src/ekyc/sign-transaction.ts';
import type { Agent } from './support/op-agent.ts';
import { authorizeExtra, consent, issueCard, loginThenStop, startEkycIdp } from './support/ekyc-fixture.ts';
import {
  createOpFixture,
  RP_JWT,
  startLogin,
  type OpFixture,
  type TestCard,
  type TestIdp,
} from './support/op-fixture.ts';

let f: OpFixture;
let idp: TestIdp;
let proxied: TestIdp;
/** Behind listed proxies: 127.0.0.1 (where the tests' browser and companion connect from) and 10.0.0.0/8. */
let listed: TestIdp;
let ekyc: TestIdp;
let ekycProxied: TestIdp;
let card: TestCard;

before(async () => {
  f = await createOpFixture();
  idp = await f.start();
  proxied = await f.start({ trustProxy: true });
  listed = await f.start({ trustProxy: ['127.0.0.1/32', '10.0.0.0/8'] });
  [ekyc, ekycProxied, card] = await Promise.all([
    startEkycIdp(f),
    startEkycIdp(f, { trustProxy: true }),
    issueCard(f, { name: '試験　網子' }),
  ]);
});
after(async () => {
  await Promise.all([ekyc?.close(), ekycProxied?.close()]);
  await f.close();
});

/** The companion's scan over TLS, from `localAddress` and with `headers` (a proxy's X-Forwarded-For). */
function scanFrom(
  link: string,
  options: { readonly localAddress?: string; readonly headers?: Record<string, string> } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      link,
      {
        ca: f.tls.cert,
        headers: { accept: 'application/json', ...options.headers },
        localAddress: options.localAddress,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** The browser loads the login page again with `headers` (a new transaction, from there); returns its QR link. */
async function reloadFrom(agent: Agent, pageUrl: URL, headers: Record<string, string>): Promise<string> {
  const res = await agent.fetch(pageUrl, { headers });
  assert.equal(res.status, 200);
  const link = /data-link="([^"]+)"/.exec(await res.text())?.[1]?.replaceAll('&amp;', '&');
  assert.ok(link);
  return link;
}

/** The `login.scanned` (or `event`) events written on stderr while `fn` runs. */
async function scannedEvents(fn: () => Promise<void>, event = 'login.scanned'): Promise<Record<string, string>[]> {
  const written: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    written.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stderr.write;
  try {
    await fn();
    await sleep(20);
  } finally {
    process.stderr.write = write;
  }
  return written
    .join('')
    .split('\n')
    .filter((l) => l.includes(`"${event}"`))
    .map((l) => JSON.parse(l) as Record<string, string>);
}

describe('the companion view says whether the scan came from the login’s network', () => {
  it('same: browser and companion both on 127.0.0.1; and 127.0.0.2, in the same /24', async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    const first = await scanFrom(login.link);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body['network'], 'same');
    const second = await scanFrom(login.link, { localAddress: '127.0.0.2' });
    assert.equal(second.body['network'], 'same');
    await login.events.close();
  });

  it('other: the companion on 127.0.1.1, another /24 of the loopback network', async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    const { status, body } = await scanFrom(login.link, { localAddress: '127.0.1.1' });
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body['network'], 'other');
    // The rest of the view is as before: the person may still continue.
    assert.equal(body['intent'], 'login');
    assert.equal(typeof body['challenge'], 'string');
    await login.events.close();
  });

  it('without trustProxy, X-Forwarded-For is not believed: a forged header does not make a scan "same"', async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    const { body } = await scanFrom(login.link, {
      localAddress: '127.0.1.1',
      headers: { 'x-forwarded-for': '127.0.0.1' },
    });
    assert.equal(body['network'], 'other');
    await login.events.close();
  });

  it('behind a trusted proxy: the X-Forwarded-For entry the proxy added decides, not one the client sent', async () => {
    const login = await startLogin(proxied, proxied.jwtRp, RP_JWT.redirectUri);
    const link = await reloadFrom(login.agent, login.pageUrl, { 'x-forwarded-for': '203.0.113.7' });
    const from = async (xff: string) => (await scanFrom(link, { headers: { 'x-forwarded-for': xff } })).body['network'];
    assert.equal(await from('203.0.113.200'), 'same');
    assert.equal(await from('198.51.100.7'), 'other');
    // The phishing page's owner learnt the victim's address and sends it first; the proxy appends the real one.
    assert.equal(await from('203.0.113.7, 198.51.100.7'), 'other');
    assert.equal(await from('198.51.100.7, 203.0.113.9'), 'same');
    // The socket (the proxy, shared by all) is no client: without the header the network is unknown.
    assert.equal((await scanFrom(link)).body['network'], 'other');
    await login.events.close();
  });

  it('behind listed proxies: a direct connection is its own client, a chain of listed proxies is walked through', async () => {
    const login = await startLogin(listed, listed.jwtRp, RP_JWT.redirectUri);
    const link = await reloadFrom(login.agent, login.pageUrl, { 'x-forwarded-for': '203.0.113.7' });
    const from = async (xff: string | undefined, localAddress?: string) =>
      (
        await scanFrom(link, {
          ...(localAddress === undefined ? {} : { localAddress }),
          ...(xff === undefined ? {} : { headers: { 'x-forwarded-for': xff } }),
        })
      ).body['network'];
    // Through the listed proxy (127.0.0.1), as with `true`.
    assert.equal(await from('203.0.113.200'), 'same');
    assert.equal(await from('198.51.100.7'), 'other');
    // A load balancer (10.1.2.3, listed) behind the proxy: the entry before it is the client.
    assert.equal(await from('203.0.113.9, 10.1.2.3'), 'same');
    assert.equal(await from('203.0.113.9, 198.51.100.7, 10.1.2.3'), 'other');
    // Connected directly (127.0.1.1 is no listed proxy): the header it sends names no one; with `true` it would.
    assert.equal(await from('203.0.113.7', '127.0.1.1'), 'other');
    // Only listed proxies, no header, or an entry that is no address: unknown, so "other".
    assert.equal(await from('10.0.0.1, 10.0.0.2'), 'other');
    assert.equal(await from(undefined), 'other');
    assert.equal(await from('203.0.113.7, unknown'), 'other');
    await login.events.close();
  });

  it('an IPv4-mapped IPv6 address is its IPv4 network', async () => {
    const login = await startLogin(proxied, proxied.jwtRp, RP_JWT.redirectUri);
    const link = await reloadFrom(login.agent, login.pageUrl, { 'x-forwarded-for': '::ffff:203.0.113.7' });
    assert.equal((await scanFrom(link, { headers: { 'x-forwarded-for': '203.0.113.8' } })).body['network'], 'same');
    await login.events.close();
  });

  it('keeps a tag, never the address, in the stored transaction and the store files', async () => {
    const login = await startLogin(proxied, proxied.jwtRp, RP_JWT.redirectUri);
    const link = await reloadFrom(login.agent, login.pageUrl, { 'x-forwarded-for': '203.0.113.7' });
    const { body } = await scanFrom(link, { headers: { 'x-forwarded-for': '203.0.113.7' } });
    assert.equal(body['network'], 'same');
    const stored = await proxied.stores.oneShot.get(`login:${String(body['txn'])}`);
    assert.ok(typeof stored === 'string');
    const network = (JSON.parse(stored) as { network?: unknown }).network;
    assert.match(String(network), /^[A-Za-z0-9_-]{22}$/, 'a tag is kept');
    for (const text of ['203.0.113.7', '203.0.113', '::ffff:', '4:203']) {
      assert.equal(stored.includes(text), false, text);
    }
    const files = (await readdir(f.dir)).filter((n) => n.startsWith('idp-'));
    assert.ok(files.length > 0);
    for (const name of files) {
      const bytes = await readFile(join(f.dir, name));
      assert.equal(bytes.includes('203.0.113'), false, name);
    }
    await login.events.close();
  });

  it('writes one login.scanned event per scan: time, client_id and same/other, nothing else', async () => {
    const login = await startLogin(proxied, proxied.jwtRp, RP_JWT.redirectUri);
    const link = await reloadFrom(login.agent, login.pageUrl, { 'x-forwarded-for': '203.0.113.7' });
    const events = await scannedEvents(async () => {
      await scanFrom(link, { headers: { 'x-forwarded-for': '203.0.113.8' } });
      await scanFrom(link, { headers: { 'x-forwarded-for': '198.51.100.7' } });
    });
    assert.deepEqual(
      events.map((e) => [e['event'], e['client_id'], e['network']]),
      [
        ['login.scanned', RP_JWT.clientId, 'same'],
        ['login.scanned', RP_JWT.clientId, 'other'],
      ],
    );
    for (const e of events) assert.deepEqual(Object.keys(e).sort(), ['client_id', 'event', 'network', 'time']);
    // A refused scan (a forged code) writes none.
    const forged = new URL(link);
    forged.searchParams.set('c', 'x');
    assert.deepEqual(await scannedEvents(async () => void (await scanFrom(forged.href))), []);
    await login.events.close();
  });
});

describe('network tags', () => {
  it('cuts IPv4 at /24 and IPv6 at /64; an IPv4-mapped address is IPv4; anything else is unknown', () => {
    assert.equal(networkPrefix('203.0.113.7'), '4:203.0.113');
    assert.equal(networkPrefix('::ffff:203.0.113.7'), '4:203.0.113');
    assert.equal(networkPrefix('::ffff:cb00:7107'), '4:203.0.113');
    assert.equal(networkPrefix('2001:db8:1:2::1'), '6:2001:db8:1:2');
    assert.equal(networkPrefix('2001:0db8:0001:0002:ffff:ffff:ffff:ffff'), '6:2001:db8:1:2');
    assert.equal(networkPrefix('fe80::1%eth0'), '6:fe80:0:0:0');
    assert.equal(networkPrefix('::1'), '6:0:0:0:0');
    assert.equal(networkPrefix('64:ff9b::203.0.113.7'), '6:64:ff9b:0:0', 'NAT64 is not IPv4-mapped');
    for (const bad of [
      undefined,
      '',
      'unknown',
      '203.0.113',
      '203.0.113.7.1',
      '01.2.3.4',
      '2001:db8::1::2',
      'localhost',
    ]) {
      assert.equal(networkPrefix(bad), undefined, String(bad));
    }
  });

  it('reads the socket, or behind a trusted proxy the last X-Forwarded-For entry without a port', () => {
    const req = (remoteAddress: string | undefined, xff?: string) =>
      ({
        socket: { remoteAddress },
        headers: xff === undefined ? {} : { 'x-forwarded-for': xff },
      }) as unknown as IncomingMessage;
    assert.equal(clientAddress(req('127.0.0.1', '203.0.113.7'), false), '127.0.0.1');
    assert.equal(clientAddress(req('127.0.0.1', '203.0.113.7'), true), '203.0.113.7');
    assert.equal(clientAddress(req('127.0.0.1', '198.51.100.1, 203.0.113.7'), true), '203.0.113.7');
    assert.equal(clientAddress(req('127.0.0.1', '203.0.113.7:5555'), true), '203.0.113.7');
    assert.equal(clientAddress(req('127.0.0.1', '[2001:db8::1]:443'), true), '2001:db8::1');
    assert.equal(clientAddress(req('127.0.0.1', '203.0.113.7, '), true), undefined);
    assert.equal(clientAddress(req('127.0.0.1'), true), undefined);
    assert.equal(clientAddress(req(undefined), false), undefined);
  });

  it('with trustProxy true reads the last entry only: what the client sent to its left is never parsed', () => {
    const req = (xff: string) =>
      ({ socket: { remoteAddress: '127.0.0.1' }, headers: { 'x-forwarded-for': xff } }) as unknown as IncomingMessage;
    // The last entry is cleaned like any the listed proxies pass on: unmapped, and an unreadable one is unknown.
    assert.equal(clientAddress(req('198.51.100.1, ::ffff:203.0.113.7'), true), '203.0.113.7');
    assert.equal(clientAddress(req('198.51.100.1, [::ffff:203.0.113.7]:443'), true), '203.0.113.7');
    assert.equal(clientAddress(req('198.51.100.1, fe80::1%eth0'), true), 'fe80::1');
    for (const bad of ['unknown', '203.0.113.7%eth0', '203.0.113', '']) {
      assert.equal(clientAddress(req(`198.51.100.1, ${bad}`), true), undefined, bad);
    }
    // Every regular expression run is counted (String methods given one call RegExp.prototype.exec): a long and
    // malformed left part costs none and changes nothing.
    const left = '[, unknown, ::ffff:, 198.51.100.1:80, '.repeat(10_000);
    const exec = RegExp.prototype.exec;
    let runs = 0;
    RegExp.prototype.exec = function (this: RegExp, text: string) {
      runs++;
      return exec.call(this, text);
    };
    let address: string | undefined;
    try {
      address = clientAddress(req(`${left}203.0.113.7:5555`), true);
    } finally {
      RegExp.prototype.exec = exec;
    }
    assert.equal(address, '203.0.113.7');
    assert.ok(runs <= 4, `${runs} regular expression runs`);
  });

  it('takes the last entry of the last X-Forwarded-For line, as node:http joins repeated lines', async () => {
    const server = createServer((req, res) =>
      res.end(
        JSON.stringify([
          clientAddress(req, true) ?? null,
          clientAddress(req, proxyTrust(['127.0.0.1', '10.0.0.0/8'])) ?? null,
        ]),
      ),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const send = (lines: readonly string[]) =>
      new Promise<unknown>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () =>
          socket.end(
            `GET / HTTP/1.1\r\nHost: x\r\n${lines.map((l) => `X-Forwarded-For: ${l}\r\n`).join('')}Connection: close\r\n\r\n`,
          ),
        );
        const chunks: Buffer[] = [];
        socket.on('data', (c: Buffer) => chunks.push(c));
        socket.on('error', reject);
        socket.on('close', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8').split('\r\n\r\n')[1]!)));
      });
    try {
      // The client's own line first, then the one a proxy added (HAProxy adds a line rather than extending one).
      assert.deepEqual(await send(['198.51.100.1, 192.0.2.9', '203.0.113.7']), ['203.0.113.7', '203.0.113.7']);
      assert.deepEqual(await send(['198.51.100.1', '203.0.113.7, 10.0.0.1']), ['10.0.0.1', '203.0.113.7']);
      // An empty last line: the nearest proxy named no one.
      assert.deepEqual(await send(['203.0.113.7', '']), [null, null]);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('knows an IPv4-mapped address in every text form, alike in the list, the chain and the tag', () => {
    const req = (remoteAddress: string, xff: string) =>
      ({ socket: { remoteAddress }, headers: { 'x-forwarded-for': xff } }) as unknown as IncomingMessage;
    const trust = proxyTrust(['10.0.0.0/8']);
    // A proxy named in hexadecimal or in full is still the listed proxy, not the client (its network would be 10.0.0).
    for (const proxy of ['::ffff:a00:1', '0:0:0:0:0:ffff:10.0.0.1', '::FFFF:10.0.0.1', '::ffff:10.0.0.1%eth0']) {
      assert.equal(clientAddress(req('10.1.2.3', `203.0.113.7, ${proxy}`), trust), '203.0.113.7', proxy);
      assert.equal(networkPrefix(proxy), '4:10.0.0', proxy);
    }
    assert.equal(clientAddress(req('10.1.2.3', '::ffff:cb00:7107'), trust), '203.0.113.7');
    // Listed so, it is the IPv4 network (10.0.0.0/8), as the dotted form is.
    for (const list of [['::ffff:a00:0/104'], ['0:0:0:0:0:ffff:10.0.0.0/104']]) {
      assert.equal(clientAddress(req('10.1.2.3', '203.0.113.7'), proxyTrust(list)), '203.0.113.7', list[0]);
      assert.equal(clientAddress(req('198.51.100.9', '203.0.113.7'), proxyTrust(list)), '198.51.100.9', list[0]);
    }
    assert.throws(() => proxyTrust(['::ffff:a00:0/80']), /^TypeError: trustProxy: "::ffff:a00:0\/80" reaches beyond/);
  });

  it('behind listed proxies an IPv4 address with a zone is unreadable, not the address before it', () => {
    const req = (xff: string) =>
      ({ socket: { remoteAddress: '10.1.2.3' }, headers: { 'x-forwarded-for': xff } }) as unknown as IncomingMessage;
    const trust = proxyTrust(['10.0.0.0/8']);
    assert.equal(clientAddress(req('198.51.100.1, 203.0.113.7%eth0'), trust), undefined);
    assert.equal(clientAddress(req('198.51.100.1, 203.0.113.7%eth0, 10.0.0.1'), trust), undefined);
    // An IPv6 zone is still cut (any interface name, though node:net refuses some): the address is readable.
    assert.equal(clientAddress(req('198.51.100.1, fe80::1%br_lan'), trust), 'fe80::1');
    assert.equal(networkPrefix('fe80::1%br_lan'), '6:fe80:0:0:0');
  });

  it('behind listed proxies reads the entry before the last listed one, and the socket of anyone else', () => {
    const req = (remoteAddress: string | undefined, xff?: string) =>
      ({
        socket: { remoteAddress },
        headers: xff === undefined ? {} : { 'x-forwarded-for': xff },
      }) as unknown as IncomingMessage;
    const trust = proxyTrust(['10.0.0.0/8', '192.0.2.7', '2001:db8:1::/48']);
    assert.equal(clientAddress(req('10.1.2.3', '203.0.113.7'), trust), '203.0.113.7');
    assert.equal(clientAddress(req('::ffff:10.1.2.3', '203.0.113.7'), trust), '203.0.113.7');
    assert.equal(clientAddress(req('192.0.2.7', '203.0.113.7, 10.9.9.9:80'), trust), '203.0.113.7');
    assert.equal(clientAddress(req('2001:db8:1:5::1', '[2001:db8:2::1]:443, 2001:db8:1::9'), trust), '2001:db8:2::1');
    assert.equal(clientAddress(req('10.1.2.3', '::ffff:10.0.0.1, ::ffff:203.0.113.7'), trust), '203.0.113.7');
    // Not a listed proxy: its own address, the header ignored.
    assert.equal(clientAddress(req('192.0.2.8', '203.0.113.7'), trust), '192.0.2.8');
    assert.equal(clientAddress(req('::ffff:198.51.100.1', '10.0.0.1'), trust), '198.51.100.1');
    assert.equal(clientAddress(req('fe80::1%eth0', '203.0.113.7'), trust), 'fe80::1');
    // Unknown: no header, only proxies, an empty or unreadable entry, no socket address.
    assert.equal(clientAddress(req('10.1.2.3'), trust), undefined);
    assert.equal(clientAddress(req('10.1.2.3', '10.0.0.1, 192.0.2.7'), trust), undefined);
    assert.equal(clientAddress(req('10.1.2.3', '203.0.113.7, '), trust), undefined);
    assert.equal(clientAddress(req('10.1.2.3', '203.0.113.7, unknown'), trust), undefined);
    assert.equal(clientAddress(req(undefined, '203.0.113.7'), trust), undefined);
  });

  it('compares IPv4 peers with IPv4 entries only: an IPv6 network over ::ffff:0:0/96 lists no IPv4 proxy', () => {
    const req = (remoteAddress: string, xff: string) =>
      ({ socket: { remoteAddress }, headers: { 'x-forwarded-for': xff } }) as unknown as IncomingMessage;
    // node:net's BlockList matches IPv4 against such IPv6 networks: a direct IPv4 client then named any IPv6 network.
    for (const list of [['::/8'], ['::/0']]) {
      assert.equal(clientAddress(req('198.51.100.9', '2001:db8:abcd::42'), proxyTrust(list)), '198.51.100.9', list[0]);
    }
    // IPv6 peers are still compared with IPv6 entries.
    assert.equal(clientAddress(req('::1', '2001:db8:abcd::42'), proxyTrust(['::/8'])), '2001:db8:abcd::42');
    // An IPv4-mapped entry is its IPv4 network (a dual-stack socket names IPv4 peers so).
    const mapped = proxyTrust(['::ffff:10.0.0.0/104']);
    assert.equal(clientAddress(req('10.1.2.3', '203.0.113.7'), mapped), '203.0.113.7');
    assert.equal(clientAddress(req('::ffff:10.1.2.3', '203.0.113.7'), mapped), '203.0.113.7');
    assert.equal(clientAddress(req('198.51.100.9', '203.0.113.7'), mapped), '198.51.100.9');
    assert.throws(
      () => proxyTrust(['::ffff:10.0.0.0/8']),
      (e: unknown) =>
        e instanceof TypeError &&
        e.message ===
          'trustProxy: "::ffff:10.0.0.0/8" reaches beyond IPv4-mapped addresses (a prefix under /96): write the IPv4 network itself, e.g. 10.0.0.0/8',
    );
  });

  it('refuses a list of proxies with an entry that is not an address or a network', () => {
    for (const bad of [['10.0.0.0/33'], ['2001:db8::/129'], ['proxy.example'], ['10.0.0.0/8/1'], ['10.0.0.0/'], [7]]) {
      assert.throws(
        () => proxyTrust(bad as string[]),
        (e: unknown) =>
          e instanceof TypeError &&
          e.message ===
            `trustProxy: ${JSON.stringify(bad[0])} is not an IP address or a network in CIDR form (e.g. 10.0.0.0/8, 2001:db8::/32)`,
        String(bad[0]),
      );
    }
    assert.throws(() => proxyTrust([]), /^TypeError: trustProxy must be true, false or a non-empty list/);
    assert.throws(() => proxyTrust('10.0.0.0/8' as unknown as string[]), /^TypeError: trustProxy must be true/);
    assert.equal(proxyTrust(true), true);
    assert.equal(proxyTrust(false), false);
    assert.equal(proxyTrust(undefined), false);
  });

  it('tags by a key from the secret: the same prefix agrees, another prefix or another secret does not', () => {
    const req = (remoteAddress: string) => ({ socket: { remoteAddress }, headers: {} }) as unknown as IncomingMessage;
    const tag = networkTagger(new Uint8Array(32).fill(1), false);
    const a = tag(req('203.0.113.7'));
    assert.match(String(a), /^[A-Za-z0-9_-]{22}$/);
    assert.equal(tag(req('203.0.113.250')), a);
    assert.equal(tag(req('::ffff:203.0.113.1')), a);
    assert.notEqual(tag(req('203.0.114.7')), a);
    assert.notEqual(networkTagger(new Uint8Array(32).fill(2), false)(req('203.0.113.7')), a);
    assert.equal(tag(req('not an address')), undefined);
    assert.equal(compareNetworks(a, a), 'same');
    assert.equal(compareNetworks(a, tag(req('203.0.114.7'))), 'other');
    assert.equal(compareNetworks(undefined, undefined), 'other');
    assert.equal(compareNetworks(a, undefined), 'other');
  });

  it('LoginTransactions.scan compares the tags, fails closed and tells the caller client and network', async () => {
    const legacyVerifier = {
      issueChallenge: async () => ({ nonce: Buffer.alloc(32, 1).toString('base64'), expiresAt: Date.now() + 60_000 }),
    };
    const transactions = new LoginTransactions({
      oneShot: createMemoryStores().oneShot,
      verifier: legacyVerifier,
      now: Date.now,
      origin: 'https://id.example.jp',
      loginTtlSeconds: 300,
      challengeTtlSeconds: 60,
      qrMaxAgeSeconds: 3,
    });
    const input = { uid: 'uid-1', clientId: 'rp', clientName: 'RP', clientOrigin: 'https://rp.example' };
    const scanOf = async (network: string | undefined, from: string | undefined) => {
      const { transaction } = await transactions.start({ ...input, network });
      const link = new URL(transactions.currentLink(transaction).link);
      const told: [string, string][] = [];
      const view = await transactions.scan(transaction.txn, link.searchParams.get('t'), link.searchParams.get('c'), {
        network: from,
        scanned: (clientId, n) => told.push([clientId, n]),
      });
      assert.deepEqual(told, [['rp', view.network]]);
      return view.network;
    };
    assert.equal(await scanOf('tag-a', 'tag-a'), 'same');
    assert.equal(await scanOf('tag-a', 'tag-b'), 'other');
    assert.equal(await scanOf('tag-a', undefined), 'other');
    assert.equal(await scanOf(undefined, undefined), 'other');
    // A caller that gives no companion network (the four-argument form's default) gets `other`.
    const { transaction } = await transactions.start({ ...input, network: 'tag-a' });
    const link = new URL(transactions.currentLink(transaction).link);
    const view = await transactions.scan(transaction.txn, link.searchParams.get('t'), link.searchParams.get('c'));
    assert.equal(view.network, 'other');
  });

  it('the login.scanned event is time, event, client_id and network', () => {
    assert.deepEqual(loginScannedEvent(Date.parse('2025-04-01T09:00:00Z'), 'bank', 'other'), {
      time: '2025-04-01T09:00:00.000Z',
      event: 'login.scanned',
      client_id: 'bank',
      network: 'other',
    });
  });
});

/** Verified claims asked for, so that the flow reaches the signing page. */
const VERIFIED = {
  verified_claims: {
    verification: { trust_framework: null, evidence: [{ type: { value: 'electronic_signature' } }] },
    claims: { name: null },
  },
};

/**
 * Card login and consent at `on`, up to the signing page, which the browser then loads again with `headers` (a new
 * signing transaction, from there; none: as it came). Returns the signing page's QR link and the browser's agent.
 */
async function signingLink(
  on: TestIdp,
  headers?: Record<string, string>,
): Promise<{ readonly link: string; readonly agent: Agent }> {
  const login = await startLogin(on, on.jwtRp, RP_JWT.redirectUri, {
    extra: authorizeExtra({ id_token: VERIFIED }, { scope: 'openid' }),
  });
  let step = await loginThenStop(on, login, card);
  if (step.page.includes('consent-form')) step = await consent(login.agent, step);
  await login.events.close();
  const link = /data-link="([^"]+)"/.exec(step.page)?.[1]?.replaceAll('&amp;', '&');
  assert.ok(link !== undefined && link.includes('/companion/sign/'), 'the signing page');
  return {
    link: headers === undefined ? link : await reloadFrom(login.agent, step.url, headers),
    agent: login.agent,
  };
}

describe('the companion view of a signing QR code says whether the scan came from the signing page’s network', () => {
  it('same: browser and companion both on 127.0.0.1; and 127.0.0.2, in the same /24', async () => {
    const { link } = await signingLink(ekyc);
    const first = await scanFrom(link);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body['intent'], 'sign');
    assert.equal(first.body['network'], 'same');
    assert.equal((await scanFrom(link, { localAddress: '127.0.0.2' })).body['network'], 'same');
  });

  it('other: the companion on 127.0.1.1; the rest of the view (the statement to sign) is as before', async () => {
    const { link } = await signingLink(ekyc);
    const { status, body } = await scanFrom(link, { localAddress: '127.0.1.1' });
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body['network'], 'other');
    assert.equal(body['intent'], 'sign');
    assert.equal(typeof body['canonical'], 'string');
    assert.equal(typeof (body['statement'] as { text?: { ja?: unknown } }).text?.ja, 'string');
  });

  it('without trustProxy, a forged X-Forwarded-For does not make a scan "same"', async () => {
    const { link } = await signingLink(ekyc);
    const { body } = await scanFrom(link, { localAddress: '127.0.1.1', headers: { 'x-forwarded-for': '127.0.0.1' } });
    assert.equal(body['network'], 'other');
  });

  it('behind a trusted proxy: the X-Forwarded-For entry the proxy added decides; unknown is "other"', async () => {
    const { link } = await signingLink(ekycProxied, { 'x-forwarded-for': '203.0.113.7' });
    const from = async (xff: string) => (await scanFrom(link, { headers: { 'x-forwarded-for': xff } })).body['network'];
    assert.equal(await from('203.0.113.200'), 'same');
    assert.equal(await from('198.51.100.7'), 'other');
    assert.equal(await from('203.0.113.7, 198.51.100.7'), 'other');
    assert.equal(await from('198.51.100.7, 203.0.113.9'), 'same');
    assert.equal((await scanFrom(link)).body['network'], 'other');
  });

  it('a signing page opened from an unknown network is "other" even for a companion on any network', async () => {
    // Behind the trusted proxy, the browser's requests above carried no X-Forwarded-For: its network is unknown.
    const { link } = await signingLink(ekycProxied);
    for (const xff of ['203.0.113.7', '127.0.0.1']) {
      assert.equal((await scanFrom(link, { headers: { 'x-forwarded-for': xff } })).body['network'], 'other', xff);
    }
  });

  it('keeps a tag, never the address, in the stored signing transaction and the store files', async () => {
    const { link } = await signingLink(ekycProxied, { 'x-forwarded-for': '203.0.113.7' });
    const { body } = await scanFrom(link, { headers: { 'x-forwarded-for': '203.0.113.7' } });
    assert.equal(body['network'], 'same');
    const stored = await ekycProxied.stores.oneShot.get(`sign:${String(body['txn'])}`);
    assert.ok(typeof stored === 'string');
    const network = (JSON.parse(stored) as { network?: unknown }).network;
    assert.match(String(network), /^[A-Za-z0-9_-]{22}$/, 'a tag is kept');
    for (const text of ['203.0.113.7', '203.0.113', '::ffff:', '4:203']) {
      assert.equal(stored.includes(text), false, text);
    }
    const files = (await readdir(f.dir)).filter((n) => n.startsWith('ekyc-') && !n.startsWith('ekyc-card-'));
    assert.ok(
      files.some((n) => n.endsWith('-ephemeral')),
      files.join(' '),
    );
    for (const name of files) {
      const bytes = await readFile(join(f.dir, name));
      assert.equal(bytes.includes('203.0.113'), false, name);
    }
  });

  it('writes one sign.scanned event per scan: time, client_id and same/other, nothing else', async () => {
    const { link } = await signingLink(ekycProxied, { 'x-forwarded-for': '203.0.113.7' });
    const events = await scannedEvents(async () => {
      await scanFrom(link, { headers: { 'x-forwarded-for': '203.0.113.8' } });
      await scanFrom(link, { headers: { 'x-forwarded-for': '198.51.100.7' } });
    }, 'sign.scanned');
    assert.deepEqual(
      events.map((e) => [e['event'], e['client_id'], e['network']]),
      [
        ['sign.scanned', RP_JWT.clientId, 'same'],
        ['sign.scanned', RP_JWT.clientId, 'other'],
      ],
    );
    for (const e of events) assert.deepEqual(Object.keys(e).sort(), ['client_id', 'event', 'network', 'time']);
    // A refused scan (a forged code) writes none.
    const forged = new URL(link);
    forged.searchParams.set('c', 'x');
    assert.deepEqual(await scannedEvents(async () => void (await scanFrom(forged.href)), 'sign.scanned'), []);
  });

  it('SignTransactions.scan compares the tags, fails closed and tells the caller client and network', async () => {
    const transactions = new SignTransactions({
      oneShot: createMemoryStores().oneShot,
      now: Date.now,
      origin: 'https://id.example.jp',
      ttlSeconds: 300,
      statementTtlSeconds: 60,
      qrMaxAgeSeconds: 3,
    });
    const input = {
      uid: 'uid-1',
      grantId: 'grant-1',
      accountId: 'person-1',
      clientId: 'rp',
      clientName: 'RP',
      clientOrigin: 'https://rp.example',
      purpose: 'テスト / Test',
      items: [{ ja: '氏名', en: 'Name' }],
      claims: ['name'],
      details: ['verified_claims.name'],
    };
    const scanOf = async (network: string | undefined, from: string | undefined) => {
      const { transaction } = await transactions.start({ ...input, network });
      const link = new URL(transactions.currentLink(transaction).link);
      const told: [string, string][] = [];
      const view = await transactions.scan(transaction.txn, link.searchParams.get('t'), link.searchParams.get('c'), {
        network: from,
        scanned: (clientId, n) => told.push([clientId, n]),
      });
      assert.deepEqual(told, [['rp', view.network]]);
      return view.network;
    };
    assert.equal(await scanOf('tag-a', 'tag-a'), 'same');
    assert.equal(await scanOf('tag-a', 'tag-b'), 'other');
    assert.equal(await scanOf('tag-a', undefined), 'other');
    assert.equal(await scanOf(undefined, 'tag-a'), 'other');
    assert.equal(await scanOf(undefined, undefined), 'other');
    // A caller that gives no companion network (the three-argument form) gets `other`.
    const { transaction } = await transactions.start({ ...input, network: 'tag-a' });
    const link = new URL(transactions.currentLink(transaction).link);
    const view = await transactions.scan(transaction.txn, link.searchParams.get('t'), link.searchParams.get('c'));
    assert.equal(view.network, 'other');
  });

  it('the sign.scanned event is time, event, client_id and network', () => {
    assert.deepEqual(signScannedEvent(Date.parse('2025-04-01T09:00:00Z'), 'bank', 'same'), {
      time: '2025-04-01T09:00:00.000Z',
      event: 'sign.scanned',
      client_id: 'bank',
      network: 'same',
    });
  });
});
