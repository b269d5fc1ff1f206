/**
 * Node.js system errors (`ENOENT`, `EADDRINUSE`, `ECONNREFUSED`…: a `code` and the `syscall` that failed) as the CLI
 * tells them. Each kind has its own stable code, decided by the call that failed and then the error's code, and a
 * reason in plain words:
 *
 * - `ERR_CLI_LISTEN`: a server of the command could not listen (`listen`, `bind`; an unknown host too, when the
 *   command says what it was listening on: {@link listening}).
 * - `ERR_CLI_CONNECT`: a connection the command opened failed (`connect`, a name lookup, a reset or time-out).
 * - `ERR_CLI_FILE`: any other system call: a file or folder (`open`, `stat`, `mkdir`, `rename`…), which its message
 *   names.
 */

/** What a Node.js system error carries (`util.getSystemErrorName` codes, plus the resolver's `EAI_*`). */
interface SystemError extends Error {
  readonly code: string;
  readonly syscall: string;
  readonly address?: string;
  readonly port?: number;
  readonly hostname?: string;
}

/** Name lookups: `dns.lookup` (`getaddrinfo`, `getnameinfo`) and the resolver's `query*` calls. */
const LOOKUP = /^(getaddrinfo|getnameinfo|query[A-Za-z]*)$/;

/** Codes only a network gives, whatever the call: a reset or a time-out comes on a socket's `read` or `write`. */
const NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_FAIL',
  'EAI_NONAME',
]);

/** The reasons, in words a person acts on; the system's code follows in brackets. */
const REASONS: Readonly<Record<string, string>> = Object.freeze({
  EADDRINUSE: 'the port is already in use (another program listens on it)',
  EADDRNOTAVAIL: "the address is not one of this computer's",
  ENOTFOUND: 'the host name is unknown',
  EAI_NONAME: 'the host name is unknown',
  EAI_FAIL: 'the host name could not be looked up',
  EAI_AGAIN: 'the host name could not be looked up (the name server did not answer)',
  ECONNREFUSED: 'nothing is listening there (connection refused)',
  ECONNRESET: 'the other side closed the connection',
  ECONNABORTED: 'the connection was aborted',
  ETIMEDOUT: 'no answer in time',
  EHOSTUNREACH: 'the host cannot be reached',
  EHOSTDOWN: 'the host cannot be reached',
  ENETUNREACH: 'the network cannot be reached',
  ENETDOWN: 'the network is down',
});

/**
 * `ERR_CLI_LISTEN`: a server of the command could not listen on `host:port` (the port is taken, below 1024 without
 * the right to it, the address is not this computer's, or the host name is unknown). The system's error is the
 * `cause`.
 */
export class ListenError extends Error {
  readonly code = 'ERR_CLI_LISTEN';
  readonly host: string;
  readonly port: number;
  constructor(host: string, port: number, cause: unknown) {
    super(`cannot listen on ${hostPort(host, port)}: ${reason(cause, true)}`, { cause });
    this.host = host;
    this.port = port;
  }
}

/**
 * `ERR_CLI_CONNECT`, raised by a command that retries a connection itself and then gives up: `host:port` did not
 * accept one within the time the command waits. `code` is the last attempt's system error code (`ECONNREFUSED`…),
 * told in words as {@link describeSystemError} does; `hint` says what to check.
 */
export class ConnectError extends Error {
  readonly code = 'ERR_CLI_CONNECT';
  readonly host: string;
  readonly port: number;
  constructor(host: string, port: number, code: string, hint?: string) {
    super(
      `cannot connect to ${hostPort(host, port)}: ${reason({ code }, false)}${hint === undefined ? '' : `; ${hint}`}`,
    );
    this.host = host;
    this.port = port;
  }
}

/**
 * A failed connection's system error `code` in words, then the code in brackets.
 *
 * @example connectReason('ECONNREFUSED') // 'nothing is listening there (connection refused) (ECONNREFUSED)'
 */
export function connectReason(code: string): string {
  return reason({ code }, false);
}

/**
 * Runs `start`, which listens on `host:port`. A system error of listening, or of looking `host` up, becomes a
 * {@link ListenError} naming `host:port` (the port the system reports, if it says); other errors pass unchanged.
 *
 * @example
 * ```ts
 * const server = await listening(host, port, () => serveTestJpki(jpki, { host, port }));
 * ```
 * @throws ListenError (`ERR_CLI_LISTEN`); whatever else `start` throws.
 */
export async function listening<T>(host: string, port: number, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (e) {
    if (isSystemError(e) && (isListen(e) || LOOKUP.test(e.syscall))) {
      throw new ListenError(host, typeof e.port === 'number' ? e.port : port, e);
    }
    throw e;
  }
}

/**
 * The stable code and message of a system error, or `undefined` for any other value: `ERR_CLI_LISTEN` (listen,
 * bind), `ERR_CLI_CONNECT` (connect, a name lookup, a network's code on any call), else `ERR_CLI_FILE`.
 */
export function describeSystemError(e: unknown): { readonly code: string; readonly message: string } | undefined {
  if (!isSystemError(e)) return undefined;
  if (isListen(e)) return { code: 'ERR_CLI_LISTEN', message: `cannot listen on ${where(e)}: ${reason(e, true)}` };
  if (e.syscall === 'connect' || LOOKUP.test(e.syscall) || NETWORK_CODES.has(e.code)) {
    const to = where(e);
    return { code: 'ERR_CLI_CONNECT', message: `cannot connect${to === '' ? '' : ` to ${to}`}: ${reason(e, false)}` };
  }
  return { code: 'ERR_CLI_FILE', message: e.message };
}

function isSystemError(e: unknown): e is SystemError {
  const { code, syscall } = (e ?? {}) as { code?: unknown; syscall?: unknown };
  return e instanceof Error && typeof code === 'string' && /^E[A-Z0-9_]+$/.test(code) && typeof syscall === 'string';
}

function isListen(e: SystemError): boolean {
  return e.syscall === 'listen' || e.syscall === 'bind';
}

/** Where the call went: `address:port`, the host name looked up, or nothing known. */
function where(e: SystemError): string {
  if (typeof e.address === 'string') return hostPort(e.address, e.port);
  return typeof e.hostname === 'string' ? e.hostname : '';
}

/** `host:port`, an IPv6 address in brackets (RFC 3986 §3.2.2). */
function hostPort(host: string, port: number | undefined): string {
  const h = host.includes(':') ? `[${host}]` : host;
  return port === undefined ? h : `${h}:${port}`;
}

function reason(e: unknown, listen: boolean): string {
  const code = String((e as { code?: unknown })?.code);
  // EACCES on listen is a port below 1024 (ip_unprivileged_port_start); on connect, a firewall's refusal.
  const words =
    code === 'EACCES' || code === 'EPERM'
      ? `not permitted${listen ? ' (a port below 1024 needs administrator rights)' : ''}`
      : (REASONS[code] ?? (e instanceof Error ? e.message : code));
  return `${words} (${code})`;
}
