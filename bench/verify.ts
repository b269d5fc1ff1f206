/**
 * Verifier figures: card login tokens per second, cold (a certificate never seen: parse, path validation with one
 * RSA verify of the CA signature, key import, token RSA verify) and warm (a certificate seen before: the path result
 * is cached by the certificate's exact text), each against raw `crypto.verify` RSA-2048 measured in the same run.
 *
 * Figures are per second of main-thread CPU time, in interleaved rounds (see `perCpuSecond`), so that other
 * processes on the machine change them little.
 *
 * Revocation is a stub answering `good` (what a cached OCSP answer costs is a Map lookup), and the challenge store
 * a stub accepting the one challenge every token was signed over: a real store is a network round trip in
 * Redis or SQL, not CPU, and a card signature per token would make the fixture take minutes.
 */
import { createPrivateKey, createPublicKey, generateKeyPair, sign, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { createAuthToken, createVerifier } from '../packages/pki/src/index.ts';
import type { ChallengeStore, RevocationSource } from '../packages/pki/src/index.ts';
import { parseCertificate } from '../packages/pki/src/certificate.ts';
import { importPublicKey } from '../packages/pki/src/keys.ts';
import { authSignedData } from '../packages/pki/src/token/signed-data.ts';
import { NOW, ORIGIN, cardSigner, createFixture, reissue } from '../packages/pki/test/verify-fixture.ts';
import type { Bench, Figure } from './figure.ts';

const CERTS = 48;
const CHALLENGE = 'q3Jk0uP0p4mYzJ3v0pC3hF3r2x9a1qk0mS1n6o8bW7c=';

/**
 * Operations per second of the main thread's CPU time: runs `fn` in batches for about `ms` of wall time. Time spent
 * descheduled in favour of other processes does not count, and neither does work on V8's helper threads (parallel
 * GC), which on a machine with a spare core runs beside the main thread: so the figure is what wall time gives on a
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

export const bench: Bench = async (log) => {
  log('fixture: test JPKI, one card, and ' + CERTS + ' certificates with their own keys…');
  const f = await createFixture();
  const gen = promisify(generateKeyPair);
  const keys = await Promise.all(Array.from({ length: CERTS }, () => gen('rsa', { modulusLength: 2048 })));
  const tokens: string[] = [];
  for (const [i, k] of keys.entries()) {
    const spki = new Uint8Array(k.publicKey.export({ type: 'spki', format: 'der' }));
    const cert = await reissue(f.card.spec.authCert, f.authCa, {
      spki,
      serial: (0x70000000 + i).toString(16),
    });
    const pkcs8 = new Uint8Array(k.privateKey.export({ type: 'pkcs8', format: 'der' }));
    const t = await createAuthToken({
      certificate: cert,
      origin: ORIGIN,
      challenge: CHALLENGE,
      sign: cardSigner(pkcs8),
    });
    tokens.push(JSON.stringify(t));
  }
  const revocation: RevocationSource = {
    status: async () => ({ status: 'good', source: 'stub' }),
  };
  const challenges: ChallengeStore = {
    put: async () => {},
    take: async (nonce, sessionId) => ({
      nonce,
      sessionId,
      issuedAt: 0,
      expiresAt: Infinity,
    }),
  };
  const make = () =>
    createVerifier({
      anchors: f.anchors,
      revocation,
      challenges,
      now: () => NOW,
    });
  const ctx = { origin: ORIGIN, challenge: CHALLENGE, sessionId: 'bench' };

  // Baseline: one RSA-2048 PKCS#1 v1.5 SHA-256 verify with an imported key, over 64 bytes like signedData.
  const base = createPrivateKey({
    key: Buffer.from(f.card.spec.authKey),
    format: 'der',
    type: 'pkcs8',
  });
  const data = new Uint8Array(64).fill(1);
  const sig = sign('sha256', data, base);
  const pub: KeyObject = createPublicKey(base);
  const rsa = () => verify('sha256', data, pub, sig);

  // Sanity: every token verifies.
  const check = make();
  for (const t of tokens) await check.verifyLoginToken(t, ctx);

  // Cold: one verifier whose caches hold one certificate fewer than the pass, so with first-in-first-out eviction
  // every certificate was evicted just before it comes round again: each login parses, validates, imports and
  // verifies anew (OpenSSL caches nothing across key imports) and then evicts and inserts, which is what a server's
  // full cache does for each new certificate. No verifier is built inside the timed loop.
  const coldV = createVerifier({
    anchors: f.anchors,
    revocation,
    challenges,
    now: () => NOW,
    pathCacheSize: CERTS - 1,
  });
  let i = 0;
  const cold = () => {
    if (i === CERTS) i = 0;
    return coldV.verifyLoginToken(tokens[i++]!, ctx);
  };
  const warmV = make();
  await warmV.verifyLoginToken(tokens[0]!, ctx);
  const warm = () => warmV.verifyLoginToken(tokens[0]!, ctx);

  // The native floor of a cold login: what OpenSSL does for a new certificate (the CA's signature with the CA's
  // key, imported once; the new key's import, as the verifier imports it; the token's signature with it) with the
  // certificates parsed and the signed data built beforehand. cold_per_s can approach it, not pass it.
  const parsed = tokens.map((t) => {
    const fields = JSON.parse(t) as { unverifiedCertificate: string; signature: string };
    return {
      cert: parseCertificate(Buffer.from(fields.unverifiedCertificate, 'base64')),
      signature: Buffer.from(fields.signature, 'base64'),
    };
  });
  const caKey = importPublicKey(parseCertificate(f.anchors.auth[0]!).spki);
  const signedData = authSignedData(ORIGIN, CHALLENGE);
  let j = 0;
  const floorOp = async () => {
    if (j === CERTS) j = 0;
    const { cert, signature } = parsed[j++]!;
    if (!verify(cert.signatureHash, cert.tbs, caKey, cert.signature)) throw new Error('CA signature');
    if (!verify('sha256', signedData, importPublicKey(cert.spki), signature)) throw new Error('token signature');
  };

  // Interleaved rounds, timed in main-thread CPU time: the machine has two cores and other processes, so wall time
  // mostly measures the scheduler. Each round runs the baseline, cold and warm for a short window each, and each
  // ratio is taken within its round; the median round is reported.
  const ROUNDS = 21;
  const rounds: { rsa: number; cold: number; warm: number; floor: number }[] = [];
  const rsaOp = async () => rsa();
  for (const fn of [rsaOp, cold, warm, floorOp]) await perCpuSecond(fn, 200);
  for (let r = 0; r < ROUNDS; r++) {
    if (r % 7 === 0) log(`round ${r + 1}/${ROUNDS}…`);
    const a = await perCpuSecond(rsaOp, 60);
    const c = await perCpuSecond(cold, 120);
    const w = await perCpuSecond(warm, 60);
    const n = await perCpuSecond(floorOp, 60);
    const b = await perCpuSecond(rsaOp, 60);
    rounds.push({ rsa: (a + b) / 2, cold: c, warm: w, floor: n });
  }
  const median = (xs: number[]) => xs.sort((x, y) => x - y)[xs.length >> 1]!;
  const rsaPerS = median(rounds.map((r) => r.rsa));
  const coldPerS = median(rounds.map((r) => r.cold));
  const warmPerS = median(rounds.map((r) => r.warm));
  const coldRatio = median(rounds.map((r) => r.cold / r.rsa));
  const warmRatio = median(rounds.map((r) => r.warm / r.rsa));
  const floorRatio = median(rounds.map((r) => r.floor / r.rsa));
  await f.close();

  const baseline = {
    name: 'crypto.verify RSA-2048',
    value: rsaPerS,
    unit: 'ops/s',
  };
  const figures: Figure[] = [
    { name: 'verify.cold_per_s', value: coldPerS, unit: 'ops/s', baseline },
    {
      name: 'verify.cold_ratio',
      value: coldRatio,
      unit: 'ratio',
      baseline,
      target: '>= 0.30',
    },
    {
      // Not a target: the most cold_ratio can be with OpenSSL's work alone (see floorOp).
      name: 'verify.cold_native_floor_ratio',
      value: floorRatio,
      unit: 'ratio',
      baseline,
    },
    { name: 'verify.warm_per_s', value: warmPerS, unit: 'ops/s', baseline },
    {
      name: 'verify.warm_ratio',
      value: warmRatio,
      unit: 'ratio',
      baseline,
      target: '>= 0.80',
    },
  ];
  return figures;
};
