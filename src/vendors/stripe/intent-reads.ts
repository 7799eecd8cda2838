import type { ExchangeRates } from '../../money/exchange-rates.ts';
import type { MicroUsd } from '../../money/micro-usd.ts';
import { chain, idOf, micros, type Priced, type Read, remaining } from './costs.ts';
import { isObj } from './fields.ts';

/**
 * Reads that lease the payment intent behind a charge or an invoice (price stage, ADR 0007 §5). A
 * charge and its payment intent are one payment under two ids, and so are an invoice and the intent
 * that collects it: a call made through one id locks that id, a call made through the other locks
 * the other, and neither waited for the other. Found by a security tester (sixth round): a capture
 * through the charge went through while a refund priced from the intent's `amount_received` ($0)
 * was in flight, and an `increment_authorization` of the intent while a capture priced from the
 * charge's amount was. So a call whose read finds the intent leases it, and reads it once more under
 * that lease: what the intent says then is what the call can move, and every call on the intent
 * (which locks it by its own id) waits for this one to settle.
 */

type Obj = Record<string, unknown>;

/**
 * `POST /v1/charges/{charge}/capture`: the requested amount, else what the charge can still be
 * captured for. With a payment intent behind the charge, the capture costs the larger of the
 * charge's amount and the intent's `amount_capturable` (an increment made before the lease shows there).
 */
export function chargeCapture(charge: string, requested: number | undefined, rates: ExchangeRates): Priced {
  return throughCharge(
    charge,
    requested === undefined
      ? {
          charge: "the charge's amount",
          intent: "the larger of the charge's amount and its intent's amount_capturable",
        }
      : { charge: 'the requested amount in the currency of the charge', intent: 'the requested amount' },
    (ch, pi) =>
      requested ??
      (pi === undefined ? ch['amount'] : larger(ch['amount'], pi['amount_capturable'] ?? pi['amount'])),
    rates,
  );
}

/**
 * A refund of a charge (`POST /v1/refunds` with `charge`, the legacy `/v1/charges/{charge}/refund(s)`,
 * a Terminal refund): the requested amount, else what is left to refund. With a payment intent behind
 * the charge, the larger of the charge's `amount − amount_refunded` and the intent's
 * `amount_received`: a capture or an increment of the intent made before the lease shows there.
 * Found by a security tester (sixth round): while a refund's read of the charge ($40, uncaptured) was
 * held, another key incremented and captured the intent to $9 000, and the refund, priced at $40
 * under a $50 cap, refunded $9 000.
 */
export function chargeRefund(
  charge: string,
  requested: number | undefined,
  rates: ExchangeRates,
  alsoMoved?: AlsoMoved,
): Priced {
  const left = (ch: Obj) => remaining(ch['amount'], ch['amount_refunded']);
  const refunded = (ch: Obj, pi?: Obj) =>
    requested ?? (pi === undefined ? left(ch) : larger(left(ch), pi['amount_received'] ?? pi['amount']));
  return throughCharge(
    charge,
    requested === undefined
      ? {
          charge: "the charge's amount less amount_refunded",
          intent: "the larger of what is left of the charge and its intent's amount_received",
        }
      : { charge: 'the requested amount in the currency of the charge', intent: 'the requested amount' },
    // The charge keeps the application fee and the transfer a refund's flags return (refunds.ts).
    (ch, pi) => withAlsoMoved(refunded(ch, pi), ch, alsoMoved),
    rates,
  );
}

/**
 * What a refund moves besides itself, in minor units of the payment read (its application fee
 * refunded, its transfer reversed: refunds.ts), given the payment and the refund's amount;
 * undefined when the payment does not say (the call is refused).
 */
export type AlsoMoved = (payment: Obj, refund: number) => number | undefined;

/** `refund` plus what `alsoMoved` finds it moves besides; undefined when either cannot be said. */
export function withAlsoMoved(refund: unknown, payment: Obj, alsoMoved: AlsoMoved | undefined): unknown {
  if (alsoMoved === undefined) return refund;
  if (typeof refund !== 'number') return undefined;
  const more = alsoMoved(payment, refund);
  return more === undefined ? undefined : refund + more;
}

/**
 * A call made through a charge's id, priced from `minor`, in minor units of the object read last.
 * The charge is read; with a payment intent behind it, the intent is leased and read under the lease,
 * and the call costs `minor(charge, intent)`, the charge read adding nothing but the check that it
 * can be priced. Without an intent, `minor(charge)`.
 */
function throughCharge(
  charge: string,
  describe: { readonly charge: string; readonly intent: string },
  minor: (ch: Obj, pi?: Obj) => unknown,
  rates: ExchangeRates,
): Priced {
  const own = (ch: Obj) => micros(minor(ch), ch['currency'], rates);
  return chain([
    {
      path: `/v1/charges/${charge}`,
      describe: describe.charge,
      part: (ch) => (intentOf(ch) === undefined ? own(ch) : own(ch) === undefined ? undefined : 0),
      follow: (ch) => {
        const intent = intentOf(ch);
        if (intent === undefined) return [];
        return [intentRead(intent, describe.intent, (pi) => micros(minor(ch, pi), pi['currency'], rates))];
      },
    },
  ]);
}

/** The larger of two amounts; undefined unless both are numbers. */
function larger(a: unknown, b: unknown): number | undefined {
  return typeof a === 'number' && typeof b === 'number' ? Math.max(a, b) : undefined;
}

/**
 * `POST /v1/invoices/{invoice}/pay`: the invoice's `amount_remaining`. Paying confirms an intent the
 * invoice names (API versions before 2025-03-31 name it as `payment_intent`; later ones list its
 * intents under `payments`, when the answer holds them), so those intents are leased, and one is
 * read under the leases at no cost: the lease is what matters, the pay is priced from the invoice.
 * More intents than one call may lease: refused, fail closed.
 */
export function invoicePay(invoice: string, rates: ExchangeRates): Priced {
  return chain([
    {
      path: `/v1/invoices/${invoice}`,
      describe: "the invoice's amount_remaining",
      part: (o) => micros(o['amount_remaining'], o['currency'], rates),
      follow: (o) => {
        const intents = intentsOf(o);
        if (intents.length > MAX_INVOICE_INTENTS) return undefined;
        const [first] = intents;
        return first === undefined
          ? []
          : [{ ...intentRead(first, 'nothing more, read under its lease', () => 0), locks: intents }];
      },
    },
  ]);
}

/** The most payment intents of one invoice a pay leases (its own invoice and these fit a call's leases). */
const MAX_INVOICE_INTENTS = 8;

/** A read of `intent`, leased before it (the read before found it), priced by `part`. */
function intentRead(intent: string, what: string, part: (pi: Obj) => MicroUsd | undefined): Read {
  return {
    path: `/v1/payment_intents/${intent}`,
    describe: `the payment intent behind it: ${what}`,
    locks: [intent],
    part,
  };
}

/** The payment intent a charge names (an id or an expanded object); undefined when none. */
function intentOf(o: Obj): string | undefined {
  return idOf(o['payment_intent']);
}

/** Every payment intent an invoice names: `payment_intent`, and those of its listed `payments`. */
function intentsOf(o: Obj): string[] {
  const found = [intentOf(o)];
  const payments = isObj(o['payments']) ? o['payments']['data'] : undefined;
  for (const p of Array.isArray(payments) ? payments : []) {
    const payment = isObj(p) ? p['payment'] : undefined;
    found.push(isObj(payment) ? idOf(payment['payment_intent']) : undefined);
  }
  return [...new Set(found.filter((id): id is string => id !== undefined))];
}
