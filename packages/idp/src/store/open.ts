/**
 * `openStores(config)`: the one entry point the provider uses to get its storage, embedded or at scale.
 */
import { EPHEMERAL_MODELS } from './ephemeral-models.ts';
import { openPostgresStores } from './postgres.ts';
import { openRedisStores } from './redis.ts';
import { openSqliteStores } from './sqlite.ts';
import type { Stores } from './types.ts';

/**
 * Where the stores live.
 * - `sqlite`: one process, one file (plus its `-ephemeral` sibling for one-shot state and short-lived models, see
 *   sqlite.ts); nothing else to install.
 * - `postgres`: N nodes; PostgreSQL (in `schema`) for records and long-lived models, Redis for one-shot state and
 *   short-lived models (see {@link EPHEMERAL_MODELS}).
 */
export type StoreConfig =
  | {
      readonly kind: 'sqlite';
      readonly path: string;
      /** Epoch milliseconds; defaults to `Date.now`. */
      readonly now?: () => number;
      /** Open only a store that exists at this version's schema (`ERR_STORE_MISSING` otherwise). */
      readonly existing?: boolean;
    }
  | {
      readonly kind: 'postgres';
      readonly url: string;
      readonly schema: string;
      readonly redisUrl: string;
      /** Prefix of every Redis key. Default `mynagate:`. */
      readonly redisPrefix?: string;
      /** PostgreSQL named prepared statements (default `true`; see `PostgresStoreOptions.preparedStatements`). */
      readonly preparedStatements?: boolean;
      /** Epoch milliseconds for PostgreSQL expiry; Redis expires on its own clock. Defaults to `Date.now`. */
      readonly now?: () => number;
      /** Open only a schema that exists at this version (`ERR_STORE_MISSING` otherwise). */
      readonly existing?: boolean;
    };

export { EPHEMERAL_MODELS } from './ephemeral-models.ts';

const KEYS = {
  sqlite: ['kind', 'path', 'now', 'existing'],
  postgres: ['kind', 'url', 'schema', 'redisUrl', 'redisPrefix', 'preparedStatements', 'now', 'existing'],
};

/**
 * Opens the configured stores (creating and migrating schemas as needed).
 *
 * @example
 * ```ts
 * const stores = await openStores({ kind: 'sqlite', path: 'mynagate.db' });
 * const provider = new Provider(issuer, { adapter: stores.adapter, ... });
 * ```
 * @throws TypeError on a malformed config (unknown kind, missing or unknown fields, bad URL or schema name);
 * `ERR_STORE_UNAVAILABLE` if a server cannot be reached; `ERR_STORE_SCHEMA` if a newer version migrated the data.
 */
export async function openStores(config: StoreConfig): Promise<Stores> {
  if (typeof config !== 'object' || config === null) throw new TypeError('store config must be an object');
  const allowed = KEYS[config.kind as keyof typeof KEYS] as string[] | undefined;
  if (!allowed) throw new TypeError("store config kind must be 'sqlite' or 'postgres'");
  const unknown = Object.keys(config).filter((k) => !allowed.includes(k));
  if (unknown.length) throw new TypeError(`unknown store config field(s): ${unknown.join(', ')}`);

  if (config.kind === 'sqlite') {
    return openSqliteStores({
      path: config.path,
      ...(config.now && { now: config.now }),
      ...(config.existing === true && { existing: true }),
    });
  }

  // Validate both halves before connecting to either, so misuse never leaves a pool open.
  if (typeof config.redisUrl !== 'string' || !/^rediss?:\/\//.test(config.redisUrl)) {
    throw new TypeError('redisUrl must be a redis:// or rediss:// URL');
  }
  const pg = await openPostgresStores({
    url: config.url,
    schema: config.schema,
    ...(config.now && { now: config.now }),
    ...(config.preparedStatements !== undefined && { preparedStatements: config.preparedStatements }),
    ...(config.existing === true && { existing: true }),
  });
  let redis;
  try {
    redis = await openRedisStores({
      url: config.redisUrl,
      ...(config.redisPrefix !== undefined && { prefix: config.redisPrefix }),
    });
  } catch (e) {
    await pg.close();
    throw e;
  }
  const { adapter: pgAdapter } = pg;
  const { adapter: redisAdapter } = redis;
  return {
    adapter: (name) => (EPHEMERAL_MODELS.has(name) ? redisAdapter(name) : pgAdapter(name)),
    oneShot: redis.oneShot,
    changes: redis.changes,
    records: pg.records,
    close: async () => {
      await Promise.all([pg.close(), redis.close()]);
    },
  };
}
