/**
 * The one error base class of MynaGate. Every domain error carries a stable `code` (`ERR_<AREA>_<WHAT>`) that
 * callers branch on and that documentation lists; messages are for people and may change.
 *
 * Programmer misuse (a bad option, a wrong type) is a `TypeError`, never a `MynaGateError`.
 *
 * @example
 * ```ts
 * try { await client.verifyPin('auth', pin) }
 * catch (e) { if (isMynaGateError(e) && e.code === 'ERR_CARD_PIN_INCORRECT') retry() }
 * ```
 */
export class MynaGateError extends Error {
  /** The stable machine-readable code, e.g. `ERR_CARD_PIN_BLOCKED`. */
  readonly code: string;

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }

  /** A JSON view safe to print: code and message only, never fields that might carry personal data. */
  toJSON(): { code: string; message: string } {
    return { code: this.code, message: this.message };
  }
}

/** Narrows `e` to a {@link MynaGateError}, optionally with one particular code. */
export function isMynaGateError(e: unknown, code?: string): e is MynaGateError {
  return e instanceof MynaGateError && (code === undefined || e.code === code);
}
