/**
 * Errors of the demo service and the development stack, one class per decision a caller makes.
 */
import { MynaGateError } from '@mynagate/errors';

/** `ERR_DEMO_NOT_CONNECTED`: the demo has not discovered its provider yet (answer 503, try later). */
export class DemoNotConnectedError extends MynaGateError {
  constructor() {
    super('ERR_DEMO_NOT_CONNECTED', 'the demo service is not connected to its provider yet');
  }
}

/**
 * `ERR_DEV_DATA_INVALID`: the development data directory exists but is not one this stack made, or is damaged.
 * Move it away (or pass another `--data`) to start afresh.
 */
export class DevDataInvalidError extends MynaGateError {
  readonly dir: string;
  constructor(dir: string, reason: string, options?: ErrorOptions) {
    super('ERR_DEV_DATA_INVALID', `${dir}: ${reason}`, options);
    this.dir = dir;
  }
}

/** `ERR_DEV_PORT_IN_USE`: a port of the development stack is taken; pick another one. */
export class DevPortInUseError extends MynaGateError {
  readonly port: number;
  constructor(what: string, port: number, options?: ErrorOptions) {
    super('ERR_DEV_PORT_IN_USE', `port ${port} (${what}) is already in use; choose another with its option`, options);
    this.port = port;
  }
}

/** Every code of the demo and the development stack: the registry docs/errors.md is checked against. */
export const DEMO_ERROR_CODES = Object.freeze({
  ERR_DEMO_NOT_CONNECTED: 'The demo has not discovered its provider yet; it answers 503, try again shortly.',
  ERR_DEV_DATA_INVALID: 'The development data directory is not one `mynagate serve --dev` made, or is damaged.',
  ERR_DEV_PORT_IN_USE: 'A port of the development stack is taken; choose another with its option.',
});
