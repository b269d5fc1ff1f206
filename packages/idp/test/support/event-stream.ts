/**
 * Server-Sent Events as the login page's script reads them, for tests and the load generator: named events off a
 * `fetch` response or a `node:http` response.
 */
import type { IncomingMessage } from 'node:http';

/** Reads named events from a response: `next(name)` waits for the next event of that name. */
export class EventStream {
  #buffer = '';
  #ended = false;
  #wake: (() => void) | undefined;
  readonly #close: () => Promise<void>;

  constructor(response: Response | IncomingMessage) {
    const push = (text: string) => {
      this.#buffer += text;
      this.#wake?.();
    };
    const end = () => {
      this.#ended = true;
      this.#wake?.();
    };
    if (response instanceof Response) {
      if (response.body === null) throw new Error('no event stream body');
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      void (async () => {
        try {
          for (let r = await reader.read(); !r.done; r = await reader.read()) push(r.value);
        } catch {
          // Cancelled or broken: the stream has ended either way.
        }
        end();
      })();
      this.#close = () => reader.cancel().catch(() => {});
    } else {
      response.setEncoding('utf8');
      response.on('data', push);
      response.once('end', end);
      response.once('error', end);
      response.once('close', end);
      this.#close = async () => void response.destroy();
    }
  }

  /** The data of the next event named `name` (others are skipped), or `undefined` at the end or after `timeoutMs`. */
  async next(name: string, timeoutMs = 5000): Promise<unknown> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const end = this.#buffer.indexOf('\n\n');
      if (end !== -1) {
        const block = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event === name) return data === undefined ? undefined : JSON.parse(data);
        continue;
      }
      const left = deadline - performance.now();
      if (this.#ended || left <= 0) return undefined;
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
      this.#wake = undefined;
    }
  }

  close(): Promise<void> {
    return this.#close();
  }
}
