import { type MicroUsd, parseUsd } from '../../money/micro-usd.ts';
import type { Operation } from '../types.ts';
import type { TwilioOperation } from './classify.ts';

const DECIMAL = /^-?\d+(?:\.\d+)?$/;

/** The operations whose 2xx answer is the resource this very call created (a message, a call). */
const SETTLED_FROM_RESPONSE: ReadonlySet<string> = new Set(['twilio.messages.create', 'twilio.calls.create']);

/**
 * The actual cost of a successful Twilio call: `price` when Twilio already reports it (a negative
 * decimal in `price_unit`, USD only), else `num_segments` × the per-segment rate for a plain SMS.
 * Undefined keeps the reservation (Twilio prices most resources only once they complete).
 */
export function settleTwilio(op: Operation, status: number, body: unknown): MicroUsd | undefined {
  if (status < 200 || status >= 300 || typeof body !== 'object' || body === null) return undefined;
  // Only a create's answer prices the call made: a read of a finished message or call, or a live
  // call's update, answers with what that resource cost so far, which is not this call's cost.
  if (!op.movesMoney || !SETTLED_FROM_RESPONSE.has(op.id)) return undefined;
  const resource = body as Record<string, unknown>;
  const unit = resource['price_unit'];
  const price = resource['price'];
  const priceText = typeof price === 'number' ? String(price) : price;
  if (typeof priceText === 'string' && DECIMAL.test(priceText) && (unit === undefined || unit === 'USD')) {
    return usdToMicrosUp(priceText.replace(/^-/, ''));
  }
  const perSegment = (op as TwilioOperation).perSegmentMicros;
  const segments = resource['num_segments'];
  const count =
    typeof segments === 'number' ? segments : typeof segments === 'string' ? Number(segments) : NaN;
  if (perSegment !== undefined && Number.isSafeInteger(count) && count > 0) return count * perSegment;
  return undefined;
}

/** Exact for up to six decimals; beyond that rounds up so a settled cost is never understated. */
function usdToMicrosUp(text: string): MicroUsd | undefined {
  const exact = parseUsd(text);
  if (exact !== undefined) return exact;
  const micros = Math.ceil(Number(text) * 1_000_000);
  return Number.isSafeInteger(micros) ? micros : undefined;
}
