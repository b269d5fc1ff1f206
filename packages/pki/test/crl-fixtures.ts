/**
 * Shared fixtures of the CRL tests: a test CA (and look-alikes), CRLs made by @peculiar/x509's independent encoder
 * and by our large-CRL writer, and the fixed clock they are valid at.
 */
import 'reflect-metadata';
import { KeyObject, sign, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKeyPair = webcrypto.CryptoKeyPair;

export const RSA = {
  name: 'RSASSA-PKCS1-v1_5',
  hash: 'SHA-256',
  publicExponent: new Uint8Array([1, 0, 1]),
  modulusLength: 2048,
} as const;

export const THIS_UPDATE = new Date('2025-06-01T00:00:00Z');
export const NEXT_UPDATE = new Date('2025-06-08T00:00:00Z');
export const NOW = new Date('2025-06-02T12:00:00Z');
export const CA_NAME = 'C=JP, O=JPKI, OU=MynaGate Test, CN=Test Sign CA for CRL';

/** A CA: its certificate, its WebCrypto keys and the same private key as a node KeyObject. */
export interface TestCa {
  cert: x509.X509Certificate;
  keys: CryptoKeyPair;
  key: KeyObject;
}

/** Makes a self-signed CA named `name`, with keyUsage keyCertSign|cRLSign unless `usage` says otherwise. */
export async function makeCa(
  name = CA_NAME,
  usage = x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
): Promise<TestCa> {
  const keys = (await webcrypto.subtle.generateKey(RSA, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name,
    notBefore: new Date('2024-01-01T00:00:00Z'),
    notAfter: new Date('2034-01-01T00:00:00Z'),
    keys,
    signingAlgorithm: RSA,
    extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(usage, true)],
  });
  return { cert, keys, key: KeyObject.from(keys.privateKey) };
}

/** One entry for {@link peculiarCrl}. */
export type EntryParams = x509.X509CrlEntryParams;

/** A CRL encoded by @peculiar/x509 (an encoder independent of ours), with a cRLNumber unless extensions are given. */
export async function peculiarCrl(
  ca: TestCa,
  entries: EntryParams[],
  options: {
    thisUpdate?: Date;
    nextUpdate?: Date | null;
    extensions?: x509.Extension[];
    issuer?: string;
    crlNumber?: number;
  } = {},
): Promise<Uint8Array> {
  const crl = await x509.X509CrlGenerator.create({
    issuer: options.issuer ?? ca.cert.subject,
    thisUpdate: options.thisUpdate ?? THIS_UPDATE,
    ...(options.nextUpdate === null ? {} : { nextUpdate: options.nextUpdate ?? NEXT_UPDATE }),
    entries,
    extensions: options.extensions ?? [crlNumberExtension(options.crlNumber ?? 1)],
    signingAlgorithm: RSA,
    signingKey: ca.keys.privateKey,
  });
  return new Uint8Array(crl.rawData);
}

/** cRLNumber (2.5.29.20) as an @peculiar/x509 extension. */
export function crlNumberExtension(n: number): x509.Extension {
  return new x509.Extension('2.5.29.20', false, Uint8Array.from([0x02, 0x01, n]));
}

export { x509 };

/** DER TLV with a definite, minimal length. */
export function tlv(tag: number, ...parts: Uint8Array[]): Uint8Array {
  const body = Buffer.concat(parts);
  const n = body.length;
  const len =
    n < 0x80
      ? [n]
      : n < 0x100
        ? [0x81, n]
        : n < 0x10000
          ? [0x82, n >> 8, n & 0xff]
          : [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  return Buffer.concat([Uint8Array.from([tag, ...len]), body]);
}

/** The element at `pos`: its header length and total length (test-only, trusts its input). */
export function element(der: Uint8Array, pos: number): { header: number; total: number } {
  const b = der[pos + 1]!;
  if (b < 0x80) return { header: 2, total: 2 + b };
  const n = b & 0x7f;
  let len = 0;
  for (let i = 0; i < n; i++) len = len * 256 + der[pos + 2 + i]!;
  return { header: 2 + n, total: 2 + n + len };
}

/** The children of the SEQUENCE at `pos`, as byte arrays. */
export function children(der: Uint8Array, pos = 0): Uint8Array[] {
  const { header, total } = element(der, pos);
  const out: Uint8Array[] = [];
  for (let p = pos + header; p < pos + total;) {
    const e = element(der, p);
    out.push(der.subarray(p, p + e.total));
    p += e.total;
  }
  return out;
}

export const SHA256_RSA = Uint8Array.from([
  0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00,
]);

/**
 * Re-signs a CRL after `edit` changed the children of its tbsCertList: the one-field mutations of the negative
 * tests stay validly signed, so only the mutated rule can fail.
 */
export function resign(
  der: Uint8Array,
  key: KeyObject,
  edit: (tbsChildren: Uint8Array[]) => Uint8Array[],
  algs: { inner?: Uint8Array; outer?: Uint8Array; hash?: string } = {},
): Uint8Array {
  const [tbs] = children(der);
  let kids = children(tbs!);
  if (algs.inner) kids = kids.map((k) => (Buffer.compare(k, SHA256_RSA) === 0 ? algs.inner! : k));
  const newTbs = tlv(0x30, ...edit(kids));
  const sig = sign(algs.hash ?? 'sha256', newTbs, key);
  return tlv(0x30, newTbs, algs.outer ?? algs.inner ?? SHA256_RSA, tlv(0x03, Uint8Array.of(0), sig));
}
