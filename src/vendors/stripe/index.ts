import type { ExchangeRates } from '../../money/exchange-rates.ts';
import type { VendorAdapter } from '../types.ts';
import { withholdFromStripeAnswer, withholdFromStripeHead } from './answers.ts';
import { classifyStripe } from './classify.ts';
import { stripeCredential, stripeUpstreamAuthorization } from './credentials.ts';
import { stripeError } from './errors.ts';
import { stripeLeaseAccount } from './lease-account.ts';
import { parseStripe } from './parse.ts';
import { stripeLinkScope } from './price-products.ts';
import { settleStripe } from './settle.ts';

/** Options of the Stripe adapter: the exchange-rate table its prices are converted with. */
export interface StripeAdapterOptions {
  readonly rates: ExchangeRates;
}

/** The Stripe vendor adapter the proxy pipeline drives (credential → parse → classify → settle → withhold). */
export function createStripeAdapter(opts: StripeAdapterOptions): VendorAdapter {
  const { rates } = opts;
  return {
    name: 'stripe',
    requestIdHeader: 'request-id',
    // Stripe: "All POST requests accept idempotency keys. Don't send idempotency keys in GET and
    // DELETE requests because it has no effect" (docs.stripe.com/api/idempotent_requests). A DELETE
    // that moves money (a subscription cancelled with invoice_now, a discount removed) sent again
    // with the same key is carried out again, so it is counted again (eleventh round).
    honoursIdempotencyKey: (_op, req) => req.method === 'POST',
    credential: stripeCredential,
    parse: parseStripe,
    price: (req, params, _key, known) => classifyStripe(req, params, rates, known),
    linkScope: stripeLinkScope,
    leaseAccount: stripeLeaseAccount,
    upstreamAuthorization: stripeUpstreamAuthorization,
    settle: (op, status, body) => settleStripe(op, status, body, rates),
    error: stripeError,
    withholdFromAnswer: withholdFromStripeAnswer,
    withholdFromAnswerHead: withholdFromStripeHead,
  };
}
