/**
 * A tiny router for the IdP's own pages and APIs on plain `node:http`. Anything it does not know falls through to
 * node-oidc-provider, so routes here never shadow protocol endpoints (a check on a protocol request goes in front of
 * the provider's own router instead, with `provider.use`: provider.ts `resumeOwnInteractionOnly`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { IdpBadRequestError, IdpBodyTooLargeError, IdpMethodNotAllowedError } from '../errors.ts';
import { sendError } from '../http-errors.ts';

/** A route handler: path parameters are already decoded. Throwing sends the error through `http-errors.ts`. */
export type Handler = (
  req: IncomingMessage,
  res: ServerResponse,
  params: Readonly<Record<string, string>>,
  url: URL,
) => Promise<void>;

interface Route {
  readonly pattern: RegExp;
  readonly names: readonly string[];
  readonly methods: Map<string, Handler>;
  /** Errors of this route as an HTML page rather than JSON. */
  readonly onError: (res: ServerResponse, e: unknown) => void;
}

/** Routes by method and path (`/interaction/:uid/events`). */
export class Router {
  readonly #routes: Route[] = [];

  /**
   * Adds a route. `onError` renders its errors (default: JSON through {@link sendError}). HEAD is not served: every
   * GET here does something (a page starts a login and sets its cookie, a scan issues a challenge), and running it
   * for headers alone would do that too, so HEAD gets 405 with `Allow`.
   */
  on(
    method: string,
    path: string,
    handler: Handler,
    onError: (res: ServerResponse, e: unknown) => void = sendError,
  ): this {
    const names: string[] = [];
    const source = path.replace(/:([a-z]+)/g, (_m, name: string) => {
      names.push(name);
      return '([^/]+)';
    });
    const pattern = new RegExp(`^${source}$`);
    let route = this.#routes.find((r) => r.pattern.source === pattern.source);
    if (route === undefined) {
      route = { pattern, names, methods: new Map(), onError };
      this.#routes.push(route);
    }
    route.methods.set(method, handler);
    return this;
  }

  /** Handles the request if a route matches; resolves false otherwise (the caller passes it on). */
  async handle(req: IncomingMessage, res: ServerResponse, origin: string): Promise<boolean> {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', origin);
    } catch {
      // An absolute-form target with a broken authority (`GET http://[x/a`): no route, nor the provider, can read it.
      sendError(res, new IdpBadRequestError('request target'));
      return true;
    }
    for (const route of this.#routes) {
      const match = route.pattern.exec(url.pathname);
      if (match === null) continue;
      try {
        const handler = route.methods.get(req.method ?? 'GET');
        if (handler === undefined) throw new IdpMethodNotAllowedError([...route.methods.keys()]);
        const params: Record<string, string> = {};
        route.names.forEach((name, i) => {
          try {
            params[name] = decodeURIComponent(match[i + 1]!);
          } catch {
            throw new IdpBadRequestError(`path parameter ${name}`);
          }
        });
        await handler(req, res, params, url);
      } catch (e) {
        // A body too large is not read to its end (which may take a whole request timeout): the connection closes after
        // the answer rather than wait for the next request behind it.
        if (e instanceof IdpBodyTooLargeError) res.setHeader('connection', 'close');
        route.onError(res, e);
      }
      return true;
    }
    return false;
  }
}

/**
 * Reads a JSON body of at most `limit` bytes with `content-type: application/json`.
 *
 * @throws IdpBadRequestError (`ERR_IDP_BAD_REQUEST`) for another type or invalid JSON; IdpBodyTooLargeError
 *   (`ERR_IDP_BODY_TOO_LARGE`) for a larger body.
 */
export async function readJson(req: IncomingMessage, limit = 64 * 1024): Promise<unknown> {
  return parseJson(await readJsonText(req, limit));
}

/**
 * The text of a JSON body (as {@link readJson} takes it, not parsed), for a reader that must see exactly what was
 * sent: `JSON.parse` keeps the last of two members of the same name, where another parser may keep the first.
 *
 * @throws IdpBadRequestError (`ERR_IDP_BAD_REQUEST`) for another type; IdpBodyTooLargeError (`ERR_IDP_BODY_TOO_LARGE`).
 */
export async function readJsonText(req: IncomingMessage, limit = 64 * 1024): Promise<string> {
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json(\s*;|$)/i.test(type)) throw new IdpBadRequestError('content-type must be application/json');
  return (await readBody(req, limit)).toString('utf8');
}

/**
 * `JSON.parse` of a body's text.
 *
 * @throws IdpBadRequestError (`ERR_IDP_BAD_REQUEST`) for invalid JSON.
 */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new IdpBadRequestError('body is not JSON');
  }
}

/**
 * Reads a request body of at most `limit` bytes. A `content-length` above it is refused before anything is read; a
 * chunked body is read until it passes the limit, then dropped as it comes. The request is never destroyed: that
 * would reset the connection before the answer is written (the router then answers 413 and closes).
 *
 * @throws IdpBodyTooLargeError (`ERR_IDP_BODY_TOO_LARGE`); IdpBadRequestError (`ERR_IDP_BAD_REQUEST`) for a body
 *   cut short.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  // RFC 9110 §15.5.14: 413 for a body larger than the server is willing to process.
  if (Number(req.headers['content-length'] ?? 0) > limit) return Promise.reject(new IdpBodyTooLargeError(limit));
  if (req.destroyed) return Promise.reject(new IdpBadRequestError('body cut short'));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (): void => {
      req.off('data', onData).off('end', onEnd).off('error', onCut).off('close', onCut);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= limit) {
        chunks.push(chunk);
        return;
      }
      done();
      req.resume(); // flowing with no 'data' listener: the rest is dropped
      reject(new IdpBodyTooLargeError(limit));
    };
    const onEnd = (): void => {
      done();
      resolve(Buffer.concat(chunks));
    };
    // The client went, or the request timed out: nothing unexpected happened here (and no one reads the answer).
    const onCut = (): void => {
      done();
      reject(new IdpBadRequestError('body cut short'));
    };
    req.on('data', onData).once('end', onEnd).once('error', onCut).once('close', onCut);
  });
}

/** Sends a JSON answer that no cache keeps. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const json = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(json),
  });
  res.end(json);
}
