/**
 * Issuing one card's certificate pair: a user-authentication certificate (spec §8.2) and a digital-signature
 * certificate (spec §8.3) with fresh keys and fresh serials, valid until the holder's 5th birthday after issuance.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { signCertificate } from './ca.ts';
import type { CertificateAuthority } from './ca.ts';
import { basic4SubjectAltName } from './basic4.ts';
import { keyHash } from './lib/der.ts';
import { earlier, endOfJstDay, fifthBirthdayAfter, jst, pad, parseCivilDate, wholeSeconds } from './lib/time.ts';
import { x509 } from './lib/x509.ts';
import type { KeyPair, KeySource } from './keys.ts';
import { authExtensions, authSubject, signExtensions, signSubject } from './profiles.ts';
import type { CaKind } from './profiles.ts';
import type { CardRecord, StoreState } from './store.ts';

/** What issuance needs from the test JPKI. */
export interface IssuerContext {
  readonly authCa: CertificateAuthority;
  readonly signCa: CertificateAuthority;
  /** The draft of the change the certificates are issued in. */
  readonly store: StoreState;
  readonly keys: KeySource;
  /** Serials handed out but not yet in the store (issuance is async). */
  readonly reserved: Set<string>;
}

/** One issued certificate with its key. */
export interface IssuedCertificate {
  readonly kind: CaKind;
  readonly serial: string;
  readonly cert: Uint8Array;
  readonly keys: KeyPair;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

const ALNUM = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** A 23-character opaque id like the real auth CN (`840444E37PAFHN08220003A`, spec §8.2); no personal data. */
export function newAuthId(): string {
  let s = '';
  for (let i = 0; i < 23; i++) s += ALNUM[randomInt(ALNUM.length)];
  return s;
}

/**
 * A fresh 4-byte positive serial, like the real ones (spec §8.2), unique across both CAs of this test JPKI. The top
 * byte is 0x10–0x7F so the DER INTEGER is exactly 4 content bytes and its hex form has no leading zero.
 */
export function newSerial(ctx: { readonly store: Pick<StoreState, 'get'>; readonly reserved: Set<string> }): string {
  for (;;) {
    const b = randomBytes(4);
    b[0] = 0x10 + (b[0]! % 0x70);
    const s = b.toString('hex');
    if (!ctx.store.get(s) && !ctx.reserved.has(s)) {
      ctx.reserved.add(s);
      return s;
    }
  }
}

/** The validity end: 23:59:59 JST on the 5th birthday after issuance, or the card's expiry if earlier (spec §8.2). */
export function validityEnd(now: Date, birthDate: string, cardExpires?: string): Date {
  let end = fifthBirthdayAfter(jst(now), parseCivilDate(birthDate, 'birthDate'));
  if (cardExpires !== undefined) end = earlier(end, parseCivilDate(cardExpires, 'cardExpires'));
  return endOfJstDay(end);
}

/**
 * The signing certificate's CN: the JST time of the issue request (YYYYMMDDhhmmss), a 5-digit sequence and the
 * 9-character issuing-office code (spec §8.3).
 */
export function signCommonName(now: Date, sequence: number, officeCode: string): string {
  const t = jst(now);
  const stamp = pad(t.year, 4) + pad(t.month, 2) + pad(t.day, 2) + pad(t.hour, 2) + pad(t.minute, 2) + pad(t.second, 2);
  return stamp + pad(sequence % 100000, 5) + officeCode;
}

/**
 * Issues the auth and sign certificates for a card record (without its serials, which are chosen here) with the
 * given key pairs (taken from the key source beforehand, so the store is not locked while keys are generated).
 * `now` is the issue time (validity end, sign CN); `notBefore` the start both certificates carry (the caller
 * back-dates it, see `certificateStart`).
 *
 * @throws TypeError when the validity would end before `now` (a card expiry in the past) or before `notBefore`.
 */
export async function issueCertificatePair(
  ctx: Omit<IssuerContext, 'keys'>,
  card: Omit<CardRecord, 'authSerial' | 'signSerial' | 'issuedAt'>,
  { now, notBefore }: { readonly now: Date; readonly notBefore: Date },
  keys: { readonly auth: KeyPair; readonly sign: KeyPair },
): Promise<{ auth: IssuedCertificate; sign: IssuedCertificate }> {
  const notAfter = validityEnd(now, card.holder.birthDate, card.cardExpires);
  if (notAfter.getTime() <= Math.max(notBefore.getTime(), wholeSeconds(now).getTime()))
    throw new TypeError('certificate would expire before it starts');
  const { baseUrl, officeCode } = ctx.store.data.config;
  const sequence = ++ctx.store.data.sequence;

  const issueOne = async (kind: CaKind, keys: KeyPair): Promise<IssuedCertificate> => {
    const ca = kind === 'auth' ? ctx.authCa : ctx.signCa;
    const spki = new Uint8Array(keys.publicKey.export({ type: 'spki', format: 'der' }));
    const context = {
      caKeyId: ca.keyId,
      keyId: keyHash(spki),
      prefecture: card.prefecture,
      city: card.city,
      ocspUrl: `${baseUrl}/ocsp/${kind}`,
      cpsUrl: `${baseUrl}/cps`,
    };
    const serial = newSerial(ctx);
    const cert = await signCertificate(ca, {
      serial,
      subject:
        kind === 'auth'
          ? authSubject(card.authId)
          : signSubject(card.prefecture, card.city, signCommonName(now, sequence, officeCode)),
      spki,
      notBefore,
      notAfter,
      extensions:
        kind === 'auth'
          ? authExtensions(context)
          : signExtensions(
              context,
              basic4SubjectAltName({
                name: card.holder.name,
                address: card.holder.address,
                birthDate: parseCivilDate(card.holder.birthDate),
                sex: card.holder.sex,
              }),
            ),
    });
    return { kind, serial, cert, keys, notBefore, notAfter };
  };
  const [auth, sign] = await Promise.all([issueOne('auth', keys.auth), issueOne('sign', keys.sign)]);
  return { auth, sign };
}

/** The subject of a DER certificate as a string, for the store. */
export function subjectString(cert: Uint8Array): string {
  return new x509.X509Certificate(cert).subject;
}
