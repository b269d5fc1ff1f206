/**
 * One loopback rule: the hosts whose http origin a card's token may name (`checkOrigin` with `allowLoopbackHttp`)
 * are exactly `isLoopbackHost`'s, and the same table is asserted by the provider's issuer check
 * (packages/idp/test/loopback-hosts.test.ts) and the RP SDK's copy (packages/rp/test/loopback-hosts.test.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkOrigin, isLoopbackHost } from '@mynagate/pki';

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

test('isLoopbackHost and checkOrigin(allowLoopbackHttp) agree with the table', () => {
  for (const [origin, loopback] of LOOPBACK_TABLE) {
    const url = new URL(origin);
    assert.equal(isLoopbackHost(url.hostname), loopback, origin);
    const accepted = (() => {
      try {
        checkOrigin(url.origin, { allowLoopbackHttp: true });
        return true;
      } catch (e) {
        assert.equal((e as { code?: string }).code, 'ERR_PKI_TOKEN_ORIGIN', origin);
        return false;
      }
    })();
    assert.equal(accepted, loopback, origin);
  }
});
