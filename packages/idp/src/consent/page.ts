/**
 * The consent screen (`GET /interaction/:uid` while node-oidc-provider's `consent` prompt is pending) and its answer
 * (`POST /interaction/:uid/consent`). It lists exactly what the service asks for, in Japanese and English, marking
 * the optional items, which the person may leave out, and the purpose: the one the signed statement will give, and
 * each item's own. The consent is recorded per person and service with the exact text shown and the time
 * (`records.recordConsent`; APPI: third-party provision needs prior consent), and the grant gets the accepted claims
 * (the declined ones are recorded as rejected, so they are never released) and what they were consented for
 * (purposes.ts: the same claims for another purpose are asked again).
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type Provider from 'oidc-provider';
import { requestedClaims } from '../claims/request.ts';
import { clientOriginLabel } from '../client-origin.ts';
import { IdpBadRequestError, IdpInteractionNotFoundError } from '../errors.ts';
import { html, page } from '../lib/html.ts';
import { interactionFor, type InteractionContext, type InteractionDetails } from '../interactions/context.ts';
import { sendPage } from '../interactions/login-page.ts';
import { readBody, type Handler } from '../interactions/router.ts';
import { keepLoginCredential } from '../login-credentials.ts';
import { keepSavedGrant } from '../saved-grants.ts';
import { saveAuditedGrant } from './audited-grant.ts';
import { claimPurposesOf, consentItems, consentText, type ConsentItem } from './items.ts';
import { consentPurpose, purposeEntries, type PurposeRequest } from './purposes.ts';

/** What the screen shows for an interaction, and the text recorded with the consent. */
async function screen(
  context: InteractionContext,
  details: InteractionDetails,
): Promise<{
  clientId: string;
  clientName: string;
  items: ConsentItem[];
  text: string;
  purpose: string | undefined;
  request: PurposeRequest;
}> {
  const clientId = String(details.params['client_id']);
  const client = await context.provider().Client.find(clientId);
  const clientName = client?.clientName ?? clientId;
  // Its origin, or the app a native client's private-use redirect names (never "null").
  const clientOrigin = clientOriginLabel(details.params['redirect_uri']);
  const requested = requestedClaims(details.params['claims']);
  const items = consentItems(requested, String(details.params['scope'] ?? ''));
  const request: PurposeRequest = {
    requested,
    requestPurpose: details.params['purpose'],
    purposes: context.config.ekyc.purposes,
    clientId,
  };
  // The purpose the signed statement will give (purposes.ts): what the person agrees to here is what they sign.
  const purpose = consentPurpose(request, items);
  return {
    clientId,
    clientName,
    items,
    purpose,
    request,
    text: consentText({ clientName, clientOrigin, purpose, items }),
  };
}

/** `GET /interaction/:uid` for the consent prompt. */
export function consentPage(context: InteractionContext): Handler {
  return async (req, res, params) => {
    const uid = params['uid']!;
    const details = await interactionFor(context, req, res, uid);
    const { clientName, items, purpose } = await screen(context, details);
    const nonce = randomBytes(16).toString('base64');
    const body = html`<h1>
        ${clientName} に提供する情報<span class="en" lang="en">What ${clientName} will receive</span>
      </h1>
      <p>
        内容を確かめて、同意するかどうかを選んでください。［任意］の項目は外すことができます。<span class="en" lang="en"
          >Check the list and choose whether to agree. You may leave out the items marked optional.</span
        >
      </p>
      ${purpose ? html`<p>目的 / Purpose: <strong id="consent-purpose">${purpose}</strong></p>` : ''}
      <form method="post" action="/interaction/${uid}/consent" id="consent-form">
        <ul id="items">
          ${items.map(
            (i) =>
              html`<li data-key="${i.key}">
                ${
                  i.optional
                    ? html`<label
                        ><input type="checkbox" name="item" value="${i.key}" checked /> ${i.label.ja}［任意］<span
                          class="en"
                          lang="en"
                          >${i.label.en} [optional]</span
                        ></label
                      >`
                    : html`${i.label.ja}［必須］<span class="en" lang="en">${i.label.en} [required]</span>`
                }${
                  // The purpose is the service's own words (often Japanese): not marked as English.
                  i.purpose ? html`<br /><small class="purpose">目的 / Purpose: ${i.purpose}</small>` : ''
                }
              </li>`,
          )}
        </ul>
        <p>
          <button type="submit" name="decision" value="accept">同意する / Agree</button>
          <button class="secondary" type="submit" name="decision" value="deny">同意しない / Do not agree</button>
        </p>
      </form>`;
    // Both answers end with a redirect to the service (through /auth/:uid): form-action must allow its origin.
    sendPage(res, page({ title: '情報提供の同意 / Consent', body, nonce }), nonce, [
      String(details.params['redirect_uri']),
    ]);
  };
}

/** `POST /interaction/:uid/consent` (form: `decision=accept|deny`, `item=<optional key>` for each kept item). */
export function consentAnswer(context: InteractionContext): Handler {
  return async (req, res, params) => {
    const uid = params['uid']!;
    const details = await interactionFor(context, req, res, uid);
    if (details.prompt.name !== 'consent') throw new IdpInteractionNotFoundError();
    const form = await readForm(req);
    const provider = context.provider();
    if (form.get('decision') !== 'accept') {
      // Nothing to undo: the card login before this screen saved no grant (consent/login-grant.ts), so the service
      // gets nothing from this authorization; what an earlier consent granted stands until it is withdrawn.
      await provider.interactionFinished(
        req,
        res,
        { error: 'access_denied', error_description: 'End-User did not consent' },
        { mergeWithLastSubmission: false },
      );
      return;
    }
    const accountId = details.session?.accountId;
    if (typeof accountId !== 'string') throw new IdpInteractionNotFoundError();
    const { clientId, items, text, request, purpose } = await screen(context, details);
    const kept = new Set(form.getAll('item'));
    const accepted = items.filter((i) => !i.optional || kept.has(i.key));
    const declined = items.filter((i) => i.optional && !kept.has(i.key));
    const claimKeys = (list: ConsentItem[]) => list.filter((i) => !i.key.startsWith('scope:')).map((i) => i.key);

    const existing = details.grantId === undefined ? undefined : await provider.Grant.find(details.grantId);
    const grant =
      existing !== undefined && existing.accountId === accountId && existing.clientId === clientId
        ? existing
        : new provider.Grant({ accountId, clientId });
    const scope = String(details.params['scope'] ?? 'openid');
    grant.addOIDCScope(scope);
    if (declined.some((i) => i.key === 'scope:offline_access')) grant.rejectOIDCScope('offline_access');
    const granted = [...claimKeys(accepted), ...accepted.flatMap((i) => i.details)];
    if (granted.length > 0) grant.addOIDCClaims(granted);
    if (claimKeys(declined).length > 0) grant.rejectOIDCClaims(claimKeys(declined));
    unreject(
      grant,
      new Set(granted),
      !declined.some((i) => i.key === 'scope:offline_access') && /\boffline_access\b/.test(scope),
    );
    // What the claims now held are consented for (purposes.ts): the consent prompt asks again for another purpose.
    // Entries of earlier consents stay (as the details do): what was agreed to stands until it is withdrawn.
    const purposes = purposeEntries(request, grant.getOIDCClaims(), grant.getRejectedOIDCClaims());
    if (purposes.length > 0) grant.addOIDCClaims(purposes);
    // Refresh tokens come only from here (a card login standing as the consent never grants offline_access): the
    // card of the session's login, held since the login, is kept for the refresh check now (login-credentials.ts).
    // Held no longer (fail closed): nothing is kept, and the refreshes of this login will be refused.
    const offline = accepted.some((i) => i.key === 'scope:offline_access');
    const [consent] = await Promise.all([
      context.config.records.recordConsent({
        personId: accountId,
        clientId,
        scopes: scope.split(' ').filter((s) => !declined.some((i) => i.key === `scope:${s}`)),
        claims: claimKeys(accepted),
        textShown: text,
      }),
      offline ? keepLoginCredential(context.config.loginCredentials, provider, details.session, accountId) : undefined,
    ]);
    // The grant only with its audit record (audited-grant.ts): withdrawal finds it through that record.
    const grantId = await saveAuditedGrant(context.config.records, grant, (id) => ({
      type: 'consent.granted',
      personId: accountId,
      clientId,
      data: {
        consentId: consent.id,
        grantId: id,
        claims: claimKeys(accepted),
        declined: claimKeys(declined),
        ...(purpose === undefined ? {} : { purpose }),
        claimPurposes: Object.fromEntries(
          Object.entries(claimPurposesOf(accepted)).filter(([, list]) => list.length > 0),
        ),
      },
    }));
    keepSavedGrant(provider, grantId, grant);
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  };
}

/**
 * Reads an `application/x-www-form-urlencoded` body of at most 16 KiB.
 *
 * @throws IdpBadRequestError (`ERR_IDP_BAD_REQUEST`); IdpBodyTooLargeError (`ERR_IDP_BODY_TOO_LARGE`).
 */
export async function readForm(req: IncomingMessage, limit = 16 * 1024): Promise<URLSearchParams> {
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/x-www-form-urlencoded(\s*;|$)/i.test(type)) {
    throw new IdpBadRequestError('content-type must be application/x-www-form-urlencoded');
  }
  return new URLSearchParams((await readBody(req, limit)).toString('utf8'));
}

/**
 * Takes back an earlier refusal of what the person agreed to now: node-oidc-provider keeps a declined claim (or
 * `offline_access`) in the grant's `rejected` half, and `getOIDCClaims` subtracts it for good, so a claim declined once
 * and ticked on a later consent screen was silently never released.
 */
function unreject(grant: InstanceType<Provider['Grant']>, agreed: ReadonlySet<string>, offlineAgreed: boolean): void {
  const openid = grant.rejected?.openid;
  if (openid === undefined) return;
  if (openid.claims !== undefined) openid.claims = openid.claims.filter((c) => !agreed.has(c));
  if (offlineAgreed && openid.scope !== undefined)
    openid.scope = openid.scope
      .split(' ')
      .filter((s) => s !== 'offline_access')
      .join(' ');
}
