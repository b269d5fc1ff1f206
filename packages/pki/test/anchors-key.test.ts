/**
 * Trust anchors are checked whole at start-up: an anchor whose public key node:crypto cannot import is a
 * configuration error (TypeError), not a raw OpenSSL error on every later login.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createVerifier, parseAnchors } from '@mynagate/pki';
import type { RevocationSource } from '@mynagate/pki';
import { NOW, createFixture } from './verify-fixture.ts';
import type { Fixture } from './verify-fixture.ts';

const okRevocation: RevocationSource = {
  status: async () => ({ status: 'good', source: 'stub' }),
};

let f: Fixture;
before(async () => {
  f = await createFixture();
});
after(() => f.close());

/** The CA certificate with its SPKI algorithm changed from rsaEncryption (…1.1.1) to …1.1.2: it still parses. */
function unimportableKey(ca: Uint8Array): Uint8Array {
  const rsaEncryption = Buffer.from('300d06092a864886f70d0101010500', 'hex');
  const at = Buffer.from(ca).indexOf(rsaEncryption);
  assert.ok(at > 0, 'the CA has an rsaEncryption SubjectPublicKeyInfo');
  const bad = ca.slice();
  bad[at + 12] = 0x02;
  return bad;
}

test('an anchor whose public key cannot be imported is a TypeError naming the anchor, at parseAnchors', () => {
  const bad = unimportableKey(f.anchors.auth[0]!);
  assert.throws(
    () => parseAnchors({ auth: [bad], sign: f.anchors.sign }),
    (e: unknown) => {
      assert.ok(e instanceof TypeError);
      assert.match(e.message, /^auth trust anchor .+ has a public key that cannot be imported$/);
      return true;
    },
  );
  assert.throws(() => parseAnchors({ auth: f.anchors.auth, sign: [unimportableKey(f.anchors.sign[0]!)] }), TypeError);
  assert.doesNotThrow(() => parseAnchors(f.anchors));
});

test('createVerifier refuses such an anchor with a TypeError instead of failing every verification later', () => {
  const bad = unimportableKey(f.anchors.auth[0]!);
  assert.throws(
    () => createVerifier({ anchors: { auth: [bad], sign: f.anchors.sign }, revocation: okRevocation, now: () => NOW }),
    TypeError,
  );
});
