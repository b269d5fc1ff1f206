/**
 * Reading a PIN or password: from the terminal without echo, or the first line of stdin with `--pin-stdin`.
 * The value is returned to the caller and never printed or logged.
 */
import { StringDecoder } from 'node:string_decoder';
import { UsageError } from './output.ts';

/** Reads one line from stdin (all of it up to the first newline). */
export async function readLineFromStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk as Buffer);
    if ((chunk as Buffer).includes(0x0a)) break;
  }
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
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
    return Promise.reject(new UsageError('no terminal to ask for the PIN: pass --pin-stdin and pipe it'));
  stderr.write(prompt);
  stdin.setRawMode(true);
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
