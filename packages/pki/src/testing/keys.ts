/**
 * Where the test JPKI gets RSA-2048 key pairs. Generation costs 50–100 ms each, so a pool made ahead of time (in
 * parallel, on libuv's thread pool) keeps bulk issuance fast.
 */
import { createPrivateKey, createPublicKey, generateKeyPair, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const generate = promisify(generateKeyPair);

/** An RSA key pair as node:crypto KeyObjects. */
export interface KeyPair {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

/** A supplier of fresh RSA-2048 key pairs (e=65537, spec §8.1). Each pair is handed out once. */
export interface KeySource {
  next(): Promise<KeyPair>;
}

/**
 * A new RSA-2048 key pair with e=65537.
 *
 * @example const { privateKey, publicKey } = await generateRsaKeyPair();
 */
export async function generateRsaKeyPair(): Promise<KeyPair> {
  return generate('rsa', { modulusLength: 2048, publicExponent: 0x10001 });
}

/** A key source that generates each pair on demand. */
export const freshKeys: KeySource = { next: generateRsaKeyPair };

/**
 * A key source pre-filled with `size` pairs generated in parallel; once they are used up it generates on demand.
 * Keys are never handed out twice by one pool, so two cards issued from it never share a key.
 *
 * With `cacheFile`, pairs are read from (and missing ones appended to) a PEM file, so repeated test runs skip the
 * generation. The file holds private keys: use it for test keys only, in a temporary or ignored directory.
 *
 * @example const keys = await createKeyPool(400); const jpki = await TestJpki.init(dir, { keys });
 * @throws TypeError when `size` is not a non-negative integer.
 */
export async function createKeyPool(size: number, options: { cacheFile?: string } = {}): Promise<KeySource> {
  if (!Number.isInteger(size) || size < 0) throw new TypeError('size must be a non-negative integer');
  const cached = options.cacheFile === undefined ? [] : await readCache(options.cacheFile);
  const missing = Math.max(0, size - cached.length);
  const fresh = await Promise.all(Array.from({ length: missing }, generateRsaKeyPair));
  if (options.cacheFile !== undefined && missing > 0) await writeCache(options.cacheFile, [...cached, ...fresh]);
  const pool = [...cached.slice(0, size), ...fresh];
  return {
    next: async () => pool.shift() ?? generateRsaKeyPair(),
  };
}

async function readCache(path: string): Promise<KeyPair[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const blocks = text.match(/-----BEGIN PRIVATE KEY-----[^-]+-----END PRIVATE KEY-----/g) ?? [];
  return blocks.map((pem) => {
    const privateKey = createPrivateKey(pem);
    return { privateKey, publicKey: createPublicKey(privateKey) };
  });
}

async function writeCache(path: string, keys: readonly KeyPair[]): Promise<void> {
  const text = keys.map((k) => k.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string).join('');
  // Temp file + rename: concurrent test processes may share the cache; each sees a whole file.
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  await rename(tmp, path);
}
