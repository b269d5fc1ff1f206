/** Internal ids: 128 random bits, base64url. Never derived from the card, so they reveal nothing about it. */
import { randomBytes } from 'node:crypto';

export function newId(): string {
  return randomBytes(16).toString('base64url');
}
