/**
 * Short-lived state at scale: node-oidc-provider's ephemeral models and the one-shot store in Redis, shared by N
 * stateless nodes.
 *
 * - Adapter entries follow node-oidc-provider's Redis adapter pattern: a hash `{ payload: JSON, consumed }` with
 *   PX expiry, plus `grant`, `uid` and `userCode` index keys. Writes that touch several keys run as Lua scripts,
 *   so they are atomic. Index hits are re-checked against the payload, so a stale index never answers.
 * - One-shot take is `GETDEL`, replay detection `SET NX PX`, compare-and-delete and counters (`INCR` + `PEXPIRE`) one
 *   script each.
 * - Expiry runs on Redis's clock (the `now` option of the SQL stores does not apply here).
 * - Scripts touch keys they compute at run time (`revokeByGrantId`, `destroy`), so this targets a single Redis (or a
 *   primary with replicas), not Redis Cluster.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { MynaGateError } from '@mynagate/errors';
import {
  StoreAlreadyConsumedError,
  StoreClosedError,
  StoreFailedError,
  StoreGoneError,
  StoreUnavailableError,
} from './errors.ts';
import { decodeValue, encodeValue } from './lib/codec.ts';
import { epochSeconds } from './lib/rows.ts';
import { assertKey, assertKeys, expiresInToMs, ttlToMs } from './lib/validate.ts';
import {
  ONE_SHOT_MANY_MAX,
  type Adapter,
  type AdapterPayload,
  type ChangeFeed,
  type OidcAdapterFactory,
  type OneShotStore,
  type OneShotValue,
} from './types.ts';

/** Options of {@link openRedisStores}. */
export interface RedisStoreOptions {
  /** `redis://host:port/db` or `rediss://…`. */
  readonly url: string;
  /** Prefix of every key, so several deployments can share one Redis. Default `mynagate:`. */
  readonly prefix?: string;
  /**
   * Models whose entries this node answers from memory when it is asked for one it wrote itself a moment before
   * (see {@link RECENT_MS}), instead of reading back from Redis: once per write, within {@link RECENT_MS}. The step
   * that follows such a read must confirm the entry still exists: a `destroy` of an entry answered from memory
   * rejects with `ERR_STORE_GONE` when it was gone (deleted, expired or taken by another node meanwhile), and
   * `consume` always confirms (`ERR_STORE_ALREADY_CONSUMED`). Default `['Interaction', 'AuthorizationCode']`:
   * node-oidc-provider reads an interaction right after writing it twice per login (the login page after the
   * authorization request, the resume after the interaction finished) and destroys it on resume, and it reads a code
   * at the token endpoint moments after the resume wrote it, then consumes it. `[]` turns this off.
   */
  readonly answerRecentWrites?: readonly string[];
  /**
   * How long a command may wait for its answer (ms); then it fails `ERR_STORE_UNAVAILABLE` and the connection is
   * dropped and made again. A connection gone silent (a failover, a lost NAT entry) otherwise held every command, and
   * the node, until the kernel gave up on the socket (~15 min), or forever. Default 2 000.
   */
  readonly commandTimeoutMs?: number;
}

/** How long an entry this node wrote may be answered from memory (see `answerRecentWrites`). */
export const RECENT_MS = 10_000;
/** At most this many entries per model wait in memory (written, not read back yet); the oldest go first. */
const RECENT_MAX = 10_000;

/** The Redis stores: an adapter factory for ephemeral models, the one-shot store, the change feed, and `close()`. */
export interface RedisStores {
  readonly adapter: OidcAdapterFactory;
  readonly oneShot: OneShotStore;
  /** Redis pub/sub on one channel per prefix (`<prefix>changes`); its subscriber connection opens on first use. */
  readonly changes: ChangeFeed;
  close(): Promise<void>;
}

const SCRIPTS = {
  // KEYS: entry, grant list, userCode index, uid index. ARGV: payload, ttl ms (0 = none), id, hasGrant, hasUserCode,
  // hasUid, existing ('1': only replace an entry that exists). 1 if written, 0 if not (existing only).
  mgUpsert: {
    numberOfKeys: 4,
    lua: `
      if ARGV[7] == '1' and redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
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
  // KEYS: the value. ARGV: the value it must hold. Deletes it only then: 1 if deleted, 0 if not.
  mgDeleteIf: {
    numberOfKeys: 1,
    lua: `
      if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
      return 0`,
  },
  // KEYS: the value. ARGV: the value, its ttl ms. Writes it unless another value is there: 1 if written, 0 if not.
  mgRenew: {
    numberOfKeys: 1,
    lua: `
      local v = redis.call('GET', KEYS[1])
      if v and v ~= ARGV[1] then return 0 end
      redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
      return 1`,
  },
  // KEYS: the value, the key that stops the write. ARGV: the value, its ttl ms. Nil if stopped, else {1, previous}.
  mgPutUnless: {
    numberOfKeys: 2,
    lua: `
      if redis.call('EXISTS', KEYS[2]) == 1 then return false end
      local previous = redis.call('GET', KEYS[1])
      redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
      return {1, previous}`,
  },
  // KEYS: the value, then the keys to delete. ARGV: the value, its ttl ms. Writes it and deletes them.
  mgPutDeleting: {
    lua: `
      redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
      redis.call('DEL', unpack(KEYS, 2))
      return 1`,
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
  mgDeleteIf(...args: Arg[]): Promise<number>;
  mgRenew(...args: Arg[]): Promise<number>;
  mgPutUnless(...args: Arg[]): Promise<[number, string | null] | [number] | null>;
  /** The number of keys first (the script takes any number). */
  mgPutDeleting(...args: Arg[]): Promise<number>;
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
  const answerRecent = options.answerRecentWrites ?? ['Interaction', 'AuthorizationCode'];
  if (!Array.isArray(answerRecent) || answerRecent.some((m) => typeof m !== 'string'))
    throw new TypeError('answerRecentWrites must be a list of model names');

  // Fail fast rather than queue forever: a request that cannot reach Redis gets ERR_STORE_UNAVAILABLE (503).
  // Auto-pipelining: the commands of all requests issued in one event-loop turn go out in one write and come back
  // in one read (fewer syscalls and round trips under load; order and atomicity per command are unchanged).
  const commandTimeout = options.commandTimeoutMs ?? 2_000;
  if (!Number.isSafeInteger(commandTimeout) || commandTimeout < 1)
    throw new TypeError('commandTimeoutMs must be a positive integer');
  const client = new Redis(options.url, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    connectTimeout: 3_000,
    commandTimeout,
    // TCP keep-alive probes after 10 s idle, so a peer that vanished is found even with no command waiting.
    keepAlive: 10_000,
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
      // No answer in time: the connection may be dead without knowing it. A new one is made (the commands still
      // waiting on the old one fail); one already being made is left to finish.
      if (timedOut(e) && client.status === 'ready') client.disconnect(true);
      throw wrap(e);
    }
  };

  // One adapter per model, so that what it keeps in memory is one (node-oidc-provider asks once per model anyway).
  const adapters = new Map<string, Adapter>();
  const adapter = (model: string): Adapter => {
    let made = adapters.get(model);
    if (made === undefined) adapters.set(model, (made = newAdapter(model)));
    return made;
  };
  const newAdapter = (model: string): Adapter => {
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

    const recent = answerRecent.includes(model) ? new RecentWrites() : undefined;

    /** The upsert script; `existing` only replaces an entry that exists. Resolves whether it wrote. */
    const write = (id: string, payload: AdapterPayload, expiresIn: number | undefined, existing: boolean) => {
      assertKey(id, 'id');
      const ttl = expiresInToMs(expiresIn) ?? 0;
      const text = JSON.stringify(payload);
      const { grantId, userCode, uid } = payload;
      const flag = (v: unknown) => (typeof v === 'string' ? '1' : '0');
      // Not answered from memory while the write is under way (nor after a failed one); its lifetime counts from
      // before Redis set its expiry.
      recent?.forget(id);
      const sent = performance.now();
      return run(async () => {
        const written =
          (await scripts.mgUpsert(
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
            existing ? '1' : '0',
          )) === 1;
        if (written) recent?.keep(id, text, sent, ttl);
        return written;
      });
    };

    return {
      upsert: async (id, payload, expiresIn) => void (await write(id, payload, expiresIn, false)),
      upsertExisting: (id, payload, expiresIn) => write(id, payload, expiresIn, true),
      find: (id) => {
        if (typeof id !== 'string') return Promise.resolve(undefined);
        const text = recent?.take(id);
        return text !== undefined ? Promise.resolve(parse([text, null])) : run(() => find(id));
      },
      findByUid: (uid) => (typeof uid !== 'string' ? Promise.resolve(undefined) : findVia(uidKey(uid), 'uid', uid)),
      findByUserCode: (userCode) =>
        typeof userCode !== 'string'
          ? Promise.resolve(undefined)
          : findVia(userCodeKey(userCode), 'userCode', userCode),
      consume: (id) => {
        recent?.forget(id);
        return run(async () => {
          if ((await scripts.mgConsume(entryKey(id), epochSeconds(Date.now()))) !== 1) {
            throw new StoreAlreadyConsumedError(model);
          }
        });
      },
      destroy: (id) => {
        const confirm = recent?.answered(id) ?? false;
        recent?.forget(id);
        return run(async () => {
          const existed = (await scripts.mgDestroy(entryKey(id), uidKey(''), userCodeKey(''), id)) === 1;
          // Fail closed: what this node answered from memory was no longer there to destroy.
          if (confirm && !existed) throw new StoreGoneError(model);
        });
      },
      revokeByGrantId: (grantId) => {
        recent?.clear();
        return run(async () => void (await scripts.mgRevoke(grantKey(grantId))));
      },
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
    getMany: (keys) => {
      assertKeys(keys, ONE_SHOT_MANY_MAX);
      const ks = keys.map(oneKey);
      return run(async () => (await client.mget(ks)).map((text) => decode<OneShotValue>(text)));
    },
    delete: (key) => {
      const k = oneKey(key);
      return run(async () => (await client.del(k)) > 0);
    },
    deleteIf: (key, value) => {
      const k = oneKey(key);
      if (typeof value !== 'string') throw new TypeError('value must be a string');
      const text = encodeValue(value);
      return run(async () => (await scripts.mgDeleteIf(k, text)) === 1);
    },
    putIfAbsent: (key, ttlSeconds, value = '1') => {
      const k = oneKey(key);
      const [text, ttl] = [encodeValue(value), ttlToMs(ttlSeconds)];
      return run(async () => (await client.set(k, text, 'PX', ttl, 'NX')) === 'OK');
    },
    renew: (key, ttlSeconds, value) => {
      const k = oneKey(key);
      if (typeof value !== 'string') throw new TypeError('value must be a string');
      const [text, ttl] = [encodeValue(value), ttlToMs(ttlSeconds)];
      return run(async () => (await scripts.mgRenew(k, text, ttl)) === 1);
    },
    putUnless: <T extends OneShotValue>(key: string, ttlSeconds: number, value: string, unlessKey: string) => {
      const [k, u] = [oneKey(key), oneKey(unlessKey)];
      if (typeof value !== 'string') throw new TypeError('value must be a string');
      const [text, ttl] = [encodeValue(value), ttlToMs(ttlSeconds)];
      return run(async () => {
        const reply = await scripts.mgPutUnless(k, u, text, ttl);
        return reply === null
          ? { written: false, previous: undefined }
          : { written: true, previous: decode<T>(reply[1] ?? null) };
      });
    },
    // One script: atomic, one command.
    putDeleting: (key, ttlSeconds, value, deleteKeys) => {
      const k = oneKey(key);
      assertKeys(deleteKeys, ONE_SHOT_MANY_MAX, 'deleteKeys', key);
      const ds = deleteKeys.map(oneKey);
      const [text, ttl] = [encodeValue(value), ttlToMs(ttlSeconds)];
      return run(async () => void (await scripts.mgPutDeleting(1 + ds.length, k, ...ds, text, ttl)));
    },
    incr: (key, ttlSeconds) => {
      const k = oneKey(key);
      const ttl = ttlToMs(ttlSeconds);
      return run(async () => Number(await scripts.mgIncr(k, ttl)));
    },
  };

  // The change feed. A notice is `<node id> <key>`: a node skips its own (it told its own waiters already). Sent
  // through the command connection, so it goes out in the pipeline of the write it reports (no round trip of its
  // own); heard on a second connection (a subscribed connection takes no other commands), opened on first use.
  const channel = `${prefix}changes`;
  const nodeId = randomUUID();
  const listeners = new Set<(key: string) => void>();
  let subscriber: Redis | undefined;
  const changes: ChangeFeed = {
    publish: (key) => {
      assertKey(key);
      return run(async () => void (await client.publish(channel, `${nodeId} ${key}`)));
    },
    subscribe: (onKey) => {
      if (closed) throw new StoreClosedError();
      listeners.add(onKey);
      if (subscriber === undefined) {
        const sub = (subscriber = client.duplicate({ enableAutoPipelining: false }));
        sub.on('error', () => {}); // reconnects by itself; notices sent meanwhile are lost (waiters still poll)
        sub.on('message', (_channel: string, message: string) => {
          const space = message.indexOf(' ');
          if (space < 0 || message.slice(0, space) === nodeId) return;
          const key = message.slice(space + 1);
          for (const l of listeners) l(key);
        });
        sub.subscribe(channel).catch(() => {});
      }
      return () => void listeners.delete(onKey);
    },
  };

  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    listeners.clear();
    await Promise.all([
      client.quit().catch(() => client.disconnect()),
      subscriber?.quit().catch(() => subscriber?.disconnect()),
    ]);
  };

  return { adapter, oneShot, changes, close };
}

/**
 * Entries of one model this node wrote, each answered from memory at most once and within {@link RECENT_MS}; and
 * the ids so answered, whose `destroy` must then confirm the entry existed. Both bounded (oldest first).
 */
class RecentWrites {
  readonly #written = new Map<string, { readonly text: string; readonly until: number }>();
  readonly #answered = new Map<string, number>();

  /** Keeps what was written for `id`; `sent` is when the write went out (`performance.now()`). */
  keep(id: string, text: string, sent: number, ttlMs: number): void {
    prune(this.#written, performance.now(), (e) => e.until);
    this.#written.set(id, { text, until: sent + (ttlMs > 0 ? Math.min(RECENT_MS, ttlMs) : RECENT_MS) });
  }

  /** The text written for `id`, once, if it is recent; the id is then remembered as answered from memory. */
  take(id: string): string | undefined {
    const entry = this.#written.get(id);
    if (entry === undefined) return undefined;
    this.#written.delete(id);
    const now = performance.now();
    if (entry.until <= now) return undefined;
    prune(this.#answered, now, (until) => until);
    this.#answered.set(id, now + RECENT_MS);
    return entry.text;
  }

  answered(id: string): boolean {
    const until = this.#answered.get(id);
    return until !== undefined && until > performance.now();
  }

  forget(id: string): void {
    this.#written.delete(id);
    this.#answered.delete(id);
  }

  clear(): void {
    this.#written.clear();
  }
}

/** Drops expired entries from the front of an insertion-ordered map, and the oldest beyond {@link RECENT_MAX}. */
function prune<V>(map: Map<string, V>, now: number, until: (v: V) => number): void {
  for (const [id, v] of map) {
    if (until(v) > now && map.size < RECENT_MAX) break;
    map.delete(id);
  }
}

/** ioredis's `commandTimeout` rejection. */
function timedOut(e: unknown): boolean {
  return e instanceof Error && e.message === 'Command timed out';
}

/** Domain errors and TypeErrors pass; a reply error (Redis rejected the command) is FAILED; the rest UNAVAILABLE. */
function wrap(e: unknown): Error {
  if (e instanceof MynaGateError || e instanceof TypeError) return e;
  if (e instanceof Error && e.name === 'ReplyError') return new StoreFailedError('Redis command failed', { cause: e });
  return new StoreUnavailableError('Redis is unavailable', { cause: e });
}
