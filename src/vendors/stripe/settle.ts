import { minorToMicroUsd } from '../../money/convert.ts';
import type { ExchangeRates } from '../../money/exchange-rates.ts';
import type { MicroUsd } from '../../money/micro-usd.ts';
import type { Operation } from '../types.ts';
import { collectionOf } from './collection.ts';
import { isObj } from './fields.ts';
import { quoteTotal } from './quote-total.ts';

/**
 * The actual cost of a successful money-moving call, read from the object Stripe returns (settle
 * stage). Undefined keeps the reservation as it is: when the response does not say clearly how much
 * moved (an invoice paid in parts, a legacy refund answering with the whole charge, a subscription
 * whose invoice is not in the answer), the reserved amount stays counted.
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
  if (op.settlesAtReservation === true) return undefined;
  const moved = actual(op.id, body);
  if (moved === undefined) return undefined;
  const [minor, currency] = moved;
  const micros =
    typeof minor === 'number' && typeof currency === 'string'
      ? minorToMicroUsd(minor, currency, rates)
      : undefined;
  if (micros === undefined) return undefined;
  const floor = RESERVATION_IS_FLOOR.has(op.id) || op.reservationIsFloor === true;
  return floor ? Math.max(micros, op.costMicros) : micros;
}

/**
 * Operations that never settle below their reservation. A new subscription is reserved at its first
 * whole period, previewed with every deferral left out (a trial, a later billing anchor: previews.ts);
 * its first invoice shows less only when the charge was deferred (a $0 trial invoice), and Stripe
 * then charges the whole period later, with no call through Keybrake. Without a deferral the first
 * invoice is what the preview showed, so only a larger one moves the count.
 */
const RESERVATION_IS_FLOOR: ReadonlySet<string> = new Set([
  'stripe.subscriptions.create',
  'stripe.customers.subscriptions.create',
]);

type Obj = Record<string, unknown>;

/** The amount that moved and its currency, as the returned object reports them. */
function actual(opId: string, o: Obj): readonly [unknown, unknown] | undefined {
  const s = o['status'];
  const currency = o['currency'];
  switch (opId) {
    case 'stripe.payment_intents.create':
    case 'stripe.payment_intents.confirm':
    case 'stripe.payment_intents.capture':
      if (s === 'succeeded') return [o['amount_received'], currency];
      if (s === 'canceled' || s === 'requires_payment_method') return [0, currency];
      return [o['amount'], currency];
    case 'stripe.payment_intents.increment_authorization':
      // The new authorised total (an increment Stripe declines is a 402, released).
      return [o['amount'], currency];
    case 'stripe.payment_intents.apply_customer_balance':
      // Funded in full: what it received; partly funded: the reservation stays.
      return s === 'succeeded' ? [o['amount_received'], currency] : undefined;
    case 'stripe.charges.create':
    case 'stripe.charges.capture':
      if (s === 'failed') return [0, currency];
      return [o['captured'] === true ? o['amount_captured'] : o['amount'], currency];
    case 'stripe.refunds.create':
    case 'stripe.charges.refunds.create':
    case 'stripe.payouts.create':
    case 'stripe.payouts.reverse':
    case 'stripe.treasury.credit_reversals.create':
    case 'stripe.treasury.debit_reversals.create':
      return [s === 'failed' || s === 'canceled' ? 0 : o['amount'], currency];
    case 'stripe.transfers.create':
    case 'stripe.transfers.reversals.create':
    case 'stripe.application_fees.refunds.create':
      return [o['amount'], currency];
    case 'stripe.invoices.finalize_invoice':
      return finalised(o);
    case 'stripe.invoiceitems.create':
    case 'stripe.invoiceitems.update':
      return [positive(o['amount']), currency];
    case 'stripe.credit_notes.create':
      return [larger(o['amount'], o['total']), currency];
    case 'stripe.customers.balance_transactions.create':
      return [typeof o['amount'] === 'number' ? Math.abs(o['amount']) : undefined, currency];
    case 'stripe.billing.credit_grants.create': {
      const amount = o['amount'];
      const monetary = isObj(amount) ? amount['monetary'] : undefined;
      return isObj(monetary) ? [monetary['value'], monetary['currency']] : undefined;
    }
    case 'stripe.quotes.accept':
      return [quoteTotal(o), currency];
    case 'stripe.issuing.authorizations.approve': {
      if (o['approved'] === false) return [0, currency];
      const pending = o['pending_request'];
      return isObj(pending) ? [pending['amount'], pending['currency'] ?? currency] : [o['amount'], currency];
    }
    case 'stripe.climate.orders.create':
      return [s === 'canceled' ? 0 : o['amount_total'], currency];
    case 'stripe.subscriptions.create':
    case 'stripe.customers.subscriptions.create':
      // The first invoice, when the caller expanded it (`expand[]=latest_invoice`); never below
      // the reservation (RESERVATION_IS_FLOOR).
      return firstInvoice(o['latest_invoice']);
    default:
      return undefined;
  }
}

/**
 * What a finalised invoice collects. Charged automatically: its `amount_due`. Sent: as if charged
 * (billing.ts, dueRead), and the customer's credit balance Stripe applied when finalising it is
 * taken off `amount_due` though it was spent all the same, so the larger of `amount_due` and `total`
 * (found by a security tester, fourth round: a sent invoice settled at 0). An invoice whose
 * collection the answer does not say (collectionOf: either name) settles as a sent one, the larger.
 */
function finalised(o: Obj): readonly [unknown, unknown] {
  const due =
    collectionOf(o) === 'charge_automatically' ? o['amount_due'] : larger(o['amount_due'], o['total']);
  return [due, o['currency']];
}

function firstInvoice(invoice: unknown): readonly [unknown, unknown] | undefined {
  if (!isObj(invoice)) return undefined;
  const due = collectionOf(invoice) === 'send_invoice' ? 0 : invoice['amount_due'];
  return [due, invoice['currency']];
}

function positive(v: unknown): unknown {
  return typeof v === 'number' ? Math.max(0, v) : v;
}

function larger(a: unknown, b: unknown): unknown {
  if (typeof a !== 'number') return b;
  return typeof b === 'number' ? Math.max(a, b) : a;
}
