/**
 * CRL benchmark: a JPKI-sized CRL (1M and 5M entries, 8-byte serials with reason codes, in no particular order) is
 * written to os.tmpdir(), then loaded by `loadCrl` (read + strict parse + signature + index) and by
 * `openssl crl -inform DER -noout` on the same file, best of 3 each. Lookups are timed against a JS `Map` keyed by
 * hex serial over the same entries. The files are deleted at the end.
 */
import 'reflect-metadata';
import { spawnSync } from 'node:child_process';
import { KeyObject, webcrypto } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import * as x509 from '@peculiar/x509';
import { largeCrlEntry, writeLargeCrlFile } from '../packages/pki/src/crl/generate.ts';
import { loadCrl } from '../packages/pki/src/crl/load.ts';
import type { CrlIndex } from '../packages/pki/src/crl/index.ts';
import type { Bench, Figure } from './figure.ts';

const SIZES = [1_000_000, 5_000_000] as const;
const THIS_UPDATE = new Date('2025-06-01T00:00:00Z');
const NEXT_UPDATE = new Date('2025-06-08T00:00:00Z');
const NOW = new Date('2025-06-02T00:00:00Z');
const LOOKUPS = 400_000;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const label = (n: number) => `${n / 1_000_000}m`;

function best<T>(runs: number, fn: () => T): { ms: number; value: T } {
  let ms = Infinity;
  let value!: T;
  for (let i = 0; i < runs; i++) {
    gc();
    const t = performance.now();
    value = fn();
    ms = Math.min(ms, performance.now() - t);
  }
  return { ms, value };
}

async function bestAsync<T>(runs: number, fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  let ms = Infinity;
  let value!: T;
  for (let i = 0; i < runs; i++) {
    value = undefined as T;
    gc();
    const t = performance.now();
    value = await fn();
    ms = Math.min(ms, performance.now() - t);
  }
  return { ms, value };
}

function hasOpenssl(): boolean {
  return spawnSync('openssl', ['version']).status === 0;
}

async function testCa() {
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const alg = {
    name: 'RSASSA-PKCS1-v1_5',
    hash: 'SHA-256',
    publicExponent: new Uint8Array([1, 0, 1]),
    modulusLength: 2048,
  };
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'C=JP, O=JPKI, OU=MynaGate Bench, CN=Bench Sign CA',
    notBefore: new Date('2024-01-01T00:00:00Z'),
    notAfter: new Date('2034-01-01T00:00:00Z'),
    keys,
    signingAlgorithm: alg,
    extensions: [new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)],
  });
  return { cert, key: KeyObject.from(keys.privateKey) };
}

/** ns per call of `fn(i)` over `count` calls, best of 3 rounds. */
function nsPer(count: number, fn: (i: number) => unknown): number {
  let sink = 0;
  for (let i = 0; i < Math.min(count, 50_000); i++) if (fn(i)) sink++;
  const { ms } = best(3, () => {
    for (let i = 0; i < count; i++) if (fn(i)) sink++;
  });
  if (sink < 0) console.log(sink);
  return (ms * 1e6) / count;
}

export const bench: Bench = async (log) => {
  const figures: Figure[] = [];
  const ca = await testCa();
  const dir = mkdtempSync(join(tmpdir(), 'mynagate-crl-bench-'));
  const openssl = hasOpenssl();
  if (!openssl) log('crl: openssl not found, load ratios are not measured');
  try {
    for (const n of SIZES) {
      const file = join(dir, `crl-${label(n)}.der`);
      const opts = {
        entries: n,
        serialBytes: 8,
        thisUpdate: THIS_UPDATE,
        withReasons: true,
      };
      let t = performance.now();
      const size = writeLargeCrlFile(file, {
        ...opts,
        issuerCert: ca.cert,
        issuerKey: ca.key,
        nextUpdate: NEXT_UPDATE,
      });
      log(`crl: wrote ${n} entries (${(size / 1e6).toFixed(0)} MB) in ${(performance.now() - t).toFixed(0)} ms`);

      let index: CrlIndex | undefined;
      const ours = await bestAsync(3, async () => {
        index = undefined;
        return loadCrl(readFileSync(file), { issuer: ca.cert, now: NOW });
      });
      index = ours.value;
      log(`crl: loadCrl ${label(n)} best of 3: ${ours.ms.toFixed(0)} ms`);

      if (openssl) {
        const theirs = best(3, () => {
          const r = spawnSync('openssl', ['crl', '-inform', 'DER', '-noout', '-in', file]);
          if (r.status !== 0) throw new Error(`openssl crl failed: ${r.stderr}`);
        });
        log(`crl: openssl crl -noout ${label(n)} best of 3: ${theirs.ms.toFixed(0)} ms`);
        figures.push({
          name: `crl.load_ratio_vs_openssl_${label(n)}`,
          value: ours.ms / theirs.ms,
          unit: 'ratio',
          baseline: {
            name: `openssl crl -inform DER -noout, ${label(n)} entries, best of 3`,
            value: theirs.ms,
            unit: 'ms',
          },
          target: '<= 1.0',
        });
      }
      figures.push({
        name: `crl.load_ms_${label(n)}`,
        value: ours.ms,
        unit: 'ms',
        baseline: null,
      });

      // Random lookups, half present: present serials come from the writer's own entry function.
      const queries: Uint8Array[] = [];
      const hexQueries: string[] = [];
      for (let q = 0; q < LOOKUPS; q++) {
        const e = largeCrlEntry(Math.floor(Math.random() * n), opts).serial;
        if (q % 2) e[0] = 0x3f & (e[0]! ^ 0x15); // writer serials start 0x40..0x7f, so this one is absent
        queries.push(e);
        hexQueries.push(Buffer.from(e).toString('hex'));
      }
      let hits = 0;
      const lookupNs = nsPer(LOOKUPS, (i) => index!.lookup(queries[i]!).revoked && ++hits);
      if (hits === 0) throw new Error('no lookup hit: the benchmark is broken');

      if (n === SIZES[0]) {
        // Baseline: a JS Map from hex serial to a packed date/reason number, over the same entries.
        gc();
        const heapBefore = process.memoryUsage().heapUsed;
        const map = new Map<string, number>();
        for (const e of index.revokedEntries()) map.set(e.serial, e.revokedAt.getTime() / 1000);
        gc();
        const mapBytes = (process.memoryUsage().heapUsed - heapBefore) / map.size;
        const mapNs = nsPer(LOOKUPS, (i) => map.get(hexQueries[i]!) !== undefined);
        figures.push({
          name: `crl.lookup_ns`,
          value: lookupNs,
          unit: 'ns',
          baseline: {
            name: `JS Map.get(hex serial), same ${label(n)} entries`,
            value: mapNs,
            unit: 'ns',
          },
          target: '< 1000',
        });
        figures.push({
          name: `crl.bytes_per_entry_${label(n)}`,
          value: index.bytesPerEntry,
          unit: 'bytes',
          baseline: {
            name: `JS Map<hex serial, number> heap per entry, same ${label(n)} entries`,
            value: mapBytes,
            unit: 'bytes',
          },
          target: '<= 32',
        });
        map.clear();
      } else {
        figures.push({
          name: `crl.lookup_ns_${label(n)}`,
          value: lookupNs,
          unit: 'ns',
          baseline: null,
          target: '< 1000',
        });
        figures.push({
          name: 'crl.bytes_per_entry',
          value: index.bytesPerEntry,
          unit: 'bytes',
          baseline: null,
          target: '<= 32',
        });
        figures.push({
          name: 'crl.entries',
          value: index.entries,
          unit: 'entries',
          baseline: null,
        });
      }
      index = undefined;
      rmSync(file, { force: true });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return figures;
};
