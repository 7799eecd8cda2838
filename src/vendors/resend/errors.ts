import type { DenyReason } from '../../decision/reasons.ts';
import type { VendorError } from '../types.ts';

/** Resend's fixed error names (resend-node 6.38 `RESEND_ERROR_CODE_KEY`) that Keybrake answers with. */
export type ResendErrorName =
  | 'validation_error'
  | 'missing_api_key'
  | 'invalid_api_key'
  | 'restricted_api_key'
  | 'invalid_from_address'
  | 'not_found'
  | 'rate_limit_exceeded'
  | 'daily_quota_exceeded'
  | 'monthly_quota_exceeded'
  | 'application_error'
  | 'internal_server_error';

/**
 * Each reason as the Resend name an SDK user (or a model reading the tool result) already knows.
 * Policy denials are `restricted_api_key` ("this key may not do that"), a sender denial is
 * `invalid_from_address`, caps that reset on a calendar are the quota names.
 */
export const RESEND_ERROR_NAMES: Readonly<Record<DenyReason, ResendErrorName>> = {
  route_unknown: 'not_found',
  path_invalid: 'validation_error',
  key_unknown: 'invalid_api_key',
  key_expired: 'invalid_api_key',
  key_suspended: 'invalid_api_key',
  body_invalid: 'validation_error',
  body_too_large: 'validation_error',
  price_unknown: 'restricted_api_key',
  endpoint_not_allowed: 'restricted_api_key',
  customer_not_allowed: 'restricted_api_key',
  account_not_allowed: 'restricted_api_key',
  recipient_not_allowed: 'restricted_api_key',
  country_not_allowed: 'restricted_api_key',
  currency_not_allowed: 'restricted_api_key',
  sender_not_allowed: 'invalid_from_address',
  per_call_limit_exceeded: 'restricted_api_key',
  daily_cap_exceeded: 'daily_quota_exceeded',
  monthly_cap_exceeded: 'monthly_quota_exceeded',
  run_cap_exceeded: 'restricted_api_key',
  rate_limited: 'rate_limit_exceeded',
  counter_store_unavailable: 'application_error',
  policy_stale: 'application_error',
  upstream_unavailable: 'application_error',
  upstream_timeout: 'application_error',
  request_invalid: 'validation_error',
  headers_too_large: 'validation_error',
  request_timeout: 'validation_error',
  header_invalid: 'validation_error',
  run_id_invalid: 'validation_error',
  credential_operation: 'restricted_api_key',
  instructions_not_allowed: 'restricted_api_key',
  run_id_required: 'restricted_api_key',
  object_busy: 'rate_limit_exceeded',
  shutting_down: 'application_error',
  audit_backlog: 'application_error',
  upstream_response_too_large: 'application_error',
  credential_in_response: 'application_error',
  internal_error: 'internal_server_error',
};

/** A denial as Resend's `{statusCode,name,message}`: resend-node returns it as `error` unchanged. */
export function resendError(reason: DenyReason, message: string, status: number): VendorError {
  const body = { statusCode: status, name: RESEND_ERROR_NAMES[reason], message };
  return { status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}
