/**
 * Reading a PIN or password: from the terminal without echo, the first line(s) of stdin with `--pin-stdin`, or a
 * file only its owner can read with `--pin-file`. Never from argv, which `ps` and shell history show to others. The
 * value is returned to the caller and never printed or logged.
 */
import { open } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import { UsageError } from './output.ts';

/** The most a secret source may give before its lines are complete: a PIN and a password are a few bytes. */
const MAX_SECRET_BYTES = 4096;

/**
 * `ERR_CLI_PIN_FILE`: a `--pin-file` that group or others may read or write, refused unread as ssh refuses such a
 * private key. Carries the file's `path` and `mode`, never its content.
 */
export class PinFileError extends Error {
  readonly code = 'ERR_CLI_PIN_FILE';
  readonly path: string;
  readonly mode: number;
  constructor(path: string, mode: number) {
    super(
      `${path} is open to group or others (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); ` +
        `a PIN file must be its owner's alone: chmod 600 it`,
    );
    this.path = path;
    this.mode = mode;
  }
}

/** Reads one line from stdin (all of it up to the first newline). */
export async function readLineFromStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk as Buffer);
    if ((chunk as Buffer).includes(0x0a)) break;
  }
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
}

/**
 * The first `n` lines of stdin, for a command that takes several secrets with `--pin-stdin` (`card issue`: the auth
 * PIN, then the signing password). A last line without its newline counts.
 *
 * @throws UsageError (`ERR_CLI_USAGE`) when stdin ends before `n` lines or runs past 4 KiB without them.
 */
export async function readLinesFromStdin(n: number, what: string): Promise<string[]> {
  const chunks: Buffer[] = [];
  let size = 0;
  let newlines = 0;
  for await (const chunk of process.stdin) {
    const b = chunk as Buffer;
    chunks.push(b);
    size += b.length;
    for (const byte of b) if (byte === 0x0a) newlines++;
    if (newlines >= n || size > MAX_SECRET_BYTES) break;
  }
  return firstLines(Buffer.concat(chunks), n, `--pin-stdin: expected ${what}`);
}

/**
 * The first `n` lines of `path` (`--pin-file`), read only when group and others have no access to it. The mode is
 * read from the opened file, not its path: the file checked is the file read.
 *
 * @throws PinFileError (`ERR_CLI_PIN_FILE`) when the mode gives group or others any access.
 * @throws UsageError (`ERR_CLI_USAGE`) when the file has fewer than `n` lines in its first 4 KiB.
 * @throws the file system's error (`ENOENT`, `EACCES`…: `ERR_CLI_FILE`) when it cannot be opened.
 */
export async function readSecretFile(path: string, n: number, what: string): Promise<string[]> {
  const file = await open(path, 'r');
  try {
    const { mode } = await file.stat();
    if ((mode & 0o077) !== 0) throw new PinFileError(path, mode);
    const buffer = Buffer.alloc(MAX_SECRET_BYTES + 1);
    let size = 0;
    for (;;) {
      const { bytesRead } = await file.read(buffer, size, buffer.length - size);
      if (bytesRead === 0) break;
      size += bytesRead;
      if (size === buffer.length) break;
    }
    return firstLines(buffer.subarray(0, size), n, `--pin-file ${path}: expected ${what}`);
  } finally {
    await file.close();
  }
}

/**
 * The first `n` lines of `bytes`, each non-empty (no PIN or password is), or a usage error saying what was expected.
 * Only the first 4 KiB count; lines that reach past them are not taken.
 */
function firstLines(bytes: Buffer, n: number, expected: string): string[] {
  const text = bytes.subarray(0, MAX_SECRET_BYTES).toString('utf8');
  const lines = text === '' ? [] : text.replace(/\r?\n$/, '').split(/\r?\n/);
  const cut = bytes.length > MAX_SECRET_BYTES && text.split('\n').length <= n;
  if (cut || lines.length < n || lines.slice(0, n).some((l) => l === '')) throw new UsageError(expected);
  return lines.slice(0, n);
}

/** The prompt asking now: each waits for the one before, so two never read the same keystrokes. */
let asking: Promise<unknown> = Promise.resolve();
/** What was typed after the Enter that ended the last answer (typed ahead, or pasted with it): the next one's. */
let typedAhead = '';

/**
 * Prompts on the terminal with echo off, one prompt at a time (`mynagate bridge --pin-stdin` asks once per form).
 * stdin is read by a `data` listener and paused afterwards, never iterated: leaving a `for await` early destroys the
 * stream, and the next prompt then failed (ABORT_ERR) with the terminal echoing again.
 *
 * @throws UsageError (`ERR_CLI_USAGE`) without a terminal, or when the person presses Ctrl+C.
 */
export function promptHidden(prompt: string): Promise<string> {
  const answer = asking.then(() => askHidden(prompt));
  asking = answer.catch(() => undefined);
  return answer;
}

function askHidden(prompt: string): Promise<string> {
  const { stdin, stderr } = process;
  if (!stdin.isTTY)
    return Promise.reject(new UsageError('no terminal to ask for the PIN or password: pass --pin-stdin and pipe it'));
  // Echo off before the prompt shows: a PIN typed (or pasted) the moment the prompt appears must not be echoed.
  stdin.setRawMode(true);
  stderr.write(prompt);
  return new Promise<string>((resolve, reject) => {
    const decoder = new StringDecoder('utf8');
    let value = '';
    let done = false;
    const finish = (error?: Error): void => {
      done = true;
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      stdin.off('error', onError);
      stdin.setRawMode(false);
      stdin.pause();
      stderr.write('\n');
      if (error === undefined) resolve(value);
      else reject(error);
    };
    const take = (text: string): void => {
      const chars = [...text];
      for (let i = 0; i < chars.length; i++) {
        const ch = chars[i]!;
        if (ch === '\r' || ch === '\n') {
          // A CR LF pair ends one answer, not two.
          const rest = chars.slice(i + 1);
          typedAhead = (ch === '\r' && rest[0] === '\n' ? rest.slice(1) : rest).join('');
          return finish();
        }
        if (ch === '\u0003') {
          typedAhead = '';
          return finish(new UsageError('cancelled'));
        }
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    const onData = (chunk: Buffer | string): void => take(typeof chunk === 'string' ? chunk : decoder.write(chunk));
    const onEnd = (): void => finish();
    const onError = (e: Error): void => finish(e);
    const ahead = typedAhead;
    typedAhead = '';
    take(ahead);
    if (done) return;
    stdin.on('data', onData);
    stdin.once('end', onEnd);
    stdin.once('error', onError);
    stdin.resume();
  });
}

/** The PIN for `--pin-stdin` or an interactive prompt. */
export function readSecret(fromStdin: boolean, prompt: string): Promise<string> {
  return fromStdin ? readLineFromStdin() : promptHidden(prompt);
}
