/**
 * The RP SDK's loopback hosts (its own copy: it depends on `@mynagate/errors` only) are `@mynagate/pki`'s
 * `isLoopbackHost`: the same table as packages/pki/test/loopback-hosts.test.ts. An http redirect URI or issuer on
 * another 127.x host is refused here, as the provider refuses it, rather than accepted and failing later.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isLoopbackHttp } from '../src/options.ts';
import { createMynaGateClient } from '../src/index.ts';

/** The table (keep the three copies equal): http origins, and whether each is on a loopback host. */
const LOOPBACK_TABLE: readonly (readonly [string, boolean])[] = [
  ['http://localhost:3000', true],
  ['http://127.0.0.1:8080', true],
  ['http://[::1]:3000', true],
  ['http://LOCALHOST:3000', true], // URL lower-cases the host
  ['http://127.0.0.2:8080', false],
  ['http://127.1.2.3:8080', false],
  ['http://127.255.255.255', false],
  ['http://[::ffff:127.0.0.1]', false],
  ['http://0.0.0.0:8080', false],
  ['http://localhost.example', false],
  ['http://127.0.0.1.nip.io', false],
  ['http://10.0.0.1', false],
];

test('isLoopbackHttp agrees with the table', () => {
  for (const [origin, loopback] of LOOPBACK_TABLE) assert.equal(isLoopbackHttp(new URL(origin)), loopback, origin);
});

test('an http redirect URI and issuer are accepted exactly on the table’s loopback hosts', () => {
  for (const [origin, loopback] of LOOPBACK_TABLE) {
    const make = (issuer: string, redirectUri: string) => () =>
      createMynaGateClient({
        issuer,
        clientId: 'bank',
        clientSecret: 's'.repeat(32),
        redirectUri,
        allowLoopbackHttp: true,
      });
    const redirect = make('https://id.example.jp', `${origin}/cb`);
    const issuer = make(origin, 'https://bank.example/cb');
    if (loopback) {
      redirect();
      issuer();
    } else {
      assert.throws(redirect, { name: 'TypeError', message: /redirectUri/ }, origin);
      assert.throws(issuer, { name: 'TypeError', message: /issuer/ }, origin);
    }
  }
});
