/**
 * The one card contract: what the JPKI and text-AP clients must get from a card, whatever carries the APDUs.
 *
 * `contract-virtual.test.ts` runs it in-process; the PC/SC suite runs it through pcscd + vpcd. It uses only the
 * Transport and the card file made by `makeCardFile` (whose clear PINs are `TEST_PINS`): every test opens a fresh
 * card, because several of them change PIN state.
 */
import assert from 'node:assert/strict';
import { createHash, verify as rsaVerify, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { splitResponseApdu } from '../src/apdu.ts';
import { digestInfo } from '../src/digest-info.ts';
import { JpkiClient, type JpkiCertificate } from '../src/jpki.ts';
import { SW, statusError } from '../src/status.ts';
import { TextApClient } from '../src/text-ap.ts';
import type { Transport } from '../src/transport.ts';
import type { CardFile } from '../src/virtual/card-file.ts';
import { TEST_PINS } from './support/fixture.ts';

/** A card under test: its transport, the card file it was made from, and how to release both. */
export interface OpenedCard {
  readonly transport: Transport;
  readonly cardFile: string;
  close(): Promise<void>;
}

const HELLO = Buffer.from('hello, card');
const SHA256_OF_HELLO = createHash('sha256').update(HELLO).digest();

/** Registers the contract suite under `label`; `open` yields a card made from a fresh card file. */
export function cardContract(label: string, open: () => Promise<OpenedCard>): void {
  /** Runs `body` with a fresh card and closes it afterwards, pass or fail. */
  const withCard = async (body: (card: OpenedCard & { jpki: JpkiClient; file: CardFile }) => Promise<void>) => {
    const card = await open();
    try {
      const file = JSON.parse(await readFile(card.cardFile, 'utf8')) as CardFile;
      await body({ ...card, jpki: new JpkiClient(card.transport), file });
    } finally {
      await card.close();
    }
  };
  const expectedCert = (file: CardFile, which: JpkiCertificate) =>
    new Uint8Array(Buffer.from(file.certificates[which], 'base64'));
  /** RSASSA-PKCS1-v1_5 with SHA-256 over HELLO, against the certificate's public key. */
  const verifySignature = (der: Uint8Array, signature: Uint8Array) =>
    rsaVerify('sha256', HELLO, new X509Certificate(der).publicKey, signature);

  describe(`card contract (${label})`, () => {
    test('selects the JPKI AP and reads the token JPKIAPICCTOKEN2 as a My Number Card', () =>
      withCard(async ({ jpki }) => {
        await jpki.selectJpki();
        assert.deepEqual(await jpki.readToken(), { kind: 'card', raw: 'JPKIAPICCTOKEN2' });
      }));

    test('reads the auth, auth CA and sign CA certificates without a PIN, byte for byte as the card file holds them', () =>
      withCard(async ({ jpki, file }) => {
        for (const which of ['auth', 'authCa', 'signCa'] as const) {
          assert.deepEqual(await jpki.readCertificate(which), expectedCert(file, which), which);
        }
      }));

    test('reading the sign certificate without the sign password fails with ERR_CARD_SECURITY_STATUS', () =>
      withCard(async ({ jpki }) => {
        await assert.rejects(jpki.readCertificate('sign'), { code: 'ERR_CARD_SECURITY_STATUS' });
      }));

    test('reads the sign certificate byte for byte after the sign password (typed lowercase) is verified', () =>
      withCard(async ({ jpki, file }) => {
        await jpki.verify('sign', TEST_PINS.sign.toLowerCase());
        assert.deepEqual(await jpki.readCertificate('sign'), expectedCert(file, 'sign'));
      }));

    test('empty VERIFY reports 3 auth and 5 sign tries, and still reports them right after a correct VERIFY', () =>
      withCard(async ({ jpki }) => {
        assert.equal(await jpki.triesLeft('auth'), 3);
        assert.equal(await jpki.triesLeft('sign'), 5);
        await jpki.verify('auth', TEST_PINS.auth);
        assert.equal(await jpki.triesLeft('auth'), 3);
      }));

    test('a wrong auth PIN counts down with retriesLeft 2, 1, then ERR_CARD_PIN_BLOCKED, and the right PIN no longer works', () =>
      withCard(async ({ jpki }) => {
        await assert.rejects(jpki.verify('auth', '0000'), { code: 'ERR_CARD_PIN_INCORRECT', retriesLeft: 2 });
        await assert.rejects(jpki.verify('auth', '0000'), { code: 'ERR_CARD_PIN_INCORRECT', retriesLeft: 1 });
        await assert.rejects(jpki.verify('auth', '0000'), { code: 'ERR_CARD_PIN_BLOCKED' });
        assert.equal(await jpki.triesLeft('auth'), 0);
        await assert.rejects(jpki.verify('auth', TEST_PINS.auth), { code: 'ERR_CARD_PIN_BLOCKED' });
        assert.equal(await jpki.triesLeft('sign'), 5, 'the sign password is independent');
      }));

    test('a correct PIN after a wrong one resets the counter to its maximum', () =>
      withCard(async ({ jpki }) => {
        await assert.rejects(jpki.verify('sign', 'WRONG1'), { code: 'ERR_CARD_PIN_INCORRECT', retriesLeft: 4 });
        await jpki.verify('sign', TEST_PINS.sign);
        assert.equal(await jpki.triesLeft('sign'), 5);
      }));

    test('signs a SHA-256 DigestInfo with the auth key; the signature verifies against the auth certificate (RSA-SHA256 PKCS#1)', () =>
      withCard(async ({ jpki }) => {
        const cert = await jpki.readCertificate('auth');
        await jpki.verify('auth', TEST_PINS.auth);
        const signature = await jpki.sign('auth', digestInfo('sha256', SHA256_OF_HELLO));
        assert.equal(signature.length, 256);
        assert.ok(verifySignature(cert, signature));
      }));

    test('signs with the sign key after the sign password; the signature verifies against the sign certificate', () =>
      withCard(async ({ jpki }) => {
        await jpki.verify('sign', TEST_PINS.sign);
        const cert = await jpki.readCertificate('sign');
        assert.ok(verifySignature(cert, await jpki.sign('sign', digestInfo('sha256', SHA256_OF_HELLO))));
      }));

    test('signing without the PIN fails with ERR_CARD_SECURITY_STATUS, and the auth PIN does not unlock the sign key', () =>
      withCard(async ({ jpki }) => {
        await assert.rejects(jpki.sign('auth', digestInfo('sha256', SHA256_OF_HELLO)), {
          code: 'ERR_CARD_SECURITY_STATUS',
        });
        await jpki.verify('auth', TEST_PINS.auth);
        await assert.rejects(jpki.sign('sign', digestInfo('sha256', SHA256_OF_HELLO)), {
          code: 'ERR_CARD_SECURITY_STATUS',
        });
      }));

    test('re-selecting the JPKI AP clears verification (how OpenSC logs out)', () =>
      withCard(async ({ jpki }) => {
        await jpki.verify('auth', TEST_PINS.auth);
        await jpki.sign('auth', digestInfo('sha256', SHA256_OF_HELLO));
        await jpki.selectJpki();
        await assert.rejects(jpki.sign('auth', digestInfo('sha256', SHA256_OF_HELLO)), {
          code: 'ERR_CARD_SECURITY_STATUS',
        });
      }));

    test('changes the auth PIN: the new PIN verifies after re-select, the old one counts as wrong', () =>
      withCard(async ({ jpki }) => {
        await jpki.changePin('auth', TEST_PINS.auth, '9876');
        await jpki.selectJpki();
        await assert.rejects(jpki.verify('auth', TEST_PINS.auth), { code: 'ERR_CARD_PIN_INCORRECT', retriesLeft: 2 });
        await jpki.verify('auth', '9876');
        assert.equal(await jpki.triesLeft('auth'), 3);
      }));

    test('changes the sign password, which then unlocks the sign certificate', () =>
      withCard(async ({ jpki, file }) => {
        await jpki.changePin('sign', TEST_PINS.sign, 'newpass99');
        await jpki.selectJpki();
        await jpki.verify('sign', 'NEWPASS99');
        assert.deepEqual(await jpki.readCertificate('sign'), expectedCert(file, 'sign'));
      }));

    test('text AP: basic-4 needs the text PIN, then reads name, address, birth date and sex as the card file holds them', () =>
      withCard(async ({ transport, file }) => {
        const text = new TextApClient(transport);
        assert.equal(await text.triesLeft(), 3);
        await assert.rejects(text.readBasic4(), { code: 'ERR_CARD_SECURITY_STATUS' });
        await assert.rejects(text.verifyPin(TEST_PINS.auth), { code: 'ERR_CARD_PIN_INCORRECT', retriesLeft: 2 });
        await text.verifyPin(TEST_PINS.text);
        const { name, address, birthDate, sex } = file.text;
        assert.deepEqual(await text.readBasic4(), { name, address, birthDate, sex });
      }));

    test('an unknown AID answers 6A82 (ERR_CARD_FILE_NOT_FOUND), with or without Le, never 9000', () =>
      withCard(async ({ transport }) => {
        const aid = [0xa0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00]; // PIV, probed by OpenSC before jpki
        for (const command of [
          [0x00, 0xa4, 0x04, 0x0c, aid.length, ...aid],
          [0x00, 0xa4, 0x04, 0x00, aid.length, ...aid, 0x00],
        ]) {
          const { sw } = splitResponseApdu(await transport.transmit(Uint8Array.from(command)));
          assert.equal(sw, SW.FILE_NOT_FOUND);
          assert.equal(statusError(sw).code, 'ERR_CARD_FILE_NOT_FOUND');
        }
      }));
  });
}
