/** `mynagate verify …`: check what a card produced, against CA certificates from any source. */
import { readFile } from 'node:fs/promises';
import {
  basic4Claims,
  basic4FromCertificate,
  createVerifier,
  crlRevocation,
  CrlSource,
  firstAnswer,
  loadTrustDir,
  MemoryChallengeStore,
  ocspSource,
  pemOrDer,
  type RevocationSource,
  type TrustAnchors,
  type VerifiedCertificate,
} from '@mynagate/pki';
import { instant, oneOf, optional, positional, required } from '../args.ts';
import type { Parsed } from '../main.ts';
import { printJson, UsageError } from '../output.ts';

/**
 * The revocation source the options name: CRL files (checked and indexed up front), an OCSP URL, or when neither
 * is given the OCSP URL each certificate carries. Several answer in turn; none answering fails closed.
 */
async function revocationFrom(a: Parsed, anchors: TrustAnchors, at: Date): Promise<RevocationSource> {
  const sources: RevocationSource[] = [];
  const crls = (a.values.crl as unknown as string[] | undefined) ?? [];
  if (crls.length > 0) {
    const crl = new CrlSource({ issuers: [...anchors.auth, ...anchors.sign], worker: false });
    for (const file of crls) await crl.refresh(await readFile(file), at);
    sources.push(crlRevocation(crl));
  }
  const ocsp = optional(a, 'ocsp');
  if (ocsp !== undefined || sources.length === 0) sources.push(ocspSource(ocsp !== undefined ? { url: ocsp } : {}));
  return sources.length === 1 ? sources[0]! : firstAnswer(...sources);
}

function describe(v: VerifiedCertificate) {
  return {
    kind: v.kind,
    fingerprint: v.fingerprint,
    serialNumber: v.serialNumber,
    issuer: v.issuer,
    subjectCommonName: v.subjectCommonName,
    notAfter: v.notAfter.toISOString(),
    revocation: v.revocationSource,
  };
}

/** `--trust DIR`'s anchors; a folder without a CA certificate is a mistake on the command line (ERR_CLI_USAGE). */
async function trustDir(a: Parsed, unclassified: 'auth' | 'sign'): Promise<Awaited<ReturnType<typeof loadTrustDir>>> {
  try {
    return await loadTrustDir(required(a, 'trust'), { unclassified });
  } catch (e) {
    if (e instanceof TypeError) throw new UsageError(`--trust: ${e.message}`);
    throw e;
  }
}

export async function token(a: Parsed): Promise<void> {
  const at = instant(a, 'at') ?? new Date();
  const anchors = await trustDir(a, 'auth');
  const challenge = required(a, 'challenge');
  // The CLI is both sides of the session: it stores the challenge it was given for one session and takes it back.
  const challenges = new MemoryChallengeStore();
  await challenges.put({
    nonce: challenge,
    sessionId: 'cli',
    issuedAt: at.getTime(),
    expiresAt: at.getTime() + 60_000,
  });
  const verifier = createVerifier({
    anchors,
    revocation: await revocationFrom(a, anchors, at),
    challenges,
    now: () => at,
  });
  const result = await verifier.verifyLoginToken(await readFile(required(a, 'token')), {
    origin: required(a, 'origin'),
    challenge,
    sessionId: 'cli',
  });
  printJson({ verified: true, format: result.format, ...describe(result) });
}

export async function cert(a: Parsed): Promise<void> {
  const kind = oneOf(a, 'kind', ['auth', 'sign'] as const);
  const at = instant(a, 'at') ?? new Date();
  const anchors = await trustDir(a, kind);
  const found = pemOrDer(await readFile(positional(a, 'certificate file')));
  if (found.length !== 1) throw new UsageError('the certificate file must hold exactly one certificate (PEM or DER)');
  const der = found[0]!;
  const verifier = createVerifier({ anchors, revocation: await revocationFrom(a, anchors, at), now: () => at });
  const verified = await verifier.verifyCertificate(der, kind, at);
  // A signing certificate carries the basic-4; an auth certificate proves only "this card".
  const identity = kind === 'sign' ? basic4Claims(basic4FromCertificate(der)) : undefined;
  printJson({ verified: true, ...describe(verified), ...(identity ? { identity } : {}) });
}
