import { type DenyReason, REASONS } from '../../decision/reasons.ts';
import type { VendorError } from '../types.ts';

/**
 * Renders a denial as Stripe would answer, so stripe-node raises its own typed error carrying our
 * message: the class follows the status (401 authentication, 403 permission, 429 rate limit, 400/404
 * invalid request, other API error) and the body needs the `error` envelope. `type` is one of the
 * values Stripe documents (api_error, card_error, idempotency_error, invalid_request_error; see
 * https://docs.stripe.com/api/errors, checked 2026-11-26): Stripe itself answers bad keys and rate
 * limits with `invalid_request_error`, and server faults with `api_error`. `code` is the Keybrake reason.
 */
export function stripeError(reason: DenyReason, message: string, status: number): VendorError {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  // stripe-node retries 409/5xx with the same idempotency key unless told a retry cannot help.
  if (!REASONS[reason].retryable) headers['stripe-should-retry'] = 'false';
  const type = status >= 500 ? 'api_error' : 'invalid_request_error';
  return { status, headers, body: JSON.stringify({ error: { type, code: reason, message } }) };
}
