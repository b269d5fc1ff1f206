/**
 * The `mynagate` command as a person or a script runs it: a real process, real files, openssl as the independent
 * party. Each failure must be one line `ERR_CODE: message` and a non-zero exit.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { JpkiClient } from '@mynagate/card';
import { readCardFile, VirtualCard, VirtualTransport } from '@mynagate/card/virtual';
import { createAuthToken } from '@mynagate/pki';
import { detectSystem, requireSystem } from '../../../packages/card/test/support/system.ts';
import { freePort, startCli, type CliProcess } from './serve-support.ts';

const BIN = join(import.meta.dirname, '..', 'bin', 'mynagate.js');
let dir: string;

/** Runs the CLI; returns exit status, parsed stdout JSON (if any) and stderr. */
function cli(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, input, encoding: 'utf8' });
  let json: any;
  try {
    json = JSON.parse(r.stdout);
  } catch {}
  return { status: r.status, json, stdout: r.stdout, stderr: r.stderr };
}

/** Asserts a failure: non-zero exit and exactly one line on stderr starting with `code:`. */
function assertFails(r: ReturnType<typeof cli>, code: string, status = 1) {
  assert.equal(r.status, status, r.stderr);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line expected, got:\n${r.stderr}`);
  assert.match(lines[0]!, new RegExp(`^${code}: `));
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'mynagate-cli-'));
  assert.equal(cli(['ca', 'init', '--dir', 'jpki', '--ocsp-port', '8791']).status, 0);
  const issued = cli(
    [
      'card',
      'issue',
      '--dir',
      'jpki',
      '--name',
      '山田 太郎',
      '--address',
      '東京都千代田区千代田1-1',
      '--birthdate',
      '1990-01-02',
      '--sex',
      '1',
      '--pin-stdin',
      '--out',
      'taro.card',
    ],
    '1234\nABC123\n',
  );
  assert.equal(issued.status, 0, issued.stderr);
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('mynagate CLI', () => {
  test('card info reports token kind, certificates and tries left without spending a try', () => {
    const r = cli(['card', 'info', '--file', 'taro.card']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.json.token, 'card');
    assert.deepEqual(r.json.triesLeft, { auth: 3, sign: 5 });
    assert.match(r.json.authCa.subject, /JPKI TEST/);
    assert.deepEqual(cli(['card', 'info', '--file', 'taro.card']).json.triesLeft, { auth: 3, sign: 5 });
  });

  test('openssl: card sign with the auth key gives a signature openssl verifies with the card certificate', async (t) => {
    if (!(await requireSystem(t, ['openssl']))) return;
    writeFileSync(join(dir, 'msg.txt'), 'hello from the card\n');
    const r = cli(
      ['card', 'sign', '--key', 'auth', '--in', 'msg.txt', '--out', 'msg.sig', '--file', 'taro.card', '--pin-stdin'],
      '1234\n',
    );
    assert.equal(r.status, 0, r.stderr);
    writeFileSync(join(dir, 'auth.der'), Buffer.from(readCardFile(join(dir, 'taro.card')).certificates.auth, 'base64'));
    execFileSync('openssl', ['x509', '-inform', 'DER', '-in', 'auth.der', '-pubkey', '-noout', '-out', 'auth.pub'], {
      cwd: dir,
    });
    const out = execFileSync(
      'openssl',
      ['dgst', '-sha256', '-verify', 'auth.pub', '-signature', 'msg.sig', 'msg.txt'],
      { cwd: dir, encoding: 'utf8' },
    );
    assert.match(out, /Verified OK/);
  });

  test('a wrong PIN fails with ERR_CARD_PIN_INCORRECT on one line and a non-zero exit', () => {
    writeFileSync(join(dir, 'msg.txt'), 'x');
    assertFails(
      cli(
        ['card', 'sign', '--key', 'auth', '--in', 'msg.txt', '--out', 'x.sig', '--file', 'taro.card', '--pin-stdin'],
        '9999\n',
      ),
      'ERR_CARD_PIN_INCORRECT',
    );
    // The correct PIN resets the counter, as on the card.
    assert.equal(
      cli(
        ['card', 'sign', '--key', 'auth', '--in', 'msg.txt', '--out', 'x.sig', '--file', 'taro.card', '--pin-stdin'],
        '1234\n',
      ).status,
      0,
    );
  });

  test('a malformed PIN is refused before the card is asked (ERR_CARD_PIN_FORMAT), so no try is spent', () => {
    assertFails(
      cli(
        ['card', 'sign', '--key', 'auth', '--in', 'msg.txt', '--out', 'x.sig', '--file', 'taro.card', '--pin-stdin'],
        '12a\n',
      ),
      'ERR_CARD_PIN_FORMAT',
    );
    assert.equal(cli(['card', 'info', '--file', 'taro.card']).json.triesLeft.auth, 3);
  });

  test('usage errors exit 2 with ERR_CLI_USAGE; a second ca init is ERR_TESTJPKI_EXISTS', () => {
    assertFails(cli(['card', 'frobnicate']), 'ERR_CLI_USAGE', 2);
    assertFails(cli(['card', 'issue', '--dir', 'jpki']), 'ERR_CLI_USAGE', 2);
    assertFails(cli(['card', 'info', '--bogus']), 'ERR_CLI_USAGE', 2);
    assertFails(cli(['ca', 'init', '--dir', 'jpki']), 'ERR_TESTJPKI_EXISTS');
  });

  test('a --trust folder without a CA certificate is ERR_CLI_USAGE (exit 2), an unreadable file ERR_CLI_FILE naming it', () => {
    mkdirSync(join(dir, 'empty-trust'), { recursive: true });
    const empty = cli(['verify', 'cert', 'missing.der', '--kind', 'auth', '--trust', 'empty-trust']);
    assertFails(empty, 'ERR_CLI_USAGE', 2);
    assert.match(empty.stderr, /--trust: no JPKI CA certificate/);
    const missing = cli(['verify', 'cert', 'missing.der', '--kind', 'auth', '--trust', 'jpki']);
    assertFails(missing, 'ERR_CLI_FILE');
    assert.match(missing.stderr, /^ERR_CLI_FILE: ENOENT: .*missing\.der/m);
  });

  test('verify cert accepts a live auth certificate against a CRL, and ca revoke + ca crl make it ERR_PKI_CERT_REVOKED', () => {
    writeFileSync(join(dir, 'auth.der'), Buffer.from(readCardFile(join(dir, 'taro.card')).certificates.auth, 'base64'));
    assert.equal(cli(['ca', 'crl', '--dir', 'jpki', '--kind', 'auth', '--out', 'auth.crl']).status, 0);
    const ok = cli(['verify', 'cert', 'auth.der', '--kind', 'auth', '--trust', 'jpki', '--crl', 'auth.crl']);
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(ok.json.kind, 'auth');
    assertFails(
      cli(['verify', 'cert', 'auth.der', '--kind', 'sign', '--trust', 'jpki', '--crl', 'auth.crl']),
      'ERR_PKI_WRONG_CERT_KIND',
    );
    const serial = ok.json.serialNumber as string;
    assert.equal(cli(['ca', 'revoke', '--dir', 'jpki', '--serial', serial, '--reason', 'keyCompromise']).status, 0);
    assert.equal(cli(['ca', 'crl', '--dir', 'jpki', '--kind', 'auth', '--out', 'auth.crl']).status, 0);
    assertFails(
      cli(['verify', 'cert', 'auth.der', '--kind', 'auth', '--trust', 'jpki', '--crl', 'auth.crl']),
      'ERR_PKI_CERT_REVOKED',
    );
  });

  test('ca crl --partitions writes one CRL per municipality, and verify cert checks the signing certificate with it', () => {
    writeFileSync(join(dir, 'sign.der'), Buffer.from(readCardFile(join(dir, 'taro.card')).certificates.sign, 'base64'));
    const r = cli(['ca', 'crl', '--dir', 'jpki', '--kind', 'sign', '--partitions', '--out', 'sign.crl']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.json.crl, ['sign-Tokyo-to-Chiyoda-ku.crl']);
    const ok = cli([
      'verify',
      'cert',
      'sign.der',
      '--kind',
      'sign',
      '--trust',
      'jpki',
      '--crl',
      'sign-Tokyo-to-Chiyoda-ku.crl',
    ]);
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(ok.json.kind, 'sign');
  });

  test('verify token checks a card-signed Web eID token for its origin and challenge', async () => {
    const other = cli(
      [
        'card',
        'issue',
        '--dir',
        'jpki',
        '--name',
        '佐藤 花子',
        '--address',
        '大阪府大阪市北区1-1',
        '--birthdate',
        '2001-02-28',
        '--sex',
        '2',
        '--pin-stdin',
        '--out',
        'hanako.card',
      ],
      '5678\nXYZ789\n',
    );
    assert.equal(other.status, 0, other.stderr);
    const transport = new VirtualTransport(VirtualCard.open(join(dir, 'hanako.card')));
    const jpki = new JpkiClient(transport);
    await jpki.verify('auth', '5678');
    const challenge = randomBytes(32).toString('base64');
    const token = await createAuthToken({
      certificate: await jpki.readCertificate('auth'),
      origin: 'https://shop.example',
      challenge,
      sign: (digestInfo) => jpki.sign('auth', digestInfo),
    });
    writeFileSync(join(dir, 'token.json'), JSON.stringify(token));
    assert.equal(cli(['ca', 'crl', '--dir', 'jpki', '--kind', 'auth', '--out', 'auth.crl']).status, 0);
    const args = [
      'verify',
      'token',
      '--token',
      'token.json',
      '--trust',
      'jpki',
      '--crl',
      'auth.crl',
      '--challenge',
      challenge,
    ];
    const ok = cli([...args, '--origin', 'https://shop.example']);
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(ok.json.format, 'web-eid:1.0');
    assertFails(cli([...args, '--origin', 'https://evil.example']), 'ERR_PKI_TOKEN_SIGNATURE');
  });
});

describe('mynagate card attach: what it says about vpcd (a stand-in, no pcscd needed)', () => {
  const HINT =
    '  pcscd must be running with the vsmartcard-vpcd driver (Debian: apt-get install pcscd vsmartcard-vpcd); vpcd slot n listens on port 35963+n';

  /** Resolves once `proc`'s stderr matches `pattern` (polling: the helper's waitFor watches stdout). */
  async function stderrMatches(proc: CliProcess, pattern: RegExp, timeoutMs = 10_000): Promise<void> {
    for (let waited = 0; !pattern.test(proc.stderr()); waited += 20) {
      assert.ok(waited < timeoutMs, `no ${pattern} on stderr: ${proc.stderr()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  test('a bad --wait or --vpcd is ERR_CLI_USAGE (exit 2), before the card file is opened', () => {
    for (const wait of ['x', '-1', '1.5', '1e3', '9999999999']) {
      const r = cli(['card', 'attach', 'no-such.card', `--wait=${wait}`]);
      assertFails(r, 'ERR_CLI_USAGE', 2);
      assert.equal(
        r.stderr,
        'ERR_CLI_USAGE: --wait must be a whole number of seconds, at most 2147483 (0: wait forever) (see mynagate --help)\n',
        wait,
      );
    }
    for (const vpcd of ['127.0.0.1', '127.0.0.1:0', '127.0.0.1:65536', '::1:35963']) {
      const r = cli(['card', 'attach', 'no-such.card', `--vpcd=${vpcd}`]);
      assertFails(r, 'ERR_CLI_USAGE', 2);
      assert.match(r.stderr, /^ERR_CLI_USAGE: --vpcd must be HOST:PORT with a port 1–65535 /, vpcd);
    }
  });

  test('nothing listening: one line and the hint, not one per retry, then ERR_CLI_CONNECT naming host:port after --wait 1', async () => {
    const port = await freePort();
    const started = performance.now();
    const r = cli(['card', 'attach', 'taro.card', '--vpcd', `127.0.0.1:${port}`, '--wait', '1']);
    const elapsed = performance.now() - started;
    assert.equal(r.status, 1, r.stderr);
    assert.ok(elapsed < 5000, `gave up after ${elapsed} ms`);
    // About five attempts in that second (backoff 50, 100, 200, 400 ms): the person is told once.
    assert.deepEqual(r.stderr.trimEnd().split('\n'), [
      `serving taro.card to vpcd at 127.0.0.1:${port} (waiting up to 1 s for it); Ctrl-C to remove the card`,
      `vpcd at 127.0.0.1:${port} cannot be reached: nothing is listening there (connection refused) (ECONNREFUSED); retrying`,
      HINT,
      `ERR_CLI_CONNECT: cannot connect to 127.0.0.1:${port}: nothing is listening there (connection refused) (ECONNREFUSED); gave up after 1 s (--wait);${HINT.slice(1)}`,
    ]);
    assert.equal(r.stdout, '');
  });

  test('says when vpcd takes the card and when it drops it, reconnects after the drop, and exits 0 on SIGTERM', async () => {
    const sockets: Socket[] = [];
    const server = createServer((s) => sockets.push(s));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const proc = startCli(['card', 'attach', 'taro.card', '--vpcd', `127.0.0.1:${port}`, '--wait', '1'], { cwd: dir });
    try {
      await stderrMatches(proc, /^card inserted: /m);
      sockets[0]!.destroy(); // pcscd restarted
      await stderrMatches(proc, /^card removed: vpcd closed the connection/m);
      await stderrMatches(proc, /card inserted: [^]*card inserted: /);
      // Past --wait: once connected, the deadline no longer applies.
      await new Promise((r) => setTimeout(r, 1200));
      assert.equal(proc.child.exitCode, null, 'still serving');
    } finally {
      proc.child.kill('SIGTERM');
      await proc.exited;
      server.close();
      for (const s of sockets) s.destroy();
    }
    assert.equal(await proc.exited, 0, proc.stderr());
    assert.deepEqual(proc.stderr().trimEnd().split('\n'), [
      `serving taro.card to vpcd at 127.0.0.1:${port} (waiting up to 1 s for it); Ctrl-C to remove the card`,
      `card inserted: pcscd sees taro.card in the reader of vpcd at 127.0.0.1:${port}`,
      'card removed: vpcd closed the connection (pcscd stopped or restarted?); reconnecting',
      `card inserted: pcscd sees taro.card in the reader of vpcd at 127.0.0.1:${port}`,
      'card removed',
    ]);
  });
});

describe('mynagate verify with certificates made by openssl (not by our test JPKI)', () => {
  let ca: string;
  before(() => {
    if (!detectSystem().openssl) return;
    ca = join(dir, 'other-ca');
    mkdirSync(join(ca, 'trust'), { recursive: true });
    const ossl = (...args: string[]) => execFileSync('openssl', args, { cwd: ca, stdio: 'pipe' });
    ossl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'trust/ca.pem',
      '-days',
      '3650',
      '-subj',
      '/C=JP/O=Example Municipal CA/OU=Login',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
      '-addext',
      'subjectKeyIdentifier=hash',
    );
    writeFileSync(
      join(ca, 'ee.cnf'),
      [
        '[auth]',
        'keyUsage=critical,digitalSignature',
        'extendedKeyUsage=clientAuth',
        'certificatePolicies=critical,1.2.392.200149.8.5.1.3.30',
        'authorityKeyIdentifier=keyid',
        '[nopolicy]',
        'keyUsage=critical,digitalSignature',
        'extendedKeyUsage=clientAuth',
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(ca, 'ca.cnf'),
      [
        '[ca]',
        'default_ca=d',
        '[d]',
        'database=index.txt',
        'crlnumber=crlnumber',
        'default_md=sha256',
        'default_crl_days=30',
        '',
      ].join('\n'),
    );
    writeFileSync(join(ca, 'index.txt'), '');
    writeFileSync(join(ca, 'crlnumber'), '01\n');
    for (const [name, ext] of [
      ['ee', 'auth'],
      ['nopolicy', 'nopolicy'],
    ] as const) {
      ossl(
        'req',
        '-new',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        `${name}.key`,
        '-out',
        `${name}.csr`,
        '-subj',
        `/C=JP/CN=${name.toUpperCase()}0001`,
      );
      ossl(
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'trust/ca.pem',
        '-CAkey',
        'ca.key',
        '-set_serial',
        `0x${createHash('sha256').update(name).digest('hex').slice(0, 8)}`,
        '-days',
        '365',
        '-extfile',
        'ee.cnf',
        '-extensions',
        ext,
        '-out',
        `${name}.pem`,
      );
    }
    ossl('ca', '-config', 'ca.cnf', '-gencrl', '-keyfile', 'ca.key', '-cert', 'trust/ca.pem', '-out', 'crl.pem');
    ossl('crl', '-in', 'crl.pem', '-outform', 'DER', '-out', 'crl.der');
  });

  test('openssl: an auth certificate from an openssl CA verifies with --trust and an openssl CRL', async (t) => {
    if (!(await requireSystem(t, ['openssl']))) return;
    const r = cli([
      'verify',
      'cert',
      join(ca, 'ee.pem'),
      '--kind',
      'auth',
      '--trust',
      join(ca, 'trust'),
      '--crl',
      join(ca, 'crl.der'),
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.json.subjectCommonName, 'EE0001');
  });

  test("openssl: the same CA's certificate without the JPKI auth policy fails with ERR_PKI_POLICY", async (t) => {
    if (!(await requireSystem(t, ['openssl']))) return;
    assertFails(
      cli([
        'verify',
        'cert',
        join(ca, 'nopolicy.pem'),
        '--kind',
        'auth',
        '--trust',
        join(ca, 'trust'),
        '--crl',
        join(ca, 'crl.der'),
      ]),
      'ERR_PKI_POLICY',
    );
  });

  test('openssl: a certificate revoked with openssl ca -revoke fails with ERR_PKI_CERT_REVOKED', async (t) => {
    if (!(await requireSystem(t, ['openssl']))) return;
    const ossl = (...args: string[]) => execFileSync('openssl', args, { cwd: ca, stdio: 'pipe' });
    ossl(
      'ca',
      '-config',
      'ca.cnf',
      '-revoke',
      'ee.pem',
      '-keyfile',
      'ca.key',
      '-cert',
      'trust/ca.pem',
      '-crl_reason',
      'keyCompromise',
    );
    ossl('ca', '-config', 'ca.cnf', '-gencrl', '-keyfile', 'ca.key', '-cert', 'trust/ca.pem', '-out', 'crl2.pem');
    ossl('crl', '-in', 'crl2.pem', '-outform', 'DER', '-out', 'crl2.der');
    assertFails(
      cli([
        'verify',
        'cert',
        join(ca, 'ee.pem'),
        '--kind',
        'auth',
        '--trust',
        join(ca, 'trust'),
        '--crl',
        join(ca, 'crl2.der'),
      ]),
      'ERR_PKI_CERT_REVOKED',
    );
    assert.ok(readFileSync(join(ca, 'index.txt'), 'utf8').startsWith('R'));
  });
});
