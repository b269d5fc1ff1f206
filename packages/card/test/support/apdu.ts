/** Test helpers: hex APDUs, and transports that record or fake the card's side. */
import type { Transport } from '../../src/transport.ts';

/** `hex('00 A4 04 0C')` → bytes. Spaces are ignored. */
export function hex(s: string): Uint8Array {
  const clean = s.replace(/\s+/g, '');
  if (!/^([0-9a-fA-F]{2})*$/.test(clean)) throw new TypeError(`bad hex: ${s}`);
  return Uint8Array.from(clean.match(/../g) ?? [], (b) => parseInt(b, 16));
}

/** Bytes → `"00 A4 04 0C"`. */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).toUpperCase().padStart(2, '0')).join(' ');
}

/** Wraps a transport and records every command it sends, as hex. */
export function recording(inner: Transport): Transport & { readonly sent: string[] } {
  const sent: string[] = [];
  return {
    sent,
    atr: inner.atr,
    extendedLength: inner.extendedLength,
    transmit: (command) => {
      sent.push(toHex(command));
      return inner.transmit(command);
    },
    close: () => inner.close(),
  };
}

/** A fake card: `answer` maps a command (hex) to a response (hex, status word included). */
export function fakeCard(
  answer: (command: string) => string,
  extendedLength = false,
): Transport & { readonly sent: string[] } {
  const sent: string[] = [];
  return {
    sent,
    atr: hex('3B E0 00 FF 81 31 FE 45 14'),
    extendedLength,
    transmit: async (command) => {
      sent.push(toHex(command));
      return hex(answer(toHex(command)));
    },
    close: async () => {},
  };
}
