/**
 * The hidden PIN prompt on a real terminal: `promptHidden` run under a pseudo-terminal (util-linux `script`), typed
 * into as a person does. `mynagate bridge --pin-stdin` on a terminal asks once per form: every prompt must read its
 * own line with echo off. Leaving a `for await` over stdin destroyed it, so the second prompt failed (ABORT_ERR) and
 * the terminal echoed again.
 *
 * Needs `script` (skipped with the reason when absent, unless MYNAGATE_REQUIRE_SYSTEM=1).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';

const noScript =
  spawnSync('script', ['--version']).error !== undefined && process.env['MYNAGATE_REQUIRE_SYSTEM'] !== '1'
    ? 'script (util-linux) not found: no pseudo-terminal to type into'
    : false;

/**
 * Runs `program` (an ES module) on a pseudo-terminal and types each answer once its prompt is on the screen. Returns
 * everything the terminal showed.
 */
async function onTerminal(
  program: string,
  answers: readonly (readonly [prompt: string, typed: string])[],
): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mynagate-tty-'));
  try {
    const file = join(dir, 'program.mjs');
    await writeFile(file, program);
    const child = spawn('script', ['-qec', `'${process.execPath}' '${file}'`, '/dev/null'], { stdio: 'pipe' });
    let screen = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (screen += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    try {
      let seen = 0;
      for (const [prompt, typed] of answers) {
        for (let waited = 0; screen.indexOf(prompt, seen) === -1; waited += 20) {
          assert.ok(waited < 10_000, `no prompt ${JSON.stringify(prompt)} on the terminal: ${JSON.stringify(screen)}`);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        seen = screen.indexOf(prompt, seen) + prompt.length;
        child.stdin.write(typed);
      }
      assert.equal(await exited, 0, screen);
    } finally {
      clearTimeout(timer);
      child.kill('SIGKILL');
    }
    return screen;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('promptHidden on a terminal', { skip: noScript }, () => {
  it('asks again and again: each prompt gets its own line, none is echoed, prompts asked at once take turns', async () => {
    const secret = pathToFileURL(join(import.meta.dirname, '..', 'src', 'secret.ts')).href;
    const screen = await onTerminal(
      `import { promptHidden } from ${JSON.stringify(secret)};
const first = await promptHidden('first: ');
process.stderr.write('got first ' + first + '\\n');
const [second, third] = await Promise.all([promptHidden('second: '), promptHidden('third: ')]);
process.stderr.write('got ' + second + ' ' + third + '\\n');
process.exit(0);
`,
      [
        ['first: ', '1234\r'],
        ['second: ', '5678\r'],
        ['third: ', '9012\r'],
      ],
    );
    assert.match(screen, /got first 1234\r?\n/);
    assert.match(screen, /got 5678 9012\r?\n/);
    // What was typed shows only in the program's own lines, never echoed at its prompt.
    assert.match(screen, /first: \r?\n/);
    assert.match(screen, /second: \r?\n/);
    assert.match(screen, /third: \r?\n/);
    assert.equal(screen.split('1234').length - 1, 1, screen);
    assert.equal(screen.split('5678').length - 1, 1, screen);
  });
});
