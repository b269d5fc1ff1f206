/**
 * Shared fixture of the trust-core tests: one test JPKI with one card at a frozen time, the card's auth and sign
 * keys as a card would use them (PKCS#1 v1.5 type-1 padding over a DigestInfo, spec §4.5), and certificate
 * variants issued with the test CA's key through @peculiar/x509 (one field changed per variant).
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import {
  constants,
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  privateEncrypt,
  sign as rsaSign,
  webcrypto,
} from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestJpki, serveTestJpki } from '@mynagate/pki/testing';
import type { IssuedCard, TestJpkiServer } from '@mynagate/pki/testing';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, CRLReason, Certificate, Extension } from '@peculiar/asn1-x509';
import {
  BasicOCSPResponse,
  CertID,
  CertStatus,
  KeyHash,
  OCSPRequest,
  OCSPResponse,
  OCSPResponseStatus,
  ResponderID,
  ResponseBytes,
  ResponseData,
  RevokedInfo,
  SingleResponse,
  id_pkix_ocsp_basic,
  id_pkix_ocsp_nonce,
} from '@peculiar/asn1-ocsp';
import { createAuthToken, parseCertificate } from '@mynagate/pki';
import type { AuthTokenJson, TrustAnchors } from '@mynagate/pki';

const wc = webcrypto as unknown as NonNullable<Parameters<typeof x509.X509CertificateGenerator.create>[1]>;
const ALG = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as const;

/**
 * The frozen times: CAs made at T_CA, the card issued at T_ISSUE, everything verified at NOW. The test JPKI
 * back-dates what it makes by 5 minutes (clock skew): the CAs start at T_CA − 5 min, the card at T_ISSUE − 5 min.
 */
export const T_CA = new Date('2027-01-01T00:00:00Z');
export const T_ISSUE = new Date('2027-01-10T00:00:00Z');
export const NOW = new Date('2027-02-01T03:00:00Z');
export const ORIGIN = 'https://idp.example.jp';

/** What a card does with a DigestInfo: RSA private operation with PKCS#1 v1.5 type-1 padding (spec §4.5). */
export function cardSigner(pkcs8: Uint8Array): (digestInfo: Uint8Array) => Promise<Uint8Array> {
  const key = createPrivateKey({
    key: Buffer.from(pkcs8),
    format: 'der',
    type: 'pkcs8',
  });
  return async (di) => new Uint8Array(privateEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, di));
}

export interface Fixture {
  readonly dir: string;
  readonly jpki: TestJpki;
  readonly card: IssuedCard;
  readonly anchors: TrustAnchors;
  readonly authCa: { readonly der: Uint8Array; readonly key: KeyObject };
  readonly signCa: { readonly der: Uint8Array; readonly key: KeyObject };
  readonly signAuth: (di: Uint8Array) => Promise<Uint8Array>;
  readonly signSign: (di: Uint8Array) => Promise<Uint8Array>;
  /** A token for `challenge` at `origin` signed by the card (or with `certificate` instead of the card's). */
  token(challenge: string, opts?: { origin?: string; certificate?: Uint8Array }): Promise<AuthTokenJson>;
  close(): Promise<void>;
}

/** Creates the test JPKI and one card (about 300 ms: three RSA key pairs). */
export async function createFixture(): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'mynagate-pki-verify-'));
  const jpki = await TestJpki.init(dir, { now: T_CA, ocspPort: 8799 });
  const card = await jpki.issueCard({
    name: '試験　花子',
    address: '東京都千代田区千代田1-1',
    birthDate: '2007-02-01',
    sex: '2',
    pin: '1234',
    password: 'ABC123',
    now: T_ISSUE,
  });
  const caKey = async (f: string) => createPrivateKey(await readFile(join(dir, f)));
  const signAuth = cardSigner(card.spec.authKey);
  const signSign = cardSigner(card.spec.signKey);
  return {
    dir,
    jpki,
    card,
    anchors: { auth: [card.spec.authCaCert], sign: [card.spec.signCaCert] },
    authCa: { der: card.spec.authCaCert, key: await caKey('auth-ca.key') },
    signCa: { der: card.spec.signCaCert, key: await caKey('sign-ca.key') },
    signAuth,
    signSign,
    token: (challenge, opts = {}) =>
      createAuthToken({
        certificate: opts.certificate ?? card.spec.authCert,
        origin: opts.origin ?? ORIGIN,
        challenge,
        sign: signAuth,
        appVersion: 'https://mynagate.example/test/0.0.0',
      }),
    close: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Starts the test JPKI's HTTP server (OCSP, status API) on port 0 with the frozen clock. */
export function serve(
  f: Fixture,
  options: { responder?: 'ca' | 'delegated'; now?: () => Date } = {},
): Promise<TestJpkiServer> {
  return serveTestJpki(f.jpki, {
    port: 0,
    now: options.now ?? (() => NOW),
    responder: options.responder ?? 'ca',
  });
}

async function webKey(key: KeyObject): Promise<webcrypto.CryptoKey> {
  const pkcs8 = key.export({ type: 'pkcs8', format: 'der' });
  return webcrypto.subtle.importKey('pkcs8', pkcs8, ALG, false, ['sign']);
}

const ab = (u: Uint8Array): ArrayBuffer => u.slice().buffer;

/** What to change when re-issuing a certificate. */
export interface Variant {
  /** Drop these extension OIDs. */
  readonly drop?: readonly string[];
  /** Add or replace extensions. */
  readonly add?: readonly x509.Extension[];
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  readonly serial?: string;
  /** Another subject public key (SPKI DER). */
  readonly spki?: Uint8Array;
}

/**
 * Re-issues `base` with one change, signed by `ca` (the real CA key, or a look-alike's). Subject, key, issuer name
 * and the other extensions are kept byte for byte.
 */
export async function reissue(
  base: Uint8Array,
  ca: { readonly der: Uint8Array; readonly key: KeyObject },
  v: Variant = {},
): Promise<Uint8Array> {
  const b = new x509.X509Certificate(ab(base));
  const issuer = new x509.X509Certificate(ab(ca.der));
  const replaced = new Set([...(v.drop ?? []), ...(v.add ?? []).map((e) => e.type)]);
  const extensions = [
    ...b.extensions.filter((e) => !replaced.has(e.type)).map((e) => new x509.Extension(e.type, e.critical, e.value)),
    ...(v.add ?? []),
  ];
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: v.serial ?? '7e' + b.serialNumber.slice(-6),
      subject: new x509.Name(ab(new Uint8Array(b.subjectName.toArrayBuffer()))),
      issuer: new x509.Name(ab(new Uint8Array(issuer.subjectName.toArrayBuffer()))),
      notBefore: v.notBefore ?? b.notBefore,
      notAfter: v.notAfter ?? b.notAfter,
      publicKey: v.spki ? await webcrypto.subtle.importKey('spki', v.spki, ALG, true, ['verify']) : b.publicKey,
      signingKey: await webKey(ca.key),
      signingAlgorithm: ALG,
      extensions,
    },
    wc,
  );
  return new Uint8Array(cert.rawData);
}

/** A self-signed CA with exactly `real`'s subject and extensions but a new key (a look-alike). */
export async function lookAlikeCa(real: Uint8Array): Promise<{ der: Uint8Array; key: KeyObject }> {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const r = new x509.X509Certificate(ab(real));
  const spki = createPublicKey(privateKey).export({
    type: 'spki',
    format: 'der',
  });
  const pub = await webcrypto.subtle.importKey('spki', spki, ALG, true, ['verify']);
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: '0abc',
      subject: new x509.Name(ab(new Uint8Array(r.subjectName.toArrayBuffer()))),
      issuer: new x509.Name(ab(new Uint8Array(r.subjectName.toArrayBuffer()))),
      notBefore: r.notBefore,
      notAfter: r.notAfter,
      publicKey: pub,
      signingKey: await webKey(privateKey),
      signingAlgorithm: ALG,
      extensions: r.extensions.map((e) => new x509.Extension(e.type, e.critical, e.value)),
    },
    wc,
  );
  return { der: new Uint8Array(cert.rawData), key: privateKey };
}

export { x509 };

// ——— A crafted OCSP responder for negative cases (RFC 6960 structures built with @peculiar/asn1-ocsp) ———

/** How the crafted responder misbehaves (or `good`). */
export type OcspMode =
  | 'good'
  | 'revoked'
  | 'unknown'
  | 'stale'
  | 'future'
  | 'nextUpdatePassed'
  | 'wrongNonce'
  | 'noNonce'
  | 'twoResponses'
  | 'otherCertId'
  | 'badSignature'
  | 'delegate'
  | 'delegateNoEku'
  | 'delegateFromLookAlike'
  | 'otherCaSigns'
  | 'tryLater'
  | 'garbage'
  | 'http500';

export interface CraftedResponder {
  readonly url: string;
  mode: OcspMode;
  /** Number of requests served. */
  requests: number;
  close(): Promise<void>;
}

interface Signer {
  readonly key: KeyObject;
  readonly cert: Uint8Array;
}

/** Starts a crafted OCSP responder on 127.0.0.1:0 answering for `issuerCa`, with the clock `now`. */
export async function craftedResponder(f: Fixture, now: () => Date): Promise<CraftedResponder> {
  const delegateKey = generateKeyPairSync('rsa', {
    modulusLength: 2048,
  }).privateKey;
  const lookAlike = await lookAlikeCa(f.authCa.der);
  const ocspEku = new x509.ExtendedKeyUsageExtension(['1.3.6.1.5.5.7.3.9']);
  // id-pkix-ocsp-nocheck, value NULL (RFC 6960 §4.2.2.2.1): a delegate without it is refused.
  const noCheck = new x509.Extension('1.3.6.1.5.5.7.48.1.5', false, Uint8Array.of(0x05, 0x00).buffer);
  const delegateCert = async (ca: { der: Uint8Array; key: KeyObject }, eku: boolean) =>
    reissueFor(
      delegateKey,
      ca,
      eku ? [ocspEku, new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true), noCheck] : [noCheck],
    );
  const signers: Record<'delegate' | 'delegateNoEku' | 'delegateFromLookAlike', Signer> = {
    delegate: { key: delegateKey, cert: await delegateCert(f.authCa, true) },
    delegateNoEku: {
      key: delegateKey,
      cert: await delegateCert(f.authCa, false),
    },
    delegateFromLookAlike: {
      key: delegateKey,
      cert: await delegateCert(lookAlike, true),
    },
  };

  const state = { mode: 'good' as OcspMode, requests: 0 };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      state.requests++;
      if (state.mode === 'http500') {
        res.writeHead(500).end();
        return;
      }
      const body = craft(new Uint8Array(Buffer.concat(chunks)), state.mode, f, signers, now());
      res.writeHead(200, { 'content-type': 'application/ocsp-response' }).end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/ocsp`,
    get mode() {
      return state.mode;
    },
    set mode(m: OcspMode) {
      state.mode = m;
    },
    get requests() {
      return state.requests;
    },
    set requests(n: number) {
      state.requests = n;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

async function reissueFor(
  key: KeyObject,
  ca: { der: Uint8Array; key: KeyObject },
  extensions: x509.Extension[],
): Promise<Uint8Array> {
  const issuer = new x509.X509Certificate(ab(ca.der));
  const pub = await webcrypto.subtle.importKey(
    'spki',
    createPublicKey(key).export({ type: 'spki', format: 'der' }),
    ALG,
    true,
    ['verify'],
  );
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: '05' + createHash('sha1').update(ca.der).digest('hex').slice(0, 6),
      subject: 'C=JP, O=JPKI TEST, CN=OCSP responder',
      issuer: new x509.Name(ab(new Uint8Array(issuer.subjectName.toArrayBuffer()))),
      notBefore: T_CA,
      notAfter: new Date(T_CA.getTime() + 365 * 86400_000),
      publicKey: pub,
      signingKey: await webKey(ca.key),
      signingAlgorithm: ALG,
      extensions,
    },
    wc,
  );
  return new Uint8Array(cert.rawData);
}

function craft(
  requestDer: Uint8Array,
  mode: OcspMode,
  f: Fixture,
  signers: Record<'delegate' | 'delegateNoEku' | 'delegateFromLookAlike', Signer>,
  now: Date,
): Uint8Array {
  if (mode === 'garbage') return new Uint8Array([0x30, 0x03, 0x0a, 0x01]);
  if (mode === 'tryLater')
    return new Uint8Array(AsnConvert.serialize(new OCSPResponse({ responseStatus: OCSPResponseStatus.tryLater })));
  const req = AsnConvert.parse(requestDer, OCSPRequest);
  const certId = req.tbsRequest.requestList[0]!.reqCert;
  const nonceExt = req.tbsRequest.requestExtensions?.find((e) => e.extnID === id_pkix_ocsp_nonce);
  const t = now.getTime();
  const thisUpdate = new Date(mode === 'stale' ? t - 3600_000 : mode === 'future' ? t + 3600_000 : t - 1000);
  // nextUpdatePassed: thisUpdate 4 min old (fresh enough), nextUpdate 2 min ago (beyond a 1 min skew).
  if (mode === 'nextUpdatePassed') thisUpdate.setTime(t - 4 * 60_000);
  const nextUpdate = new Date(mode === 'nextUpdatePassed' ? t - 2 * 60_000 : thisUpdate.getTime() + 3600_000);
  const status =
    mode === 'revoked'
      ? new CertStatus({
          revoked: new RevokedInfo({
            revocationTime: new Date(t - 86400_000),
            revocationReason: new CRLReason(1),
          }),
        })
      : mode === 'unknown'
        ? new CertStatus({ unknown: null })
        : new CertStatus({ good: null });
  const single = (id: CertID) =>
    new SingleResponse({
      certID: id,
      certStatus: status,
      thisUpdate,
      nextUpdate,
    });
  const otherId = new CertID({
    ...certId,
    serialNumber: new Uint8Array([0x01, 0x02, 0x03]).buffer,
  });
  const responses =
    mode === 'twoResponses' ? [single(certId), single(otherId)] : [single(mode === 'otherCertId' ? otherId : certId)];
  const extensions: Extension[] = [];
  if (mode !== 'noNonce' && nonceExt) {
    const value =
      mode === 'wrongNonce'
        ? AsnConvert.serialize(new OctetString(new Uint8Array(32).fill(7)))
        : nonceExt.extnValue.buffer;
    extensions.push(
      new Extension({
        extnID: id_pkix_ocsp_nonce,
        critical: false,
        extnValue: new OctetString(value),
      }),
    );
  }
  const signer: Signer =
    mode === 'delegate' || mode === 'delegateNoEku' || mode === 'delegateFromLookAlike'
      ? signers[mode]
      : mode === 'otherCaSigns'
        ? { key: f.signCa.key, cert: f.signCa.der }
        : { key: f.authCa.key, cert: f.authCa.der };
  const signerParsed = parseCertificate(signer.cert);
  const data = new ResponseData({
    responderID: new ResponderID({
      byKey: new KeyHash(createHash('sha1').update(signerParsed.publicKeyBits).digest()),
    }),
    producedAt: new Date(t - 1000),
    responses,
    ...(extensions.length ? { responseExtensions: extensions } : {}),
  });
  const tbs = new Uint8Array(AsnConvert.serialize(data));
  const signature = new Uint8Array(rsaSign('sha256', tbs, signer.key));
  if (mode === 'badSignature') signature[10]! ^= 0x01;
  const basic = new BasicOCSPResponse({
    tbsResponseData: data,
    signatureAlgorithm: new AlgorithmIdentifier({
      algorithm: '1.2.840.113549.1.1.11',
      parameters: null,
    }),
    signature: signature.buffer,
    ...(signer.cert === f.authCa.der || signer.cert === f.signCa.der
      ? {}
      : { certs: [AsnConvert.parse(signer.cert, Certificate)] }),
  });
  return new Uint8Array(
    AsnConvert.serialize(
      new OCSPResponse({
        responseStatus: OCSPResponseStatus.successful,
        responseBytes: new ResponseBytes({
          responseType: id_pkix_ocsp_basic,
          response: new OctetString(AsnConvert.serialize(basic)),
        }),
      }),
    ),
  );
}
