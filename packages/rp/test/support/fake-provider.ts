/**
 * A scripted OpenID Provider on http loopback for the SDK's negative tests: the real provider never signs a bad ID
 * token or refuses a pushed request on demand, so this one speaks the same protocol (discovery, JWKS, PAR, token,
 * userinfo, over real HTTP) and answers what each test scripts. ID tokens are signed with ES256 by node:crypto, with
 * the provider's key (`kid` {@link KID}) or any other.
 */
import { createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ACR_CARD_AUTH } from '../../src/acr.ts';

/** The `kid` of the provider's one signing key. */
export const KID = 'fake-es256';

/** An HTTP answer a test scripts. */
export interface Answer {
  readonly status?: number;
  /** JSON unless a string. */
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

/** A running fake provider. Set the answers before the request that reads them. */
export interface FakeProvider {
  readonly issuer: string;
  /** The provider's ES256 signing key (its public half is in the JWKS). */
  readonly key: KeyObject;
  /** The token endpoint's answer to each request (the form it was sent). Default: 500. */
  token: (form: URLSearchParams) => Answer;
  /** The PAR endpoint's answer. Default: 201 with a fresh `request_uri`. */
  par: () => Answer;
  /** The userinfo endpoint's answer. Default: `{}`. */
  userinfo: () => Answer;
  /** The JWKS endpoint's answer. Default: the provider's key. */
  jwks: () => Answer;
  /** The paths requested, in order. */
  readonly requests: string[];
  close(): Promise<void>;
}

/** A compact JWS over `claims` signed with `key` (ES256, P-256), the header as given. */
export function signJwt(key: KeyObject, header: Record<string, unknown>, claims: Record<string, unknown>): string {
  const input = `${b64(header)}.${b64(claims)}`;
  const signature = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
  return `${input}.${signature}`;
}

/** A compact JWS with an arbitrary signature part (for `alg: none` and the like). */
export function unsignedJwt(header: Record<string, unknown>, claims: Record<string, unknown>, signature = ''): string {
  return `${b64(header)}.${b64(claims)}.${signature}`;
}

function b64(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** A new P-256 private key (a key the provider does not have). */
export function newEcKey(): KeyObject {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
}

/** The claims of a valid card-login ID token for `clientId`, at `now` (epoch seconds). */
export function validClaims(issuer: string, clientId: string, nonce: string, now: number): Record<string, unknown> {
  return {
    iss: issuer,
    aud: clientId,
    sub: 'fake-sub-0001',
    exp: now + 300,
    iat: now,
    nonce,
    auth_time: now,
    acr: ACR_CARD_AUTH,
    amr: ['hwk', 'pin', 'sc'],
  };
}

/** Starts the provider on 127.0.0.1 with an ephemeral port. */
export async function startFakeProvider(): Promise<FakeProvider> {
  const key = newEcKey();
  const publicJwk = { ...createPublicKey(key).export({ format: 'jwk' }), kid: KID, alg: 'ES256', use: 'sig' };
  let pushed = 0;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', op.issuer);
    op.requests.push(url.pathname);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const reply = (a: Answer) => {
        const text = typeof a.body === 'string' ? a.body : JSON.stringify(a.body ?? {});
        res.writeHead(a.status ?? 200, {
          'content-type': typeof a.body === 'string' ? 'text/plain' : 'application/json',
          ...a.headers,
        });
        res.end(text);
      };
      switch (url.pathname) {
        case '/.well-known/openid-configuration':
          return reply({
            body: {
              issuer: op.issuer,
              authorization_endpoint: `${op.issuer}/auth`,
              token_endpoint: `${op.issuer}/token`,
              jwks_uri: `${op.issuer}/jwks`,
              userinfo_endpoint: `${op.issuer}/me`,
              end_session_endpoint: `${op.issuer}/logout`,
              pushed_authorization_request_endpoint: `${op.issuer}/par`,
              acr_values_supported: [ACR_CARD_AUTH, 'urn:mynagate:acr:card-sign'],
              id_token_signing_alg_values_supported: ['ES256'],
              authorization_response_iss_parameter_supported: true,
              response_types_supported: ['code'],
              subject_types_supported: ['pairwise'],
            },
          });
        case '/jwks':
          return reply(op.jwks());
        case '/par':
          return reply(op.par());
        case '/token':
          return reply(op.token(form));
        case '/me':
          return reply(op.userinfo());
        default:
          return reply({ status: 404 });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const op: FakeProvider = {
    issuer: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    key,
    token: () => ({ status: 500, body: 'no token scripted' }),
    par: () => ({
      status: 201,
      body: { request_uri: `urn:ietf:params:oauth:request_uri:${++pushed}`, expires_in: 60 },
    }),
    userinfo: () => ({ body: {} }),
    jwks: () => ({ body: { keys: [publicJwk] } }),
    requests: [],
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return op;
}
