/**
 * The vpcd bridge against a stand-in for pcscd's vpcd driver that speaks its protocol (a TCP server sending
 * 2-byte big-endian length frames; 1-byte control messages), serving the real VirtualCard. Needs no system
 * component; the same bridge through the real pcscd is covered by pcsc-contract.test.ts and opensc.test.ts.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { before, describe, test } from 'node:test';
import { JPKI_CONTACT_ATR, VirtualCard } from '../src/virtual/card.ts';
import { attachToVpcd, type VpcdEvent } from '../src/virtual/vpcd.ts';
import { TEST_PINS, testCardSpec } from './support/fixture.ts';

const hex = (s: string) => Buffer.from(s.replace(/ /g, ''), 'hex');
const SELECT_JPKI = hex('00 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01');
const SELECT_AUTH_PIN = hex('00 A4 02 0C 02 00 18');
const SELECT_AUTH_KEY = hex('00 A4 02 0C 02 00 17');
const VERIFY_AUTH = Buffer.concat([hex('00 20 00 80 04'), Buffer.from(TEST_PINS.auth)]);
const EMPTY_VERIFY = hex('00 20 00 80');
/** COMPUTE DIGITAL SIGNATURE over a SHA-256 DigestInfo of 32 zero bytes (spec §4.5). */
const SIGN = Buffer.concat([hex('80 2A 00 80 33 3031300d060960864801650304020105000420'), Buffer.alloc(32), hex('00')]);

const frame = (payload: Uint8Array) => {
  const b = Buffer.alloc(2 + payload.length);
  b.writeUInt16BE(payload.length);
  b.set(payload, 2);
  return b;
};
const sw = (response: Buffer) => response.subarray(-2).toString('hex');

/** One connection from the bridge, seen from the vpcd side. */
class VpcdPeer {
  readonly socket: Socket;
  #buffer = Buffer.alloc(0);
  #waiters: (() => void)[] = [];

  constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      for (const w of this.#waiters.splice(0)) w();
    });
  }

  /** Sends `payload` as one frame, or split into the given raw writes. */
  send(payload: Uint8Array): void {
    this.socket.write(frame(payload));
  }

  /** Reads one framed answer from the bridge. */
  async receive(): Promise<Buffer> {
    for (;;) {
      if (this.#buffer.length >= 2) {
        const len = this.#buffer.readUInt16BE(0);
        if (this.#buffer.length >= 2 + len) {
          const payload = this.#buffer.subarray(2, 2 + len);
          this.#buffer = this.#buffer.subarray(2 + len);
          return payload;
        }
      }
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  async request(payload: Uint8Array): Promise<Buffer> {
    this.send(payload);
    return this.receive();
  }

  /** Whether anything arrives within `ms` (control messages other than GET ATR must not be answered). */
  async silentFor(ms: number): Promise<boolean> {
    await new Promise((r) => setTimeout(r, ms));
    return this.#buffer.length === 0;
  }
}

/** A TCP server standing in for vpcd: the bridge connects to it as it would to pcscd's driver. */
async function fakeVpcd(port = 0): Promise<{ server: Server; port: number; accept(): Promise<VpcdPeer> }> {
  const server = createServer();
  const peers: VpcdPeer[] = [];
  const waiting: ((p: VpcdPeer) => void)[] = [];
  server.on('connection', (s) => {
    const peer = new VpcdPeer(s);
    const w = waiting.shift();
    if (w) w(peer);
    else peers.push(peer);
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return {
    server,
    port: (server.address() as AddressInfo).port,
    accept: () => {
      const p = peers.shift();
      return p ? Promise.resolve(p) : new Promise((resolve) => waiting.push(resolve));
    },
  };
}

const closeServer = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

describe('vpcd bridge (attachToVpcd) against a vpcd stand-in', () => {
  let card: () => Promise<VirtualCard>;
  before(async () => {
    const spec = await testCardSpec();
    card = () => VirtualCard.fromSpec(spec, { scryptCost: 1 << 10 });
  });

  test('answers GET ATR (0x04) with the JPKI contact ATR and leaves power on, power off and reset unanswered', async () => {
    const vpcd = await fakeVpcd();
    const attached = attachToVpcd(await card(), { port: vpcd.port });
    try {
      const peer = await vpcd.accept();
      assert.deepEqual(new Uint8Array(await peer.request(Uint8Array.of(0x04))), JPKI_CONTACT_ATR);
      peer.send(Uint8Array.of(0x01));
      peer.send(Uint8Array.of(0x02));
      peer.send(Uint8Array.of(0x00));
      assert.ok(await peer.silentFor(50), 'no answer to power on, reset, power off');
    } finally {
      await attached.close();
      await closeServer(vpcd.server);
    }
  });

  test('frames each response with a 2-byte big-endian length, also when frames arrive split or several per chunk', async () => {
    const vpcd = await fakeVpcd();
    const attached = attachToVpcd(await card(), { port: vpcd.port });
    try {
      const peer = await vpcd.accept();
      peer.send(Uint8Array.of(0x01));
      // One write holding two whole frames and the first byte of a third.
      const third = frame(EMPTY_VERIFY);
      peer.socket.write(Buffer.concat([frame(SELECT_JPKI), frame(SELECT_AUTH_PIN), third.subarray(0, 1)]));
      assert.equal(sw(await peer.receive()), '9000');
      assert.equal(sw(await peer.receive()), '9000');
      await new Promise((r) => setTimeout(r, 20));
      peer.socket.write(third.subarray(1, 4)); // length done, payload split
      await new Promise((r) => setTimeout(r, 20));
      peer.socket.write(third.subarray(4));
      assert.equal((await peer.receive()).toString('hex'), '63c3');
      // A 256-byte signature plus SW: the length field must say 258.
      assert.equal(sw(await peer.request(VERIFY_AUTH)), '9000');
      assert.equal(sw(await peer.request(SELECT_AUTH_KEY)), '9000');
      const signature = await peer.request(SIGN);
      assert.equal(signature.length, 258);
      assert.equal(sw(signature), '9000');
    } finally {
      await attached.close();
      await closeServer(vpcd.server);
    }
  });

  test('reset (0x02) and power off (0x00) reach the card: a verified PIN no longer unlocks the key (spec §4.8)', async () => {
    const vpcd = await fakeVpcd();
    const attached = attachToVpcd(await card(), { port: vpcd.port });
    try {
      const peer = await vpcd.accept();
      const select = async () => {
        assert.equal(sw(await peer.request(SELECT_JPKI)), '9000');
        assert.equal(sw(await peer.request(SELECT_AUTH_PIN)), '9000');
      };
      for (const control of [0x02, 0x00]) {
        peer.send(Uint8Array.of(0x01));
        await select();
        assert.equal(sw(await peer.request(VERIFY_AUTH)), '9000');
        await peer.request(SELECT_AUTH_KEY);
        assert.equal(sw(await peer.request(SIGN)), '9000', 'signs while the PIN is verified');
        peer.send(Uint8Array.of(control));
        if (control === 0x00) peer.send(Uint8Array.of(0x01));
        // No SELECT of the AP in between: that alone would clear the PIN (spec §4.8), proving nothing here.
        await peer.request(SELECT_AUTH_KEY);
        assert.notEqual(sw(await peer.request(SIGN)), '9000', `after control 0x0${control}`);
      }
    } finally {
      await attached.close();
      await closeServer(vpcd.server);
    }
  });

  test('reports connecting, connected, power-on, reset, power-off and APDU counts; no event carries APDU bytes (a VERIFY holds the PIN)', async () => {
    const vpcd = await fakeVpcd();
    const events: VpcdEvent[] = [];
    const attached = attachToVpcd(await card(), { port: vpcd.port, onEvent: (e) => events.push(e) });
    try {
      const peer = await vpcd.accept();
      peer.send(Uint8Array.of(0x01));
      await peer.request(SELECT_JPKI);
      await peer.request(SELECT_AUTH_PIN);
      await peer.request(VERIFY_AUTH);
      peer.send(Uint8Array.of(0x02));
      peer.send(Uint8Array.of(0x00));
      await peer.request(Uint8Array.of(0x04));
    } finally {
      await attached.close();
      await closeServer(vpcd.server);
    }
    assert.deepEqual(events, [
      { type: 'connecting', attempt: 1 },
      { type: 'connected' },
      { type: 'power-on' },
      { type: 'apdu', count: 1 },
      { type: 'apdu', count: 2 },
      { type: 'apdu', count: 3 },
      { type: 'reset' },
      { type: 'power-off' },
      { type: 'disconnected', reason: 'closed' },
    ]);
    const text = JSON.stringify(events);
    assert.ok(!text.includes(TEST_PINS.auth) && !text.includes('31323334'), 'the PIN appears in no event');
  });

  test('retries with backoff while vpcd is not listening yet, then serves the card', async () => {
    const probe = await fakeVpcd();
    const port = probe.port;
    await closeServer(probe.server); // a port that refuses connections for now
    const events: VpcdEvent[] = [];
    const attached = attachToVpcd(await card(), {
      port,
      backoffMs: 10,
      maxBackoffMs: 40,
      onEvent: (e) => events.push(e),
    });
    try {
      await new Promise((r) => setTimeout(r, 120));
      const vpcd = await fakeVpcd(port);
      try {
        const peer = await vpcd.accept();
        assert.deepEqual(new Uint8Array(await peer.request(Uint8Array.of(0x04))), JPKI_CONTACT_ATR);
      } finally {
        await attached.close();
        await closeServer(vpcd.server);
      }
    } finally {
      await attached.close();
    }
    const attempts = events.filter((e) => e.type === 'connecting').length;
    assert.ok(attempts >= 3, `several attempts before vpcd listened (got ${attempts})`);
    assert.ok(attempts <= 12, `backoff spaces the attempts out (got ${attempts} in ~120 ms)`);
  });

  test('reports each refused attempt as unreachable with the socket error code (ECONNREFUSED), then serves the card once vpcd listens', async () => {
    const probe = await fakeVpcd();
    const port = probe.port;
    await closeServer(probe.server); // nothing listens there until the stand-in starts below
    const events: VpcdEvent[] = [];
    let failures = 0;
    let firstFailure!: () => void;
    const failed = new Promise<void>((resolve) => (firstFailure = resolve));
    const attached = attachToVpcd(await card(), {
      port,
      backoffMs: 10,
      maxBackoffMs: 40,
      onEvent: (e) => {
        events.push(e);
        if (e.type === 'unreachable' && ++failures === 2) firstFailure();
      },
    });
    try {
      await failed;
      const vpcd = await fakeVpcd(port);
      try {
        const peer = await vpcd.accept();
        assert.deepEqual(new Uint8Array(await peer.request(Uint8Array.of(0x04))), JPKI_CONTACT_ATR);
      } finally {
        await attached.close();
        await closeServer(vpcd.server);
      }
    } finally {
      await attached.close();
    }
    // Every attempt: connecting, then either unreachable (with the same attempt number) or connected; the last one
    // connected and was closed by us.
    const connected = events.findIndex((e) => e.type === 'connected');
    assert.ok(connected > 0, 'connected in the end');
    const before = events.slice(0, connected - 1);
    assert.ok(before.length >= 4, `at least two refused attempts first: ${JSON.stringify(before)}`);
    before.forEach((e, i) => {
      const attempt = Math.floor(i / 2) + 1;
      assert.deepEqual(
        e,
        i % 2 === 0 ? { type: 'connecting', attempt } : { type: 'unreachable', attempt, reason: 'ECONNREFUSED' },
      );
    });
    assert.deepEqual(events[connected - 1], { type: 'connecting', attempt: before.length / 2 + 1 });
    assert.deepEqual(events.at(-1), { type: 'disconnected', reason: 'closed' });
    assert.equal(events.filter((e) => e.type === 'unreachable').length, before.length / 2, 'none after connecting');
  });

  test('an unknown host is reported as unreachable with its lookup code, and close() during the retries stops them', async () => {
    const events: VpcdEvent[] = [];
    let unreachable!: (e: VpcdEvent) => void;
    const first = new Promise<VpcdEvent>((resolve) => (unreachable = resolve));
    // .invalid never resolves (RFC 2606 §2); without a name server the lookup fails as EAI_AGAIN instead.
    const attached = attachToVpcd(await card(), {
      host: 'vpcd.invalid',
      backoffMs: 5,
      onEvent: (e) => {
        events.push(e);
        if (e.type === 'unreachable') unreachable(e);
      },
    });
    const e = await first;
    await attached.close();
    assert.equal(e.type, 'unreachable');
    assert.match((e as { reason: string }).reason, /^(ENOTFOUND|EAI_AGAIN)$/);
    const count = events.length;
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(events.length, count, 'no attempt after close()');
    assert.ok(!events.some((x) => x.type === 'connected' || x.type === 'disconnected'));
  });

  test('reconnects when vpcd drops the connection (pcscd restarted) and serves the same card again', async () => {
    const vpcd = await fakeVpcd();
    const events: VpcdEvent[] = [];
    const attached = attachToVpcd(await card(), { port: vpcd.port, backoffMs: 10, onEvent: (e) => events.push(e) });
    try {
      const first = await vpcd.accept();
      await first.request(Uint8Array.of(0x04));
      first.socket.destroy();
      const second = await vpcd.accept();
      second.send(Uint8Array.of(0x01));
      assert.equal(sw(await second.request(SELECT_JPKI)), '9000');
    } finally {
      await attached.close();
      await closeServer(vpcd.server);
    }
    assert.ok(events.some((e) => e.type === 'disconnected' && e.reason === 'vpcd closed the connection'));
    assert.equal(events.filter((e) => e.type === 'connected').length, 2);
  });

  test('close() and an aborted signal each disconnect, resolve `closed`, and stop reconnecting', async () => {
    for (const how of ['close', 'abort'] as const) {
      const vpcd = await fakeVpcd();
      const controller = new AbortController();
      const attached = attachToVpcd(await card(), { port: vpcd.port, signal: controller.signal, backoffMs: 5 });
      try {
        const peer = await vpcd.accept();
        const gone = once(peer.socket, 'close');
        if (how === 'close') await attached.close();
        else controller.abort();
        await attached.closed;
        await gone;
        let reconnected = false;
        void vpcd.accept().then(() => (reconnected = true));
        await new Promise((r) => setTimeout(r, 50));
        assert.equal(reconnected, false, `no reconnect after ${how}`);
        await attached.close(); // idempotent
      } finally {
        await closeServer(vpcd.server);
      }
    }
  });

  test('a port outside 1–65535 or an empty host is a TypeError', async () => {
    const c = await card();
    assert.throws(() => attachToVpcd(c, { port: 0 }), TypeError);
    assert.throws(() => attachToVpcd(c, { port: 70000 }), TypeError);
    assert.throws(() => attachToVpcd(c, { host: '' }), TypeError);
  });
});
