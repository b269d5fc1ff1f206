/**
 * The browser binding of a login: an HttpOnly cookie holding the transaction id and a random key whose hash the
 * transaction keeps. Only the browser that opened the QR page has it, so only that browser can take the outcome,
 * whatever token anyone posts (the mix-up guard: a result is delivered only to the session that started it).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

const NAME = 'mynagate_login';

/** Sets the binding cookie, scoped to the interaction's path. */
export function setBinding(
  res: ServerResponse,
  input: {
    readonly uid: string;
    readonly txn: string;
    readonly key: string;
    readonly secure: boolean;
    readonly maxAgeSeconds: number;
  },
): void {
  const attributes = [
    `${NAME}=${input.txn}.${input.key}`,
    `Path=/interaction/${encodeURIComponent(input.uid)}`,
    `Max-Age=${input.maxAgeSeconds}`,
    'HttpOnly',
    'SameSite=Lax',
    ...(input.secure ? ['Secure'] : []),
  ];
  res.appendHeader('set-cookie', attributes.join('; '));
}

/** The binding this browser sent, if any. */
export function readBinding(req: IncomingMessage): { readonly txn: string; readonly key: string } | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [name, value] = part.trim().split('=', 2);
    if (name !== NAME || value === undefined) continue;
    const m = /^([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/.exec(value);
    if (m !== null) return { txn: m[1]!, key: m[2]! };
  }
  return undefined;
}
