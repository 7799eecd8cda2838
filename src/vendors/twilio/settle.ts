import { type MicroUsd, parseUsd } from '../../money/micro-usd.ts';
import type { Operation } from '../types.ts';
import type { TwilioOperation } from './classify.ts';

const DECIMAL = /^-?\d+(?:\.\d+)?$/;

/** The operations whose 2xx answer is the resource this very call created (a message, a call). */
const SETTLED_FROM_RESPONSE: ReadonlySet<string> = new Set(['twilio.messages.create', 'twilio.calls.create']);

/**
 * The actual cost of a successful Twilio call: `price` when Twilio already reports it (a negative
 * decimal in `price_unit`, USD only: the bill itself). Else a message Twilio answers carries media
 * (`num_media` above 0) is an MMS, billed per message: never below the MMS price, nor what was
 * reserved; one that carries none is `num_segments` × the per-segment rate when Keybrake counted its
 * text itself (`TwilioCost.perSegmentMicros`). Undefined keeps the reservation (Twilio prices most
 * resources only once they complete, and an answer without a readable `num_media` says nothing).
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
  const { perSegmentMicros, mmsMicros } = op as TwilioOperation;
  const media = count(resource['num_media']);
  if (media === undefined) return undefined;
  if (media > 0) return mmsMicros === undefined ? undefined : Math.max(op.costMicros, mmsMicros);
  const segments = count(resource['num_segments']);
  if (perSegmentMicros !== undefined && segments !== undefined && segments > 0)
    return segments * perSegmentMicros;
  return undefined;
}

/** A count Twilio reports (`"3"` or `3`); undefined for anything else. */
function count(value: unknown): number | undefined {
  const text = typeof value === 'number' ? String(value) : value;
  return typeof text === 'string' && /^\d{1,9}$/.test(text) ? Number(text) : undefined;
}

/** Exact for up to six decimals; beyond that rounds up so a settled cost is never understated. */
function usdToMicrosUp(text: string): MicroUsd | undefined {
  const exact = parseUsd(text);
  if (exact !== undefined) return exact;
  const micros = Math.ceil(Number(text) * 1_000_000);
  return Number.isSafeInteger(micros) ? micros : undefined;
}
