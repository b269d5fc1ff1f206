/**
 * Response bodies read with a ceiling. A revocation answer comes from a responder reached over plain http (JPKI's
 * AIA and CRLDP URLs are http, spec §8.2), so anyone on the path can answer; without a ceiling one answer could
 * stream gigabytes into memory before a single check runs (the timeout bounds time, not bytes).
 */

/** A body longer than its ceiling; the transfer was cancelled there. */
export class BodyTooLargeError extends Error {
  readonly maxBytes: number;

  constructor(maxBytes: number) {
    super(`response body larger than ${maxBytes} bytes`);
    this.name = 'BodyTooLargeError';
    this.maxBytes = maxBytes;
  }
}

/**
 * Reads `res`'s body, refusing one over `maxBytes`: a Content-Length above it before reading anything, and a body
 * that grows past it as soon as it does (the rest is not downloaded).
 *
 * @throws BodyTooLargeError; what the transfer throws (abort, network).
 * @example
 * ```ts
 * const der = await readBodyLimited(await fetch(url, init), 64 * 1024);
 * ```
 */
export async function readBodyLimited(res: Response, maxBytes: number): Promise<Uint8Array> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > maxBytes) {
    await res.body?.cancel();
    throw new BodyTooLargeError(maxBytes);
  }
  if (!res.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let length = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    length += value.byteLength;
    if (length > maxBytes) {
      await reader.cancel();
      throw new BodyTooLargeError(maxBytes);
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(length);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}
