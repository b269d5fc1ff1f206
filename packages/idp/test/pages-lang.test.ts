/**
 * Every page is Japanese (`<html lang="ja">`) with English beside it; a screen reader reads English in a Japanese
 * voice unless the English is marked (WCAG 3.1.2). Each element of class `en` in the page sources, and each one a
 * page script makes, carries `lang="en"`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const SOURCES = ['packages/idp/src', 'apps/demo/src', 'apps/cli/src'];

async function* files(dir: string): AsyncGenerator<string> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* files(path);
    else if (entry.name.endsWith('.ts')) yield path;
  }
}

test('every element of class "en" in a page source is marked lang="en"', async () => {
  const unmarked: string[] = [];
  let seen = 0;
  for (const dir of SOURCES) {
    for await (const file of files(join(ROOT, dir))) {
      const text = await readFile(file, 'utf8');
      // The tag around each class="en": from its '<' to its '>' (attributes may span lines).
      for (const m of text.matchAll(/class="en"/g)) {
        seen++;
        const start = text.lastIndexOf('<', m.index);
        const end = text.indexOf('>', m.index);
        if (!/\blang="en"/.test(text.slice(start, end))) unmarked.push(`${file.slice(ROOT.length + 1)}:${m.index}`);
      }
      // Elements a page script makes: className = 'en' with .lang = 'en' right after.
      for (const m of text.matchAll(/(\w+)\.className = 'en';/g)) {
        seen++;
        if (!text.slice(m.index, m.index + 200).includes(`${m[1]}.lang = 'en'`))
          unmarked.push(`${file.slice(ROOT.length + 1)}:${m.index} (script)`);
      }
    }
  }
  assert.ok(seen > 50, `only ${seen} English elements found: the scan is looking in the wrong place`);
  assert.deepEqual(unmarked, []);
});
