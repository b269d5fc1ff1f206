/**
 * `CrlSource`: the current CRL index per issuing CA (and per partition, for CRLs with an issuingDistributionPoint),
 * refreshed off to the side and swapped atomically, answering revocation status in constant time and failing
 * closed when no current CRL covers a certificate.
 *
 * A CA is its certificate, not its name: J-LIS's CA generations share one name and each revokes its own serials, so
 * a CRL answers only for certificates of the CA whose key verified it (RFC 5280 §6.3.3 (f): the same trust anchor as
 * the certificate's).
 */
import { RevocationUnknownError } from '../errors.ts';
import { instant } from '../revocation.ts';
import { CrlRollbackError, CrlWrongIssuerError } from './errors.ts';
import { bytesEqual } from './der.ts';
import type { CrlIndex, CrlReason, SerialInput } from './index.ts';
import { readIssuer, type IssuerCertificate } from './issuer.ts';
import { readLayout } from './layout.ts';
import { DEFAULT_CRL_SKEW_MS, loadCrl } from './load.ts';
import { loadCrlInWorker } from './load-worker.ts';

/** Options of {@link CrlSource}. */
export interface CrlSourceOptions {
  /**
   * The CA certificates whose CRLs this source accepts. Several may share a subject (CA generations, key rollover):
   * a CRL is checked against each in turn and then answers for the one whose key verified it.
   */
  readonly issuers: readonly IssuerCertificate[];
  /** Clock skew allowed around thisUpdate and nextUpdate, ms; default 60 000. */
  readonly skewMs?: number;
  /** Local freshness limit: a CRL issued longer ago than this is stale, ms; default none. */
  readonly maxAgeMs?: number;
  /** Build indexes on a worker thread (default `true`) so a refresh never blocks validations. */
  readonly worker?: boolean;
}

/** What a certificate's status question carries beyond its serial and issuer (RFC 5280 §6.3.3 (b)). */
export interface CrlStatusOptions {
  /**
   * DER of each DistributionPointName in the certificate's cRLDistributionPoints (RFC 5280 §4.2.1.13). Needed to use
   * a partitioned CRL (one with an issuingDistributionPoint): it covers only certificates that name it. Absent: not
   * known (a certificate named by its CA and serial alone); no partitioned CRL then covers it, but one of its CA
   * that lists the serial still answers `revoked`.
   */
  readonly distributionPoints?: readonly Uint8Array[];
  /** Whether the certificate is a CA certificate (for onlyContainsUserCerts / onlyContainsCACerts); default false. */
  readonly ca?: boolean;
  /**
   * SHA-256 (hex) of the certificate of the CA that issued it: the trust anchor its path was validated to. Needed
   * when several configured CAs share its issuer name; without it, such a question fails closed.
   */
  readonly issuerFingerprint?: string;
}

/** The answer of {@link CrlSource.status}. */
export type CrlStatus =
  | { readonly status: 'good' }
  | {
      readonly status: 'revoked';
      readonly revokedAt: Date;
      readonly reason: CrlReason;
    };

const GOOD: CrlStatus = Object.freeze({ status: 'good' });

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/**
 * Holds the current CRL per issuer and partition.
 *
 * @example
 * ```ts
 * const crls = new CrlSource({ issuers: [signCa] });
 * await crls.refresh(await readFile('sign-ca.crl'), new Date());
 * crls.status(cert.serialNumber, certIssuerNameDer, new Date()); // { status: 'good' } or revoked
 * ```
 */
export class CrlSource {
  readonly #issuers: { subject: string; fingerprint: string; cert: IssuerCertificate }[];
  /** issuer Name hex → the fingerprints of the configured CAs with that name. */
  readonly #byName = new Map<string, string[]>();
  readonly #skewMs: number;
  readonly #maxAgeMs: number | undefined;
  readonly #worker: boolean;
  /**
   * CA fingerprint → scope key → index. Replaced entry by entry; a reader sees a whole old or a whole new index.
   */
  readonly #current = new Map<string, Map<string, CrlIndex>>();

  constructor(options: CrlSourceOptions) {
    if (!options || !Array.isArray(options.issuers) || options.issuers.length === 0)
      throw new TypeError('issuers must be a non-empty array of certificates');
    this.#issuers = options.issuers.map((cert) => {
      const { subject, fingerprint } = readIssuer(cert);
      return { subject: hex(subject), fingerprint, cert };
    });
    for (const i of this.#issuers) {
      const same = this.#byName.get(i.subject) ?? [];
      if (!same.includes(i.fingerprint)) same.push(i.fingerprint);
      this.#byName.set(i.subject, same);
    }
    this.#skewMs = options.skewMs ?? DEFAULT_CRL_SKEW_MS;
    this.#maxAgeMs = options.maxAgeMs;
    this.#worker = options.worker ?? true;
    if (!(this.#skewMs >= 0)) throw new TypeError('skewMs must be >= 0');
  }

  /**
   * Checks and indexes `der` off to the side, then makes it current for its issuer and scope in one step. When the
   * CRL fails a check, the current index stays and the error is thrown.
   *
   * @throws every `loadCrl` error; {@link CrlWrongIssuerError} `ERR_PKI_CRL_WRONG_ISSUER` when no configured issuer
   *   has the CRL's issuer name; {@link CrlRollbackError} `ERR_PKI_CRL_ROLLBACK` when it is older than the current one.
   */
  async refresh(der: Uint8Array, now: Date): Promise<CrlIndex> {
    const layout = readLayout(der);
    const name = hex(der.subarray(layout.issuerStart, layout.issuerEnd));
    const candidates = this.#issuers.filter((i) => i.subject === name);
    if (candidates.length === 0) throw new CrlWrongIssuerError();
    const load = this.#worker ? loadCrlInWorker : loadCrl;
    let index: CrlIndex | undefined;
    let by: string | undefined;
    let lastError: unknown;
    for (const { cert, fingerprint } of candidates) {
      try {
        index = await load(der, {
          issuer: cert,
          now,
          skewMs: this.#skewMs,
          maxAgeMs: this.#maxAgeMs,
        });
        by = fingerprint;
        break;
      } catch (e) {
        lastError = e;
        if ((e as { code?: string }).code !== 'ERR_PKI_CRL_BAD_SIGNATURE') break;
      }
    }
    if (!index || by === undefined) throw lastError;
    // The swap happens here, synchronously after the await: no reader can see anything in between.
    const key = scopeKey(index);
    const byScope = this.#current.get(by) ?? new Map<string, CrlIndex>();
    const held = byScope.get(key);
    if (held) checkNotOlder(index, held);
    byScope.set(key, index);
    this.#current.set(by, byScope);
    return index;
  }

  /**
   * The revocation status of a certificate, from the current CRLs of its issuer that cover it (RFC 5280 §6.3.3).
   *
   * @param serial the certificate's serialNumber (octets, value or hex).
   * @param issuerName DER of the certificate's issuer Name.
   * Without `options.distributionPoints` (not known), a certificate no current CRL covers is still `revoked` when a
   * current partition of its CA lists its serial: a serial names one certificate of its CA (RFC 5280 §4.1.2.2), and a
   * CA lists a serial only in the partition that covers it. Not listed anywhere proves nothing (its partition may not
   * be loaded), so that stays unknown.
   *
   * @throws {RevocationUnknownError} `ERR_PKI_REVOCATION_UNKNOWN` (source `crl`; detail `unavailable` when no CRL of
   *   the issuing CA covers the certificate, or which of several same-name CAs issued it is not said or not one of
   *   them; `stale` when the covering CRL is not current) — fail closed.
   */
  status(serial: SerialInput, issuerName: Uint8Array, now: Date, options: CrlStatusOptions = {}): CrlStatus {
    const ca = this.#issuingCa(issuerName, options.issuerFingerprint);
    const byScope = this.#current.get(ca);
    if (!byScope) throw unknown('unavailable', 'no CRL for this issuer');
    const t = instant(now);
    let covered = false;
    let stale = false;
    for (const index of byScope.values()) {
      if (!covers(index, options)) continue;
      if (!this.#fresh(index, t)) {
        stale = true;
        continue;
      }
      covered = true;
      const r = index.lookup(serial);
      if (r.revoked) return { status: 'revoked', revokedAt: r.revokedAt, reason: r.reason };
    }
    if (!covered && options.distributionPoints === undefined) {
      // Its distribution points are not known: any current partition of its CA that lists the serial speaks for it.
      for (const index of byScope.values()) {
        if (index.scope.distributionPoint === null || !this.#fresh(index, t)) continue;
        if ((index.scope.onlyContainsUserCerts && options.ca) || (index.scope.onlyContainsCACerts && !options.ca))
          continue;
        const r = index.lookup(serial);
        if (r.revoked) return { status: 'revoked', revokedAt: r.revokedAt, reason: r.reason };
      }
    }
    if (!covered)
      throw stale ? unknown('stale', 'the CRL is stale') : unknown('unavailable', 'no CRL covers this certificate');
    return GOOD;
  }

  /** Whether `index` is current at `t` (epoch ms): issued, not past its nextUpdate, not older than `maxAgeMs`. */
  #fresh(index: CrlIndex, t: number): boolean {
    return (
      index.thisUpdate.getTime() <= t + this.#skewMs &&
      index.nextUpdate.getTime() + this.#skewMs >= t &&
      (this.#maxAgeMs === undefined || t - index.thisUpdate.getTime() <= this.#maxAgeMs + this.#skewMs)
    );
  }

  /** The current indexes of the CAs with this name (DER Name), for inspection. */
  current(issuerName: Uint8Array): readonly CrlIndex[] {
    return (this.#byName.get(hex(issuerName)) ?? []).flatMap((ca) => [...(this.#current.get(ca)?.values() ?? [])]);
  }

  /** The fingerprint of the configured CA that issued a certificate of `issuerName` (see `issuerFingerprint`). */
  #issuingCa(issuerName: Uint8Array, fingerprint: string | undefined): string {
    const named = this.#byName.get(hex(issuerName));
    if (named === undefined) throw unknown('unavailable', 'no CRL for this issuer');
    if (fingerprint === undefined) {
      if (named.length > 1)
        throw unknown('unavailable', 'several CAs have this name and which one issued it is not said');
      return named[0]!;
    }
    const fp = fingerprint.toLowerCase();
    if (!named.includes(fp)) throw unknown('unavailable', 'the issuing CA is not one whose CRLs this source holds');
    return fp;
  }
}

function unknown(detail: 'unavailable' | 'stale', why: string): RevocationUnknownError {
  return new RevocationUnknownError('ERR_PKI_REVOCATION_UNKNOWN', detail, 'crl', `revocation status unknown: ${why}`);
}

function scopeKey(index: CrlIndex): string {
  const s = index.scope;
  return `${s.distributionPoint ? hex(s.distributionPoint) : ''}|${s.onlyContainsUserCerts ? 'u' : ''}${s.onlyContainsCACerts ? 'c' : ''}`;
}

/** RFC 5280 §6.3.3 (b): a partitioned CRL covers a certificate only when its scope includes it. */
function covers(index: CrlIndex, options: CrlStatusOptions): boolean {
  const s = index.scope;
  if (s.onlyContainsUserCerts && options.ca) return false;
  if (s.onlyContainsCACerts && !options.ca) return false;
  if (s.distributionPoint === null) return true;
  return (options.distributionPoints ?? []).some((dp) => bytesEqual(dp, s.distributionPoint!));
}

/** RFC 5280 §5.2.3: cRLNumber increases; a lower number, or an earlier thisUpdate, is a replayed older CRL. */
function checkNotOlder(next: CrlIndex, held: CrlIndex): void {
  if (next.crlNumber !== null && held.crlNumber !== null && next.crlNumber < held.crlNumber)
    throw new CrlRollbackError(`cRLNumber ${next.crlNumber} < ${held.crlNumber}`);
  if (next.thisUpdate.getTime() < held.thisUpdate.getTime()) throw new CrlRollbackError('earlier thisUpdate');
}
