/** Helpers for the test-JPKI tests: a temporary directory and certificate parsing with asn1-x509 only. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate, Extension, GeneralNames, Name } from '@peculiar/asn1-x509';

/** A fresh temporary directory and its remover. */
export async function tempDir(prefix: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `mynagate-${prefix}-`));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Parses a DER certificate. */
export function parseCert(der: Uint8Array): Certificate {
  return AsnConvert.parse(der, Certificate);
}

/** The extension with `oid`, or throws. */
export function extension(cert: Certificate, oid: string): Extension {
  const e = cert.tbsCertificate.extensions?.find((x) => x.extnID === oid);
  if (!e) throw new Error(`no extension ${oid}`);
  return e;
}

/** Extension OIDs in order. */
export function extensionOids(cert: Certificate): string[] {
  return Array.from(cert.tbsCertificate.extensions ?? [], (e) => e.extnID);
}

/** The DER bytes of an extension's value. */
export function extValue(e: Extension): Uint8Array {
  return new Uint8Array(e.extnValue.buffer);
}

/** A Name as [type, ASN.1 string tag, value] triples, one per RDN. */
export function nameParts(n: Name): [string, number, string][] {
  return Array.from(n, (rdn) => {
    const atv = rdn[0]!;
    const raw = new Uint8Array(AsnConvert.serialize(atv.value));
    return [atv.type, raw[0]!, atv.value.toString()];
  });
}

/** The DER UTF8String content (tag 0x0C) or throws. */
export function utf8Content(der: Uint8Array): string {
  if (der[0] !== 0x0c) throw new Error(`not a UTF8String: tag ${der[0]}`);
  let off = 2;
  let len = der[1]!;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = (len << 8) | der[2 + i]!;
    off = 2 + n;
  }
  return Buffer.from(der.subarray(off, off + len)).toString('utf8');
}

/** The SubjectAltName otherNames as [type-id, UTF8String value] in order. */
export function otherNames(cert: Certificate): [string, string][] {
  const san = AsnConvert.parse(extValue(extension(cert, '2.5.29.17')), GeneralNames);
  return Array.from(san, (g) => {
    if (!g.otherName) throw new Error('SAN entry is not an otherName');
    return [g.otherName.typeId, utf8Content(new Uint8Array(g.otherName.value))];
  });
}

/** Canonical hex of a certificate's serial. */
export function serialHex(cert: Certificate): string {
  return Buffer.from(cert.tbsCertificate.serialNumber)
    .toString('hex')
    .replace(/^(00)+(?=[0-7])/, '');
}
