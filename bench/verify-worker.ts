/**
 * One verifier path measured in a worker thread of its own (see verify.ts): rounds of the RSA baseline, the path,
 * and the baseline again, each timed in this thread's CPU time; posts the rounds back.
 */
import { createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { createVerifier } from '../packages/pki/src/index.ts';
import type { ChallengeStore, RevocationSource, TrustAnchors } from '../packages/pki/src/index.ts';
import { parseCertificate } from '../packages/pki/src/certificate.ts';
import { importPublicKey } from '../packages/pki/src/keys.ts';
import { authSignedData } from '../packages/pki/src/token/signed-data.ts';
import { NOW, ORIGIN } from '../packages/pki/test/verify-fixture.ts';

/** The nonce every benchmark token was signed over. */
export const CHALLENGE = 'q3Jk0uP0p4mYzJ3v0pC3hF3r2x9a1qk0mS1n6o8bW7c=';

/** `cold`: a certificate never seen; `warm`: one seen before; `floor`: OpenSSL's own work for a new certificate. */
export type Mode = 'cold' | 'warm' | 'floor';

export interface WorkerInput {
  readonly mode: Mode;
  /** Login tokens (JSON), each with a certificate and key of its own, all over {@link CHALLENGE}. */
  readonly tokens: readonly string[];
  readonly anchors: TrustAnchors;
  /** PKCS#8 DER of the RSA-2048 key whose verify is the baseline. */
  readonly baselineKey: Uint8Array;
}

/** Per round: the path's and the baseline's operations per CPU second. */
export type Rounds = { readonly perS: number; readonly rsaPerS: number }[];

const ROUNDS = 21;

/**
 * Operations per second of this thread's CPU time: runs `fn` in batches for about `ms` of wall time. Time spent
 * descheduled in favour of other processes does not count, and neither does work on V8's helper threads (parallel
 * GC), which on a machine with a spare core runs beside this thread: so the figure is what wall time gives on a
 * quiet machine, measured on a busy one.
 */
async function perCpuSecond(fn: () => Promise<unknown>, ms: number): Promise<number> {
  const end = performance.now() + ms;
  let n = 0;
  const start = process.threadCpuUsage();
  do {
    for (let i = 0; i < 8; i++) await fn();
    n += 8;
  } while (performance.now() < end);
  const used = process.threadCpuUsage(start);
  return (n * 1e6) / Math.max(1, used.user + used.system);
}

async function run(input: WorkerInput): Promise<Rounds> {
  const { tokens } = input;
  const revocation: RevocationSource = {
    status: async () => ({ status: 'good', source: 'stub' }),
  };
  const challenges: ChallengeStore = {
    put: async () => {},
    take: async (nonce, sessionId) => ({ nonce, sessionId, issuedAt: 0, expiresAt: Infinity }),
  };
  const ctx = { origin: ORIGIN, challenge: CHALLENGE, sessionId: 'bench' };
  const make = (pathCacheSize?: number) =>
    createVerifier({ anchors: input.anchors, revocation, challenges, now: () => NOW, pathCacheSize });

  // Baseline: one RSA-2048 PKCS#1 v1.5 SHA-256 verify with an imported key, over 64 bytes like signedData.
  const base = createPrivateKey({ key: Buffer.from(input.baselineKey), format: 'der', type: 'pkcs8' });
  const data = new Uint8Array(64).fill(1);
  const sig = sign('sha256', data, base);
  const pub: KeyObject = createPublicKey(base);
  const rsa = async () => verify('sha256', data, pub, sig);

  // Sanity: every token verifies.
  const check = make();
  for (const t of tokens) await check.verifyLoginToken(t, ctx);

  let op: () => Promise<unknown>;
  if (input.mode === 'cold') {
    // One verifier whose caches hold one certificate fewer than the pass, so with first-in-first-out eviction every
    // certificate was evicted just before it comes round again: each login parses, validates and verifies anew
    // (OpenSSL caches nothing across key decodes) and then evicts and inserts, which is what a server's full cache
    // does for each new certificate. No verifier is built inside the timed loop.
    const v = make(tokens.length - 1);
    let i = 0;
    op = () => {
      if (i === tokens.length) i = 0;
      return v.verifyLoginToken(tokens[i++]!, ctx);
    };
  } else if (input.mode === 'warm') {
    const v = make();
    await v.verifyLoginToken(tokens[0]!, ctx);
    op = () => v.verifyLoginToken(tokens[0]!, ctx);
  } else {
    // The native floor of a cold login: what OpenSSL does for a new certificate (the CA's signature with the CA's
    // key, imported once; the new key's import; the token's signature with it) with the certificates parsed and
    // the signed data built beforehand. cold_per_s can approach it, not pass it.
    const parsed = tokens.map((t) => {
      const fields = JSON.parse(t) as { unverifiedCertificate: string; signature: string };
      return {
        cert: parseCertificate(Buffer.from(fields.unverifiedCertificate, 'base64')),
        signature: Buffer.from(fields.signature, 'base64'),
      };
    });
    const caKey = importPublicKey(parseCertificate(input.anchors.auth[0]!).spki);
    const signedData = authSignedData(ORIGIN, CHALLENGE);
    let j = 0;
    op = async () => {
      if (j === parsed.length) j = 0;
      const { cert, signature } = parsed[j++]!;
      if (!verify(cert.signatureHash, cert.tbs, caKey, cert.signature)) throw new Error('CA signature');
      if (!verify('sha256', signedData, importPublicKey(cert.spki), signature)) throw new Error('token signature');
    };
  }

  // Rounds: the baseline, the path, the baseline again; each ratio is taken within its round.
  await perCpuSecond(rsa, 200);
  await perCpuSecond(op, 500);
  const rounds: { perS: number; rsaPerS: number }[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const a = await perCpuSecond(rsa, 60);
    const p = await perCpuSecond(op, input.mode === 'cold' ? 120 : 60);
    const b = await perCpuSecond(rsa, 60);
    rounds.push({ perS: p, rsaPerS: (a + b) / 2 });
  }
  return rounds;
}

if (!isMainThread && parentPort) parentPort.postMessage(await run(workerData as WorkerInput));
