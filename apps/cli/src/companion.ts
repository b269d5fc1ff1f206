/**
 * The companion's steps, shared by `mynagate login` (a QR link) and `mynagate bridge` (the same computer's login
 * page): open a companion link, check that it asks for the origin it lives on, have the card answer (auth PIN and
 * Web eID token for a login; signing password and a statement signature for eKYC) and post the answer.
 */
import { createInterface } from 'node:readline';
import { CardPinBlockedError, JpkiClient, SW, type Transport } from '@mynagate/card';
import { PcscTransport } from '@mynagate/card/pcsc';
import { VirtualCard, VirtualTransport } from '@mynagate/card/virtual';
import { isMynaGateError, MynaGateError } from '@mynagate/errors';
import {
  authSignedData,
  BodyTooLargeError,
  checkOrigin,
  createAuthToken,
  readBodyLimited,
  sha256DigestInfo,
  statementDigestInfo,
  type AuthTokenJson,
} from '@mynagate/pki';
import { UsageError } from './output.ts';
import { readSecret } from './secret.ts';

const APP_VERSION = 'mynagate-cli/0.1.0';
/** The most the companion reads of an answer: a link is untrusted input, and its server could send without end. */
const MAX_ANSWER_BYTES = 256 * 1024;

/** A refusal or failure reported by the provider, with its stable code (e.g. `ERR_PKI_CERT_REVOKED`). */
export class CompanionRemoteError extends MynaGateError {
  readonly status: number;
  /** The provider's own words for the person, in both languages, when its answer carried both. */
  readonly words: { readonly ja: string; readonly en: string } | undefined;
  /** `message` and `words` may quote the server: they are made {@link displayText} here, before anything prints them. */
  constructor(code: string, message: string, status: number, words?: { readonly ja: string; readonly en: string }) {
    super(code, displayText(message));
    this.status = status;
    this.words = words === undefined ? undefined : { ja: displayText(words.ja), en: displayText(words.en) };
  }
}

/** `ERR_CLI_LAST_TRY`: one try of the PIN or password is left, and it was not spent: no "y" at a terminal said so. */
export class LastTryError extends MynaGateError {
  /** Whose try: the auth PIN or the signing password. */
  readonly kind: SecretKind;
  constructor(kind: SecretKind) {
    super(
      'ERR_CLI_LAST_TRY',
      `one ${kind === 'sign' ? 'signing password' : 'PIN'} try left before the card locks it; not spent without a "y" at a terminal`,
    );
    this.kind = kind;
  }
}

/** What `GET /companion/:txn` answers (a login link). */
export interface LoginView {
  readonly txn: string;
  readonly clientName: string;
  readonly clientOrigin: string;
  readonly origin: string;
  readonly intent: 'login';
  readonly challenge: string;
  /**
   * Whether this companion scanned from the network the login's browser started on, as the provider sees the two
   * (`same`); `other` for anything else, a provider that does not say included. On `other`, {@link describeView}
   * adds {@link NETWORK_CAUTION}.
   */
  readonly network: 'same' | 'other';
}

/**
 * What `GET /companion/sign/:txn` answers (an eKYC signing link). `statement` is what the canonical JSON says,
 * parsed from `canonical` itself: the person is shown exactly what the card signs, not a separate copy.
 */
export interface SignView {
  readonly txn: string;
  readonly intent: 'sign';
  readonly clientName: string;
  readonly clientOrigin: string;
  readonly origin: string;
  readonly canonical: string;
  readonly statement: {
    readonly purpose: string;
    readonly text: { readonly ja: string; readonly en: string };
    readonly issuer: string;
    /**
     * The statement's nonce, which the signature post names (the provider uses the statement up only for a post
     * that names it). A statement without one is refused at the scan, before the password is asked for.
     */
    readonly nonce: string;
  };
  /**
   * Whether this companion scanned from the network the signing page's browser opened it on, as the provider sees
   * the two (`same`); `other` for anything else, a provider that does not say included. On `other`, {@link
   * describeView} adds {@link SIGN_NETWORK_CAUTION}.
   */
  readonly network: 'same' | 'other';
}

/** A scanned companion link: a login or a signature. */
export type CompanionView = LoginView | SignView;

const INTENTS: Readonly<Record<CompanionView['intent'], string>> = {
  login: 'ログイン / Log in',
  sign: '本人確認の署名 / Identity verification signature',
};

/**
 * Control characters that would let a server's text act on a terminal or reorder what it shows: C0 (ESC starts the
 * cursor moves and SGR of ECMA-48) and DEL, C1 (CSI U+009B is ESC [ on some terminals), and the bidirectional
 * controls (Unicode UAX #9: LRM/RLM, the embeddings and overrides U+202A–U+202E, the isolates U+2066–U+2069).
 */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * `text` from a server (a service name, an origin, a statement, an error message) as it may be shown: each control
 * character above becomes U+FFFD, so a name cannot move the cursor, rewrite the "Signed for" line, hide what follows
 * or reverse it.
 *
 * @example displayText('Bank\x1b[1A\rSigned for: https://bank.example') // 'Bank�[1A�Signed for: https://bank.example'
 */
export function displayText(text: string): string {
  return text.replace(UNSAFE, '\ufffd');
}

/**
 * The caution before the PIN for a login started on another network (a QR code relayed by a phishing page looks like
 * that): the idp's `NETWORK_CAUTION`, written here, not imported, so the companion does not load the provider.
 */
export const NETWORK_CAUTION = Object.freeze({
  ja: 'このログインは、この端末とは別のネットワークで始まりました。いま目の前の画面で、ご自身でログインを始めた場合だけ続けてください。誰かに送られた・見せられたQRコードなら、暗証番号を入力せずに中止してください。',
  en: 'This login was started on another network than this device. Continue only if you started it yourself, on a screen in front of you. If someone sent or showed you this QR code, stop without entering your PIN.',
});

/**
 * The caution before the signing password for an eKYC signature started on another network (a relayed signing QR
 * code would have the person's signature verify the identity of the relaying page's session): the idp's
 * `SIGN_NETWORK_CAUTION`, written here for the same reason as {@link NETWORK_CAUTION}.
 */
export const SIGN_NETWORK_CAUTION = Object.freeze({
  ja: 'この本人確認（署名）は、この端末とは別のネットワークで始まりました。いま目の前の画面で、ご自身で始めた場合だけ続けてください。誰かに送られた・見せられたQRコードなら、パスワードを入力せずに中止してください。',
  en: 'This identity check (signature) was started on another network than this device. Continue only if you started it yourself, on a screen in front of you. If someone sent or showed you this QR code, stop without entering your password.',
});

/** Which secret of the card is asked for: the auth PIN (a login) or the signing password (a signature). */
export type SecretKind = 'auth' | 'sign';

/** The question for the PIN or password, with its format and the tries left (read just before). */
export function secretPrompt(kind: SecretKind, left: number): string {
  return kind === 'sign'
    ? `署名用電子証明書のパスワード（英字と数字を1文字以上ずつ含む6〜16文字、残り${left}回）/ signing password (6-16 letters and digits, at least one of each; ${tries(left)} left): `
    : `利用者証明用暗証番号（数字4桁、残り${left}回）/ auth PIN (4 digits, ${tries(left)} left): `;
}

/** The tries left as a line of their own, for `--pin-stdin`, where no question shows them. */
export function triesLine(kind: SecretKind, left: number): string {
  return kind === 'sign'
    ? `署名用電子証明書のパスワードの残り回数: ${left}回 / signing password: ${tries(left)} left`
    : `利用者証明用暗証番号の残り回数: ${left}回 / auth PIN: ${tries(left)} left`;
}

const tries = (n: number) => `${n} ${n === 1 ? 'try' : 'tries'}`;

/** What the terminal says before it asks whether to spend the last try. */
const LAST_TRY_CAUTION: Readonly<Record<SecretKind, { readonly ja: string; readonly en: string }>> = Object.freeze({
  auth: {
    ja: '暗証番号の残り回数はあと1回です。間違えるとロックされ、お住まいの市区町村の窓口で初期化するまで使えなくなります。暗証番号が確かなときだけ続けてください（暗証番号設定依頼書の控えなどで確かめられます）。',
    en: 'One PIN try is left. A wrong PIN locks it until your municipal office resets it. Continue only if you are sure of the PIN (your PIN setting form shows it).',
  },
  sign: {
    ja: '署名用電子証明書のパスワードの残り回数はあと1回です。間違えるとロックされ、お住まいの市区町村の窓口で初期化するまで使えなくなります。パスワードが確かなときだけ続けてください。',
    en: 'One signing password try is left. A wrong password locks it until your municipal office resets it. Continue only if you are sure of the password.',
  },
});

/** Whether `view` asks for the signing key (eKYC) rather than a login. */
export const isSignView = (view: CompanionView): view is SignView => view.intent === 'sign';

/** The secret `view` asks for. */
export const secretKindOf = (view: CompanionView): SecretKind => (isSignView(view) ? 'sign' : 'auth');

/**
 * The lines that tell the person who asks, for which site, and (for a signature) the statement's text; for a login
 * started on another network, {@link NETWORK_CAUTION}, and for a signature, {@link SIGN_NETWORK_CAUTION}, last,
 * just before the PIN or password is asked for.
 */
export function describeView(view: CompanionView): string[] {
  const lines = [
    `サービス / Service:    ${view.clientName} (${view.clientOrigin})`,
    `署名先 / Signed for:   ${view.origin}`,
    `目的 / Intent:         ${INTENTS[view.intent]}`,
  ];
  if (isSignView(view)) {
    lines.push(`利用目的 / Purpose:    ${view.statement.purpose}`, '', view.statement.text.ja, view.statement.text.en);
  }
  if (view.network !== 'same') {
    const caution = isSignView(view) ? SIGN_NETWORK_CAUTION : NETWORK_CAUTION;
    lines.push('', `注意 / Caution: ${caution.ja}`, caution.en);
  }
  return lines.map(displayText);
}

/** The card of `--file` (a virtual card file) or of a PC/SC reader (`--reader`, or the first one with a card). */
export async function openCard(options: {
  readonly file?: string | undefined;
  readonly reader?: string | undefined;
}): Promise<Transport> {
  const transport: Transport =
    options.file !== undefined
      ? new VirtualTransport(VirtualCard.open(options.file))
      : await PcscTransport.connect(options.reader !== undefined ? { reader: options.reader } : {});
  return transport;
}

/**
 * Has the card answer `view`: for a login, VERIFY the auth PIN and sign the Web eID token, which names the challenge
 * it answers (`challenge`: the provider consumes the login's challenge only for a post that names it); for a
 * signature, VERIFY the signing password and sign DigestInfo(SHA-256(canonical)) with the signing key (spec §4.5; the
 * same steps as `signStatementWithCard` of `@mynagate/idp`), naming the statement signed by its `nonce` (the provider
 * uses the statement up only for a post that names it).
 *
 * @throws the card's `ERR_CARD_PIN_FORMAT`, `ERR_CARD_PIN_INCORRECT` (with `retriesLeft`), `ERR_CARD_PIN_BLOCKED`.
 */
export async function cardAnswer(transport: Transport, view: CompanionView, secret: string): Promise<unknown> {
  const card = new JpkiClient(transport);
  if (isSignView(view)) {
    const { nonce } = view.statement;
    await card.selectJpki();
    await card.verify('sign', secret);
    const certificate = await card.readCertificate('sign');
    const signature = await card.sign('sign', statementDigestInfo(new TextEncoder().encode(view.canonical)));
    return {
      signature: Buffer.from(signature).toString('base64'),
      certificate: Buffer.from(certificate).toString('base64'),
      nonce,
    };
  }
  await card.selectJpki();
  await card.verify('auth', secret);
  const token = await authToken(await card.readCertificate('auth'), view, (di) => card.sign('auth', di));
  return { ...token, challenge: view.challenge };
}

/**
 * Asks for the PIN or password `kind` and has `use` spend it (VERIFY and what follows), as a person expects of a card:
 * the tries left are read first (an empty VERIFY spends none: JPKI spec §4.3, ISO 7816-4) and shown with the question
 * (from `--pin-stdin`, on a line of their own when `showTries`); none left is refused before anything is read; the
 * last one is spent only after a "y" typed at the terminal, so never from `--pin-stdin` (the bridge never spends it:
 * ERR_BRIDGE_LAST_TRY). On a terminal a wrong or malformed one is told with `explain` and asked again, the tries read
 * afresh, as a PIN pad does; from `--pin-stdin` it is one line, one try. The secret is never printed.
 *
 * @throws CardPinBlockedError (`ERR_CARD_PIN_BLOCKED`) when no try is left; LastTryError (`ERR_CLI_LAST_TRY`) for the
 *   last one without a "y"; UsageError (`ERR_CLI_USAGE`) without a terminal to ask on, or on Ctrl+C; `use`'s
 *   errors (from `--pin-stdin`: `ERR_CARD_PIN_INCORRECT` with `retriesLeft`, `ERR_CARD_PIN_FORMAT`).
 */
export async function withSecret<T>(options: {
  readonly kind: SecretKind;
  readonly fromStdin: boolean;
  readonly showTries: boolean;
  readonly triesLeft: () => Promise<number>;
  readonly explain: (e: unknown) => Promise<string>;
  readonly use: (secret: string) => Promise<T>;
}): Promise<T> {
  const { kind, fromStdin } = options;
  const interactive = !fromStdin && process.stdin.isTTY === true;
  for (;;) {
    const left = await options.triesLeft();
    if (left === 0) throw new CardPinBlockedError(SW.AUTH_BLOCKED);
    if (fromStdin && options.showTries) process.stderr.write(`${triesLine(kind, left)}\n`);
    if (left === 1 && !(interactive && (await confirmLastTry(kind)))) throw new LastTryError(kind);
    const secret = await readSecret(fromStdin, secretPrompt(kind, left));
    try {
      return await options.use(secret);
    } catch (e) {
      const again =
        interactive && (isMynaGateError(e, 'ERR_CARD_PIN_INCORRECT') || isMynaGateError(e, 'ERR_CARD_PIN_FORMAT'));
      if (!again) throw e;
      process.stderr.write(`${await options.explain(e)}\n`);
    }
  }
}

/** The caution of the last try, then a y/N question on the terminal (echoed: it is no secret). No answer is "no". */
function confirmLastTry(kind: SecretKind): Promise<boolean> {
  const caution = LAST_TRY_CAUTION[kind];
  process.stderr.write(`\n注意 / Caution: ${caution.ja}\n${caution.en}\n`);
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  return new Promise<boolean>((resolve, reject) => {
    rl.once('SIGINT', () => {
      reject(new UsageError('cancelled'));
      rl.close();
    });
    rl.once('close', () => resolve(false));
    rl.question('続けますか / Continue? [y/N]: ', (answer) => {
      resolve(/^(y|yes|はい)$/i.test(answer.trim()));
      rl.close();
    });
  });
}

/**
 * The tries left of the PIN (login) or password (signature) `view` asks for, read by an empty VERIFY that spends
 * none (JPKI spec §4.3, ISO 7816-4: the card answers 63Cx). 0: locked.
 */
export async function triesLeft(transport: Transport, view: CompanionView): Promise<number> {
  const card = new JpkiClient(transport);
  await card.selectJpki();
  return card.triesLeft(isSignView(view) ? 'sign' : 'auth');
}

/**
 * Posts the card's answer to the provider the link names; resolves with its JSON answer (`{ status: 'ok' }`).
 * `handover` (a login only; `mynagate bridge`): the provider keeps the login for the browser that comes back with the
 * one-time `code` of its answer, instead of finishing it for whichever browser's page owns the link.
 */
export function post(
  link: URL,
  view: CompanionView,
  body: unknown,
  options: { handover?: boolean } = {},
): Promise<unknown> {
  const path = isSignView(view)
    ? `/companion/sign/${encodeURIComponent(view.txn)}/signature`
    : `/companion/${encodeURIComponent(view.txn)}/token${options.handover === true ? '?handover=1' : ''}`;
  return request(new URL(path, link), {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify(body),
  });
}

/**
 * The card refusals the provider takes from a companion for its waiting page (the idp's `COMPANION_FAILURES`): ones
 * that end the try with this card. A wrong PIN with tries left is not reported: the login stays open, and the
 * companion asks again on a terminal ({@link withSecret}) or the person runs it again. Nor is the last try left
 * unspent (`ERR_CLI_LAST_TRY`): the person may still finish the login with a phone.
 */
const REPORTED = new Set(['ERR_CARD_PIN_BLOCKED', 'ERR_CARD_NOT_JPKI', 'ERR_CARD_NO_CARD']);

/**
 * Tells the provider of a login that the card refused (`e`, when it is such a refusal), so the person's browser says
 * so instead of waiting for a PIN. Best effort: resolves whatever happens, and the caller reports `e` itself.
 */
export async function reportCardFailure(link: URL, view: CompanionView, e: unknown): Promise<void> {
  if (isSignView(view) || !(e instanceof MynaGateError) || !REPORTED.has(e.code)) return;
  await request(new URL(`/companion/${encodeURIComponent(view.txn)}/failure`, link), {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ challenge: view.challenge, error: e.code }),
  }).catch(() => {});
}

/** The QR link: `http(s)://host/companion/<txn>?t=…&c=…` or `…/companion/sign/<txn>?t=…&c=…`. */
export function companionLink(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError('the link must be an absolute URL (the one in the QR code)');
  }
  if (
    (url.protocol !== 'https:' && url.protocol !== 'http:') ||
    !/^\/companion\/(?:sign\/)?[^/]+$/.test(url.pathname) ||
    url.username !== '' ||
    url.password !== ''
  ) {
    throw new UsageError('not a MynaGate companion link (https://…/companion/<id>?t=…&c=…)');
  }
  // Refused before any request and any PIN: over plain http anyone on the way would read the statement's answer (the
  // signing certificate carries name, address, birth date and sex) and could answer for the server; a login token
  // would be refused at signing anyway (its origin must be https), after spending the PIN try.
  try {
    checkOrigin(url.origin, { allowLoopbackHttp: true });
  } catch {
    throw new UsageError('the link must be https (plain http only for a server on this computer)');
  }
  return url;
}

/** Opens the link and checks that what we are asked to sign is bound to the site we actually talk to. */
export async function scan(link: URL): Promise<CompanionView> {
  const v = (await request(link, { headers: { accept: 'application/json' } })) as Record<string, unknown> | null;
  const sign = link.pathname.startsWith('/companion/sign/');
  const fields = sign
    ? ['txn', 'clientName', 'clientOrigin', 'origin', 'intent', 'canonical']
    : ['txn', 'clientName', 'clientOrigin', 'origin', 'intent', 'challenge'];
  for (const name of fields) {
    if (typeof v?.[name] !== 'string' || v[name] === '') {
      throw new CompanionRemoteError('ERR_CLI_COMPANION_RESPONSE', `the server's answer lacks ${name}`, 200);
    }
  }
  // A server that hands out another site's origin and challenge would be relaying our signature to that site
  // (the attack the origin binding of Web eID tokens exists to stop): sign only for the origin we fetched from.
  if (v!['origin'] !== link.origin) {
    throw new CompanionRemoteError(
      'ERR_CLI_COMPANION_ORIGIN',
      `the link is on ${link.origin} but asks for a signature for ${String(v!['origin'])}; refusing`,
      200,
    );
  }
  if (!sign) {
    // Only a login is a login: any other intent is refused rather than shown as one.
    if (v!['intent'] !== 'login')
      throw new CompanionRemoteError('ERR_CLI_COMPANION_RESPONSE', 'a login link answered without intent login', 200);
    // Fail closed: a provider that does not say (or says anything else) gets the caution.
    return { ...(v as unknown as LoginView), network: v!['network'] === 'same' ? 'same' : 'other' };
  }
  if (v!['intent'] !== 'sign')
    throw new CompanionRemoteError('ERR_CLI_COMPANION_RESPONSE', 'a signing link answered without intent sign', 200);
  return signView(v!, link);
}

/**
 * The statement shown is parsed from the canonical text that gets signed; it must name the service the provider
 * names and be issued by the provider we talk to (the same relay concern as for a login).
 */
function signView(v: Record<string, unknown>, link: URL): SignView {
  let s: Record<string, unknown>;
  try {
    s = JSON.parse(v['canonical'] as string) as Record<string, unknown>;
  } catch {
    throw new CompanionRemoteError('ERR_CLI_COMPANION_RESPONSE', 'the statement to sign is not JSON', 200);
  }
  const client = s?.['client'] as Record<string, unknown> | undefined;
  const text = s?.['text'] as Record<string, unknown> | undefined;
  if (
    typeof s?.['purpose'] !== 'string' ||
    typeof s['issuer'] !== 'string' ||
    typeof text?.['ja'] !== 'string' ||
    typeof text['en'] !== 'string' ||
    // The nonce the signature post names (the provider uses the statement up only for a post that names it): a
    // statement without one is refused here, before the person is asked for the signing password.
    typeof s['nonce'] !== 'string' ||
    s['nonce'] === '' ||
    client?.['name'] !== v['clientName'] ||
    client?.['origin'] !== v['clientOrigin']
  ) {
    throw new CompanionRemoteError(
      'ERR_CLI_COMPANION_RESPONSE',
      "the statement does not match the server's answer",
      200,
    );
  }
  let issuerOrigin: string | undefined;
  try {
    issuerOrigin = new URL(s['issuer']).origin;
  } catch {
    issuerOrigin = undefined;
  }
  if (issuerOrigin !== link.origin) {
    throw new CompanionRemoteError(
      'ERR_CLI_COMPANION_ORIGIN',
      `the link is on ${link.origin} but the statement is issued by ${s['issuer']}; refusing`,
      200,
    );
  }
  return {
    txn: v['txn'] as string,
    intent: 'sign',
    clientName: v['clientName'] as string,
    clientOrigin: v['clientOrigin'] as string,
    origin: v['origin'] as string,
    canonical: v['canonical'] as string,
    statement: {
      purpose: s['purpose'],
      issuer: s['issuer'],
      text: { ja: text['ja'], en: text['en'] },
      nonce: s['nonce'],
    },
    // Fail closed, as for a login: a provider that does not say (or says anything else) gets the caution.
    network: v['network'] === 'same' ? 'same' : 'other',
  };
}

/**
 * The Web eID token. `createAuthToken` accepts https origins only; a development provider on a loopback address
 * (W3C Secure Contexts §3.2) gets the same token built from the same parts, after the same origin check with
 * loopback allowed.
 */
async function authToken(
  certificate: Uint8Array,
  view: LoginView,
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

/**
 * A JSON request; a non-2xx answer becomes the provider's error code and English message, with its words in both
 * languages when it gave both (`message: { ja, en }`, the idp's `ErrorBody`).
 */
async function request(url: URL, init: RequestInit): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, redirect: 'error', signal: AbortSignal.timeout(15_000) });
  } catch (e) {
    throw new CompanionRemoteError('ERR_CLI_UNREACHABLE', `cannot reach ${url.origin}: ${(e as Error).message}`, 0);
  }
  let text: string;
  try {
    text = Buffer.from(await readBodyLimited(res, MAX_ANSWER_BYTES)).toString('utf8');
  } catch (e) {
    if (e instanceof BodyTooLargeError)
      throw new CompanionRemoteError('ERR_CLI_COMPANION_RESPONSE', e.message, res.status);
    throw new CompanionRemoteError('ERR_CLI_UNREACHABLE', `cannot read ${url.origin}: ${(e as Error).message}`, 0);
  }
  const body = parseJson(text) as {
    error?: unknown;
    message?: { ja?: unknown; en?: unknown } | unknown;
  } | null;
  if (!res.ok) {
    const code = typeof body?.error === 'string' && /^[A-Za-z0-9_]+$/.test(body.error) ? body.error : 'ERR_CLI_HTTP';
    const { ja, en } = (body?.message ?? {}) as { ja?: unknown; en?: unknown };
    const words = typeof ja === 'string' && typeof en === 'string' && ja !== '' && en !== '' ? { ja, en } : undefined;
    throw new CompanionRemoteError(code, typeof en === 'string' ? en : `HTTP ${res.status}`, res.status, words);
  }
  return body;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
