import type { DenyReason } from '../../decision/reasons.ts';
import type { VendorError } from '../types.ts';

/**
 * Numeric codes in Twilio's error body. Twilio's own codes where one means the same thing (20003
 * authentication, 20404 not found, 20429 too many requests); 98xxx, a range Twilio does not use, for
 * Keybrake's policy decisions. Stable: clients may branch on them.
 */
export const TWILIO_ERROR_CODES: Readonly<Record<DenyReason, number>> = {
  route_unknown: 20404,
  key_unknown: 20003,
  key_expired: 20003,
  key_suspended: 20003,
  rate_limited: 20429,
  path_invalid: 98001,
  body_invalid: 98002,
  body_too_large: 98003,
  price_unknown: 98010,
  endpoint_not_allowed: 98020,
  customer_not_allowed: 98021,
  account_not_allowed: 98022,
  recipient_not_allowed: 98023,
  country_not_allowed: 98024,
  currency_not_allowed: 98025,
  sender_not_allowed: 98026,
  per_call_limit_exceeded: 98030,
  daily_cap_exceeded: 98031,
  monthly_cap_exceeded: 98032,
  run_cap_exceeded: 98033,
  counter_store_unavailable: 98040,
  policy_stale: 98041,
  upstream_unavailable: 98050,
  upstream_timeout: 98051,
  request_invalid: 98004,
  headers_too_large: 98005,
  request_timeout: 98006,
  header_invalid: 98007,
  run_id_invalid: 98008,
  credential_operation: 98011,
  instructions_not_allowed: 98027,
  run_id_required: 98034,
  object_busy: 98042,
  shutting_down: 98043,
  audit_backlog: 98044,
  upstream_response_too_large: 98052,
  credential_in_response: 98053,
  internal_error: 98099,
};

export const REASONS_DOC_URL = 'https://keybrake.dev/docs/reasons';

/**
 * A denial as Twilio's legacy error JSON: twilio-node turns any non-2xx with this body into a
 * RestException carrying our message, code and more_info. No `type`/`title`, so it is not mistaken
 * for an RFC 9457 problem document.
 */
export function twilioError(reason: DenyReason, message: string, status: number): VendorError {
  const body = {
    code: TWILIO_ERROR_CODES[reason],
    message,
    more_info: `${REASONS_DOC_URL}#${reason}`,
    status,
  };
  return { status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}
