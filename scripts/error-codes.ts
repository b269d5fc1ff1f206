/**
 * Every stable error code of MynaGate, gathered from each package's registry, and `docs/errors.md` made from them.
 * `node scripts/error-codes.ts --write` rewrites the page; a test keeps page, registries and source in step.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CARD_ERROR_CODES } from '@mynagate/card';
import { PKI_ERROR_CODES } from '@mynagate/pki';
import { TESTJPKI_ERROR_CODES } from '@mynagate/pki/testing';
import { IDP_ERROR_CODES } from '@mynagate/idp';
import { STORE_ERROR_CODES } from '../packages/idp/src/store/errors.ts';
import { RP_ERROR_CODES } from '@mynagate/rp';
import { DEMO_ERROR_CODES } from '@mynagate/demo';
import { CLI_ERROR_CODES } from '../apps/cli/src/errors.ts';

/** The registries, in the order the page lists them. */
export const REGISTRIES: readonly { title: string; source: string; codes: Readonly<Record<string, string>> }[] = [
  { title: 'Card (`@mynagate/card`)', source: 'packages/card/src/errors.ts', codes: CARD_ERROR_CODES },
  { title: 'Verification (`@mynagate/pki`)', source: 'packages/pki/src/error-codes.ts', codes: PKI_ERROR_CODES },
  {
    title: 'Test JPKI (`@mynagate/pki/testing`)',
    source: 'packages/pki/src/testing/errors.ts',
    codes: TESTJPKI_ERROR_CODES,
  },
  { title: 'OpenID Provider (`@mynagate/idp`)', source: 'packages/idp/src/errors.ts', codes: IDP_ERROR_CODES },
  { title: 'Storage (`@mynagate/idp` stores)', source: 'packages/idp/src/store/errors.ts', codes: STORE_ERROR_CODES },
  { title: 'Relying-party SDK (`@mynagate/rp`)', source: 'packages/rp/src/errors.ts', codes: RP_ERROR_CODES },
  { title: 'Demo and development stack', source: 'apps/demo/src/errors.ts', codes: DEMO_ERROR_CODES },
  { title: 'The `mynagate` command', source: 'apps/cli/src/errors.ts', codes: CLI_ERROR_CODES },
];

/** The Markdown of docs/errors.md. */
export function errorsPage(): string {
  const out = [
    '# Error codes',
    '',
    'Every failure MynaGate reports carries one of these stable codes (`error.code` in code, the first word of a CLI',
    'failure line, `error` in HTTP answers). Messages may change; codes do not. This page is generated from the',
    'registries by `node scripts/error-codes.ts --write`, and a test fails when page, registries and source disagree.',
    '',
  ];
  for (const r of REGISTRIES) {
    out.push(`## ${r.title}`, '', `Registry: \`${r.source}\``, '', '| code | meaning |', '| --- | --- |');
    for (const [code, text] of Object.entries(r.codes)) out.push(`| \`${code}\` | ${text.replace(/\|/g, '\\|')} |`);
    out.push('');
  }
  return out.join('\n');
}

if (process.argv.includes('--write')) {
  writeFileSync(join(import.meta.dirname, '..', 'docs', 'errors.md'), errorsPage());
  console.log('docs/errors.md written');
}
