/**
 * A TCP proxy whose open connections can be frozen: nothing forwarded either way, nothing closed, as a peer behind a
 * failed-over address or a lost NAT entry looks. Connections made after the freeze pass as usual.
 */
import { createServer, connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface FreezeProxy {
  readonly port: number;
  /** Freezes every connection open now. */
  freeze(): void;
  close(): Promise<void>;
}

export async function freezeProxy(target: { readonly host: string; readonly port: number }): Promise<FreezeProxy> {
  const pairs = new Set<[Socket, Socket]>();
  const frozen: Socket[] = [];
  const server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    freeze() {
      for (const [client, upstream] of pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
        frozen.push(client, upstream);
      }
      pairs.clear();
    },
    async close() {
      for (const socket of frozen) socket.destroy();
      for (const [client, upstream] of pairs) (client.destroy(), upstream.destroy());
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
