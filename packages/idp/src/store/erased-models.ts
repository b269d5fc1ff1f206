/**
 * Which node-oidc-provider models hold personal data that must leave the disk, not only the table, when their row is
 * deleted: `VerifiedIdentity` (ekyc/identity-store.ts), a grant's verified basic-4 (name, address, birth date, sex)
 * and, with `ekyc.keepCertificate`, the signing certificate that carries it. A plain `DELETE` leaves a row's bytes in
 * the file's free pages and in the WAL file's older frames; on SQLite, deleting one of these rows zeroes the pages
 * it frees and then empties the WAL file (sqlite.ts, "Erasure"). The model name is spelled out, not imported: the
 * store does not depend on the provider's modules.
 */
export const ERASED_MODELS: ReadonlySet<string> = new Set(['VerifiedIdentity']);
