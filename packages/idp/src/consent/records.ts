/**
 * What consent, eKYC evidence and the person's own history need from the durable records (`store/types.ts`
 * `RecordStore`): consents with the text shown, and the hash-chained audit. `startServer` passes the opened store's
 * records; {@link memoryConsentRecords} is for development and unit tests only (nothing survives the process).
 */
import { randomUUID } from 'node:crypto';
import type { AuditEvent, AuditRecord, Consent, NewConsent, RecordStore } from '../store/types.ts';

/** The records the consent and eKYC features use. */
export type ConsentRecords = Pick<
  RecordStore,
  'recordConsent' | 'withdrawConsent' | 'listConsents' | 'appendAudit' | 'listAudit'
>;

/**
 * In-memory records: consents and an audit list (not hash-chained). Development only.
 *
 * @example
 * ```ts
 * const records = memoryConsentRecords();
 * ```
 */
export function memoryConsentRecords(now: () => number = Date.now): ConsentRecords {
  const consents: Consent[] = [];
  const audit: AuditRecord[] = [];
  return {
    async recordConsent(c: NewConsent): Promise<Consent> {
      const consent: Consent = { ...c, id: randomUUID(), grantedAt: new Date(now()), withdrawnAt: null };
      consents.push(consent);
      return consent;
    },
    async withdrawConsent(personId: string, clientId: string): Promise<number> {
      let n = 0;
      consents.forEach((c, i) => {
        if (c.personId === personId && c.clientId === clientId && c.withdrawnAt === null) {
          consents[i] = { ...c, withdrawnAt: new Date(now()) };
          n++;
        }
      });
      return n;
    },
    async listConsents(personId: string): Promise<Consent[]> {
      return consents.filter((c) => c.personId === personId);
    },
    async appendAudit(e: AuditEvent): Promise<AuditRecord> {
      const record: AuditRecord = {
        seq: audit.length + 1,
        at: new Date(now()),
        type: e.type,
        personId: e.personId ?? null,
        clientId: e.clientId ?? null,
        data: structuredClone(e.data ?? {}),
        prevHash: '',
        hash: '',
      };
      audit.push(record);
      return record;
    },
    async listAudit(personId: string): Promise<AuditRecord[]> {
      return audit.filter((r) => r.personId === personId);
    },
  };
}
