/**
 * What `loadConfig` opens is closed again: `close()` of a loaded configuration stops the CRL files' watcher
 * (`revocation.crl`), and a configuration refused after the CRL step (an unknown store kind) leaves no watcher
 * behind. A watcher left running says so on stderr once the file changes (`crl: …: not used: …`); the timer is
 * unref'd, so `process.getActiveResourcesInfo()` would not show it.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { TestJpki } from '@mynagate/pki/testing';
import { loadConfig } from '../src/commands/serve-config.ts';

let dir: string;
let jpki: TestJpki;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mynagate-serve-close-'));
  jpki = await TestJpki.init(join(dir, 'jpki'), { ocspPort: 8790 });
});
after(() => rm(dir, { recursive: true, force: true }));

/** A configuration whose only revocation source is a fresh CRL file `crl`, looked at every second. */
async function configFile(name: string, store: Record<string, unknown>): Promise<{ file: string; crl: string }> {
  const crl = join(dir, `${name}.crl`);
  await writeFile(crl, await jpki.crl('auth'));
  const file = join(dir, `${name}.json`);
  await writeFile(
    file,
    JSON.stringify({
      issuer: 'https://127.0.0.1:8443',
      trustProxy: true,
      clients: [
        {
          client_id: 'bank',
          client_secret: 'a-client-secret-of-32-characters!',
          redirect_uris: ['https://bank.example/cb'],
          token_endpoint_auth_method: 'client_secret_basic',
        },
      ],
      keys: 'secrets/oidc-keys.json',
      secrets: 'secrets/secrets.json',
      trust: jpki.dir,
      revocation: { crl: [crl], crlCheckSeconds: 1 },
      store,
    }),
  );
  return { file, crl };
}

/** What a watcher still looking at `crl` says on stderr after the file is spoiled (none once it is closed). */
async function watcherLines(crl: string): Promise<string[]> {
  const written: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    written.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stderr.write;
  try {
    await writeFile(crl, Uint8Array.of(0x30, 0x80, 0x00, 0x00));
    await sleep(2200); // two looks of a one-second watcher
  } finally {
    process.stderr.write = write;
  }
  return written
    .join('')
    .split('\n')
    .filter((l) => l.startsWith(`crl: ${crl}`));
}

describe('loadConfig closes what it opened', () => {
  it('close() stops the CRL watcher', async () => {
    const { file, crl } = await configFile('ok', { kind: 'sqlite', path: 'ok.db' });
    const loaded = await loadConfig(file, { init: true });
    await loaded.close();
    await loaded.close(); // once: a second call is the first's
    assert.deepEqual(await watcherLines(crl), []);
  });

  it('a configuration refused after the CRL step leaves no watcher behind', async () => {
    const { file, crl } = await configFile('refused', { kind: 'mysql' });
    await assert.rejects(loadConfig(file, { init: true }), {
      code: 'ERR_CLI_CONFIG',
      message: /^store\.kind must be sqlite or postgres/,
    });
    assert.deepEqual(await watcherLines(crl), []);
  });
});
