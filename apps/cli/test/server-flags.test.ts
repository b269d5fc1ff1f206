/**
 * The provider's Node flags are kept in one place (src/server-flags.ts): `npm start` must use exactly them, and the
 * OP benchmark (bench/run.ts) runs its provider with the same constant.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { SERVER_NODE_FLAGS } from '../src/server-flags.ts';

const root = join(import.meta.dirname, '..', '..', '..');

describe('server Node flags', () => {
  it('npm start runs the provider with exactly SERVER_NODE_FLAGS', () => {
    const scripts = (
      JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
    ).scripts;
    // `exec`: npm's forwarded signals reach the server, not a shell (npm-start-signal.test.ts).
    const start = scripts['start']!.split(' ');
    assert.equal(start.shift(), 'exec');
    assert.equal(start[0], 'node');
    assert.deepEqual(start.slice(1, 1 + SERVER_NODE_FLAGS.length), [...SERVER_NODE_FLAGS]);
    assert.equal(start[1 + SERVER_NODE_FLAGS.length], 'apps/cli/src/main.ts');
  });

  it('the benchmark runner starts the op module with the same constant', () => {
    const runner = readFileSync(join(root, 'bench', 'run.ts'), 'utf8');
    assert.match(runner, /import \{ SERVER_NODE_FLAGS \} from '\.\.\/apps\/cli\/src\/server-flags\.ts';/);
    assert.match(runner, /op: SERVER_NODE_FLAGS/);
  });
});
