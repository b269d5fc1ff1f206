/**
 * Reading a PIN or password: from the terminal without echo, or the first line of stdin with `--pin-stdin`.
 * The value is returned to the caller and never printed or logged.
 */
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

/** Prompts on the terminal with echo off. */
export async function promptHidden(prompt: string): Promise<string> {
  const { stdin, stderr } = process;
  if (!stdin.isTTY) throw new UsageError('no terminal to ask for the PIN: pass --pin-stdin and pipe it');
  stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.resume();
  let value = '';
  try {
    for await (const chunk of stdin) {
      for (const ch of (chunk as Buffer).toString('utf8')) {
        if (ch === '\r' || ch === '\n') return value;
        if (ch === '\u0003') throw new UsageError('cancelled');
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    }
    return value;
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    stderr.write('\n');
  }
}

/** The PIN for `--pin-stdin` or an interactive prompt. */
export function readSecret(fromStdin: boolean, prompt: string): Promise<string> {
  return fromStdin ? readLineFromStdin() : promptHidden(prompt);
}
