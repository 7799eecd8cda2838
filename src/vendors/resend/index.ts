import { isDenial } from '../../decision/reasons.ts';
import { withheldHeadUrls } from '../answer-head.ts';
import type { AnswerHead, Operation, VendorAdapter } from '../types.ts';
import { withholdUrlUserinfo } from '../url-userinfo.ts';
import { classifyResend } from './classify.ts';
import { resendCredential, resendUpstreamAuthorization } from './credentials.ts';
import { resendError } from './errors.ts';
import { parseResend } from './parse.ts';
import { type ResendPriceOverrides, resolveResendPrices } from './prices.ts';
import { withholdSentMail } from './sent-mail.ts';
import { withholdWebhookEndpoints } from './webhook-endpoints.ts';

export { RESEND_ERROR_NAMES, type ResendErrorName } from './errors.ts';
export type { ResendPriceOverrides, ResendPrices } from './prices.ts';
export { DEFAULT_RESEND_PRICES, RESEND_PRICES_SOURCE } from './prices.ts';

/**
 * The operations Resend de-duplicates by `Idempotency-Key`: "currently supported on the POST /emails
 * and the POST /emails/batch endpoints" (resend.com/docs/dashboard/emails/idempotency-keys). Any
 * other send with a repeated key is sent again, so it is counted again.
 */
export const RESEND_IDEMPOTENT_OPERATIONS: ReadonlySet<string> = new Set([
  'resend.emails.send',
  'resend.emails.batch',
]);

/** Options of the Resend adapter: price overrides from proxy configuration. */
export interface ResendAdapterOptions {
  readonly prices?: ResendPriceOverrides;
}

/**
 * The Resend adapter: Bearer tokens, JSON bodies, a per-delivery price, Resend's
 * `{statusCode,name,message}` errors, and answers whose URLs keep no user name or password, whose
 * webhook endpoints keep only their origin (webhook-endpoints.ts) and whose sent mail and automation
 * runs keep no content (sent-mail.ts). Prices are known up
 * front, so nothing is settled.
 */
export function createResendAdapter(opts: ResendAdapterOptions = {}): VendorAdapter {
  const prices = resolveResendPrices(opts.prices);
  return {
    name: 'resend',
    // Resend answers with `x-request-id` (older responses: `x-resend-request-id`).
    requestIdHeader: 'x-request-id',
    honoursIdempotencyKey: (op) => RESEND_IDEMPOTENT_OPERATIONS.has(op.id),
    credential: resendCredential,
    parse: parseResend,
    price: (req, params) => classifyResend(prices, req, params),
    upstreamAuthorization: resendUpstreamAuthorization,
    settle: () => undefined,
    error: resendError,
    withholdFromAnswer: withholdFromResendAnswer,
    withholdFromAnswerHead: withholdFromResendHead,
  };
}

/**
 * A Resend answer as the agent gets it: sent mail (and automation run output) without its content,
 * webhook endpoints without their path and query, every URL without its userinfo.
 */
function withholdFromResendAnswer(body: Buffer, op?: Operation | null) {
  const mail = withholdSentMail(body, op);
  if (isDenial(mail)) return mail;
  const endpoints = withholdWebhookEndpoints(mail, op);
  return isDenial(endpoints) ? endpoints : withholdUrlUserinfo(endpoints);
}

/**
 * A Resend answer's head as the agent gets it (sixteenth round, answer-head.ts): a URL in a header
 * keeps its path only on `api.resend.com`, which answers nothing without the API key; any other (an
 * attachment's or a received mail's signed download, a hosted page) keeps its origin. A header names
 * no field for the body's rules to read, and Resend sends no URL in a header that an agent needs.
 */
function withholdFromResendHead(head: AnswerHead) {
  return withheldHeadUrls(head, (host) => host === 'api.resend.com');
}
