/**
 * System errors as the CLI names them. A server that cannot listen is ERR_CLI_LISTEN, naming host:port and the
 * reason in words, for each command that listens (`ca ocsp`, `bridge`; `serve --config` in serve-config.test.ts): a
 * port in use, a port below 1024 for a user without the right to it, an address that is not this computer's, an
 * unknown host. A refused connection is ERR_CLI_CONNECT; a file that cannot be opened stays ERR_CLI_FILE. Each is one
 * line on stderr and exit status 1, as other runtime errors.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { TestJpki } from '@mynagate/pki/testing';
import { errorLine } from '../src/output.ts';
import { freePort, MAIN, runCli } from './serve-support.ts';

let dir: string;
let jpkiDir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mynagate-system-errors-'));
  jpkiDir = join(dir, 'jpki');
  await TestJpki.init(jpkiDir, { ocspPort: 8790 });
});
after(() => rm(dir, { recursive: true, force: true }));

/** A server holding a loopback port; returns the port. */
async function occupy(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, server };
}

/** Asserts one failure line with exit status 1 and returns it. */
function failure(r: { code: number | string; stderr: string }): string {
  assert.equal(r.code, 1, r.stderr);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, r.stderr);
  return lines[0]!;
}

const inUse = (port: number) =>
  `ERR_CLI_LISTEN: cannot listen on 127.0.0.1:${port}: the port is already in use (another program listens on it) (EADDRINUSE)`;

describe('a server that cannot listen: ERR_CLI_LISTEN naming host:port and why', () => {
  it('ca ocsp on a port in use', async () => {
    const { port, server } = await occupy();
    try {
      const r = await runCli(['ca', 'ocsp', '--dir', jpkiDir, '--port', String(port)]);
      assert.equal(failure(r), inUse(port));
    } finally {
      server.close();
    }
  });

  it('bridge on a port in use', async () => {
    const { port, server } = await occupy();
    try {
      const r = await runCli(['bridge', '--port', String(port)]);
      assert.equal(failure(r), inUse(port));
    } finally {
      server.close();
    }
  });

  it("ca ocsp on an address that is not this computer's (EADDRNOTAVAIL), and on an unknown host", async () => {
    const port = await freePort();
    // 192.0.2.0/24 is TEST-NET-1 (RFC 5737): never an address of this computer.
    const foreign = await runCli(['ca', 'ocsp', '--dir', jpkiDir, '--port', String(port), '--host', '192.0.2.1']);
    assert.equal(
      failure(foreign),
      `ERR_CLI_LISTEN: cannot listen on 192.0.2.1:${port}: the address is not one of this computer's (EADDRNOTAVAIL)`,
    );
    // .invalid never resolves (RFC 2606 §2); without a name server the lookup fails as EAI_AGAIN instead.
    const unknown = await runCli(['ca', 'ocsp', '--dir', jpkiDir, '--port', String(port), '--host', 'nohost.invalid']);
    assert.match(
      failure(unknown),
      new RegExp(
        `^ERR_CLI_LISTEN: cannot listen on nohost\\.invalid:${port}: the host name (is unknown|could not be looked up)`,
      ),
    );
  });

  // Root may listen anywhere: the CLI runs as nobody (setpriv), for whom ports below 1024 are the system's.
  const unprivilegedStart = existsSync('/proc/sys/net/ipv4/ip_unprivileged_port_start')
    ? Number(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8'))
    : 1024;
  const skipPrivileged =
    process.getuid?.() !== 0
      ? 'needs root, to run the CLI as an unprivileged user'
      : !existsSync('/usr/bin/setpriv')
        ? 'needs /usr/bin/setpriv'
        : unprivilegedStart <= 80
          ? 'ports below 1024 are not privileged on this system'
          : false;
  it('bridge on a privileged port, as a user without the right to it (EACCES)', { skip: skipPrivileged }, () => {
    const r = spawnSync(
      '/usr/bin/setpriv',
      ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, MAIN, 'bridge', '--port', '80'],
      { encoding: 'utf8', env: { ...process.env, NODE_NO_WARNINGS: '1' } },
    );
    assert.equal(
      failure({ code: r.status ?? 'signal', stderr: r.stderr }),
      'ERR_CLI_LISTEN: cannot listen on 127.0.0.1:80: not permitted (a port below 1024 needs administrator rights) (EACCES)',
    );
  });
});

describe('other system errors keep their kinds apart', () => {
  it('a missing file is still ERR_CLI_FILE, naming it', async () => {
    const r = await runCli(['verify', 'cert', join(dir, 'missing.der'), '--kind', 'auth', '--trust', jpkiDir]);
    assert.match(failure(r), /^ERR_CLI_FILE: ENOENT: .*missing\.der/);
  });

  it('errorLine: a file error is ERR_CLI_FILE, a refused connection ERR_CLI_CONNECT, a raw listen error ERR_CLI_LISTEN', async () => {
    const missing = await readFile(join(dir, 'nothing-here')).catch((e: unknown) => e);
    assert.match(errorLine(missing), /^ERR_CLI_FILE: ENOENT: no such file or directory, open '.*nothing-here'$/);

    const closed = await freePort();
    const refused = await new Promise((resolve) => connect(closed, '127.0.0.1').once('error', resolve));
    assert.equal(
      errorLine(refused),
      `ERR_CLI_CONNECT: cannot connect to 127.0.0.1:${closed}: nothing is listening there (connection refused) (ECONNREFUSED)`,
    );

    // As `serve --dev` meets it: the listen error itself, not wrapped by the command.
    const { port, server } = await occupy();
    try {
      const second = createServer();
      const taken = await new Promise((resolve) => second.once('error', resolve).listen(port, '127.0.0.1'));
      assert.equal(errorLine(taken), inUse(port));
    } finally {
      server.close();
    }
  });
});
