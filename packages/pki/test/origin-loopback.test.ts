import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkOrigin } from '@mynagate/pki';

test('origin: loopback http is refused by default (ERR_PKI_TOKEN_ORIGIN)', () => {
  assert.throws(() => checkOrigin('http://127.0.0.1:8080'), { code: 'ERR_PKI_TOKEN_ORIGIN' });
  assert.throws(() => checkOrigin('http://localhost:3000'), { code: 'ERR_PKI_TOKEN_ORIGIN' });
});

test('origin: allowLoopbackHttp accepts only loopback hosts, still in exact origin form', () => {
  const o = { allowLoopbackHttp: true };
  assert.equal(checkOrigin('http://127.0.0.1:8080', o), 'http://127.0.0.1:8080');
  assert.equal(checkOrigin('http://localhost:3000', o), 'http://localhost:3000');
  assert.equal(checkOrigin('http://[::1]:3000', o), 'http://[::1]:3000');
  for (const bad of [
    'http://example.jp',
    'http://127.0.0.2:80',
    'http://localhost:3000/',
    'http://10.0.0.1',
    'http://localhost.example',
  ])
    assert.throws(() => checkOrigin(bad, o), { code: 'ERR_PKI_TOKEN_ORIGIN' }, bad);
});
