/**
 * Row → record mapping shared by SQLite and PostgreSQL. Times are stored as epoch milliseconds (INTEGER/BIGINT; pg
 * returns BIGINT as a string, hence `Number`), JSON lists as TEXT, certificates as BLOB/BYTEA.
 */
import type { AuditRecord, Consent, Credential, CredentialKind, Person } from '../types.ts';

type Row = Record<string, unknown>;

const time = (v: unknown): Date => new Date(Number(v));
const timeOrNull = (v: unknown): Date | null => (v === null || v === undefined ? null : time(v));
const str = (v: unknown): string => String(v);
const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

export function toPerson(r: Row): Person {
  return Object.freeze({ id: str(r.id), createdAt: time(r.created_at) });
}

export function toCredential(r: Row): Credential {
  const cert = r.certificate;
  return Object.freeze({
    personId: str(r.person_id),
    kind: str(r.kind) as CredentialKind,
    fingerprint: str(r.fingerprint),
    issuer: str(r.issuer),
    serial: str(r.serial),
    notAfter: time(r.not_after),
    createdAt: time(r.created_at),
    lastUsedAt: timeOrNull(r.last_used_at),
    // A copy: the caller must not hold a view into a driver buffer.
    certificate: cert instanceof Uint8Array ? new Uint8Array(cert) : null,
  });
}

export function toConsent(r: Row): Consent {
  return Object.freeze({
    id: str(r.id),
    personId: str(r.person_id),
    clientId: str(r.client_id),
    scopes: Object.freeze(JSON.parse(str(r.scopes)) as string[]),
    claims: Object.freeze(JSON.parse(str(r.claims)) as string[]),
    textShown: str(r.text_shown),
    grantedAt: time(r.granted_at),
    withdrawnAt: timeOrNull(r.withdrawn_at),
  });
}

export function toAudit(r: Row): AuditRecord {
  return Object.freeze({
    seq: Number(r.seq),
    at: time(r.at),
    type: str(r.type),
    personId: strOrNull(r.person_id),
    clientId: strOrNull(r.client_id),
    data: JSON.parse(str(r.data)) as Record<string, unknown>,
    prevHash: str(r.prev_hash),
    hash: str(r.hash),
  });
}

/** The fields the hash covers, from a stored row. */
export function auditRowOf(rec: AuditRecord) {
  return {
    seq: rec.seq,
    at: rec.at.getTime(),
    type: rec.type,
    personId: rec.personId,
    clientId: rec.clientId,
    data: rec.data,
  };
}

/** Epoch seconds, the unit node-oidc-provider uses for `consumed`. */
export const epochSeconds = (ms: number): number => Math.floor(ms / 1000);
