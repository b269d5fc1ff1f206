/**
 * `mynagate`: argument parsing and output only; every decision lives in the packages.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { reportFailure, UsageError } from './output.ts';

type Options = NonNullable<ParseArgsConfig['options']>;
export type Parsed = { values: Record<string, string | boolean | undefined>; positionals: string[] };
type Command = {
  summary: string;
  options: Options;
  /** More lines for `mynagate <command> --help`. */
  details?: string;
  /** Options parsed (to refuse them with a reason) but not offered in `--help`. */
  hidden?: readonly string[];
  run: (args: Parsed) => Promise<void>;
};

const lazy = (load: () => Promise<Record<string, (a: Parsed) => Promise<void>>>, name: string) => async (a: Parsed) =>
  (await load())[name]!(a);
const ca = () => import('./commands/ca.ts');
const card = () => import('./commands/card.ts');
const verify = () => import('./commands/verify.ts');
const serve = () => import('./commands/serve.ts');
const audit = () => import('./commands/audit.ts');
const login = () => import('./commands/login.ts');
const bridge = () => import('./commands/bridge.ts');

const str = { type: 'string' } as const;
const flag = { type: 'boolean' } as const;

/** The command table: `<group> <verb>` or a single word. These names are part of the contract. */
const commands: Record<string, Command> = {
  'ca init': {
    summary: 'create a test JPKI (auth CA and sign CA) in DIR',
    options: { dir: str, 'ocsp-port': str },
    run: lazy(ca, 'init'),
  },
  'ca revoke': {
    summary: 'revoke a certificate by serial (hex) with an RFC 5280 reason',
    options: { dir: str, serial: str, reason: str },
    run: lazy(ca, 'revoke'),
  },
  'ca renew': {
    summary: 'renew both certificates of a virtual card (new keys and serials, linked to the old ones)',
    options: { dir: str, card: str },
    run: lazy(ca, 'renew'),
  },
  'ca crl': {
    summary: 'write the CRLs (auth and sign) as DER; --partitions: one per municipality, as JPKI partitions them',
    options: { dir: str, out: str, kind: str, partitions: flag },
    run: lazy(ca, 'crl'),
  },
  'ca ocsp': {
    summary: 'serve OCSP, CRLs and the platform status API over HTTP until interrupted',
    options: { dir: str, port: str, host: str },
    run: lazy(ca, 'ocsp'),
  },
  'card issue': {
    summary:
      'issue a virtual My Number Card (test) into a card file; PIN and password: --pin-stdin, --pin-file or a prompt',
    options: {
      dir: str,
      name: str,
      address: str,
      birthdate: str,
      sex: str,
      out: str,
      profile: str,
      'pin-stdin': flag,
      'pin-file': str,
      pin: str,
      password: str,
    },
    details: [
      '--pin-stdin    read the auth PIN (4 digits), then the signing password (6–16 of A–Z, 0–9) from stdin, one per line:',
      "               printf '%s\\n' 1234 ABC123 | mynagate card issue … --pin-stdin",
      '--pin-file F   the same two lines from F, which only its owner may access (chmod 600; else ERR_CLI_PIN_FILE)',
      'neither        asks for both on the terminal without echo',
      '--pin and --password on the command line are refused (ps and shell history show them to others), unless a',
      'test sets MYNAGATE_INSECURE_ARGV_PIN=1.',
    ].join('\n'),
    hidden: ['pin', 'password'],
    run: lazy(card, 'issue'),
  },
  'card attach': {
    summary: 'serve a card file to pcscd through vpcd until interrupted',
    options: { vpcd: str, wait: str },
    details: [
      '--vpcd HOST:PORT  where vpcd listens, default 127.0.0.1:35963 (slot n listens on 35963+n)',
      '--wait SECONDS    fail with ERR_CLI_CONNECT if vpcd has not taken the card by then, default 30; 0 waits',
      '                  forever. Once taken, the card is put back after every pcscd restart until Ctrl-C',
      'It says when the card is inserted or removed, and when vpcd cannot be reached: pcscd must be running with the',
      'vsmartcard-vpcd driver (Debian: apt-get install pcscd vsmartcard-vpcd).',
    ].join('\n'),
    run: lazy(card, 'attach'),
  },
  'card info': {
    summary: 'token kind, certificates and PIN tries left of the card in a reader (spends no try)',
    options: { reader: str, file: str },
    run: lazy(card, 'info'),
  },
  'card sign': {
    summary: 'sign a file with the auth or sign key (SHA-256, PKCS#1 v1.5)',
    options: { key: str, in: str, out: str, reader: str, file: str, 'pin-stdin': flag },
    run: lazy(card, 'sign'),
  },
  'verify token': {
    summary: 'verify a Web eID-style authentication token',
    options: {
      token: str,
      origin: str,
      challenge: str,
      trust: str,
      crl: { type: 'string', multiple: true },
      ocsp: str,
      at: str,
    },
    run: lazy(verify, 'token'),
  },
  'verify cert': {
    summary: 'validate a certificate (path, policy, revocation) and print the identity it proves',
    options: { kind: str, trust: str, crl: { type: 'string', multiple: true }, ocsp: str, at: str },
    run: lazy(verify, 'cert'),
  },
  'audit anchor': {
    summary: "check the audit chain and print its head signed with the provider's key (keep it off the database)",
    options: { config: str },
    run: lazy(audit, 'anchor'),
  },
  'audit verify': {
    summary:
      'recompute the audit chain and check it still holds every anchored row (--anchor FILE, repeatable; ' +
      '--anchor-keys JWKS for keys rotated out since)',
    options: {
      config: str,
      anchor: { type: 'string', multiple: true },
      'anchor-keys': { type: 'string', multiple: true },
    },
    run: lazy(audit, 'verify'),
  },
  serve: {
    summary:
      'run MynaGate from an operator configuration (--config FILE, --init creates its secret files), or with --dev the demo service and a test JPKI on embedded defaults (data in ./.mynagate)',
    options: {
      port: str,
      'demo-port': str,
      'shop-port': str,
      'ocsp-port': str,
      data: str,
      client: { type: 'string', multiple: true },
      dev: flag,
      config: str,
      init: flag,
    },
    details: [
      '--config F      the operator configuration (listen address, TLS, keys, clients, trust anchors, store)',
      '--init          with --config: create its key and secret files (0600) when they are missing',
      '--dev           the development stack (npm start): MynaGate, the demo bank and shop, a test JPKI',
      '--port N        --dev: MynaGate (the OpenID Provider), default 8080; 0 for any free port',
      "--demo-port N   --dev: the demo bank, default MynaGate's port + 1",
      "--shop-port N   --dev: the demo shop, default the bank's port + 1 (a free port when that is taken)",
      "--ocsp-port N   --dev: the test JPKI's OCSP responder, default the port in its certificates (or a free one)",
      '--data DIR      --dev: the development data (test JPKI, cards, keys, SQLite), default ./.mynagate',
      '--client F      --dev: register your own service too: F holds a client registration (JSON) or a list of',
      '                them; repeatable (docs/register-a-service.md). A bad one stops the start: ERR_CLI_CONFIG',
      'Once ready it prints every address; a port it needs and cannot have is ERR_DEV_PORT_IN_USE, naming it and',
      'the option that moves it.',
    ].join('\n'),
    run: lazy(serve, 'serve'),
  },
  login: {
    summary: 'the companion: open a QR code link (login or eKYC signature), show the service, sign with the card, post',
    options: { file: str, reader: str, 'pin-stdin': flag },
    run: lazy(login, 'login'),
  },
  bridge: {
    summary:
      "card login on this computer: the login page hands its QR link to 127.0.0.1, the PC/SC reader's card signs",
    options: { port: str, reader: str, file: str, 'pin-stdin': flag, provider: { type: 'string', multiple: true } },
    run: lazy(bridge, 'bridge'),
  },
};

function usage(): string {
  const w = Math.max(...Object.keys(commands).map((k) => k.length));
  return [
    'usage: mynagate <command> [options]',
    '',
    ...Object.entries(commands).map(([k, c]) => `  ${k.padEnd(w)}  ${c.summary}`),
    '',
    'A failure prints one line "ERR_CODE: message" and exits non-zero (2 for usage errors).',
  ].join('\n');
}

async function main(argv: string[]): Promise<void> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    console.log(usage());
    return;
  }
  const two = `${argv[0]} ${argv[1] ?? ''}`;
  const key = two in commands ? two : argv[0]!;
  const command = commands[key];
  if (!command) throw new UsageError(`unknown command "${argv.slice(0, 2).join(' ')}"`);
  const rest = argv.slice(key.split(' ').length);
  if (rest.includes('--help')) {
    const opts = Object.keys(command.options)
      .filter((o) => !command.hidden?.includes(o))
      .map((o) => `--${o}`)
      .join(' ');
    console.log(
      `mynagate ${key}: ${command.summary}\noptions: ${opts}${command.details ? `\n\n${command.details}` : ''}`,
    );
    return;
  }
  let parsed: Parsed;
  try {
    parsed = parseArgs({ args: rest, options: command.options, allowPositionals: true, strict: true }) as Parsed;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  await command.run(parsed);
}

main(process.argv.slice(2)).then(
  () => {},
  (e) => {
    process.exitCode = reportFailure(e);
  },
);
