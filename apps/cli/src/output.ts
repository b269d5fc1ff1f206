/** How the CLI talks to people: one line per failure with its stable code, JSON for results. */
import { isMynaGateError } from '@mynagate/errors';
import { describeSystemError } from './system-error.ts';

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
 * `CODE: message` of any error: its stable code; for a Node.js system error the CLI's code of its kind (a file the
 * system could not open `ERR_CLI_FILE`, a port it could not listen on `ERR_CLI_LISTEN`, a connection that failed
 * `ERR_CLI_CONNECT`: system-error.ts) with a message naming the file or address; `ERR_INTERNAL` when it has no code.
 */
export function errorLine(e: unknown): string {
  const system = isMynaGateError(e) ? undefined : describeSystemError(e);
  if (system !== undefined) return `${system.code}: ${system.message}`;
  const code = isMynaGateError(e) ? e.code : (e as { code?: unknown })?.code;
  const message = e instanceof Error ? e.message : String(e);
  return `${String(code ?? 'ERR_INTERNAL')}: ${message}`;
}
