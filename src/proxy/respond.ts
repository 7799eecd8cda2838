import { type Denial, type DenyReason, decisionHeader, REASONS, type Reason } from '../decision/reasons.ts';
import type { VendorAdapter } from '../vendors/types.ts';
import type { CallResponse } from './context.ts';
import { downstreamHeaders, type UpstreamResponse } from './upstreams.ts';

/** The pipeline's answer to one call, with the reason the audit step records. */
export type Answer = CallResponse & { readonly reason: Reason };

const DECISION_HEADER = 'keybrake-decision';

/** The upstream's own answer, minus hop-by-hop headers, marked as allowed. */
export function allowed(res: UpstreamResponse): Answer {
  return {
    status: res.status,
    headers: { ...downstreamHeaders(res.headers), [DECISION_HEADER]: decisionHeader('ok') },
    body: res.body,
    reason: 'ok',
  };
}

/** A denial in the vendor's error shape, so the caller's SDK raises its own typed error (DESIGN.md §4). */
export function denied(adapter: VendorAdapter | undefined, denial: Denial): Answer {
  const info = REASONS[denial.reason];
  const message = denial.message ?? info.message;
  const err = adapter
    ? adapter.error(denial.reason, message, info.status)
    : genericError(denial.reason, message);
  return {
    status: err.status,
    headers: { ...err.headers, [DECISION_HEADER]: decisionHeader(denial.reason) },
    body: err.body,
    reason: denial.reason,
  };
}

/** Before a vendor is known (an unknown route) errors use Stripe's shape: the most common client. */
function genericError(reason: DenyReason, message: string) {
  return {
    status: REASONS[reason].status,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ error: { type: 'invalid_request_error', code: reason, message } }),
  };
}
