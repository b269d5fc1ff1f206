/**
 * `@mynagate/rp/express`: Express 5 middleware. `mynagate(client, options)` opens the session of every request
 * (`req.mynagate`) and answers the callback path (the client's redirect URI); `requireCard()`,
 * `requireFreshCard({ maxAgeSeconds })` and `requireAge(20)` protect routes.
 *
 * @example
 * ```ts
 * app.use(mynagate(client, { sessionKey, onLogin: async (r) => { await users.upsert(r.sub) } }));
 * app.get('/account', requireCard(), (req, res) => res.send(`sub ${req.mynagate!.login!.sub}`));
 * app.post('/transfer', requireFreshCard({ maxAgeSeconds: 300 }), transfer);
 * ```
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
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

// `req.mynagate` on every Express request. @types/express-serve-static-core's `Request` extends the global
// `Express.Request` (the interface passport's `req.user` uses), so this needs no module of express's own types to
// resolve from this package: augmenting the module 'express-serve-static-core' fails wherever that transitive
// package is not visible from here (pnpm, Yarn PnP, npm nested installs, or another version hoisted above it).
declare global {
  // An ambient namespace (inside `declare global`): erased, so type stripping and erasableSyntaxOnly accept it.
  namespace Express {
    interface Request {
      /** Set by {@link mynagate}: this browser's MynaGate session. */
      mynagate?: MynaGateContext<import('express').Request>;
    }
  }
}

/** Options of {@link mynagate}. */
export type MynaGateExpressOptions = MiddlewareOptions<Request>;

export { MynaGateContext, type Decision, type MiddlewareOptions, type Requirement };

/**
 * The session middleware and callback handler. Mount it before the routes it protects, at the application root
 * (the callback path is the redirect URI's path).
 *
 * Callback errors (`ERR_RP_*`, e.g. `ERR_RP_STATE`, `ERR_RP_AUTHORIZATION` when the person cancelled) go to `next`.
 *
 * @throws TypeError for a bad option (at construction).
 */
export function mynagate(client: MynaGateClient, options: MynaGateExpressOptions = {}): RequestHandler {
  const gate = new Gate<Request>(client, options);
  return async (req: Request, res: Response, next: NextFunction) => {
    try {
      const ctx = await gate.open(req.headers.cookie, (line) => res.append('Set-Cookie', line));
      req.mynagate = ctx;
      if ((req.method === 'GET' || req.method === 'HEAD') && pathOf(req.originalUrl) === gate.callbackPath) {
        const { location } = await ctx.callback(req, req.originalUrl);
        res.redirect(302, location);
        return;
      }
      next();
    } catch (e) {
      next(e);
    }
  };
}

/** Demands a card login: otherwise 302 to the provider (GET/HEAD) or 401. */
export function requireCard(): RequestHandler {
  return guard({ kind: 'card' });
}

/**
 * Demands a card login at most `maxAgeSeconds` old (the client's `clockToleranceSeconds` allowed): otherwise a
 * step-up (a fresh card login, `prompt=login`).
 *
 * @throws TypeError unless `maxAgeSeconds` is an integer of at least 30 (a shorter one can expire on the way back
 *   from the provider, sending the person to the card again and again).
 */
export function requireFreshCard(options: { readonly maxAgeSeconds: number }): RequestHandler {
  return guard(freshRequirement(options));
}

/**
 * Demands `age_over_N` true: unknown → an age check at the provider; false → 403.
 *
 * @throws TypeError when `over` is not 18 or 20.
 */
export function requireAge(over: AgeThreshold): RequestHandler {
  if (over !== 18 && over !== 20) throw new TypeError('over must be 18 or 20');
  return guard({ kind: 'age', over });
}

function guard(requirement: Requirement): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    const ctx = req.mynagate;
    if (ctx === undefined) {
      next(new TypeError('mount mynagate(client) before requireCard / requireFreshCard / requireAge'));
      return;
    }
    try {
      apply(await ctx.require(requirement, req.method, req.originalUrl), res, next);
    } catch (e) {
      next(e);
    }
  };
}

function apply(decision: Decision, res: Response, next: NextFunction): void {
  switch (decision.action) {
    case 'next':
      next();
      return;
    case 'redirect':
      res.redirect(302, decision.location);
      return;
    case 'deny':
      res.status(decision.status).json({ error: decision.error });
      return;
  }
}

function pathOf(originalUrl: string): string {
  const q = originalUrl.search(/[?#]/);
  return q === -1 ? originalUrl : originalUrl.slice(0, q);
}
