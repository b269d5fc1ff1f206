/**
 * The development stack of `mynagate serve --dev`, in one process: the test JPKI's OCSP responder, MynaGate with the
 * virtual phone on SQLite, and the demo bank and shop registered as its clients, beside any services of your own
 * (`--client FILE`). Plain HTTP on loopback addresses only (W3C Secure Contexts §3.2 counts them as trustworthy), so
 * no certificate is needed.
 */
import { createVerifier, ocspSource, platformLinks } from '@mynagate/pki';
import { serveTestJpki, type TestJpkiServer } from '@mynagate/pki/testing';
import {
  oneShotChallengeStore,
  openStores,
  upgradeCredentialIssuers,
  platformCardPair,
  providerStores,
  startServer,
  type IdpServer,
} from '@mynagate/idp';
import { startDemo, type ClientMetadata, type DemoServer } from './demo-server.ts';
import { openDevData, type DevData } from './dev-data.ts';
import { DevPortInUseError } from './errors.ts';

/** Options of {@link startDevStack}. */
export interface DevStackOptions {
  /** The data directory ({@link openDevData}). */
  readonly dataDir: string;
  /** Port of the provider; 0 for any free port. */
  readonly port: number;
  /** Port of the demo bank; 0 for any free port. The bank's pairwise `sub` depends on it (its sector). */
  readonly demoPort: number;
  /**
   * Port of the demo shop. Default: the bank's port + 1, or a free one when that is taken or is the provider's (the
   * shop keeps no accounts, so its `sub` may change); any free port when `demoPort` is 0.
   */
  readonly shopPort?: number;
  /**
   * Port of the OCSP responder. Default: the port in the test certificates' AIA (fixed when the data was made), or a
   * free one when that is taken (the verifier is told where it is).
   */
  readonly ocspPort?: number;
  /** scrypt cost of new card files (tests lower it). */
  readonly scryptCost?: number;
  /**
   * Services of your own, registered beside the demo bank and shop (`mynagate serve --dev --client FILE`):
   * node-oidc-provider client metadata. Default none.
   */
  readonly clients?: readonly ClientMetadata[];
  /**
   * Checks `clients` before the provider starts; what it throws stops the start. Given the provider's issuer (its
   * port still 0 when `port` is: the scheme and host are what count) and the demo's registrations, whose client_ids
   * are taken; called once the demo listens, since those name its ports. `mynagate serve` checks them as
   * node-oidc-provider will read them. Default: no check (node-oidc-provider reads each at its first request).
   */
  readonly checkClients?: (
    clients: readonly ClientMetadata[],
    provider: { readonly issuer: string; readonly registered: readonly ClientMetadata[] },
  ) => Promise<void>;
}

/** The running stack. */
export interface DevStack {
  readonly data: DevData;
  readonly ocsp: TestJpkiServer;
  readonly idp: IdpServer;
  readonly demo: DemoServer;
  /** Stops everything, the demo first (it depends on the provider). */
  close(): Promise<void>;
}

/**
 * Starts the development stack.
 *
 * @example
 * ```ts
 * const stack = await startDevStack({ dataDir: '.mynagate', port: 8080, demoPort: 8081 });
 * console.log(`open ${stack.demo.url}`);
 * ```
 * @throws DevDataInvalidError `ERR_DEV_DATA_INVALID`; DevPortInUseError `ERR_DEV_PORT_IN_USE`; `ERR_STORE_*`; what
 *   `checkClients` throws.
 */
export async function startDevStack(options: DevStackOptions): Promise<DevStack> {
  const data = await openDevData(options.dataDir, {
    ...(options.scryptCost !== undefined ? { scryptCost: options.scryptCost } : {}),
  });
  const cleanup: (() => Promise<void>)[] = [];
  const unwind = async () => {
    for (const c of cleanup.reverse()) await c().catch(() => {});
  };
  try {
    const aiaPort = Number(new URL(data.jpki.ocspBaseUrl).port);
    const ocsp = await listen('OCSP responder', options.ocspPort ?? aiaPort, (port) =>
      serveTestJpki(data.jpki, { port }),
    ).catch((e: unknown) =>
      // The AIA port is only a default: fall back to any free port, the verifier is pointed at it below.
      options.ocspPort === undefined && e instanceof DevPortInUseError
        ? serveTestJpki(data.jpki, { port: 0 })
        : Promise.reject(e),
    );
    cleanup.push(() => ocsp.close());

    const stores = await openStores({ kind: 'sqlite', path: data.idpDatabase });
    cleanup.push(() => stores.close());
    // A data directory from before credentials were named by their CA's fingerprint keeps its people's renewals.
    await upgradeCredentialIssuers(stores.records, [data.jpki.caCertificate('auth')]);
    const ports = providerStores(stores);

    const demoAt = (shopPort: number) =>
      listen(
        (port) => (port === shopPort && port !== options.demoPort ? 'demo shop' : 'demo bank'),
        options.demoPort,
        (port) =>
          startDemo({
            accountsPath: data.demoDatabase,
            clientKey: data.demoClientKey,
            port,
            shop: { clientKey: data.shopClientKey, port: shopPort },
          }),
      );
    const nextPort = options.demoPort + 1;
    const shopPort =
      options.shopPort ?? (options.demoPort === 0 || nextPort > 65_535 || nextPort === options.port ? 0 : nextPort);
    const demo = await demoAt(shopPort).catch((e: unknown) =>
      // The default shop port is only a default: fall back to any free one.
      options.shopPort === undefined && e instanceof DevPortInUseError && e.port === shopPort && shopPort !== 0
        ? demoAt(0)
        : Promise.reject(e),
    );
    cleanup.push(() => demo.close());
    const clients = options.clients ?? [];
    await options.checkClients?.(clients, {
      issuer: `http://127.0.0.1:${options.port}`,
      registered: demo.clients,
    });

    const verifier = createVerifier({
      anchors: { auth: [data.jpki.caCertificate('auth')], sign: [data.jpki.caCertificate('sign')] },
      // Login verifies auth certificates, eKYC signing certificates: each at its own responder path (the AIA's),
      // on the port the responder actually listens on.
      revocation: ocspSource({
        url: (cert) => `${ocsp.url}${new URL(cert.ocspUrls[0] ?? '/ocsp/auth', ocsp.url).pathname}`,
      }),
      challenges: oneShotChallengeStore(ports.oneShot),
      allowLoopbackHttp: true,
    });
    const links = platformLinks({ baseUrl: ocsp.url });
    const idp = await listen('provider', options.port, (port) =>
      startServer({
        port,
        name: 'MynaGate（開発用 / development）',
        // Each service its own client: the consent page names the one that asks, and each gets its own pairwise sub.
        clients: [...demo.clients, ...clients],
        jwks: data.jwks,
        cookieKeys: data.cookieKeys,
        pairwiseSecret: data.pairwiseSecret,
        verifier,
        stores: ports,
        // Consents and the audit history in the same SQLite file, so they survive a restart (else: in memory).
        records: stores.records,
        dev: { cards: data.cards.map((c) => ({ label: `${c.name}（PIN ${c.pin}）`, file: c.file })) },
        // eKYC counts only on a card the person logged in with: the test JPKI pairs a card's two certificates as a
        // platform provider does (J-LIS 証明書紐付け情報).
        ekyc: { signingCardPair: platformCardPair(links) },
        // A card renewed with `mynagate ca renew` keeps its person (and every pairwise sub).
        renewalLinks: links,
      }),
    );
    cleanup.push(() => idp.close());
    await demo.connect(idp.issuer);

    let closed: Promise<void> | undefined;
    return {
      data,
      ocsp,
      idp,
      demo,
      close: () => (closed ??= unwind()),
    };
  } catch (e) {
    await unwind();
    throw e;
  }
}

/** Starts something listening; a port in use becomes `ERR_DEV_PORT_IN_USE` naming the port (and what wanted it). */
async function listen<T>(
  what: string | ((port: number) => string),
  port: number,
  start: (port: number) => Promise<T>,
): Promise<T> {
  try {
    return await start(port);
  } catch (e) {
    if ((e as NodeJS.ErrnoException)?.code === 'EADDRINUSE') {
      // node's listen error carries the port it tried (one start may listen on several).
      const taken = (e as { port?: unknown }).port;
      const at = typeof taken === 'number' ? taken : port;
      throw new DevPortInUseError(typeof what === 'string' ? what : what(at), at, { cause: e });
    }
    throw e;
  }
}
