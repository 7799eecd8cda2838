import type { ExchangeRates } from '../../money/exchange-rates.ts';
import type { MicroUsd } from '../../money/micro-usd.ts';
import { chain, idOf, micros, type Priced, type Read } from './costs.ts';
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
 * captured for, in its currency. With a payment intent behind the charge, the intent is leased and
 * read too, and the capture costs the larger of the charge's amount and the intent's
 * `amount_capturable` (an increment made before the lease shows there).
 */
export function chargeCapture(charge: string, requested: number | undefined, rates: ExchangeRates): Priced {
  const own = (o: Obj) => micros(requested ?? o['amount'], o['currency'], rates);
  return chain([
    {
      path: `/v1/charges/${charge}`,
      describe:
        requested === undefined
          ? "the charge's amount"
          : `the requested amount in the currency of the charge`,
      // Behind an intent, the intent's read prices the call; the charge's says only that it can.
      part: (o) => (intentOf(o) === undefined ? own(o) : own(o) === undefined ? undefined : 0),
      follow: (o) => {
        const intent = intentOf(o);
        if (intent === undefined) return [];
        const capturable = (pi: Obj): MicroUsd | undefined => {
          if (requested !== undefined) return micros(requested, pi['currency'], rates);
          const amounts = [o['amount'], pi['amount_capturable'] ?? pi['amount']];
          if (!amounts.every((a) => typeof a === 'number')) return undefined;
          return micros(Math.max(...(amounts as number[])), pi['currency'], rates);
        };
        return [
          intentRead(
            intent,
            "the larger of the charge's amount and its intent's amount_capturable",
            capturable,
          ),
        ];
      },
    },
  ]);
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
export function intentOf(o: Obj): string | undefined {
  return idOf(o['payment_intent']);
}

/** Every payment intent an invoice names: `payment_intent`, and those of its listed `payments`. */
export function intentsOf(o: Obj): string[] {
  const found = [intentOf(o)];
  const payments = isObj(o['payments']) ? o['payments']['data'] : undefined;
  for (const p of Array.isArray(payments) ? payments : []) {
    const payment = isObj(p) ? p['payment'] : undefined;
    found.push(isObj(payment) ? idOf(payment['payment_intent']) : undefined);
  }
  return [...new Set(found.filter((id): id is string => id !== undefined))];
}
