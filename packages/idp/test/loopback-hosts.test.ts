/**
 * The provider takes an http issuer only on `@mynagate/pki`'s loopback hosts, the ones whose origin the verifier
 * accepts in a card's token: the same table as packages/pki/test/loopback-hosts.test.ts. An issuer on another
 * 127.x host used to start and then refuse every login with ERR_PKI_TOKEN_ORIGIN.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveConfig, type IdpConfig } from '../src/config.ts';

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

test('an http issuer passes the loopback check exactly on the table’s hosts', () => {
  for (const [origin, loopback] of LOOPBACK_TABLE) {
    // The issuer is the first thing checked; an accepted one fails later, on the clients this config lacks.
    const issuer = new URL(origin).origin;
    assert.throws(
      () => resolveConfig({ issuer } as IdpConfig),
      { name: 'TypeError', message: loopback ? /clients/ : /http issuer is only allowed on a loopback host/ },
      origin,
    );
  }
});
