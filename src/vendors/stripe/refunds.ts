import { type Denial, deny, isDenial } from '../../decision/reasons.ts';
import type { ExchangeRates } from '../../money/exchange-rates.ts';
import type { Params } from '../types.ts';
import { chain, idOf, lookupCost, micros, type Priced, remaining } from './costs.ts';
import { amount, isId, isObj, objectId, scalar } from './fields.ts';
import { type AlsoMoved, chargeRefund } from './intent-reads.ts';

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

/**
 * A refund by payment intent: the requested amount, else the intent's `amount_received`. With a
 * flag, what the flag moves is read from the charge the intent refunds (its `latest_charge`): only a
 * charge says how much of what was captured is still refundable, which decides whether Stripe
 * returns the whole fee (fixes12b finding 3; refundAlsoMoves).
 */
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
      describe: 'the refund, then the charge it refunds',
      part: (pi) => micros(refunded(pi), pi['currency'], rates),
      follow: (pi) => {
        const charge = refundedCharge(pi);
        const refund = refunded(pi);
        if (charge === undefined || !isMinor(refund)) return undefined;
        return [
          {
            path: `/v1/charges/${charge}`,
            describe: "the charge's application fee and transfer, in proportion to what was captured",
            part: (ch) => {
              const more = also(ch, refund);
              return more === undefined ? undefined : micros(more, ch['currency'], rates);
            },
          },
        ];
      },
    },
  ]);
}

/**
 * The charge a refund by payment intent refunds: `latest_charge` (API versions from 2022-11-15), else
 * the one charge an older version lists under `charges`; undefined (refused) when it cannot be told.
 */
function refundedCharge(pi: Obj): string | undefined {
  const latest = idOf(pi['latest_charge']);
  if (latest !== undefined) return latest;
  const listed = isObj(pi['charges']) ? pi['charges']['data'] : undefined;
  if (!Array.isArray(listed) || listed.length !== 1) return undefined;
  const [only] = listed;
  return isObj(only) ? idOf(only['id']) : undefined;
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
 * What a flagged refund moves besides itself, read from the charge refunded (the charge keeps
 * `application_fee_amount`, `transfer_data`, `amount_captured` and `amount_refunded`; a refund by
 * payment intent reads the intent's charge): the fee's and the transfer's share of the refund,
 * rounded up and never more than the whole fee or transfer. A charge that keeps neither moves
 * nothing more; one whose answer does not say (a field absent) is refused price_unknown.
 *
 * Since fixes12b (finding 3, HIGH) the share is of what was captured, not of the authorised
 * `amount`: $100 authorised, $20 captured with a $15 fee, a $20 refund counted 300 of the fee (1500
 * × 2000 / 10000) while Stripe refunds all of it ("If a full charge refund is given, the full
 * application fee will be refunded"). A refund that takes everything still refundable counts the
 * whole fee and the whole transfer, which also covers earlier refunds made without the flag.
 */
function refundAlsoMoves(flags: RefundFlags): AlsoMoved {
  return (charge, refund) => {
    const captured = chargedAmount(charge);
    const left = stillRefundable(charge);
    if (captured === undefined || left === undefined) return undefined;
    const full = refund >= left;
    const fee = flags.fee ? feeShare(charge, refund, captured, full) : 0;
    const transfer = flags.transfer ? transferShare(charge, refund, captured, full) : 0;
    return fee === undefined || transfer === undefined ? undefined : fee + transfer;
  };
}

/**
 * What of a charge's captured amount a refund can still take; undefined when the answer does not
 * say. Stripe reports the part a partial capture released in `amount_refunded` too (a refund without
 * `amount` takes `amount − amount_refunded`, intent-reads.ts), but an answer that does not is read
 * too: each reading the figures allow is taken, and the smaller wins (the whole fee counted sooner).
 */
function stillRefundable(charge: Obj): number | undefined {
  const amount = charge['amount'];
  const captured = chargedAmount(charge);
  const refunded = charge['amount_refunded'];
  if (!isMinor(amount) || captured === undefined || !isMinor(refunded) || captured > amount) return undefined;
  const released = amount - captured;
  const readings: number[] = [];
  // amount_refunded counts refunds of the captured part only.
  if (refunded <= captured) readings.push(captured - refunded);
  // amount_refunded counts the released part too.
  if (refunded >= released && refunded - released <= captured)
    readings.push(captured - (refunded - released));
  return readings.length === 0 ? undefined : Math.min(...readings);
}

/**
 * What a charge's fee and transfer are shares of: its `amount_captured`; for a charge not captured
 * (`captured: false`), the `amount` a capture would take, as the refund itself is counted there (a
 * capture made outside Keybrake after the read would otherwise go uncounted). Undefined when the
 * answer does not say.
 */
function chargedAmount(charge: Obj): number | undefined {
  const charged = charge['captured'] === false ? charge['amount'] : charge['amount_captured'];
  return isMinor(charged) ? charged : undefined;
}

/** The share of the charge's application fee a refund of `refund` returns (all of it when `full`). */
function feeShare(charge: Obj, refund: number, captured: number, full: boolean): number | undefined {
  const fee = charge['application_fee_amount'];
  // A charge names its fee object too (`application_fee`).
  if (fee === null) return (charge['application_fee'] ?? null) === null ? 0 : undefined;
  if (!isMinor(fee)) return undefined;
  return full ? fee : share(fee, refund, captured);
}

/**
 * The share of the charge's transfer a refund of `refund` reverses (all of it when `full`).
 * `transfer_data[amount]`, else what was captured ("by default, the entire charge amount is
 * transferred", and only the captured amount is charged); a charge of the legacy `destination` form
 * may name only its `transfer`, priced as the whole captured amount too.
 */
function transferShare(charge: Obj, refund: number, captured: number, full: boolean): number | undefined {
  const data = charge['transfer_data'];
  let moved: unknown;
  if (data === null) {
    if ((charge['transfer'] ?? null) === null) return 0;
    moved = captured;
  } else if (isObj(data)) {
    moved = data['amount'] ?? captured;
  } else {
    return undefined;
  }
  if (!isMinor(moved)) return undefined;
  return full ? moved : share(moved, refund, captured);
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

/**
 * Whether a reversal takes everything left of the transfer, so Stripe refunds the whole fee: one
 * without `amount`, and one whose `amount` reaches `amount − amount_reversed` (twelfth round, probe
 * fixes12d: `amount=` the last $1.00 of a $100.00 transfer counted 1% of the fee while the same
 * reversal without `amount` counted all of it, as 87027a7 reads a refund of everything still
 * refundable). Undefined (price_unknown) when the transfer's answer does not say what is left.
 */
function fullReversal(transfer: Obj, requested: number | undefined): boolean | undefined {
  if (requested === undefined) return true;
  const total = transfer['amount'];
  const done = transfer['amount_reversed'];
  if (!isMinor(total) || !isMinor(done) || done > total) return undefined;
  return requested >= total - done;
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
                const full = fullReversal(t, requested);
                if (full === undefined) return undefined;
                // A full reversal refunds the full fee, whatever was reversed before.
                const part = full ? whole : share(whole, amountReversed, t['amount']);
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
