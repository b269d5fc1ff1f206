/**
 * One registry of stable codes per package, one page of docs made from them, and the source: all three agree.
 * A code thrown but not registered, or registered but not documented, fails here.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { errorsPage, REGISTRIES } from '../../../scripts/error-codes.ts';

const ROOT = join(import.meta.dirname, '..', '..', '..');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name));
}

test('docs/errors.md is exactly what the registries generate (run npm run docs:errors after adding a code)', () => {
  assert.equal(readFileSync(join(ROOT, 'docs', 'errors.md'), 'utf8'), errorsPage());
});

test('every ERR_ code literal in the source of every package is in a registry', () => {
  const registered = new Set(REGISTRIES.flatMap((r) => Object.keys(r.codes)));
  const missing = new Map<string, string>();
  for (const top of ['packages', 'apps'])
    for (const pkg of readdirSync(join(ROOT, top))) {
      const src = join(ROOT, top, pkg, 'src');
      let files: string[];
      try {
        files = sources(src);
      } catch {
        continue;
      }
      for (const file of files)
        for (const m of readFileSync(file, 'utf8').matchAll(/['"`](ERR_[A-Z0-9_]*[A-Z0-9])['"`]/g))
          if (!registered.has(m[1]!)) missing.set(m[1]!, file.slice(ROOT.length + 1));
    }
  assert.deepEqual(Object.fromEntries(missing), {});
});

test('no code is registered twice', () => {
  const seen = new Map<string, string>();
  for (const r of REGISTRIES)
    for (const code of Object.keys(r.codes)) {
      assert.equal(seen.get(code), undefined, `${code} in ${r.source} and ${seen.get(code)}`);
      seen.set(code, r.source);
    }
});
