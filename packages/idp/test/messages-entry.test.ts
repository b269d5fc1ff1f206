/**
 * `@mynagate/idp/messages`: the provider's wording without the provider. The CLI companion and the card-reader bridge
 * load it for their first error line or page; were it to pull in node-oidc-provider, a store driver or the verifier,
 * a person would wait for all of that (about 650 ms here) before reading what went wrong.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { CardPinBlockedError, SW } from '@mynagate/card';
import * as entry from '@mynagate/idp/messages';
import { isAnsweredByCode, messageFor, signErrorBody, toHttpError } from '../src/index.ts';

describe('@mynagate/idp/messages', () => {
  it('is the same wording the provider answers with', () => {
    assert.equal(entry.messageFor, messageFor);
    assert.equal(entry.toHttpError, toHttpError);
    assert.equal(entry.isAnsweredByCode, isAnsweredByCode);
    assert.equal(entry.signErrorBody, signErrorBody);
    const body = entry.messageFor(new CardPinBlockedError(SW.AUTH_BLOCKED));
    assert.equal(body.error, 'ERR_CARD_PIN_BLOCKED');
    assert.match(body.message.ja, /市区町村/);
  });

  it('loads no node-oidc-provider, store driver or verifier', () => {
    // Every module the import loads, as the loader resolves it (module.registerHooks, Node 23.5+).
    const loaded = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { registerHooks } from 'node:module';
         const urls = [];
         registerHooks({ load(url, context, next) { urls.push(url); return next(url, context); } });
         await import('@mynagate/idp/messages');
         console.log(JSON.stringify(urls));`,
      ],
      { cwd: import.meta.dirname, encoding: 'utf8' },
    );
    const urls = JSON.parse(loaded) as string[];
    assert.ok(
      urls.some((u) => u.endsWith('/packages/idp/src/messages.ts')),
      'the entry itself was seen',
    );
    for (const heavy of ['/oidc-provider/', '/ioredis/', '/pg/', '/jose/', '/packages/pki/', '/node_modules/koa']) {
      assert.deepEqual(
        urls.filter((u) => u.includes(heavy)),
        [],
        heavy,
      );
    }
  });
});
