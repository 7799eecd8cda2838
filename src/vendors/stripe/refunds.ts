import { type Denial, deny, isDenial } from '../../decision/reasons.ts';
import type { ExchangeRates } from '../../money/exchange-rates.ts';
import type { Params } from '../types.ts';
import { chain, lookupCost, micros, type Priced, remaining } from './costs.ts';
import { amount, isId, isObj, objectId, scalar } from './fields.ts';
import { type AlsoMoved, chargeRefund, withAlsoMoved } from './intent-reads.ts';

type Obj = Record<string, unknown>;

/**
 * A refund: the requested amount, else what is left, always in the refunded object's currency.
 * `charge` names the charge when the path does (`/v1/charges/{charge}/refunds`). The refunded object
 * is the call's own lock whatever its row names (a Terminal refund's row names none), so no other call
 * through that id changes what it can refund while it is in flight (ADR 0007 §5).
 */
export function refundCost(params: Params, rates: ExchangeRates, chargeInPath?: string): Priced | Denial {
  const requested = amount(params, 'amount');
  if (isDenial(requested)) return requested;
  const charge = chargeInPath ?? objectId(params, 'charge');
  if (isDenial(charge)) return charge;
  const intent = objectId(params, 'payment_intent');
  if (isDenial(intent)) return intent;
  // Priced from one object, so it must be the one refunded: with both named (the charge paths take a
  // `payment_intent` too), Stripe might refund the intent, in another currency than the charge read
  // (a USD intent priced from a JPY charge counts ~1/160 of it). Raised by a security tester (fifth round).
  if (charge !== undefined && intent !== undefined) {
    return deny(
      'body_invalid',
      'A refund names its "charge" or its "payment_intent", not both: Keybrake prices it from the one it refunds.',
    );
  }
  const flags = refundFlags(params);
  if (isDenial(flags)) return flags;
  const also = flags.fee || flags.transfer ? refundAlsoMoves(flags) : undefined;
  // The refund answer shows the refund alone: what its flags moved stays counted (settle.ts).
  const floor = also === undefined ? {} : { reservationIsFloor: true };
  // The refund's currency is the charge's, whatever the request says: always read it from Stripe.
  if (charge !== undefined)
    return { ...chargeRefund(charge, requested, rates, also), locks: [charge], ...floor };
  if (intent !== undefined)
    return { ...intentRefund(intent, requested, rates, also), locks: [intent], ...floor };
  return deny(
    'price_unknown',
    'A refund must name a "charge" or a "payment_intent" for Keybrake to price it.',
  );
}

/** A refund by payment intent: the requested amount, else the intent's `amount_received`. */
function intentRefund(
  intent: string,
  requested: number | undefined,
  rates: ExchangeRates,
  also: AlsoMoved | undefined,
): Priced {
  const refunded = (pi: Obj) => requested ?? pi['amount_received'] ?? pi['amount'];
  if (also === undefined)
    return lookupCost(
      `/v1/payment_intents/${intent}`,
      requested,
      refunded,
      rates,
      "the payment intent's amount_received",
    );
  return chain([
    {
      path: `/v1/payment_intents/${intent}`,
      describe: "the refund, and the intent's application fee and transfer in proportion",
      part: (pi) => micros(withAlsoMoved(refunded(pi), pi, also), pi['currency'], rates),
    },
  ]);
}

/**
 * Twelfth round (probe money, HIGH): Stripe moves more than the refund when a refund says so.
 * `refund_application_fee` returns the platform's application fee "in an amount proportional to
 * the amount of the charge refunded", and `reverse_transfer` reverses the destination charge's
 * transfer "proportionally to the amount being refunded" (Stripe's definition, on `/v1/refunds`,
 * the charge refund paths and a Terminal reader's `refund_payment`). Keybrake counts a fee refund
 * and a transfer reversal asked for directly (`application_fee_refund`, `transfer_reversal`), so
 * the same money moved by a flag counts too: anything but an explicit `false` may move it (Stripe's
 * own default is false, so only a flag the call gives counts).
 */
interface RefundFlags {
  readonly fee: boolean;
  readonly transfer: boolean;
}

function refundFlags(params: Params): RefundFlags | Denial {
  const fee = asked(params, 'refund_application_fee');
  if (isDenial(fee)) return fee;
  const transfer = asked(params, 'reverse_transfer');
  return isDenial(transfer) ? transfer : { fee, transfer };
}

/** Whether a boolean flag may be on: given, and not `false`. */
function asked(params: Params, name: string): boolean | Denial {
  const v = scalar(params, name);
  return isDenial(v) ? v : v !== undefined && v !== 'false';
}

/**
 * What a flagged refund moves besides itself, from the payment read (a charge, else the payment
 * intent refunded; both keep `application_fee_amount`, `transfer_data` and `amount`): the fee's and
 * the transfer's share of the refund, rounded up and never more than the whole fee or transfer.
 * A payment that keeps neither moves nothing more; one whose answer does not say (a field absent)
 * is refused price_unknown.
 */
function refundAlsoMoves(flags: RefundFlags): AlsoMoved {
  return (payment, refund) => {
    const fee = flags.fee ? feeShare(payment, refund) : 0;
    const transfer = flags.transfer ? transferShare(payment, refund) : 0;
    return fee === undefined || transfer === undefined ? undefined : fee + transfer;
  };
}

/** The share of the payment's application fee a refund of `refund` returns. */
function feeShare(payment: Obj, refund: number): number | undefined {
  const fee = payment['application_fee_amount'];
  // A charge names its fee object too (`application_fee`); an intent has none to name.
  if (fee === null) return (payment['application_fee'] ?? null) === null ? 0 : undefined;
  return isMinor(fee) ? share(fee, refund, payment['amount']) : undefined;
}

/**
 * The share of the payment's transfer a refund of `refund` reverses. `transfer_data[amount]`, else
 * the whole payment ("by default, the entire charge amount is transferred"); a charge of the legacy
 * `destination` form may name only its `transfer`, priced as the whole payment too.
 */
function transferShare(payment: Obj, refund: number): number | undefined {
  const data = payment['transfer_data'];
  if (data === null) return (payment['transfer'] ?? null) === null ? 0 : wholeShare(payment, refund);
  if (!isObj(data)) return undefined;
  const moved = data['amount'] ?? payment['amount'];
  return isMinor(moved) ? share(moved, refund, payment['amount']) : undefined;
}

function wholeShare(payment: Obj, refund: number): number | undefined {
  const whole = payment['amount'];
  return isMinor(whole) ? share(whole, refund, whole) : undefined;
}

/**
 * `part × refund / whole`, rounded up, at most `part` (Stripe never returns more of a fee or a
 * transfer than there is); the whole `part` when `whole` says nothing to divide by.
 */
function share(part: number, refund: number, whole: unknown): number {
  if (!isMinor(whole) || whole === 0) return part;
  const p = BigInt(part) * BigInt(Math.max(0, refund));
  const w = BigInt(whole);
  const up = (p + w - 1n) / w;
  return up > BigInt(part) ? part : Number(up);
}

function isMinor(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/**
 * `POST /v1/transfers/{transfer}/reversals`: `amount`, else what is left of the transfer. With
 * `refund_application_fee` (anything but `false`), Stripe also refunds the application fee of the
 * charge that funded the transfer: all of it for a full reversal, else in proportion to the amount
 * reversed (Stripe's definition). That fee is on the charge the transfer names as its
 * `source_transaction`, read after it; a transfer that names none (funded from the balance) cannot
 * say which fee goes back, and is refused price_unknown (twelfth round, probe money).
 */
export function transferReversal(transfer: string, params: Params, rates: ExchangeRates): Priced | Denial {
  const requested = amount(params, 'amount');
  if (isDenial(requested)) return requested;
  const fee = asked(params, 'refund_application_fee');
  if (isDenial(fee)) return fee;
  const path = `/v1/transfers/${transfer}`;
  const reversed = (t: Obj) => requested ?? remaining(t['amount'], t['amount_reversed']);
  if (!fee) return lookupCost(path, requested, reversed, rates, 'the amount less amount_reversed');
  return {
    ...chain([
      {
        path,
        describe: 'the reversal, then the application fee of the charge that funded the transfer',
        part: (t) => micros(reversed(t), t['currency'], rates),
        follow: (t) => {
          const source = t['source_transaction'];
          const amountReversed = reversed(t);
          if (typeof source !== 'string' || !isId(source) || !isMinor(amountReversed)) return undefined;
          return [
            {
              path: `/v1/charges/${source}`,
              describe: "the charge's application fee, in proportion to the reversal",
              part: (ch) => {
                const whole = ch['application_fee_amount'];
                if (whole === null) return (ch['application_fee'] ?? null) === null ? 0 : undefined;
                if (!isMinor(whole)) return undefined;
                // A full reversal refunds the full fee, whatever was reversed before.
                const part = requested === undefined ? whole : share(whole, amountReversed, t['amount']);
                return micros(part, ch['currency'], rates);
              },
            },
          ];
        },
      },
    ]),
    // The reversal answer shows the reversal alone: the fee refunded stays counted (settle.ts).
    reservationIsFloor: true,
  };
}
