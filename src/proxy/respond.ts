import { STATUS_CODES } from 'node:http';
import { type Denial, type DenyReason, decisionHeader, REASONS, type Reason } from '../decision/reasons.ts';
import type { VendorAdapter } from '../vendors/types.ts';
import type { CallResponse } from './context.ts';
import { downstreamHeaders, type UpstreamResponse } from './upstreams.ts';

/** The pipeline's answer to one call, with the reason the audit step records. */
export type Answer = CallResponse & { readonly reason: Reason };

const DECISION_HEADER = 'keybrake-decision';
const ALLOWED = decisionHeader('ok');

/** The upstream's own answer to a call of `heldBy`, minus hop-by-hop headers, marked as allowed. */
export function allowed(res: UpstreamResponse, heldBy: string): Answer {
  const headers = downstreamHeaders(res.headers);
  // The vendor's own keybrake-decision, if it sent one, is replaced in place.
  headers[DECISION_HEADER] = ALLOWED;
  return { status: res.status, headers, body: res.body, reason: 'ok', heldBy };
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

/** Framing the raw writer sets itself: an adapter's headers never repeat or contradict it. */
const FRAMING = new Set(['content-length', 'connection', 'transfer-encoding']);

/**
 * An answer as the bytes of a complete HTTP/1.1 response that closes the connection: for the
 * rejections node makes before any request object exists (a parser error, a timeout), written
 * straight to the socket. Only the answer's own head and body go in, never anything of the request.
 */
export function rawResponse(res: CallResponse): Buffer {
  const body = typeof res.body === 'string' ? Buffer.from(res.body) : res.body;
  let head = `HTTP/1.1 ${res.status} ${STATUS_CODES[res.status] ?? ''}\r\n`;
  for (const [name, value] of Object.entries(res.headers)) {
    if (FRAMING.has(name.toLowerCase())) continue;
    for (const v of Array.isArray(value) ? value : [value]) head += `${name}: ${v}\r\n`;
  }
  head += `content-length: ${body.length}\r\nconnection: close\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}
