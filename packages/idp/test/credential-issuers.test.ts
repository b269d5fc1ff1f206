/**
 * `upgradeCredentialIssuers`: credentials still under a CA's name are relabelled with that CA's fingerprint, for
 * each name exactly one trusted CA has; a name several trusted CAs share (J-LIS's CA generations) is left alone.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nameToString, parseCertificate } from '@mynagate/pki';
import { createFixture, lookAlikeCa } from '../../pki/test/verify-fixture.ts';
import { upgradeCredentialIssuers } from '../src/credential-issuers.ts';

test('relabels per name with one trusted CA, and leaves a name two trusted CAs share', async () => {
  const f = await createFixture();
  try {
    const auth = f.authCa.der;
    const other = f.anchors.sign[0]!;
    const generation = (await lookAlikeCa(auth)).der; // the auth CA's name, another key
    const calls: [string, string][] = [];
    const records = {
      relabelCredentialIssuer: async (name: string, fp: string) => {
        calls.push([name, fp]);
        return 2;
      },
    };
    const named = (der: Uint8Array) => nameToString(parseCertificate(der).subject);
    const fp = (der: Uint8Array) => parseCertificate(der).fingerprint;

    assert.deepEqual(await upgradeCredentialIssuers(records, [auth, other]), { relabelled: 4, ambiguous: [] });
    assert.deepEqual(calls, [
      [named(auth), fp(auth)],
      [named(other), fp(other)],
    ]);

    calls.length = 0;
    assert.deepEqual(await upgradeCredentialIssuers(records, [auth, generation, other]), {
      relabelled: 2,
      ambiguous: [named(auth)],
    });
    assert.deepEqual(calls, [[named(other), fp(other)]]);
  } finally {
    await f.close();
  }
});
