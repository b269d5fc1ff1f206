/**
 * The test JPKI: two self-signed CAs mirroring J-LIS's (spec §8.1), card issuance, revocation, renewal with
 * old→new links (spec §9), CRLs and OCSP, all persisted in one directory.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fakeMyNumber } from '@mynagate/card';
import type { VirtualCardSpec } from '@mynagate/card/virtual';
import { createCa, loadCa, privateKeyFromPkcs8, signCertificate } from './ca.ts';
import type { CertificateAuthority } from './ca.ts';
import { createCrl } from './crl.ts';
import {
  TestJpkiAlreadyRenewedError,
  TestJpkiAlreadyRevokedError,
  TestJpkiDamagedError,
  TestJpkiExistsError,
  TestJpkiIncompleteError,
  TestJpkiInvalidInputError,
  TestJpkiNotFoundError,
  TestJpkiUnknownPartitionError,
  TestJpkiUnknownSerialError,
} from './errors.ts';
import { checkHolder, checkSecrets } from './holder.ts';
import { issueCertificatePair, newAuthId, newSerial, subjectString } from './issue.ts';
import type { IssuedCertificate } from './issue.ts';
import { freshKeys } from './keys.ts';
import type { KeyPair, KeySource } from './keys.ts';
import { canonicalSerial, fromPem, keyHash, toPem } from './lib/der.ts';
import { exists, writeFileAtomic } from './lib/fs.ts';
import { certificateStart, wholeSeconds } from './lib/time.ts';
import { x509 } from './lib/x509.ts';
import { municipalityOf } from './municipality.ts';
import type { Municipality } from './municipality.ts';
import { respondOcsp } from './ocsp.ts';
import type { CertificateStatus, OcspSigner } from './ocsp.ts';
import { crlPartitionName, ocspResponderExtensions, ocspResponderSubject } from './profiles.ts';
import type { CaKind } from './profiles.ts';
import { DEFAULT_LOCK_TIMEOUT_MS, REASON_CODES, Store, STORE_FILE, withStoreLock } from './store.ts';
import type { CardRecord, CertificateRecord, LinkRecord, RevocationReason, StoreData, StoreState } from './store.ts';
import type { SerialLinks } from '../platform.ts';

/** Options of {@link TestJpki.init}. */
export interface TestJpkiInitOptions {
  /** When the CAs are made: their validity ends `caValidityYears` later. Default: the current time. */
  readonly now?: Date;
  /** Start of the CAs' validity. Default: 5 minutes before `now`, as real CAs back-date for clock skew. */
  readonly notBefore?: Date;
  /** Port of the local responder written into AIA URLs (`http://127.0.0.1:<port>/ocsp/auth`). Default 8790. */
  readonly ocspPort?: number;
  /** Host of the local responder in AIA URLs. Default `127.0.0.1`. */
  readonly ocspHost?: string;
  /** 9-character issuing-office code in signing-certificate CNs (spec §8.3). Default `TEST00001`. */
  readonly officeCode?: string;
  /** CA validity in years, ending 23:59:59 JST (spec §8.1: 10 years). Default 10. */
  readonly caValidityYears?: number;
  /** Where key pairs come from (CA and card keys). Default: generated on demand. See `createKeyPool`. */
  readonly keys?: KeySource;
  /** How long a change waits for another process's to finish (see {@link TestJpkiOpenOptions}). Default 30 000. */
  readonly lockTimeoutMs?: number;
}

/** Options of {@link TestJpki.open}. */
export interface TestJpkiOpenOptions {
  /** Where card key pairs come from. Default: generated on demand. */
  readonly keys?: KeySource;
  /**
   * How long a change (issue, revoke, renew, a CRL's number) waits for another process holding the directory's
   * lock, in milliseconds. Default 30 000. A lock left by a process that died is removed, not waited for.
   */
  readonly lockTimeoutMs?: number;
}

/** The holder and secrets of a new card. All of it must be fake. */
export interface IssueCardOptions {
  /** Family and given name, separated by a full-width space (spec §8.3). */
  readonly name: string;
  /** Starting with the prefecture, no postcode (spec §8.3). */
  readonly address: string;
  /** YYYY-MM-DD, Western calendar. */
  readonly birthDate: string;
  /** ISO/IEC 5218 as on the text AP: '1' male, '2' female, '9' not applicable. */
  readonly sex: '1' | '2' | '9';
  /** Auth PIN, 4 digits. */
  readonly pin: string;
  /** Sign password: 6–16 of A–Z, 0–9 with at least one letter and one digit. */
  readonly password: string;
  /** Text-AP PIN, 4 digits. Default: `pin`. */
  readonly textPin?: string;
  /** `card` (plastic card) or `android` (smartphone certificate). Default `card`. */
  readonly profile?: 'card' | 'android';
  /** Issue time: the validity end and the signing certificate's CN count from it. Default: the current time. */
  readonly now?: Date;
  /**
   * Start of both certificates' validity. Default: 5 minutes before `now` (whole seconds), as real CAs back-date for
   * clock skew, so a verifier whose clock is a moment behind the issuer's (a test's frozen clock) accepts the card.
   */
  readonly notBefore?: Date;
  /** Romanised municipality for the sign subject and CRL partition. Default: derived from `address`. */
  readonly municipality?: Municipality;
  /** YYYY-MM-DD card expiry; certificates end no later (spec §8.2). */
  readonly cardExpires?: string;
  /**
   * Runs once the card is issued and before the store records it, e.g. to write the card file durably first. When
   * it rejects, nothing is recorded and the issuance rejects with its error; a crash during or after it leaves at
   * most certificates recorded that no card holds.
   */
  readonly beforeSave?: (card: IssuedCard) => Promise<void> | void;
}

/** A newly issued card: its virtual-card spec and its two serials (canonical lowercase hex). */
export interface IssuedCard {
  readonly spec: VirtualCardSpec;
  readonly authSerial: string;
  readonly signSerial: string;
}

/** Options of {@link TestJpki.renew}. */
export interface RenewOptions {
  /** Renewal time (links, revocation of the old certificates, validity end). Default: the current time. */
  readonly now?: Date;
  /** Start of the new certificates' validity. Default: 5 minutes before `now`, as for {@link IssueCardOptions}. */
  readonly notBefore?: Date;
  /** PIN and password of the new spec when renewing from bare certificates. Default: those of the spec given. */
  readonly pin?: string;
  readonly password?: string;
  /** Revoke the old certificates with this reason, or keep them valid with `false`. Default `superseded`. */
  readonly revokeOld?: RevocationReason | false;
  /**
   * Runs once the new certificates are issued and before the store records the renewal, e.g. to keep the new keys
   * durably first: the store holds no private keys, so once it records the renewal the keys must exist somewhere.
   * When it rejects, nothing is recorded and `renew` rejects with its error.
   */
  readonly beforeSave?: (card: IssuedCard) => Promise<void> | void;
}

/** Renewed keys and certificates, without PINs: what {@link TestJpki.renewKeys} puts on a card. */
export interface RenewedCard {
  /** PKCS#8 DER. */
  readonly authKey: Uint8Array;
  readonly signKey: Uint8Array;
  /** DER. */
  readonly authCert: Uint8Array;
  readonly signCert: Uint8Array;
  readonly authSerial: string;
  readonly signSerial: string;
}

// The links answer, as the platform contract (`../platform.ts`) reads it.
export type { SerialLinks };

const FILES = {
  authCa: 'auth-ca.pem',
  signCa: 'sign-ca.pem',
  authKey: 'auth-ca.key',
  signKey: 'sign-ca.key',
} as const;

/**
 * A test JPKI in a directory.
 *
 * Several processes may open one directory (a `ca ocsp` server next to `ca revoke`): every change (issue, revoke,
 * renew, a CRL's number, the delegated responder) is made on the newest `store.json` under the directory's lock file,
 * so none undoes another's; each may reject with `ERR_TESTJPKI_LOCKED` (TestJpkiLockedError) when another live
 * process holds the lock past `lockTimeoutMs`, and with `ERR_TESTJPKI_DAMAGED` when `store.json` became unreadable.
 *
 * @example
 * ```ts
 * const jpki = await TestJpki.init(dir, { ocspPort: 8790 });
 * const { spec, authSerial } = await jpki.issueCard({ name: '試験　太郎', address: '東京都千代田区千代田1-1',
 *   birthDate: '1990-01-02', sex: '1', pin: '1234', password: 'ABC123' });
 * await jpki.revoke(authSerial, 'keyCompromise');
 * ```
 */
export class TestJpki {
  /** The directory holding keys, certificates and the store. */
  readonly dir: string;
  readonly #auth: CertificateAuthority;
  readonly #sign: CertificateAuthority;
  readonly #store: Store;
  readonly #keys: KeySource;
  /** Serials handed out but not yet in the store (issuance is async). */
  readonly #reserved = new Set<string>();
  readonly #responders = new Map<CaKind, Promise<OcspSigner>>();

  private constructor(
    dir: string,
    auth: CertificateAuthority,
    sign: CertificateAuthority,
    store: Store,
    keys: KeySource,
  ) {
    this.dir = dir;
    this.#auth = auth;
    this.#sign = sign;
    this.#store = store;
    this.#keys = keys;
  }

  /**
   * Creates both CAs and an empty store in `dir` (created if missing). CA keys are written as PKCS#8 PEM with mode
   * 0600; `auth-ca.pem`, `sign-ca.pem` hold the CA certificates.
   *
   * Each file is written atomically and `store.json` last, under the directory lock: a directory without
   * `store.json` holds no test JPKI (at most what an interrupted init left, which this replaces).
   *
   * @throws TestJpkiExistsError `ERR_TESTJPKI_EXISTS` when `dir` already holds a test JPKI.
   * @throws TestJpkiLockedError `ERR_TESTJPKI_LOCKED` when another process holds the directory's lock too long.
   * @throws TypeError on a bad option.
   */
  static async init(dir: string, options: TestJpkiInitOptions = {}): Promise<TestJpki> {
    const port = options.ocspPort ?? 8790;
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new TypeError('ocspPort must be 1–65535');
    const officeCode = options.officeCode ?? 'TEST00001';
    if (!/^[0-9A-Z]{9}$/.test(officeCode)) throw new TypeError('officeCode must be 9 of 0-9A-Z');
    const years = options.caValidityYears ?? 10;
    if (!Number.isInteger(years) || years < 1 || years > 30) throw new TypeError('caValidityYears must be 1–30');
    const lockTimeoutMs = lockTimeout(options.lockTimeoutMs);
    const host = options.ocspHost ?? '127.0.0.1';
    const now = options.now ?? new Date();
    const notBefore = certificateStart(now, options.notBefore);
    const keys = options.keys ?? freshKeys;

    await mkdir(dir, { recursive: true, mode: 0o700 });
    // An early answer before generating keys; the check that counts is repeated under the lock.
    if (await exists(join(dir, STORE_FILE))) throw new TestJpkiExistsError(dir);
    const data: StoreData = {
      version: 1,
      config: { baseUrl: `http://${host.includes(':') ? `[${host}]` : host}:${port}`, officeCode },
      sequence: 0,
      crlNumber: { auth: 0, sign: 0 },
      certificates: [],
      cards: [],
      links: [],
    };
    const ctx = { store: { get: () => undefined }, reserved: new Set<string>() };
    const [authKeys, signKeys] = await Promise.all([keys.next(), keys.next()]);
    const [auth, sign] = await Promise.all([
      createCa('auth', authKeys, { now, notBefore, serial: newSerial(ctx), validityYears: years }),
      createCa('sign', signKeys, { now, notBefore, serial: newSerial(ctx), validityYears: years }),
    ]);
    const store = await withStoreLock(dir, lockTimeoutMs, async () => {
      // The lock makes a concurrent init lose cleanly here instead of mixing its keys with ours.
      if (await exists(join(dir, STORE_FILE))) throw new TestJpkiExistsError(dir);
      await removeLeftovers(dir);
      await writeFileAtomic(join(dir, FILES.authKey), pkcs8Pem(auth), 0o600);
      await writeFileAtomic(join(dir, FILES.signKey), pkcs8Pem(sign), 0o600);
      await writeFileAtomic(join(dir, FILES.authCa), toPem('CERTIFICATE', auth.cert), 0o644);
      await writeFileAtomic(join(dir, FILES.signCa), toPem('CERTIFICATE', sign.cert), 0o644);
      return Store.create(dir, data, { lockTimeoutMs });
    });
    return new TestJpki(dir, auth, sign, store, keys);
  }

  /**
   * Opens the test JPKI in `dir`.
   *
   * @throws TestJpkiNotFoundError `ERR_TESTJPKI_NOT_FOUND` when `dir` holds no test JPKI.
   * @throws TestJpkiIncompleteError `ERR_TESTJPKI_INCOMPLETE` when it holds what an interrupted init left.
   * @throws TestJpkiDamagedError `ERR_TESTJPKI_DAMAGED` when a CA key or certificate or `store.json` is missing, cut
   *   short or corrupt (the error's `path` names it).
   */
  static async open(dir: string, options: TestJpkiOpenOptions = {}): Promise<TestJpki> {
    const lockTimeoutMs = lockTimeout(options.lockTimeoutMs);
    let store: Store;
    try {
      store = await Store.load(dir, { lockTimeoutMs });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      // store.json is written last by init: CA files without it are an interrupted init, not a damaged JPKI.
      for (const f of Object.values(FILES)) {
        if (await exists(join(dir, f))) throw new TestJpkiIncompleteError(dir, { cause: e });
      }
      throw new TestJpkiNotFoundError(dir, { cause: e });
    }
    const [auth, sign] = await Promise.all([
      readCa('auth', join(dir, FILES.authCa), join(dir, FILES.authKey)),
      readCa('sign', join(dir, FILES.signCa), join(dir, FILES.signKey)),
    ]);
    return new TestJpki(dir, auth, sign, store, options.keys ?? freshKeys);
  }

  /**
   * The base URL of the local responder written into AIA extensions, e.g. `http://127.0.0.1:8790` (OCSP at
   * `/ocsp/auth` and `/ocsp/sign`, CPS at `/cps`).
   */
  get ocspBaseUrl(): string {
    return this.#store.data.config.baseUrl;
  }

  /** The CA certificate (DER) of `kind`. */
  caCertificate(kind: CaKind): Uint8Array {
    return this.#ca(kind).cert.slice();
  }

  /** SHA-256 fingerprint of the CA certificate, lowercase hex without colons. */
  caFingerprint(kind: CaKind): string {
    return createHash('sha256').update(this.#ca(kind).cert).digest('hex');
  }

  /**
   * Issues a card: an auth certificate (spec §8.2) and a sign certificate (spec §8.3) with fresh keys, and the
   * text-AP data with a fake My Number. Records both certificates.
   *
   * @throws TestJpkiInvalidInputError `ERR_TESTJPKI_INVALID_INPUT` when holder data, PIN or password breaks its rule
   *   (`field` names it; see `checkHolder`).
   * @throws TypeError on a value of the wrong type, an invalid notBefore, or a notBefore after the validity's end.
   */
  async issueCard(options: IssueCardOptions): Promise<IssuedCard> {
    const [issued] = await this.#issueCards([prepareIssue(options)]);
    return issued!;
  }

  /**
   * Issues many cards concurrently and writes the store once: the fast path for bulk fixtures (all options are
   * validated before anything is issued).
   *
   * @throws TestJpkiInvalidInputError `ERR_TESTJPKI_INVALID_INPUT` when any entry breaks a rule (see {@link issueCard}).
   * @throws TypeError on a value of the wrong type or an invalid notBefore in any entry.
   */
  async issueCards(list: readonly IssueCardOptions[]): Promise<IssuedCard[]> {
    return this.#issueCards(list.map(prepareIssue));
  }

  async #issueCards(prepared: readonly PreparedIssue[]): Promise<IssuedCard[]> {
    // Keys before the lock: generating one costs 50–100 ms, signing a certificate about one.
    const keys = await Promise.all(prepared.map(() => this.#keyPairs()));
    return this.#store.update(async (draft) => {
      const issued = await Promise.all(prepared.map((p, i) => this.#issueCard(draft, p, keys[i]!)));
      await Promise.all(prepared.map((p, i) => p.beforeSave?.(issued[i]!)));
      return issued;
    });
  }

  #issueCard(draft: StoreState, { o, where, now, notBefore }: PreparedIssue, keys: CardKeys): Promise<IssuedCard> {
    return this.#issue(
      draft,
      {
        id: newCardId(),
        profile: o.profile,
        holder: { name: o.name, address: o.address, birthDate: o.birthDate, sex: o.sex, myNumber: fakeMyNumber() },
        prefecture: where.prefecture,
        city: where.city,
        authId: newAuthId(),
        ...(o.cardExpires !== undefined ? { cardExpires: o.cardExpires } : {}),
      },
      { pin: o.pin, password: o.password, textPin: o.textPin },
      { now, notBefore },
      keys,
    );
  }

  /**
   * Revokes a certificate issued here. The revocation shows on the CRL and in OCSP from `at` on.
   *
   * @param serial hex, any case, `0x` and colons allowed.
   * @param at revocation time. Default: the current time.
   * @throws TestJpkiUnknownSerialError `ERR_TESTJPKI_UNKNOWN_SERIAL` when the serial was not issued here.
   * @throws TestJpkiAlreadyRevokedError `ERR_TESTJPKI_ALREADY_REVOKED` when it is already revoked.
   * @throws TypeError when `serial` is not hex or `reason` not an RFC 5280 reason name.
   */
  async revoke(serial: string, reason: RevocationReason, at: Date = new Date()): Promise<void> {
    if (!Object.hasOwn(REASON_CODES, reason)) throw new TypeError('reason must be an RFC 5280 CRLReason name');
    const s = canonicalSerial(serial);
    await this.#store.update((draft) => markRevoked(recordIn(draft, s), reason, at));
  }

  /**
   * Renews a card: new key pairs and serials for both certificates, same holder data, same auth CN; records
   * old→new links per kind and by default revokes the old certificates as `superseded`.
   *
   * @param from the card's spec, or its two certificates (then `options.pin` and `options.password` are needed).
   * @throws TestJpkiUnknownSerialError `ERR_TESTJPKI_UNKNOWN_SERIAL` when the certificates were not issued here.
   * @throws TestJpkiAlreadyRenewedError `ERR_TESTJPKI_ALREADY_RENEWED` when these certificates already have
   *   successors (renew the newest card instead). Old certificates that are already revoked stay as they are.
   * @throws TestJpkiInvalidInputError `ERR_TESTJPKI_INVALID_INPUT` when `options.pin` or `options.password` breaks its
   *   rule (spec §5), or `authCert` or `signCert` is not a DER certificate (`field` names it).
   * @throws TypeError when PIN/password are missing for the bare-certificate form, or on an invalid notBefore.
   */
  async renew(
    from: VirtualCardSpec | { readonly authCert: Uint8Array; readonly signCert: Uint8Array },
    options: RenewOptions = {},
  ): Promise<IssuedCard> {
    const now = options.now ?? new Date();
    const notBefore = certificateStart(now, options.notBefore);
    const authSerial = serialOf(from.authCert, 'authCert');
    const signSerial = serialOf(from.signCert, 'signCert');
    // An early answer on the current state before keys are made; the check that counts is repeated in the change.
    await this.#store.refresh();
    renewable(this.#store, authSerial, signSerial);
    const spec = 'authPin' in from ? from : undefined;
    const pin = options.pin ?? spec?.authPin;
    const password = options.password ?? spec?.signPassword;
    if (pin === undefined || password === undefined)
      throw new TypeError('pin and password are needed to renew from certificates');
    checkSecrets({ pin, password, textPin: spec?.textPin });
    const keys = await this.#keyPairs();
    return this.#store.update(async (draft) => {
      const card = renewable(draft, authSerial, signSerial);
      const issued = await this.#issue(
        draft,
        { ...withoutSerials(card), id: newCardId() },
        { pin, password, textPin: spec?.textPin },
        { now, notBefore },
        keys,
        (fresh) => {
          const reason = options.revokeOld ?? 'superseded';
          for (const [kind, old, next] of [
            ['auth', authSerial, fresh.authSerial],
            ['sign', signSerial, fresh.signSerial],
          ] as const) {
            draft.data.links.push({ kind, predecessor: old, successor: next, at: now.toISOString() });
            const rec = draft.get(old)!;
            if (reason !== false && rec.status === 'good') markRevoked(rec, reason, now);
          }
        },
      );
      await options.beforeSave?.(issued);
      return issued;
    });
  }

  /**
   * Renews the certificates of a card whose PIN objects stay on the card (a card file keeps its own PIN hashes and
   * counters): new key pairs and serials, links recorded, old certificates revoked as in {@link renew}.
   *
   * @throws TestJpkiUnknownSerialError (`ERR_TESTJPKI_UNKNOWN_SERIAL`), TestJpkiAlreadyRenewedError
   *   (`ERR_TESTJPKI_ALREADY_RENEWED`), TestJpkiInvalidInputError (`ERR_TESTJPKI_INVALID_INPUT`, `field` `authCert` or
   *   `signCert`) for bytes that are not a DER certificate.
   */
  async renewKeys(
    from: { readonly authCert: Uint8Array; readonly signCert: Uint8Array },
    options: Omit<RenewOptions, 'pin' | 'password' | 'beforeSave'> & {
      /** As {@link RenewOptions.beforeSave}, with the renewed keys and certificates. */
      readonly beforeSave?: (renewed: RenewedCard) => Promise<void> | void;
    } = {},
  ): Promise<RenewedCard> {
    const { beforeSave, ...rest } = options;
    // renew() builds a whole spec, PINs included; these placeholders only satisfy its format checks and are dropped
    // here: nothing is written with them.
    const issued = await this.renew(from, {
      ...rest,
      pin: '0000',
      password: 'UNUSED0',
      ...(beforeSave ? { beforeSave: (card: IssuedCard) => beforeSave(renewedCard(card)) } : {}),
    });
    return renewedCard(issued);
  }

  /** All renewal links, oldest first. */
  links(): readonly LinkRecord[] {
    return this.#store.data.links.map((l) => ({ ...l }));
  }

  /**
   * The predecessor and successor of a certificate, and the certificate of the other kind issued with it on the same
   * card (J-LIS 証明書紐付け情報), each named by its CA's fingerprint and its serial (`CertRef`).
   *
   * @param options.kind the CA the serial must be of (a serial names a certificate only under its CA).
   * @throws TestJpkiUnknownSerialError `ERR_TESTJPKI_UNKNOWN_SERIAL` when the serial was not issued here (by that CA).
   */
  linksOf(serial: string, options: { readonly kind?: CaKind } = {}): SerialLinks {
    const rec = this.#record(serial);
    if (options.kind !== undefined && rec.kind !== options.kind) throw new TestJpkiUnknownSerialError(rec.serial);
    const ref = (kind: CaKind, s: string) => ({ issuer: this.caFingerprint(kind), serial: s });
    const links = this.#store.data.links;
    const predecessor = links.find((l) => l.successor === rec.serial)?.predecessor;
    const successor = links.find((l) => l.predecessor === rec.serial)?.successor;
    const card = this.#store.data.cards.find((c) => (rec.kind === 'auth' ? c.authSerial : c.signSerial) === rec.serial);
    const pair = card === undefined ? undefined : rec.kind === 'auth' ? card.signSerial : card.authSerial;
    const other: CaKind = rec.kind === 'auth' ? 'sign' : 'auth';
    return {
      ...ref(rec.kind, rec.serial),
      kind: rec.kind,
      ...(predecessor ? { predecessor: ref(rec.kind, predecessor) } : {}),
      ...(successor ? { successor: ref(rec.kind, successor) } : {}),
      ...(pair ? { pair: ref(other, pair) } : {}),
    };
  }

  /** The records of every certificate issued here (copies). */
  certificates(): readonly CertificateRecord[] {
    return this.#store.data.certificates.map((c) => ({ ...c }));
  }

  /**
   * The status of a serial at `now`: `unknown` when not issued here (or, with `kind`, not by that CA); `revoked`
   * once `now` reaches the revocation time; else `good`.
   *
   * @throws TypeError when `serial` is not hex.
   */
  status(serial: string, options: { now?: Date; kind?: CaKind } = {}): CertificateStatus {
    const rec = this.#store.get(canonicalSerial(serial));
    if (!rec || (options.kind !== undefined && rec.kind !== options.kind)) return { status: 'unknown' };
    const now = options.now ?? new Date();
    if (rec.status === 'revoked' && rec.revokedAt !== undefined && Date.parse(rec.revokedAt) <= now.getTime()) {
      return { status: 'revoked', revokedAt: new Date(rec.revokedAt), reason: rec.reason ?? 'unspecified' };
    }
    return { status: 'good' };
  }

  /**
   * A signed v2 CRL (DER) of `kind`'s CA listing every certificate revoked at or before `now`, with the next CRL
   * number. With `partition`, only the certificates issued in that municipality, and an issuingDistributionPoint
   * naming its partition (what their cRLDistributionPoints name): the CRL covers those certificates and no others.
   *
   * @throws TestJpkiUnknownPartitionError `ERR_TESTJPKI_UNKNOWN_PARTITION` for a municipality no card was issued in.
   */
  async crl(
    kind: CaKind,
    options: { now?: Date; nextUpdateSeconds?: number; partition?: Municipality } = {},
  ): Promise<Uint8Array> {
    const ca = this.#ca(kind);
    const now = options.now ?? new Date();
    const next = options.nextUpdateSeconds ?? 86400;
    const where = options.partition;
    // The entries come from the state the CRL number is taken in: the newest, read under the lock.
    const { entries, crlNumber } = await this.#store.update((draft) => {
      let inPartition = (_cardId: string) => true;
      if (where) {
        const cards = new Set(
          draft.data.cards.filter((c) => c.prefecture === where.prefecture && c.city === where.city).map((c) => c.id),
        );
        if (cards.size === 0) throw new TestJpkiUnknownPartitionError(where);
        inPartition = (cardId) => cards.has(cardId);
      }
      const entries = draft.data.certificates
        .filter(
          (c) =>
            c.kind === kind &&
            c.status === 'revoked' &&
            Date.parse(c.revokedAt!) <= now.getTime() &&
            inPartition(c.cardId),
        )
        .map((c) => ({ serial: c.serial, revokedAt: new Date(c.revokedAt!), reason: c.reason ?? 'unspecified' }));
      return { entries, crlNumber: ++draft.data.crlNumber[kind] };
    });
    return createCrl(ca, entries, {
      thisUpdate: now,
      nextUpdate: new Date(now.getTime() + next * 1000),
      crlNumber,
      ...(where ? { partition: crlPartitionName(kind, where.prefecture, where.city) } : {}),
    });
  }

  /** The municipalities cards were issued in, each a CRL partition of both CAs (see {@link crl}), sorted. */
  crlPartitions(): Municipality[] {
    const seen = new Map<string, Municipality>();
    for (const c of this.#store.data.cards) {
      seen.set(`${c.prefecture}/${c.city}`, { prefecture: c.prefecture, city: c.city });
    }
    return [...seen.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, m]) => m);
  }

  /**
   * Answers a DER OCSP request for `kind`'s CA with a DER OCSP response (RFC 6960). Certificates of the other CA
   * or unknown serials are `unknown`; a malformed request gets `malformedRequest`.
   *
   * @param options.responder `ca` (default) signs with the CA key; `delegated` with a responder certificate
   *   (id-kp-OCSPSigning, ocsp-nocheck) that the CA issues on first use and keeps in the directory.
   */
  async respondOcsp(
    kind: CaKind,
    request: Uint8Array,
    options: { now?: Date; nextUpdateSeconds?: number; responder?: 'ca' | 'delegated' } = {},
  ): Promise<Uint8Array> {
    const ca = this.#ca(kind);
    const signer: OcspSigner =
      options.responder === 'delegated'
        ? await this.#delegatedResponder(kind)
        : { cert: ca.cert, spki: ca.spki, privateKey: ca.privateKey };
    return respondOcsp(request, {
      issuerName: ca.subject,
      issuerSpki: ca.spki,
      signer,
      lookup: (serial, now) => this.status(serial, { now, kind }),
      now: options.now ?? new Date(),
      nextUpdateSeconds: options.nextUpdateSeconds ?? 3600,
    });
  }

  /** Re-reads the store if another process changed it (a server next to a CLI). */
  refresh(): Promise<void> {
    return this.#store.refresh();
  }

  #ca(kind: CaKind): CertificateAuthority {
    if (kind === 'auth') return this.#auth;
    if (kind === 'sign') return this.#sign;
    throw new TypeError("kind must be 'auth' or 'sign'");
  }

  #record(serial: string): CertificateRecord {
    return recordIn(this.#store, canonicalSerial(serial));
  }

  /** Key pairs for one card, from the key source. */
  async #keyPairs(): Promise<CardKeys> {
    const [auth, sign] = await Promise.all([this.#keys.next(), this.#keys.next()]);
    return { auth, sign };
  }

  async #issue(
    store: StoreState,
    draft: Omit<CardRecord, 'authSerial' | 'signSerial' | 'issuedAt'>,
    secrets: { pin: string; password: string; textPin: string | undefined },
    { now, notBefore }: { readonly now: Date; readonly notBefore: Date },
    keys: CardKeys,
    afterIssue?: (fresh: { authSerial: string; signSerial: string }) => void,
  ): Promise<IssuedCard> {
    const ctx = { authCa: this.#auth, signCa: this.#sign, store, reserved: this.#reserved };
    const { auth, sign } = await issueCertificatePair(ctx, draft, { now, notBefore }, keys);
    const card: CardRecord = {
      ...draft,
      authSerial: auth.serial,
      signSerial: sign.serial,
      issuedAt: now.toISOString(),
    };
    store.data.cards.push(card);
    for (const c of [auth, sign]) {
      store.add(toRecord(c, card.id));
      this.#reserved.delete(c.serial);
    }
    afterIssue?.({ authSerial: auth.serial, signSerial: sign.serial });
    const h = draft.holder;
    const spec: VirtualCardSpec = {
      profile: draft.profile,
      authKey: pkcs8(auth),
      signKey: pkcs8(sign),
      authCert: auth.cert,
      authCaCert: this.#auth.cert.slice(),
      signCert: sign.cert,
      signCaCert: this.#sign.cert.slice(),
      authPin: secrets.pin,
      signPassword: secrets.password,
      ...(secrets.textPin !== undefined ? { textPin: secrets.textPin } : {}),
      text: {
        myNumber: h.myNumber,
        name: h.name,
        address: h.address,
        birthDate: h.birthDate.replaceAll('-', ''),
        sex: h.sex,
      },
    };
    return { spec, authSerial: auth.serial, signSerial: sign.serial };
  }

  #delegatedResponder(kind: CaKind): Promise<OcspSigner> {
    let p = this.#responders.get(kind);
    if (!p) {
      p = this.#loadOrIssueResponder(kind);
      this.#responders.set(kind, p);
      p.catch(() => this.#responders.delete(kind));
    }
    return p;
  }

  async #loadOrIssueResponder(kind: CaKind): Promise<OcspSigner> {
    const certPath = join(this.dir, `${kind}-ocsp.pem`);
    const keyPath = join(this.dir, `${kind}-ocsp.key`);
    if (await exists(certPath)) return readResponder(certPath, keyPath);
    const keys = await this.#keys.next();
    return this.#store.update(async (draft) => {
      // Another process may have issued it while we waited for the lock.
      if (await exists(certPath)) return readResponder(certPath, keyPath);
      const ca = this.#ca(kind);
      const spki = new Uint8Array(keys.publicKey.export({ type: 'spki', format: 'der' }));
      const caCert = new x509.X509Certificate(ca.cert);
      const serial = newSerial({ store: draft, reserved: this.#reserved });
      const cert = await signCertificate(ca, {
        serial,
        subject: ocspResponderSubject(kind),
        spki,
        notBefore: caCert.notBefore,
        notAfter: caCert.notAfter,
        extensions: ocspResponderExtensions(ca.keyId, keyHash(spki)),
      });
      // The key first, the certificate last: a certificate on disk always has its key next to it.
      await writeFileAtomic(
        keyPath,
        toPem('PRIVATE KEY', new Uint8Array(keys.privateKey.export({ type: 'pkcs8', format: 'der' }))),
        0o600,
      );
      await writeFileAtomic(certPath, toPem('CERTIFICATE', cert), 0o644);
      draft.add(
        toRecord(
          { kind, serial, cert, keys, notBefore: caCert.notBefore, notAfter: caCert.notAfter },
          `ocsp-responder-${kind}`,
        ),
      );
      this.#reserved.delete(serial);
      return { cert, spki, privateKey: keys.privateKey };
    });
  }
}

interface CardKeys {
  readonly auth: KeyPair;
  readonly sign: KeyPair;
}

function recordIn(store: Pick<StoreState, 'get'>, serial: string): CertificateRecord {
  const rec = store.get(serial);
  if (!rec) throw new TestJpkiUnknownSerialError(serial);
  return rec;
}

/** The card holding exactly these two certificates, if it was not renewed yet. */
function renewable(store: Pick<StoreState, 'data' | 'get'>, authSerial: string, signSerial: string): CardRecord {
  const card = store.data.cards.find((c) => c.authSerial === authSerial && c.signSerial === signSerial);
  if (!card) throw new TestJpkiUnknownSerialError(store.get(authSerial) ? signSerial : authSerial);
  const renewed = store.data.links.find((l) => l.predecessor === authSerial);
  if (renewed) throw new TestJpkiAlreadyRenewedError(authSerial, renewed.successor);
  return card;
}

function renewedCard({ spec, authSerial, signSerial }: IssuedCard): RenewedCard {
  return {
    authKey: spec.authKey,
    signKey: spec.signKey,
    authCert: spec.authCert,
    signCert: spec.signCert,
    authSerial,
    signSerial,
  };
}

function lockTimeout(ms: number | undefined): number {
  const t = ms ?? DEFAULT_LOCK_TIMEOUT_MS;
  if (!Number.isInteger(t) || t < 0) throw new TypeError('lockTimeoutMs must be a non-negative integer');
  return t;
}

/** Temporary files an interrupted init left (`auth-ca.key.<pid>.<random>.tmp`…); only a lock holder writes them. */
async function removeLeftovers(dir: string): Promise<void> {
  const names = [...Object.values(FILES), STORE_FILE].map((f) => f.replaceAll('.', '\\.')).join('|');
  const temp = new RegExp(`^(?:${names})\\.\\d+\\.[0-9a-f]{8}\\.tmp$`);
  for (const f of await readdir(dir)) if (temp.test(f)) await rm(join(dir, f), { force: true });
}

/**
 * A CA from its certificate and key files.
 *
 * @throws TestJpkiDamagedError `ERR_TESTJPKI_DAMAGED` naming the file that is missing, cut short or does not fit.
 */
async function readCa(kind: CaKind, certPath: string, keyPath: string): Promise<CertificateAuthority> {
  const cert = await readPem(certPath, 'CERTIFICATE');
  const privateKey = await readKey(keyPath);
  try {
    new x509.X509Certificate(cert);
  } catch (e) {
    throw new TestJpkiDamagedError(certPath, 'not a certificate', { cause: e });
  }
  try {
    return await loadCa(kind, cert, privateKey);
  } catch (e) {
    throw new TestJpkiDamagedError(keyPath, 'not the key of the CA certificate next to it', { cause: e });
  }
}

async function readResponder(certPath: string, keyPath: string): Promise<OcspSigner> {
  const cert = await readPem(certPath, 'CERTIFICATE');
  const privateKey = await readKey(keyPath);
  let spki: Uint8Array;
  try {
    spki = new Uint8Array(new x509.X509Certificate(cert).publicKey.rawData);
  } catch (e) {
    throw new TestJpkiDamagedError(certPath, 'not a certificate', { cause: e });
  }
  return { cert, spki, privateKey };
}

async function readKey(path: string): Promise<ReturnType<typeof privateKeyFromPkcs8>> {
  const der = await readPem(path, 'PRIVATE KEY');
  try {
    return privateKeyFromPkcs8(der);
  } catch (e) {
    throw new TestJpkiDamagedError(path, 'not a PKCS#8 private key', { cause: e });
  }
}

/** The DER in the PEM file at `path`; ERR_TESTJPKI_DAMAGED when the file is missing or has no whole block. */
async function readPem(path: string, label: string): Promise<Uint8Array> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new TestJpkiDamagedError(path, 'missing', { cause: e });
    throw e;
  }
  try {
    return fromPem(label, text);
  } catch (e) {
    throw new TestJpkiDamagedError(path, `no whole ${label} PEM block (empty or cut short)`, { cause: e });
  }
}

function markRevoked(rec: CertificateRecord, reason: RevocationReason, at: Date): void {
  if (rec.status === 'revoked') {
    throw new TestJpkiAlreadyRevokedError(rec.serial, new Date(rec.revokedAt!), rec.reason ?? 'unspecified');
  }
  rec.status = 'revoked';
  rec.revokedAt = wholeSeconds(at).toISOString();
  rec.reason = reason;
}

function toRecord(c: IssuedCertificate, cardId: string): CertificateRecord {
  return {
    serial: c.serial,
    kind: c.kind,
    subject: subjectString(c.cert),
    notBefore: c.notBefore.toISOString(),
    notAfter: c.notAfter.toISOString(),
    status: 'good',
    cardId,
  };
}

function withoutSerials(card: CardRecord): Omit<CardRecord, 'authSerial' | 'signSerial' | 'issuedAt'> {
  const { authSerial: _a, signSerial: _s, issuedAt: _i, ...rest } = card;
  return rest;
}

function pkcs8(c: IssuedCertificate): Uint8Array {
  return new Uint8Array(c.keys.privateKey.export({ type: 'pkcs8', format: 'der' }));
}

function pkcs8Pem(ca: CertificateAuthority): string {
  return toPem('PRIVATE KEY', new Uint8Array(ca.privateKey.export({ type: 'pkcs8', format: 'der' })));
}

/** The serial of a certificate to renew; the bytes come from a card file, which may be damaged (data, not misuse). */
function serialOf(cert: Uint8Array, field: 'authCert' | 'signCert'): string {
  if (!(cert instanceof Uint8Array)) throw new TypeError('authCert and signCert must be DER bytes');
  let parsed: InstanceType<typeof x509.X509Certificate>;
  try {
    parsed = new x509.X509Certificate(cert);
  } catch {
    throw new TestJpkiInvalidInputError(field, 'is not a DER certificate');
  }
  return canonicalSerial(parsed.serialNumber);
}

function newCardId(): string {
  return randomUUID();
}

interface PreparedIssue {
  readonly o: ReturnType<typeof validateIssue>;
  readonly where: Municipality;
  readonly now: Date;
  readonly notBefore: Date;
  readonly beforeSave: IssueCardOptions['beforeSave'];
}

/**
 * Validates issue options up front (ERR_TESTJPKI_INVALID_INPUT for bad data, TypeError for misuse), so bulk issuance
 * fails before issuing anything.
 */
function prepareIssue(options: IssueCardOptions): PreparedIssue {
  const now = options.now ?? new Date();
  const o = validateIssue(options, now);
  if (options.beforeSave !== undefined && typeof options.beforeSave !== 'function')
    throw new TypeError('beforeSave must be a function');
  return {
    o,
    where: options.municipality ?? municipalityOf(o.address),
    now,
    notBefore: certificateStart(now, options.notBefore),
    beforeSave: options.beforeSave,
  };
}

function validateIssue(
  o: IssueCardOptions,
  now: Date,
): Required<Omit<IssueCardOptions, 'now' | 'notBefore' | 'municipality' | 'textPin' | 'cardExpires' | 'beforeSave'>> & {
  textPin: string | undefined;
  cardExpires: string | undefined;
} {
  if (typeof o !== 'object' || o === null) throw new TypeError('issue options must be an object');
  checkHolder(o, now);
  checkSecrets(o);
  const profile = o.profile ?? 'card';
  return {
    name: o.name,
    address: o.address,
    birthDate: o.birthDate,
    sex: o.sex,
    pin: o.pin,
    password: o.password,
    profile,
    textPin: o.textPin,
    cardExpires: o.cardExpires,
  };
}
