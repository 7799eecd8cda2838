import { minorToMicroUsd } from '../../money/convert.ts';
import type { ExchangeRates } from '../../money/exchange-rates.ts';
import type { MicroUsd } from '../../money/micro-usd.ts';
import type { Operation } from '../types.ts';
import { isObj } from './fields.ts';

/**
 * The actual cost of a successful money-moving call, read from the object Stripe returns (settle
 * stage). Undefined keeps the reservation as it is: when the response does not say clearly how much
 * moved (an invoice paid in parts, an unknown shape), the reserved amount stays counted.
 *
 * An authorised but uncaptured payment (`requires_capture`, `captured: false`) stays counted at its
 * full amount, and its later capture counts again: the safe side of a cap, at the cost of double
 * counting manual-capture flows.
 */
export function settleStripe(
  op: Operation,
  status: number,
  body: unknown,
  rates: ExchangeRates,
): MicroUsd | undefined {
  if (!op.movesMoney || status < 200 || status >= 300 || !isObj(body)) return undefined;
  const currency = body['currency'];
  if (typeof currency !== 'string') return undefined;
  const minor = actualMinor(op.id, body);
  return typeof minor === 'number' ? minorToMicroUsd(minor, currency, rates) : undefined;
}

function actualMinor(opId: string, o: Record<string, unknown>): unknown {
  const s = o['status'];
  switch (opId) {
    case 'stripe.payment_intents.create':
    case 'stripe.payment_intents.confirm':
    case 'stripe.payment_intents.capture':
      if (s === 'succeeded') return o['amount_received'];
      if (s === 'canceled' || s === 'requires_payment_method') return 0;
      return o['amount'];
    case 'stripe.charges.create':
    case 'stripe.charges.capture':
      if (s === 'failed') return 0;
      return o['captured'] === true ? o['amount_captured'] : o['amount'];
    case 'stripe.refunds.create':
    case 'stripe.payouts.create':
      return s === 'failed' || s === 'canceled' ? 0 : o['amount'];
    case 'stripe.transfers.create':
      return o['amount'];
    default:
      return undefined;
  }
}
