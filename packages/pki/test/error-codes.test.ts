/**
 * `PKI_ERROR_CODES` stays in sync with the source (fastify's test/internals/errors.test.js): every `'ERR_PKI_…'`
 * literal in `src/` (the test JPKI aside) is registered, every registered code is thrown somewhere, and every error
 * class, instantiated, carries a registered code.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import {
  CertificateInvalidError,
  CertificateRevokedError,
  ChallengeError,
  CrlBadSignatureError,
  CrlExpiredError,
  CrlIssuerNotCrlSignerError,
  CrlMalformedError,
  CrlNotYetValidError,
  CrlRollbackError,
  CrlUnknownCriticalExtensionError,
  CrlUnsupportedError,
  CrlWrongIssuerError,
  CRL_ERROR_CODES,
  IdentityError,
  LinksUnavailableError,
  PKI_ERROR_CODES,
  RevocationUnknownError,
  StatementError,
  TokenInvalidError,
} from '@mynagate/pki';

const SRC = join(import.meta.dirname, '..', 'src');

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    // The test JPKI (`./testing`) has its own ERR_TESTJPKI_* codes and is not part of the main entry.
    if (e.isDirectory()) {
      if (relative(SRC, p) !== 'testing') out.push(...(await sourceFiles(p)));
    } else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

async function codesInSource(): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  for (const file of await sourceFiles(SRC)) {
    if (file.endsWith('error-codes.ts')) continue;
    const text = await readFile(file, 'utf8');
    for (const m of text.matchAll(/['"`](ERR_PKI_[A-Z0-9_]+)['"`]/g)) found.set(m[1]!, relative(SRC, file));
  }
  return found;
}

test('every ERR_PKI_ code literal in src/ is in PKI_ERROR_CODES', async () => {
  const found = await codesInSource();
  assert.ok(found.size >= 40, `scan found only ${found.size} codes`);
  for (const [code, file] of found) assert.ok(code in PKI_ERROR_CODES, `${code} (${file}) is not registered`);
});

test('every registered code is thrown somewhere in src/ (no stale entries)', async () => {
  const found = await codesInSource();
  for (const code of Object.keys(PKI_ERROR_CODES)) assert.ok(found.has(code), `${code} is registered but not used`);
});

test('every registered code has a one-line description', () => {
  for (const [code, text] of Object.entries(PKI_ERROR_CODES)) {
    assert.match(code, /^ERR_PKI_[A-Z0-9_]+$/);
    assert.ok(typeof text === 'string' && text.length > 10 && !text.includes('\n'), code);
  }
  assert.ok(Object.isFrozen(PKI_ERROR_CODES));
  for (const code of Object.keys(CRL_ERROR_CODES)) assert.ok(code in PKI_ERROR_CODES, code);
});

test('every error class, instantiated, carries a registered code', () => {
  const errors = [
    new TokenInvalidError('ERR_PKI_TOKEN_MALFORMED', 'x'),
    new ChallengeError('ERR_PKI_CHALLENGE_USED', 'x'),
    new CertificateInvalidError('ERR_PKI_CERT_EXPIRED', 'validity', 'x'),
    new CertificateRevokedError(new Date(0), 'keyCompromise', 'crl'),
    new RevocationUnknownError('ERR_PKI_REVOCATION_UNKNOWN', 'stale', 'crl', 'x'),
    new IdentityError('ERR_PKI_IDENTITY_MALFORMED', 'x'),
    new StatementError('ERR_PKI_STATEMENT_SIGNATURE', 'x'),
    new LinksUnavailableError('ERR_PKI_LINKS_UNAVAILABLE', 'x', { detail: 'refused' }),
    new CrlMalformedError('expected INTEGER', 3),
    new CrlUnsupportedError('version'),
    new CrlWrongIssuerError(),
    new CrlIssuerNotCrlSignerError(),
    new CrlBadSignatureError(),
    new CrlNotYetValidError(new Date(0)),
    new CrlExpiredError(null, 'no nextUpdate'),
    new CrlUnknownCriticalExtensionError('1.2.3', false),
    new CrlRollbackError('earlier thisUpdate'),
  ];
  for (const e of errors) assert.ok(e.code in PKI_ERROR_CODES, `${e.constructor.name}: ${e.code}`);
});
