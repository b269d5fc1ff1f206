/**
 * `mynagate login URL`: the companion on a PC with a card reader (or a virtual card file). It opens the link of the
 * login page's QR code, shows which service asks and for what, reads the tries left and asks for the PIN (or, for an
 * eKYC signing link, the signing password), has the card sign and posts the answer. The outcome goes to the browser
 * that shows the QR code, never to the companion: it only learns "ok".
 *
 * A locked PIN is refused before it is asked for; the last try is spent only after a "y" at the terminal (never from
 * `--pin-stdin`: `ERR_CLI_LAST_TRY`); on a terminal a wrong PIN is asked again with the tries left. A refusal of the
 * card or the provider ends with one line: its code, then its words in Japanese and English with the next step.
 */
import { optional, positional } from '../args.ts';
import { companionError } from '../bridge-wording.ts';
import {
  cardAnswer,
  companionLink,
  describeView,
  openCard,
  post,
  reportCardFailure,
  scan,
  secretKindOf,
  triesLeft,
  withSecret,
  type SecretKind,
} from '../companion.ts';
import type { Parsed } from '../main.ts';
import { errorLine, printJson, UsageError } from '../output.ts';

/** `mynagate login LINK [--file CARD | --reader NAME] [--pin-stdin]`: answers a login or signing QR link. */
export async function login(a: Parsed): Promise<void> {
  const link = companionLink(positional(a, 'companion link (the URL in the QR code)'));
  const file = optional(a, 'file');
  const reader = optional(a, 'reader');
  if (file !== undefined && reader !== undefined) throw new UsageError('give --file or --reader, not both');
  const fromStdin = a.values['pin-stdin'] === true;
  let kind: SecretKind = link.pathname.startsWith('/companion/sign/') ? 'sign' : 'auth';
  try {
    const view = await scan(link);
    kind = secretKindOf(view);
    process.stderr.write(`${describeView(view).join('\n')}\n\n`);

    // The card first: a missing reader or card is reported before anyone types a PIN. A refusal that ends the try
    // with this card (no card, a locked PIN) is told to the provider too, for the person's browser.
    let body: unknown;
    try {
      const transport = await openCard({ file, reader });
      try {
        body = await withSecret({
          kind,
          fromStdin,
          showTries: true,
          triesLeft: () => triesLeft(transport, view),
          explain: async (e) => errorLine(await companionError(e, kind)),
          use: (secret) => cardAnswer(transport, view, secret),
        });
      } finally {
        await transport.close();
      }
    } catch (e) {
      await reportCardFailure(link, view, e);
      throw e;
    }
    printJson(await post(link, view, body));
  } catch (e) {
    throw await companionError(e, kind);
  }
}
