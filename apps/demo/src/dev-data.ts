/**
 * The development data directory: everything `mynagate serve --dev` needs, made on the first run and reused after,
 * so accounts, people and their pairwise `sub` survive restarts.
 *
 * ```
 * DIR/.gitignore           "*": the directory never reaches a repository
 * DIR/mynagate-dev.json    manifest: format version and the test cards (fake holders, test PINs)
 * DIR/jpki/                the test JPKI (CAs, issued certificates)
 * DIR/cards/*.json         virtual card files (0600)
 * DIR/oidc-keys.json       the provider's private signing keys, a JWKS (0600)
 * DIR/secrets.json         cookie keys and the pairwise secret (0600)
 * DIR/demo-client-key.json the demo bank's private_key_jwt key, a private JWK (0600)
 * DIR/shop-client-key.json the demo shop's own private_key_jwt key, a private JWK (0600)
 * DIR/idp.db, DIR/demo.db  SQLite databases (created on start)
 * ```
 *
 * The first run builds everything in a sibling temporary directory and renames it into place, so an interrupted
 * first run leaves no half-made directory behind.
 */
import { createPrivateKey, generateKeyPairSync, randomBytes, type JsonWebKey, type KeyObject } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { writeCardFile } from '@mynagate/card/virtual';
import { assertJwks, generateSigningKey, type PrivateJwks } from '@mynagate/idp';
import { TestJpki } from '@mynagate/pki/testing';
import { DevDataInvalidError } from './errors.ts';

/** The manifest's format version. */
const VERSION = 1;
const MANIFEST = 'mynagate-dev.json';
const SHOP_KEY = 'shop-client-key.json';

/** A test card of the development stack: fake holder data and its test secrets, shown to the developer. */
export interface DevCardInfo {
  /** Absolute path of the card file. */
  readonly file: string;
  /** Holder name (fake). */
  readonly name: string;
  /** Auth PIN (4 digits), a test value. */
  readonly pin: string;
  /** Signing password, a test value. */
  readonly password: string;
}

/** The opened development data. */
export interface DevData {
  /** Absolute path. */
  readonly dir: string;
  /** Whether this call created it. */
  readonly created: boolean;
  readonly jpki: TestJpki;
  readonly cards: readonly DevCardInfo[];
  readonly jwks: PrivateJwks;
  readonly cookieKeys: readonly string[];
  readonly pairwiseSecret: Uint8Array;
  /** The demo bank's client key. */
  readonly demoClientKey: KeyObject;
  /** The demo shop's client key: a client of its own, never the bank's. */
  readonly shopClientKey: KeyObject;
  readonly idpDatabase: string;
  readonly demoDatabase: string;
}

/** Options of {@link openDevData}. */
export interface DevDataOptions {
  /** OCSP port written into the AIA of the test certificates on the first run. Default 8790. */
  readonly ocspPort?: number;
  /** scrypt cost of the card files' PIN hashes (tests lower it). Default: the card file default. */
  readonly scryptCost?: number;
}

/** The three test people. Fake names and addresses; PINs and passwords are test values printed at start. */
const PEOPLE = [
  {
    name: '山田　太郎',
    address: '東京都千代田区千代田1-1',
    birthDate: '1985-04-01',
    sex: '1',
    pin: '1234',
    password: 'ABC123',
    slug: 'yamada-taro',
  },
  {
    name: '佐藤　花子',
    address: '大阪府大阪市北区中之島1-3-20',
    birthDate: '1992-11-15',
    sex: '2',
    pin: '5678',
    password: 'DEF456',
    slug: 'sato-hanako',
  },
  {
    name: '鈴木　一郎',
    address: '北海道札幌市中央区北1条西2-1',
    birthDate: '1960-07-07',
    sex: '1',
    pin: '2468',
    password: 'GHI789',
    slug: 'suzuki-ichiro',
  },
] as const;

interface Manifest {
  readonly version: number;
  readonly createdAt: string;
  readonly cards: readonly {
    readonly file: string;
    readonly name: string;
    readonly pin: string;
    readonly password: string;
  }[];
}

/**
 * Opens the development data in `dir`, creating it on the first run (a missing or empty directory).
 *
 * @example
 * ```ts
 * const data = await openDevData('.mynagate');
 * for (const c of data.cards) console.log(c.name, c.pin);
 * ```
 * @throws DevDataInvalidError `ERR_DEV_DATA_INVALID` when `dir` holds something else or is damaged.
 */
export async function openDevData(dir: string, options: DevDataOptions = {}): Promise<DevData> {
  const abs = resolve(dir);
  let entries: string[];
  try {
    entries = await readdir(abs);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    entries = [];
  }
  let created = false;
  if (entries.length === 0) {
    const tmp = join(dirname(abs), `.${basename(abs)}.init-${randomBytes(4).toString('hex')}`);
    try {
      await create(tmp, options);
      // rename(2) replaces an empty directory, so an existing empty --data works too.
      await rename(tmp, abs);
    } catch (e) {
      await rm(tmp, { recursive: true, force: true });
      throw e;
    }
    created = true;
  } else if (!entries.includes(MANIFEST)) {
    throw new DevDataInvalidError(
      abs,
      `not a MynaGate development directory (no ${MANIFEST}); use an empty or new --data`,
    );
  } else if (!entries.includes(SHOP_KEY)) {
    // A directory from before the shop had a client of its own: its key is added, the rest is kept.
    await secret(join(abs, SHOP_KEY), newClientJwk());
  }
  return { ...(await load(abs)), created };
}

async function create(dir: string, options: DevDataOptions): Promise<void> {
  await mkdir(join(dir, 'cards'), { recursive: true, mode: 0o700 });
  await writeFile(join(dir, '.gitignore'), '# MynaGate development data: test keys and databases.\n*\n');
  const jpki = await TestJpki.init(join(dir, 'jpki'), { ocspPort: options.ocspPort ?? 8790 });
  const issued = await jpki.issueCards(PEOPLE.map(({ slug: _slug, ...p }) => p));
  const cards: Manifest['cards'][number][] = [];
  for (const [i, p] of PEOPLE.entries()) {
    const file = join('cards', `${p.slug}.json`);
    await writeCardFile(join(dir, file), issued[i]!.spec, options.scryptCost ? { scryptCost: options.scryptCost } : {});
    cards.push({ file, name: p.name, pin: p.pin, password: p.password });
  }
  await secret(join(dir, 'oidc-keys.json'), { keys: [generateSigningKey()] });
  await secret(join(dir, 'secrets.json'), {
    cookieKeys: [randomBytes(32).toString('base64url')],
    pairwiseSecret: randomBytes(32).toString('base64url'),
  });
  await secret(join(dir, 'demo-client-key.json'), newClientJwk());
  await secret(join(dir, SHOP_KEY), newClientJwk());
  const manifest: Manifest = { version: VERSION, createdAt: new Date().toISOString(), cards };
  await writeFile(join(dir, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
}

async function load(dir: string): Promise<Omit<DevData, 'created'>> {
  const read = async (name: string): Promise<unknown> => {
    try {
      return JSON.parse(await readFile(join(dir, name), 'utf8'));
    } catch (e) {
      throw new DevDataInvalidError(dir, `${name} is missing or not JSON`, { cause: e });
    }
  };
  const manifest = (await read(MANIFEST)) as Manifest;
  if (manifest?.version !== VERSION || !Array.isArray(manifest.cards)) {
    throw new DevDataInvalidError(dir, `${MANIFEST} has an unknown format`);
  }
  const jwks = (await read('oidc-keys.json')) as PrivateJwks;
  const secrets = (await read('secrets.json')) as { cookieKeys?: unknown; pairwiseSecret?: unknown };
  const demoJwk = await read('demo-client-key.json');
  const shopJwk = await read(SHOP_KEY);
  let demoClientKey: KeyObject;
  let shopClientKey: KeyObject;
  try {
    assertJwks(jwks);
    demoClientKey = createPrivateKey({ key: demoJwk as JsonWebKey, format: 'jwk' });
    shopClientKey = createPrivateKey({ key: shopJwk as JsonWebKey, format: 'jwk' });
  } catch (e) {
    throw new DevDataInvalidError(dir, 'a key file is damaged', { cause: e });
  }
  if (
    !Array.isArray(secrets.cookieKeys) ||
    !secrets.cookieKeys.every((k) => typeof k === 'string') ||
    typeof secrets.pairwiseSecret !== 'string'
  ) {
    throw new DevDataInvalidError(dir, 'secrets.json is damaged');
  }
  let jpki: TestJpki;
  try {
    jpki = await TestJpki.open(join(dir, 'jpki'));
  } catch (e) {
    throw new DevDataInvalidError(dir, 'the test JPKI cannot be opened', { cause: e });
  }
  return {
    dir,
    jpki,
    cards: manifest.cards.map((c) => Object.freeze({ ...c, file: join(dir, c.file) })),
    jwks,
    cookieKeys: secrets.cookieKeys as string[],
    pairwiseSecret: Buffer.from(secrets.pairwiseSecret, 'base64url'),
    demoClientKey,
    shopClientKey,
    idpDatabase: join(dir, 'idp.db'),
    demoDatabase: join(dir, 'demo.db'),
  };
}

/** A new private_key_jwt key of a demo client: EC P-256 (ES256), as a private JWK. */
function newClientJwk(): JsonWebKey {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
}

/** Writes a secret file owner-only. */
async function secret(path: string, value: unknown): Promise<void> {
  await writeFile(path, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
}
