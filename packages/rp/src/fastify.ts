/**
 * `@mynagate/rp/fastify`: a Fastify 5 plugin. It decorates the instance it is registered in with `requireCard()`,
 * `requireFreshCard({ maxAgeSeconds })` and `requireAge(20)` (preHandler hooks), every request of that scope with
 * `request.mynagate`, and answers the callback path (the client's redirect URI). It applies to the scope it is
 * registered in and that scope's children, never to siblings: register it inside the scope of the routes it
 * protects (Fastify encapsulation).
 *
 * @example
 * ```ts
 * await app.register(async (scope) => {
 *   await scope.register(mynagate, { client, sessionKey });
 *   scope.get('/account', { preHandler: scope.requireCard() }, async (req) => ({ sub: req.mynagate!.login!.sub }));
 * });
 * ```
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import type { MynaGateClient } from './client.ts';
import {
  freshRequirement,
  Gate,
  MynaGateContext,
  type Decision,
  type MiddlewareOptions,
  type Requirement,
} from './gate.ts';
import type { AgeThreshold } from './transaction.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the MynaGate plugin in its scope; null elsewhere. */
    mynagate: MynaGateContext<FastifyRequest> | null;
  }
  interface FastifyInstance {
    /** Demands a card login: otherwise 302 to the provider (GET/HEAD) or 401. */
    requireCard(): preHandlerAsyncHookHandler;
    /**
     * Demands a card login at most `maxAgeSeconds` old (the client's `clockToleranceSeconds` allowed): otherwise a
     * step-up. @throws TypeError unless `maxAgeSeconds` is an integer of at least 30.
     */
    requireFreshCard(options: { readonly maxAgeSeconds: number }): preHandlerAsyncHookHandler;
    /** Demands `age_over_N` true: unknown → an age check; false → 403. @throws TypeError unless 18 or 20. */
    requireAge(over: AgeThreshold): preHandlerAsyncHookHandler;
  }
}

/** Options of {@link mynagate}: the client plus the middleware options. */
export interface MynaGateFastifyOptions extends MiddlewareOptions<FastifyRequest> {
  readonly client: MynaGateClient;
}

export { MynaGateContext, type Decision, type MiddlewareOptions, type Requirement };

async function plugin(app: FastifyInstance, options: MynaGateFastifyOptions): Promise<void> {
  const { client, ...rest } = options;
  const gate = new Gate<FastifyRequest>(client, rest);
  const prefix = app.prefix;
  if (!gate.callbackPath.startsWith(prefix)) {
    throw new TypeError(`the redirect URI path ${gate.callbackPath} is outside this scope's prefix ${prefix}`);
  }
  app.decorateRequest('mynagate', null);
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    request.mynagate = await gate.open(request.headers.cookie, (line) => void reply.header('set-cookie', line));
  });
  app.get(gate.callbackPath.slice(prefix.length) || '/', async (request: FastifyRequest, reply: FastifyReply) => {
    const { location } = await request.mynagate!.callback(request, request.url);
    return reply.redirect(location, 302);
  });
  app.decorate('requireCard', () => guard({ kind: 'card' }));
  app.decorate('requireFreshCard', (o: { readonly maxAgeSeconds: number }) => guard(freshRequirement(o)));
  app.decorate('requireAge', (over: AgeThreshold) => {
    if (over !== 18 && over !== 20) throw new TypeError('over must be 18 or 20');
    return guard({ kind: 'age', over });
  });
}

function guard(requirement: Requirement): preHandlerAsyncHookHandler {
  return async function (this: FastifyInstance, request: FastifyRequest, reply: FastifyReply) {
    const ctx = request.mynagate;
    if (ctx === null) throw new TypeError('register the mynagate plugin in this scope');
    const decision: Decision = await ctx.require(requirement, request.method, request.url);
    switch (decision.action) {
      case 'next':
        return;
      case 'redirect':
        return reply.redirect(decision.location, 302);
      case 'deny':
        return reply.code(decision.status).send({ error: decision.error });
    }
  };
}

/**
 * The plugin. Registered with `skip-override` so its hooks and decorators land in the scope that registers it (as
 * `fastify-plugin` does), which is how the caller chooses what it protects.
 */
export const mynagate = Object.assign(plugin, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: 'mynagate',
});
