/** Option parsing shared by the commands. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { instant } from '../src/args.ts';
import type { Parsed } from '../src/main.ts';

const at = (v: string) => instant({ values: { at: v }, positionals: [] } as unknown as Parsed, 'at');

describe('--at (instant)', () => {
  it('takes an ISO 8601 time with its offset, seconds and fractions optional', () => {
    assert.equal(at('2027-01-15T09:00:00+09:00')?.toISOString(), '2027-01-15T00:00:00.000Z');
    assert.equal(at('2027-01-15T00:00Z')?.toISOString(), '2027-01-15T00:00:00.000Z');
    assert.equal(at('2027-01-15T00:00:00.123Z')?.toISOString(), '2027-01-15T00:00:00.123Z');
    assert.equal(at('2024-02-29T12:00:00Z')?.toISOString(), '2024-02-29T12:00:00.000Z');
  });

  it('refuses what it would have to guess (ERR_CLI_USAGE): a day that does not exist, no offset, not ISO', () => {
    for (const v of [
      '2026-02-30T00:00:00Z',
      '2026-04-31T00:00:00+09:00',
      '2026-02-28T24:00:00Z',
      '2026-02-28T10:60:00Z',
      '2026-02-28',
      '2026-02-28T10:00:00',
      '1',
      'banana',
    ]) {
      assert.throws(() => at(v), { code: 'ERR_CLI_USAGE' }, v);
    }
  });
});
