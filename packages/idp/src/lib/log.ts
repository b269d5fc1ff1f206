/**
 * The operator's event log: one JSON object per line, for what otherwise leaves no trace on the server (a refused
 * card login is answered to the companion and shown on the person's page, never to the operator; a scan from
 * another network than the login's or the signature's). Callers pass codes, fixed words and client ids only: never
 * a serial, a name, an address or a request's IP.
 */

/** One event: when (ISO 8601 UTC), what (e.g. `login.refused`), and short fields. */
export interface LogEvent {
  readonly time: string;
  readonly event: string;
  readonly [field: string]: string;
}

/**
 * Where events go: a function taking one event, which must not throw (a failing one is ignored by its callers).
 * Default {@link stderrLog}; a test or a log shipper passes its own.
 *
 * @example
 * ```ts
 * const events: LogEvent[] = [];
 * const handler = companionToken(context, (e) => events.push(e));
 * ```
 */
export type EventLog = (event: LogEvent) => void;

/** Writes each event as one JSON line on stderr (`{"time":…,"event":"login.refused","code":…}`). */
export const stderrLog: EventLog = (event) => {
  process.stderr.write(`${JSON.stringify(event)}\n`);
};
