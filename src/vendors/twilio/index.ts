import { isDenial } from '../../decision/reasons.ts';
import { withheldHeadUrls } from '../answer-head.ts';
import type { AnswerHead, Operation, VendorAdapter } from '../types.ts';
import { withholdUrlUserinfo } from '../url-userinfo.ts';
import { classifyTwilio } from './classify.ts';
import { TWILIO_BASIC_USER, twilioCredential, twilioUpstreamAuthorization } from './credentials.ts';
import { twilioError } from './errors.ts';
import { withholdMessageBodies } from './message-bodies.ts';
import { parseTwilio, twilioForwardsBody } from './parse.ts';
import { resolveTwilioPrices, type TwilioPriceOverrides } from './prices.ts';
import { settleTwilio } from './settle.ts';
import { twilioReadsBody } from './uploads.ts';
import { isTwilioHost, withholdWebhookUrls } from './webhook-urls.ts';

export { TWILIO_ERROR_CODES } from './errors.ts';
export type { CountryRates, TwilioPriceOverrides, TwilioPrices } from './prices.ts';
export { DEFAULT_TWILIO_PRICES, TWILIO_PRICES_SOURCE } from './prices.ts';

/** Options of the Twilio adapter: price overrides from proxy configuration. */
export interface TwilioAdapterOptions {
  readonly prices?: TwilioPriceOverrides;
}

/**
 * The Twilio adapter: Basic auth with the vault token as password, sub hosts (`/twilio/<sub>/…`),
 * form bodies, a per-country price table, Twilio's `{code,message,more_info,status}` errors, and
 * answers whose URLs keep no user name or password, whose URLs but Twilio's own keep no path or query
 * (webhook-urls.ts) and whose messages the account sent keep no text (message-bodies.ts).
 */
export function createTwilioAdapter(opts: TwilioAdapterOptions = {}): VendorAdapter {
  const prices = resolveTwilioPrices(opts.prices);
  return {
    name: 'twilio',
    requestIdHeader: 'twilio-request-id',
    honoursIdempotencyKey: () => false,
    credential: twilioCredential,
    basicUser: TWILIO_BASIC_USER,
    parse: parseTwilio,
    forwardsBody: twilioForwardsBody,
    readsBody: twilioReadsBody,
    price: (req, params, key) => classifyTwilio(prices, req, params, key),
    upstreamAuthorization: twilioUpstreamAuthorization,
    settle: settleTwilio,
    error: twilioError,
    withholdFromAnswer: withholdFromTwilioAnswer,
    withholdFromAnswerHead: withholdFromTwilioHead,
  };
}

/**
 * A Twilio answer as the agent gets it: the account's own messages without their text, every URL but
 * Twilio's own without its path and query (a webhook receiver's token, webhook-urls.ts), every URL
 * without its userinfo.
 */
function withholdFromTwilioAnswer(body: Buffer, op?: Operation | null) {
  const withheld = withholdMessageBodies(body, op);
  if (isDenial(withheld)) return withheld;
  const urls = withholdWebhookUrls(withheld);
  return isDenial(urls) ? urls : withholdUrlUserinfo(urls);
}

/**
 * A Twilio answer's head as the agent gets it (sixteenth round, answer-head.ts): the body's rule for
 * URLs, by value in every header, so a 307's `Location` keeps what its `redirect_to` keeps: a URL on
 * Twilio's hosts whole, any other its origin (a Bulk Export day's or an add-on result's pre-signed S3
 * file, a media file on Twilio's CDN).
 */
function withholdFromTwilioHead(head: AnswerHead) {
  return withheldHeadUrls(head, isTwilioHost);
}
