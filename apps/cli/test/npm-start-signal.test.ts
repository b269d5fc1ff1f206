/**
 * `npm start` stops with the signal a service manager or a container runtime sends to npm: the script `exec`s Node, so
 * npm's forwarded SIGTERM reaches the server itself. Before, `sh -c node …` stood between them: npm exited, and the
 * server went on holding its ports with no parent.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { freePort } from './serve-support.ts';

const root = join(import.meta.dirname, '..', '..', '..');

/** Whether something accepts connections on the loopback port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('npm start', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('stops the server when npm gets SIGTERM (no orphan holding the ports)', { timeout: 90_000 }, async () => {
    const data = await mkdtemp(join(tmpdir(), 'mynagate-npm-start-'));
    dirs.push(data);
    const [port, demo, ocsp] = [await freePort(), await freePort(), await freePort()];
    const args = ['start', '--', '--data', data, '--port', `${port}`, '--demo-port', `${demo}`];
    const npm = spawn('npm', [...args, '--ocsp-port', `${ocsp}`], {
      cwd: root,
      env: { ...process.env, NODE_NO_WARNINGS: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
      // A process group of its own, so the cleanup below also ends a server that outlived npm.
      detached: true,
    });
    let out = '';
    npm.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    npm.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    const exited = new Promise<void>((resolve) => npm.once('exit', () => resolve()));
    try {
      const deadline = Date.now() + 60_000;
      while (!(await listening(port))) {
        assert.ok(Date.now() < deadline, `the provider never listened on ${port}: ${out}`);
        await new Promise((r) => setTimeout(r, 250));
      }
      npm.kill('SIGTERM');
      await exited;
      const stopBy = Date.now() + 15_000;
      while (await listening(port)) {
        assert.ok(Date.now() < stopBy, `the server still listens on ${port} after npm exited: ${out}`);
        await new Promise((r) => setTimeout(r, 250));
      }
      assert.equal(await listening(demo), false, 'the demo still listens');
    } finally {
      try {
        process.kill(-npm.pid!, 'SIGKILL');
      } catch {
        // The group is gone already.
      }
    }
  });
});
