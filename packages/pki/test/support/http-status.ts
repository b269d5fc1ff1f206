/**
 * Real HTTP for the status-code cases of the revocation sources: a server that answers every request with one
 * status (as a platform or an OCSP gateway refusing a wrong API key, or throttling, does) and one body, and the URL
 * of a port nothing listens on.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A server on 127.0.0.1:0 answering every request with `status` and, unless `answer` says otherwise, a JSON error
 * body. `answer.headers` are added (a Retry-After); `answer.body` and its `contentType` replace the JSON.
 */
export async function answeringWith(
  status: number,
  answer: { readonly body?: string; readonly contentType?: string; readonly headers?: Record<string, string> } = {},
): Promise<{ readonly url: string; readonly requests: number; close(): Promise<void> }> {
  const body = answer.body ?? JSON.stringify({ error: `status ${status}` });
  let requests = 0;
  const server = createServer((req, res) => {
    requests++;
    req.resume();
    res.writeHead(status, { 'content-type': answer.contentType ?? 'application/json', ...answer.headers }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    /** How many requests it has answered. */
    get requests() {
      return requests;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** `http://127.0.0.1:<port>` of a port that was just bound and released: a connection to it is refused. */
export async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}
