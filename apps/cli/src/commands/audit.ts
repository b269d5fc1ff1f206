/**
 * `mynagate audit anchor --config FILE`: checks the audit chain and prints its head as a signed anchor (one line, a
 * compact JWS) for the operator to keep where the database's writers cannot reach. `mynagate audit verify --config
 * FILE [--anchor FILE …]`: recomputes the chain and checks that it still holds every anchored row with its hash, so a
 * chain recomputed from scratch or cut short is found (`idp` audit-anchor.ts).
 */
import { readFile } from 'node:fs/promises';
import { assertAnchorHeld, signAuditAnchor, verifyAuditAnchor } from '@mynagate/idp';
import { required } from '../args.ts';
import type { Parsed } from '../main.ts';
import { printJson, UsageError } from '../output.ts';
import { loadAuditConfig } from './serve-config.ts';

export async function anchor(a: Parsed): Promise<void> {
  if (a.positionals.length > 0) throw new UsageError(`unexpected argument "${a.positionals[0]}"`);
  const { issuer, jwks, stores } = await loadAuditConfig(required(a, 'config'));
  try {
    const { count, head } = await stores.records.verifyAuditChain();
    if (count === 0) throw new UsageError('the audit is empty: there is nothing to anchor yet');
    process.stdout.write(`${await signAuditAnchor({ seq: count, hash: head }, jwks, issuer)}\n`);
  } finally {
    await stores.close();
  }
}

export async function verify(a: Parsed): Promise<void> {
  if (a.positionals.length > 0) throw new UsageError(`unexpected argument "${a.positionals[0]}"`);
  const files = (a.values['anchor'] as unknown as string[] | undefined) ?? [];
  const retiredKeys = await readRetiredKeys((a.values['anchor-keys'] as unknown as string[] | undefined) ?? []);
  const { issuer, jwks, stores } = await loadAuditConfig(required(a, 'config'));
  try {
    const { count, head } = await stores.records.verifyAuditChain();
    const anchors = [];
    for (const file of files) {
      const anchored = await verifyAuditAnchor(await readFile(file, 'utf8'), jwks, issuer, { retiredKeys });
      await assertAnchorHeld(anchored, stores.records);
      anchors.push({ seq: anchored.seq, at: new Date(anchored.iat * 1000).toISOString() });
    }
    printJson({ verified: true, count, head, anchors });
  } finally {
    await stores.close();
  }
}

/**
 * The public halves of the keys in each `--anchor-keys` file: a JWKS the provider signed anchors with before its keys
 * rotated (the old keys file itself will do; its private members are dropped here).
 */
async function readRetiredKeys(files: readonly string[]): Promise<Record<string, unknown>[]> {
  const keys: Record<string, unknown>[] = [];
  for (const file of files) {
    let json: unknown;
    try {
      json = JSON.parse(await readFile(file, 'utf8'));
    } catch (e) {
      if (e instanceof SyntaxError) throw new UsageError(`--anchor-keys ${file} is not JSON`);
      throw e;
    }
    const list = (json as { keys?: unknown } | null)?.keys;
    const ok = (k: unknown): k is Record<string, unknown> =>
      typeof k === 'object' &&
      k !== null &&
      (k as { kty?: unknown }).kty === 'EC' &&
      typeof (k as { kid?: unknown }).kid === 'string';
    if (!Array.isArray(list) || !list.every(ok)) {
      throw new UsageError(`--anchor-keys ${file} is not a JWKS of EC keys, each with a kid`);
    }
    for (const { d: _d, ...pub } of list) keys.push(pub);
  }
  return keys;
}
