/**
 * The one registry of decision reasons (DESIGN.md §4). The same string goes into the response body,
 * the `Keybrake-Decision` header, the audit record and the `reason` metric label.
 */
export interface ReasonInfo {
  /** HTTP status of a denial; vendors' SDKs pick their error class from it. */
  readonly status: number;
  /** Whether the same request could succeed if retried unchanged (drives Stripe-Should-Retry). */
  readonly retryable: boolean;
  /** Default human message; stages may pass a more precise one. */
  readonly message: string;
}

export const REASONS = {
  ok: { status: 200, retryable: false, message: 'Allowed by policy.' },
  route_unknown: { status: 404, retryable: false, message: 'No Keybrake route for this path.' },
  path_invalid: {
    status: 400,
    retryable: false,
    message:
      'The request path is not in canonical form (dot segments, encoded slashes or empty segments, a fragment #).',
  },
  request_invalid: { status: 400, retryable: false, message: 'The request could not be read as HTTP.' },
  headers_too_large: { status: 431, retryable: false, message: 'The request headers are too large.' },
  request_timeout: { status: 408, retryable: true, message: 'The request was not received in time.' },
  header_invalid: {
    status: 400,
    retryable: false,
    message:
      'A header Keybrake reads is duplicated, malformed, contradictory, misspelt with _ or nominated by Connection, or a header carries a Keybrake key.',
  },
  run_id_invalid: { status: 400, retryable: false, message: 'The agent run id is duplicated or malformed.' },
  key_unknown: { status: 401, retryable: false, message: 'Unknown or malformed Keybrake vault key.' },
  key_expired: { status: 401, retryable: false, message: 'This Keybrake vault key has expired.' },
  key_suspended: { status: 401, retryable: false, message: 'This Keybrake vault key is suspended.' },
  body_invalid: { status: 400, retryable: false, message: 'The request body could not be parsed.' },
  body_too_large: { status: 413, retryable: false, message: 'The request body is too large.' },
  credential_operation: {
    status: 403,
    retryable: false,
    message:
      'This operation reveals, mints or deletes a vendor credential or changes account access; Keybrake never allows it.',
  },
  price_unknown: {
    status: 403,
    retryable: false,
    message: 'Keybrake cannot price this operation, so it is not allowed.',
  },
  endpoint_not_allowed: { status: 403, retryable: false, message: 'This endpoint is not allowed by policy.' },
  instructions_not_allowed: {
    status: 403,
    retryable: false,
    message: 'This call makes the vendor fetch instructions from a host the policy does not name.',
  },
  run_id_required: {
    status: 403,
    retryable: false,
    message: "This key's policy requires an agent run id (Keybrake-Run-Id, baggage or a run key).",
  },
  customer_not_allowed: { status: 403, retryable: false, message: 'This customer is not allowed by policy.' },
  account_not_allowed: { status: 403, retryable: false, message: 'This account is not allowed by policy.' },
  recipient_not_allowed: {
    status: 403,
    retryable: false,
    message: 'This recipient is not allowed by policy.',
  },
  country_not_allowed: {
    status: 403,
    retryable: false,
    message: 'This destination country is not allowed by policy.',
  },
  currency_not_allowed: { status: 403, retryable: false, message: 'This currency is not allowed by policy.' },
  sender_not_allowed: { status: 403, retryable: false, message: 'This sender is not allowed by policy.' },
  per_call_limit_exceeded: {
    status: 403,
    retryable: false,
    message: 'This call exceeds the per-call spend limit.',
  },
  daily_cap_exceeded: { status: 403, retryable: false, message: 'The daily spend cap has been reached.' },
  monthly_cap_exceeded: { status: 403, retryable: false, message: 'The monthly spend cap has been reached.' },
  run_cap_exceeded: {
    status: 403,
    retryable: false,
    message: 'The spend cap for this agent run has been reached.',
  },
  rate_limited: { status: 429, retryable: true, message: 'Too many requests for this vault key.' },
  object_busy: {
    status: 409,
    retryable: true,
    message: 'Another call on the same object is in flight; retry shortly.',
  },
  counter_store_unavailable: {
    status: 503,
    retryable: true,
    message: 'Spend counters are unavailable, so money-moving calls are denied.',
  },
  policy_stale: {
    status: 503,
    retryable: true,
    message: 'The proxy policy is stale, so every call but a read is denied.',
  },
  shutting_down: {
    status: 503,
    retryable: true,
    message: 'This proxy is shutting down; retry on another replica.',
  },
  audit_backlog: {
    status: 503,
    retryable: true,
    message: 'The audit log is not being written fast enough, so calls are refused until it catches up.',
  },
  upstream_unavailable: { status: 502, retryable: true, message: 'The upstream API could not be reached.' },
  upstream_timeout: { status: 504, retryable: true, message: 'The upstream API did not answer in time.' },
  upstream_response_too_large: {
    status: 502,
    retryable: false,
    message: 'The upstream response is larger than this proxy accepts.',
  },
  credential_in_response: {
    status: 502,
    retryable: false,
    message: "The vendor's response contained a credential, so Keybrake withheld it.",
  },
  internal_error: { status: 500, retryable: false, message: 'Keybrake failed to process this request.' },
} as const satisfies Record<string, ReasonInfo>;

export type Reason = keyof typeof REASONS;
export type DenyReason = Exclude<Reason, 'ok'>;

/**
 * A denial decided by a stage; the pipeline renders it in the vendor's error shape. A class, so
 * that telling a denial from a stage's result never depends on field names: a parsed body may
 * well carry a `reason` (Stripe refunds do).
 */
export class Denial {
  readonly reason: DenyReason;
  /** Overrides the registry message; must never contain a token, key or body. */
  readonly message?: string;
  /** The operation refused, when the catalog recognised it: for the audit record. */
  readonly operation?: string;

  constructor(reason: DenyReason, message?: string, operation?: string) {
    this.reason = reason;
    if (message !== undefined) this.message = message;
    if (operation !== undefined) this.operation = operation;
  }
}

export function deny(reason: DenyReason, message?: string): Denial {
  return new Denial(reason, message);
}

/**
 * `denial`, naming the operation it refuses when it names none yet: a refusal of a call whose
 * operation the catalog recognised says which one in the audit record.
 */
export function refusing(operation: string, denial: Denial): Denial {
  return denial.operation !== undefined ? denial : new Denial(denial.reason, denial.message, operation);
}

export function isDenial(value: unknown): value is Denial {
  return value instanceof Denial;
}

export function decisionHeader(reason: Reason): string {
  return reason === 'ok' ? 'allow; reason=ok' : `deny; reason=${reason}`;
}
