/**
 * `mynagate login URL`: the companion on a PC with a card reader (or a virtual card file). It opens the link of the
 * login page's QR code, shows which service asks and for what, asks for the PIN, has the card sign
 * `SHA-256(origin) ‖ SHA-256(challenge)` and posts the token. The outcome goes to the browser that shows the QR
 * code, never to the companion: it only learns "ok".
 */
import { JpkiClient, type Transport } from '@mynagate/card';
import { PcscTransport } from '@mynagate/card/pcsc';
import { VirtualCard, VirtualTransport } from '@mynagate/card/virtual';
import { MynaGateError } from '@mynagate/errors';
import { authSignedData, checkOrigin, createAuthToken, sha256DigestInfo, type AuthTokenJson } from '@mynagate/pki';
import { optional, positional } from '../args.ts';
import type { Parsed } from '../main.ts';
import { printJson, UsageError } from '../output.ts';
import { readSecret } from '../secret.ts';

const APP_VERSION = 'mynagate-cli/0.1.0';

/** A refusal or failure reported by the provider, with its stable code (e.g. `ERR_PKI_CERT_REVOKED`). */
class CompanionRemoteError extends MynaGateError {
  readonly status: number;
  constructor(code: string, message: string, status: number) {
    super(code, message);
    this.status = status;
  }
}

/** What `GET /companion/:txn` answers. */
interface CompanionView {
  readonly txn: string;
  readonly clientName: string;
  readonly clientOrigin: string;
  readonly origin: string;
  readonly intent: string;
  readonly challenge: string;
}

const INTENTS: Record<string, string> = { login: 'ログイン / Log in' };

export async function login(a: Parsed): Promise<void> {
  const link = companionLink(positional(a, 'companion link (the URL in the QR code)'));
  const file = optional(a, 'file');
  const reader = optional(a, 'reader');
  if (file !== undefined && reader !== undefined) throw new UsageError('give --file or --reader, not both');

  const view = await scan(link);
  process.stderr.write(
    [
      `サービス / Service:    ${view.clientName} (${view.clientOrigin})`,
      `署名先 / Signed for:   ${view.origin}`,
      `目的 / Intent:         ${INTENTS[view.intent] ?? view.intent}`,
      '',
    ].join('\n'),
  );

  // The card first: a missing reader or card is reported before anyone types a PIN.
  const transport: Transport =
    file !== undefined
      ? new VirtualTransport(VirtualCard.open(file))
      : await PcscTransport.connect(reader !== undefined ? { reader } : {});
  let token: AuthTokenJson;
  try {
    const pin = await readSecret(
      a.values['pin-stdin'] === true,
      '利用者証明用暗証番号（数字4桁）/ auth PIN (4 digits): ',
    );
    const card = new JpkiClient(transport);
    await card.selectJpki();
    await card.verify('auth', pin);
    token = await authToken(await card.readCertificate('auth'), view, (di) => card.sign('auth', di));
  } finally {
    await transport.close();
  }

  const outcome = await request(new URL(`/companion/${encodeURIComponent(view.txn)}/token`, link), {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify(token),
  });
  printJson(outcome);
}

/** The QR link: `http(s)://host/companion/<txn>?t=…&c=…`. */
function companionLink(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError('the link must be an absolute URL (the one in the QR code)');
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || !/^\/companion\/[^/]+$/.test(url.pathname)) {
    throw new UsageError('not a MynaGate companion link (https://…/companion/<id>?t=…&c=…)');
  }
  return url;
}

/** Opens the link and checks that what we are asked to sign is bound to the site we actually talk to. */
async function scan(link: URL): Promise<CompanionView> {
  const v = (await request(link, { headers: { accept: 'application/json' } })) as Partial<CompanionView> | null;
  for (const name of ['txn', 'clientName', 'clientOrigin', 'origin', 'intent', 'challenge'] as const) {
    if (typeof v?.[name] !== 'string' || v[name] === '') {
      throw new CompanionRemoteError('ERR_CLI_COMPANION_RESPONSE', `the server's answer lacks ${name}`, 200);
    }
  }
  // A server that hands out another site's origin and challenge would be relaying our signature to that site
  // (the attack the origin binding of Web eID tokens exists to stop): sign only for the origin we fetched from.
  if (v!.origin !== link.origin) {
    throw new CompanionRemoteError(
      'ERR_CLI_COMPANION_ORIGIN',
      `the link is on ${link.origin} but asks for a signature for ${v!.origin}; refusing`,
      200,
    );
  }
  return v as CompanionView;
}

/**
 * The Web eID token. `createAuthToken` accepts https origins only; a development provider on a loopback address
 * (W3C Secure Contexts §3.2) gets the same token built from the same parts, after the same origin check with
 * loopback allowed.
 */
async function authToken(
  certificate: Uint8Array,
  view: CompanionView,
  sign: (digestInfo: Uint8Array) => Promise<Uint8Array>,
): Promise<AuthTokenJson> {
  if (new URL(view.origin).protocol === 'https:') {
    return createAuthToken({
      certificate,
      origin: view.origin,
      challenge: view.challenge,
      sign,
      appVersion: APP_VERSION,
    });
  }
  checkOrigin(view.origin, { allowLoopbackHttp: true });
  const signature = await sign(sha256DigestInfo(authSignedData(view.origin, view.challenge)));
  return Object.freeze({
    unverifiedCertificate: Buffer.from(certificate).toString('base64'),
    algorithm: 'RS256',
    signature: Buffer.from(signature).toString('base64'),
    format: 'web-eid:1.0',
    appVersion: APP_VERSION,
  });
}

/** A JSON request; a non-2xx answer becomes the provider's error code and English message. */
async function request(url: URL, init: RequestInit): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, redirect: 'error', signal: AbortSignal.timeout(15_000) });
  } catch (e) {
    throw new CompanionRemoteError('ERR_CLI_UNREACHABLE', `cannot reach ${url.origin}: ${(e as Error).message}`, 0);
  }
  const body = (await res.json().catch(() => null)) as {
    error?: unknown;
    message?: { en?: unknown } | unknown;
  } | null;
  if (!res.ok) {
    const code = typeof body?.error === 'string' && /^[A-Za-z0-9_]+$/.test(body.error) ? body.error : 'ERR_CLI_HTTP';
    const en = (body?.message as { en?: unknown } | undefined)?.en;
    throw new CompanionRemoteError(code, typeof en === 'string' ? en : `HTTP ${res.status}`, res.status);
  }
  return body;
}
