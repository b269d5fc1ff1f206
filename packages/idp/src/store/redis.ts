/**
 * Short-lived state at scale: node-oidc-provider's ephemeral models and the one-shot store in Redis, shared by N
 * stateless nodes.
 *
 * - Adapter entries follow node-oidc-provider's Redis adapter pattern: a hash `{ payload: JSON, consumed }` with
 *   PX expiry, plus `grant`, `uid` and `userCode` index keys. Writes that touch several keys run as Lua scripts,
 *   so they are atomic. Index hits are re-checked against the payload, so a stale index never answers.
 * - One-shot take is `GETDEL`, replay detection `SET NX PX`, counters `INCR` + `PEXPIRE` in one script.
 * - Expiry runs on Redis's clock (the `now` option of the SQL stores does not apply here).
 * - Scripts touch keys they compute at run time (`revokeByGrantId`, `destroy`), so this targets a single Redis (or a
 *   primary with replicas), not Redis Cluster.
 */
import { Redis } from 'ioredis';
import { MynaGateError } from '@mynagate/errors';
import { StoreAlreadyConsumedError, StoreClosedError, StoreFailedError, StoreUnavailableError } from './errors.ts';
import { decodeValue, encodeValue } from './lib/codec.ts';
import { epochSeconds } from './lib/rows.ts';
import { assertKey, expiresInToMs, ttlToMs } from './lib/validate.ts';
import type { Adapter, AdapterPayload, OidcAdapterFactory, OneShotStore, OneShotValue } from './types.ts';

/** Options of {@link openRedisStores}. */
export interface RedisStoreOptions {
  /** `redis://host:port/db` or `rediss://…`. */
  readonly url: string;
  /** Prefix of every key, so several deployments can share one Redis. Default `mynagate:`. */
  readonly prefix?: string;
}

/** The Redis stores: an adapter factory for ephemeral models, the one-shot store, and `close()`. */
export interface RedisStores {
  readonly adapter: OidcAdapterFactory;
  readonly oneShot: OneShotStore;
  close(): Promise<void>;
}

const SCRIPTS = {
  // KEYS: entry, grant list, userCode index, uid index. ARGV: payload, ttl ms (0 = none), id, hasGrant, hasUserCode, hasUid.
  mgUpsert: {
    numberOfKeys: 4,
    lua: `
      local ttl = tonumber(ARGV[2])
      redis.call('DEL', KEYS[1])
      redis.call('HSET', KEYS[1], 'payload', ARGV[1])
      if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
      if ARGV[4] == '1' then
        local n = redis.call('RPUSH', KEYS[2], KEYS[1])
        local left = redis.call('PTTL', KEYS[2])
        if ttl == 0 then redis.call('PERSIST', KEYS[2])
        elseif n == 1 or (left >= 0 and left < ttl) then redis.call('PEXPIRE', KEYS[2], ttl) end
      end
      for i, flag in ipairs({ ARGV[5], ARGV[6] }) do
        if flag == '1' then
          if ttl > 0 then redis.call('SET', KEYS[i + 2], ARGV[3], 'PX', ttl) else redis.call('SET', KEYS[i + 2], ARGV[3]) end
        end
      end
      return 1`,
  },
  // KEYS: entry. ARGV: consumed (epoch seconds). 1 if this call consumed it, 0 if consumed already or gone.
  mgConsume: {
    numberOfKeys: 1,
    lua: `
      if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
      return redis.call('HSETNX', KEYS[1], 'consumed', ARGV[1])`,
  },
  // KEYS: entry. ARGV: uid index prefix, userCode index prefix, id. Deletes the entry and the index keys that still
  // name it, in one round trip (the payload says which index keys it has).
  mgDestroy: {
    numberOfKeys: 1,
    lua: `
      local payload = redis.call('HGET', KEYS[1], 'payload')
      redis.call('DEL', KEYS[1])
      if not payload then return 0 end
      local ok, entry = pcall(cjson.decode, payload)
      if not ok or type(entry) ~= 'table' then return 1 end
      for i, field in ipairs({ 'uid', 'userCode' }) do
        local value = entry[field]
        if type(value) == 'string' and redis.call('GET', ARGV[i] .. value) == ARGV[3] then
          redis.call('DEL', ARGV[i] .. value)
        end
      end
      return 1`,
  },
  // KEYS: grant list. Deletes every entry listed, then the list.
  mgRevoke: {
    numberOfKeys: 1,
    lua: `
      local keys = redis.call('LRANGE', KEYS[1], 0, -1)
      for _, k in ipairs(keys) do redis.call('DEL', k) end
      redis.call('DEL', KEYS[1])
      return #keys`,
  },
  // KEYS: index key. ARGV: the entry keys' prefix (the index holds an id). The entry's [payload, consumed], or nil.
  // One round trip for a lookup by uid or user code (the entry key is computed: single Redis, see above).
  mgFindVia: {
    numberOfKeys: 1,
    lua: `
      local id = redis.call('GET', KEYS[1])
      if not id then return nil end
      return redis.call('HMGET', ARGV[1] .. id, 'payload', 'consumed')`,
  },
  // KEYS: the value, the mark. ARGV: the mark's ttl ms, its value. Takes the value; marks only when there was one.
  mgTakeMarking: {
    numberOfKeys: 2,
    lua: `
      local v = redis.call('GETDEL', KEYS[1])
      if v then redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[1]) end
      return v`,
  },
  // KEYS: counter. ARGV: window ms. The window starts with the first increment.
  mgIncr: {
    numberOfKeys: 1,
    lua: `
      local n = redis.call('INCR', KEYS[1])
      if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
      return n`,
  },
} as const;

type Arg = string | number;
interface Scripted {
  mgUpsert(...args: Arg[]): Promise<number>;
  mgConsume(...args: Arg[]): Promise<number>;
  mgRevoke(...args: Arg[]): Promise<number>;
  mgDestroy(...args: Arg[]): Promise<number>;
  mgIncr(...args: Arg[]): Promise<number>;
  mgTakeMarking(...args: Arg[]): Promise<string | null>;
  mgFindVia(...args: Arg[]): Promise<[string | null, string | null] | null>;
}

/**
 * Connects to Redis and returns the adapter factory and the one-shot store.
 *
 * @example
 * ```ts
 * const redis = await openRedisStores({ url: 'redis://cache:6379' });
 * if (!(await redis.oneShot.putIfAbsent(`jti:${jti}`, 300))) throw replay();
 * ```
 * @throws `ERR_STORE_UNAVAILABLE` if Redis cannot be reached; TypeError on bad options.
 */
export async function openRedisStores(options: RedisStoreOptions): Promise<RedisStores> {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  if (typeof options.url !== 'string' || !/^rediss?:\/\//.test(options.url)) {
    throw new TypeError('url must be a redis:// or rediss:// URL');
  }
  const prefix = options.prefix ?? 'mynagate:';
  if (typeof prefix !== 'string') throw new TypeError('prefix must be a string');

  // Fail fast rather than queue forever: a request that cannot reach Redis gets ERR_STORE_UNAVAILABLE (503).
  // Auto-pipelining: the commands of all requests issued in one event-loop turn go out in one write and come back
  // in one read (fewer syscalls and round trips under load; order and atomicity per command are unchanged).
  const client = new Redis(options.url, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    connectTimeout: 3_000,
    enableAutoPipelining: true,
  });
  client.on('error', () => {}); // reported through the failing command instead of an unhandled 'error' event
  for (const [name, def] of Object.entries(SCRIPTS)) client.defineCommand(name, def);
  const scripts = client as unknown as Scripted;
  try {
    await client.connect();
  } catch (e) {
    client.disconnect();
    throw new StoreUnavailableError('Redis is unavailable', { cause: e });
  }

  let closed = false;
  const run = async <T>(fn: () => Promise<T>): Promise<T> => {
    if (closed) throw new StoreClosedError();
    try {
      return await fn();
    } catch (e) {
      throw wrap(e);
    }
  };

  const adapter = (model: string): Adapter => {
    assertKey(model, 'model');
    const entryKey = (id: string) => `${prefix}oidc:${model}:${id}`;
    const grantKey = (grantId: string) => `${prefix}oidc-grant:${model}:${grantId}`;
    const userCodeKey = (userCode: string) => `${prefix}oidc-usercode:${model}:${userCode}`;
    const uidKey = (uid: string) => `${prefix}oidc-uid:${model}:${uid}`;

    const parse = ([payload, consumed]: readonly (string | null)[]): AdapterPayload | undefined => {
      if (payload == null) return undefined;
      const parsed = JSON.parse(payload) as AdapterPayload;
      if (consumed != null) parsed.consumed = Number(consumed);
      return parsed;
    };
    const find = async (id: string): Promise<AdapterPayload | undefined> =>
      parse(await client.hmget(entryKey(id), 'payload', 'consumed'));
    /** Follows an index key, then checks the payload still carries that value (indexes are not deleted eagerly). */
    const findVia = (indexKey: string, field: 'uid' | 'userCode', value: string) =>
      run(async () => {
        const found = await scripts.mgFindVia(indexKey, entryKey(''));
        const payload = found === null ? undefined : parse(found);
        return payload?.[field] === value ? payload : undefined;
      });

    return {
      upsert: (id, payload, expiresIn) => {
        assertKey(id, 'id');
        const ttl = expiresInToMs(expiresIn) ?? 0;
        const text = JSON.stringify(payload);
        const { grantId, userCode, uid } = payload;
        const flag = (v: unknown) => (typeof v === 'string' ? '1' : '0');
        return run(async () => {
          await scripts.mgUpsert(
            entryKey(id),
            grantKey(String(grantId)),
            userCodeKey(String(userCode)),
            uidKey(String(uid)),
            text,
            ttl,
            id,
            flag(grantId),
            flag(userCode),
            flag(uid),
          );
        });
      },
      find: (id) => (typeof id !== 'string' ? Promise.resolve(undefined) : run(() => find(id))),
      findByUid: (uid) => (typeof uid !== 'string' ? Promise.resolve(undefined) : findVia(uidKey(uid), 'uid', uid)),
      findByUserCode: (userCode) =>
        typeof userCode !== 'string'
          ? Promise.resolve(undefined)
          : findVia(userCodeKey(userCode), 'userCode', userCode),
      consume: (id) =>
        run(async () => {
          if ((await scripts.mgConsume(entryKey(id), epochSeconds(Date.now()))) !== 1) {
            throw new StoreAlreadyConsumedError(model);
          }
        }),
      destroy: (id) => run(async () => void (await scripts.mgDestroy(entryKey(id), uidKey(''), userCodeKey(''), id))),
      revokeByGrantId: (grantId) => run(async () => void (await scripts.mgRevoke(grantKey(grantId)))),
    };
  };

  const oneKey = (key: string) => {
    assertKey(key);
    return `${prefix}1s:${key}`;
  };
  const decode = <T>(text: string | null) => (text === null ? undefined : (decodeValue(text) as T));

  const MARK = encodeValue('1');
  const oneShot: OneShotStore = {
    put: (key, value, ttlSeconds) => {
      const k = oneKey(key);
      const [text, ttl] = [encodeValue(value), ttlToMs(ttlSeconds)];
      return run(async () => void (await client.set(k, text, 'PX', ttl)));
    },
    // GETDEL is one command: of any number of concurrent takers exactly one receives the value.
    take: <T extends OneShotValue>(key: string) => {
      const k = oneKey(key);
      return run(async () => decode<T>(await client.getdel(k)));
    },
    takeMarking: <T extends OneShotValue>(key: string, markKey: string, markTtlSeconds: number) => {
      const [k, m, ttl] = [oneKey(key), oneKey(markKey), ttlToMs(markTtlSeconds)];
      return run(async () => decode<T>(await scripts.mgTakeMarking(k, m, ttl, MARK)));
    },
    get: <T extends OneShotValue>(key: string) => {
      const k = oneKey(key);
      return run(async () => decode<T>(await client.get(k)));
    },
    delete: (key) => {
      const k = oneKey(key);
      return run(async () => (await client.del(k)) > 0);
    },
    putIfAbsent: (key, ttlSeconds, value = '1') => {
      const k = oneKey(key);
      const [text, ttl] = [encodeValue(value), ttlToMs(ttlSeconds)];
      return run(async () => (await client.set(k, text, 'PX', ttl, 'NX')) === 'OK');
    },
    incr: (key, ttlSeconds) => {
      const k = oneKey(key);
      const ttl = ttlToMs(ttlSeconds);
      return run(async () => Number(await scripts.mgIncr(k, ttl)));
    },
  };

  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await client.quit().catch(() => client.disconnect());
  };

  return { adapter, oneShot, close };
}

/** Domain errors and TypeErrors pass; a reply error (Redis rejected the command) is FAILED; the rest UNAVAILABLE. */
function wrap(e: unknown): Error {
  if (e instanceof MynaGateError || e instanceof TypeError) return e;
  if (e instanceof Error && e.name === 'ReplyError') return new StoreFailedError('Redis command failed', { cause: e });
  return new StoreUnavailableError('Redis is unavailable', { cause: e });
}
