/**
 * The one place that loads `@peculiar/x509`. Its dependency injection (tsyringe) needs the Reflect metadata API
 * before it is evaluated, so the polyfill import must come first; ESM evaluates imports in order.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { webcrypto } from 'node:crypto';

/** Node's WebCrypto, passed explicitly to every generator call rather than set as a global provider. */
export const crypto = webcrypto as unknown as NonNullable<Parameters<typeof x509.X509CertificateGenerator.create>[1]>;

/** A WebCrypto key (the project has no DOM lib, so name Node's type). */
export type CryptoKey = webcrypto.CryptoKey;

/** sha256WithRSAEncryption, the signature algorithm of every JPKI certificate (spec §8.1). */
export const RSA_SHA256 = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as const;

export { x509 };
