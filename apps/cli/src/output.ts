/** How the CLI talks to people: one line per failure with its stable code, JSON for results. */
import { isMynaGateError } from '@mynagate/errors';

/** A usage mistake on the command line (unknown verb, missing option). */
export class UsageError extends Error {
  readonly code = 'ERR_CLI_USAGE';
}

/** Prints `value` as indented JSON on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * Turns any error into one line `CODE: message` on stderr and an exit code: 2 for usage, 1 otherwise. Stack
 * traces are shown only with MYNAGATE_DEBUG=1, since messages may be read over a user's shoulder.
 */
export function reportFailure(e: unknown): number {
  if (e instanceof UsageError) {
    process.stderr.write(`${e.code}: ${e.message} (see mynagate --help)\n`);
    return 2;
  }
  process.stderr.write(`${errorLine(e)}\n`);
  if (process.env.MYNAGATE_DEBUG === '1' && e instanceof Error) process.stderr.write(`${e.stack}\n`);
  return 1;
}

/**
 * `CODE: message` of any error: its stable code; `ERR_CLI_FILE` for a file the system could not open (`ENOENT`,
 * `EACCES`…, whose message names the file); `ERR_INTERNAL` when it has no code.
 */
export function errorLine(e: unknown): string {
  const own = isMynaGateError(e) ? e.code : (e as { code?: unknown })?.code;
  const code =
    typeof own === 'string' && /^E[A-Z]+$/.test(own) && (e as { syscall?: unknown }).syscall !== undefined
      ? 'ERR_CLI_FILE'
      : (own ?? 'ERR_INTERNAL');
  const message = e instanceof Error ? e.message : String(e);
  return `${String(code)}: ${message}`;
}
