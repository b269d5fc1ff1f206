/**
 * A tiny router for the IdP's own pages and APIs on plain `node:http`. Anything it does not know falls through to
 * node-oidc-provider, so routes here never shadow protocol endpoints.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { IdpBadRequestError, IdpMethodNotAllowedError } from '../errors.ts';
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

  /** Adds a route. `onError` renders its errors (default: JSON through {@link sendError}). */
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
    if (method === 'GET') route.methods.set('HEAD', handler);
    return this;
  }

  /** Handles the request if a route matches; resolves false otherwise (the caller passes it on). */
  async handle(req: IncomingMessage, res: ServerResponse, origin: string): Promise<boolean> {
    const url = new URL(req.url ?? '/', origin);
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
 * @throws IdpBadRequestError (`ERR_IDP_BAD_REQUEST`) for another type, a larger body or invalid JSON.
 */
export async function readJson(req: IncomingMessage, limit = 64 * 1024): Promise<unknown> {
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json(\s*;|$)/i.test(type)) throw new IdpBadRequestError('content-type must be application/json');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new IdpBadRequestError('body too large');
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new IdpBadRequestError('body is not JSON');
  }
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
