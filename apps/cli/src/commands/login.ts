/**
 * `mynagate login URL`: the companion on a PC with a card reader (or a virtual card file). It opens the link of the
 * login page's QR code, shows which service asks and for what, asks for the PIN (or, for an eKYC signing link, the
 * signing password), has the card sign and posts the answer. The outcome goes to the browser that shows the QR
 * code, never to the companion: it only learns "ok".
 */
import { optional, positional } from '../args.ts';
import {
  cardAnswer,
  companionLink,
  describeView,
  isSignView,
  openCard,
  PASSWORD_PROMPT,
  PIN_PROMPT,
  post,
  reportCardFailure,
  scan,
} from '../companion.ts';
import type { Parsed } from '../main.ts';
import { printJson, UsageError } from '../output.ts';
import { readSecret } from '../secret.ts';

/** `mynagate login LINK [--file CARD | --reader NAME] [--pin-stdin]`: answers a login or signing QR link. */
export async function login(a: Parsed): Promise<void> {
  const link = companionLink(positional(a, 'companion link (the URL in the QR code)'));
  const file = optional(a, 'file');
  const reader = optional(a, 'reader');
  if (file !== undefined && reader !== undefined) throw new UsageError('give --file or --reader, not both');

  const view = await scan(link);
  process.stderr.write(`${describeView(view).join('\n')}\n\n`);

  // The card first: a missing reader or card is reported before anyone types a PIN. A refusal that ends the try
  // with this card (no card, a locked PIN) is told to the provider too, for the person's browser.
  let body: unknown;
  try {
    const transport = await openCard({ file, reader });
    try {
      const secret = await readSecret(a.values['pin-stdin'] === true, isSignView(view) ? PASSWORD_PROMPT : PIN_PROMPT);
      body = await cardAnswer(transport, view, secret);
    } finally {
      await transport.close();
    }
  } catch (e) {
    await reportCardFailure(link, view, e);
    throw e;
  }
  printJson(await post(link, view, body));
}
