/**
 * A delegated OCSP responder (RFC 6960 §4.2.2.2): one valid delegate, certified by the auth CA with
 * id-kp-OCSPSigning, keyUsage digitalSignature (critical), id-pkix-ocsp-nocheck and an RSA-2048 key; each negative
 * case changes one thing about it and signs a good answer with the delegate's key, so only the change can refuse it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey, generateKeyPairSync, sign as rsaSign, webcrypto } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, Certificate } from '@peculiar/asn1-x509';
import {
  BasicOCSPResponse,
  CertStatus,
  KeyHash,
  OCSPRequest,
  OCSPResponse,
  OCSPResponseStatus,
  ResponderID,
  ResponseBytes,
  ResponseData,
  SingleResponse,
  id_pkix_ocsp_basic,
  id_pkix_ocsp_nonce,
} from '@peculiar/asn1-ocsp';
import { buildOcspRequest, checkOcspResponse, parseCertificate } from '@mynagate/pki';
import type { OcspCheck, ParsedCertificate } from '@mynagate/pki';
import { KeyCache } from '../src/keys.ts';
import { NOW, T_CA, createFixture, x509 } from './verify-fixture.ts';
import type { Fixture } from './verify-fixture.ts';

const ALG = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as const;
const wc = webcrypto as unknown as NonNullable<Parameters<typeof x509.X509CertificateGenerator.create>[1]>;
const ab = (u: Uint8Array): ArrayBuffer => u.slice().buffer;
const OCSP_SIGNING = '1.3.6.1.5.5.7.3.9';
const OCSP_NOCHECK = '1.3.6.1.5.5.7.48.1.5';
const NULL = Uint8Array.of(0x05, 0x00);

let f: Fixture;
let cert: ParsedCertificate;
let ca: ParsedCertificate;
let key2048: KeyObject;
before(async () => {
  f = await createFixture();
  cert = parseCertificate(f.card.spec.authCert);
  ca = parseCertificate(f.authCa.der);
  key2048 = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
});
after(() => f.close());

/** What a delegate differs in from the valid one. */
interface Change {
  readonly key?: KeyObject;
  /** Replaces the extensions whose OID it names, else is added. */
  readonly add?: readonly x509.Extension[];
  readonly drop?: readonly string[];
}

/** The valid delegate's extensions: EKU OCSPSigning, keyUsage digitalSignature (critical), nocheck NULL. */
function validExtensions(): x509.Extension[] {
  return [
    new x509.ExtendedKeyUsageExtension([OCSP_SIGNING]),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.Extension(OCSP_NOCHECK, false, ab(NULL)),
  ];
}

/** A delegate certificate issued by the auth CA's key, and its key. */
async function delegate(change: Change = {}): Promise<{ der: Uint8Array; key: KeyObject }> {
  const key = change.key ?? key2048;
  const replaced = new Set([...(change.drop ?? []), ...(change.add ?? []).map((e) => e.type)]);
  const extensions = [...validExtensions().filter((e) => !replaced.has(e.type)), ...(change.add ?? [])];
  const issuer = new x509.X509Certificate(ab(f.authCa.der));
  const c = await x509.X509CertificateGenerator.create(
    {
      serialNumber: '0501',
      subject: 'C=JP, O=JPKI TEST, CN=OCSP responder',
      issuer: issuer.subjectName,
      notBefore: T_CA,
      notAfter: new Date(T_CA.getTime() + 365 * 86400_000),
      publicKey: await webcrypto.subtle.importKey(
        'spki',
        createPublicKey(key).export({ type: 'spki', format: 'der' }),
        ALG,
        true,
        ['verify'],
      ),
      signingKey: await webcrypto.subtle.importKey(
        'pkcs8',
        f.authCa.key.export({ type: 'pkcs8', format: 'der' }),
        ALG,
        false,
        ['sign'],
      ),
      signingAlgorithm: ALG,
      extensions,
    },
    wc,
  );
  return { der: new Uint8Array(c.rawData), key };
}

/** A good answer to `request`, signed by `signer` and naming it by key hash, with `signer.der` in `certs`. */
function respond(request: Uint8Array, signer: { der: Uint8Array; key: KeyObject }): Uint8Array {
  const req = AsnConvert.parse(request, OCSPRequest);
  const nonce = req.tbsRequest.requestExtensions!.find((e) => e.extnID === id_pkix_ocsp_nonce)!;
  const t = NOW.getTime();
  const data = new ResponseData({
    responderID: new ResponderID({
      byKey: new KeyHash(createHash('sha1').update(parseCertificate(signer.der).publicKeyBits).digest()),
    }),
    producedAt: new Date(t - 1000),
    responses: [
      new SingleResponse({
        certID: req.tbsRequest.requestList[0]!.reqCert,
        certStatus: new CertStatus({ good: null }),
        thisUpdate: new Date(t - 1000),
        nextUpdate: new Date(t + 3600_000),
      }),
    ],
    responseExtensions: [nonce],
  });
  const tbs = new Uint8Array(AsnConvert.serialize(data));
  const basic = new BasicOCSPResponse({
    tbsResponseData: data,
    signatureAlgorithm: new AlgorithmIdentifier({ algorithm: '1.2.840.113549.1.1.11', parameters: null }),
    signature: ab(new Uint8Array(rsaSign('sha256', tbs, signer.key))),
    certs: [AsnConvert.parse(signer.der, Certificate)],
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

/** What a response to `req` is checked against, at NOW. */
function checkOf(req: { certId: Uint8Array; nonce: Uint8Array }): OcspCheck {
  return {
    issuer: ca,
    certId: req.certId,
    nonce: req.nonce,
    now: NOW.getTime(),
    skewMs: 60_000,
    maxAgeMs: 300_000,
    keys: new KeyCache(),
  };
}

/** Asks about the auth certificate and checks the response `answer` makes to the request. */
function check(answer: (request: Uint8Array) => Uint8Array) {
  const req = buildOcspRequest(cert, ca);
  return checkOcspResponse(answer(req.der), checkOf(req));
}

const refused = (message: RegExp) => ({ code: 'ERR_PKI_OCSP_RESPONDER', detail: 'responder', source: 'ocsp', message });

test('a delegate certified by the issuing CA (OCSPSigning, digitalSignature, nocheck, RSA-2048) is accepted', async () => {
  const d = await delegate();
  assert.equal(check((r) => respond(r, d)).status, 'good');
});

test('a delegate whose nocheck is critical is accepted (an extension this package understands)', async () => {
  const d = await delegate({ add: [new x509.Extension(OCSP_NOCHECK, true, ab(NULL))] });
  assert.deepEqual(parseCertificate(d.der).criticalExtensions, ['2.5.29.15', OCSP_NOCHECK]);
  assert.equal(check((r) => respond(r, d)).status, 'good');
});

test('a delegate without keyUsage is accepted (RFC 5280 §4.2.1.3: the key is then unrestricted)', async () => {
  const d = await delegate({ drop: ['2.5.29.15'] });
  assert.equal(check((r) => respond(r, d)).status, 'good');
});

test('the CA signing its own answers is unchanged (the test JPKI responder, and a crafted answer)', async () => {
  const req = buildOcspRequest(cert, ca);
  const fromJpki = await f.jpki.respondOcsp('auth', req.der, { now: NOW });
  assert.equal(checkOcspResponse(fromJpki, checkOf(req)).status, 'good');
  assert.equal(check((r) => respond(r, { der: f.authCa.der, key: f.authCa.key })).status, 'good');
});

test("the test JPKI's own delegated responder (OCSPSigning, nocheck) is accepted", async () => {
  const req = buildOcspRequest(cert, ca);
  const der = await f.jpki.respondOcsp('auth', req.der, { now: NOW, responder: 'delegated' });
  const response = AsnConvert.parse(der, OCSPResponse).responseBytes!.response.buffer;
  const signer = AsnConvert.parse(response, BasicOCSPResponse).certs![0]!;
  assert.notEqual(parseCertificate(new Uint8Array(AsnConvert.serialize(signer))).fingerprint, ca.fingerprint);
  assert.equal(checkOcspResponse(der, checkOf(req)).status, 'good');
});

test('a delegate with an unknown critical extension is refused: ERR_PKI_OCSP_RESPONDER (RFC 5280 §4.2)', async () => {
  const d = await delegate({ add: [new x509.Extension('1.2.3.4', true, ab(NULL))] });
  assert.throws(
    () => check((r) => respond(r, d)),
    refused(/not authorised by the issuing CA: its certificate carries an unknown critical extension 1\.2\.3\.4$/),
  );
});

test('a delegate with the same extension non-critical is accepted (only a critical one must be understood)', async () => {
  const d = await delegate({ add: [new x509.Extension('1.2.3.4', false, ab(NULL))] });
  assert.equal(check((r) => respond(r, d)).status, 'good');
});

test('a delegate whose keyUsage is keyEncipherment only is refused: ERR_PKI_OCSP_RESPONDER (RFC 5280 §4.2.1.3)', async () => {
  const d = await delegate({ add: [new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyEncipherment, true)] });
  assert.throws(() => check((r) => respond(r, d)), refused(/its keyUsage lacks digitalSignature$/));
});

test('a delegate with a 1024-bit RSA key is refused: ERR_PKI_OCSP_RESPONDER', async () => {
  const d = await delegate({ key: generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey });
  assert.equal(parseCertificate(d.der).rsaModulusBits, 1024);
  assert.throws(() => check((r) => respond(r, d)), refused(/its key is not RSA-2048 or larger$/));
});

test('a delegate without id-pkix-ocsp-nocheck is refused: ERR_PKI_OCSP_RESPONDER (RFC 6960 §4.2.2.2.1)', async () => {
  const d = await delegate({ drop: [OCSP_NOCHECK] });
  assert.throws(
    () => check((r) => respond(r, d)),
    refused(/its certificate lacks id-pkix-ocsp-nocheck, and its own status cannot be checked$/),
  );
});

test('a delegate whose id-pkix-ocsp-nocheck is not NULL is refused: ERR_PKI_OCSP_RESPONDER', async () => {
  const d = await delegate({ add: [new x509.Extension(OCSP_NOCHECK, false, ab(Uint8Array.of(0x04, 0x00)))] });
  assert.throws(() => check((r) => respond(r, d)), refused(/its id-pkix-ocsp-nocheck is not NULL$/));
});

test('a delegate that is a CA, or lacks OCSPSigning, is still refused, each with its reason', async () => {
  const asCa = await delegate({ add: [new x509.BasicConstraintsExtension(true, undefined, true)] });
  assert.throws(() => check((r) => respond(r, asCa)), refused(/it is a CA certificate$/));
  const noEku = await delegate({ drop: ['2.5.29.37'] });
  assert.throws(() => check((r) => respond(r, noEku)), refused(/its extendedKeyUsage lacks id-kp-OCSPSigning$/));
});
