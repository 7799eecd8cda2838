import { loadExchangeRates } from '../money/exchange-rates.ts';
import type { VendorName } from '../snapshot/types.ts';
import { createResendAdapter, type ResendPriceOverrides } from './resend/index.ts';
import { createStripeAdapter } from './stripe/index.ts';
import { createTwilioAdapter, type TwilioPriceOverrides } from './twilio/index.ts';
import type { VendorAdapter } from './types.ts';

/** Price and rate overrides from proxy configuration (`--pricing <file>`). */
export interface PricingOverrides {
  /** Currency → USD per unit, e.g. `{ eur: "1.08" }`. */
  readonly exchangeRates?: Record<string, string | number>;
  readonly twilio?: TwilioPriceOverrides;
  readonly resend?: ResendPriceOverrides;
}

/** Every vendor adapter, built once per process from the pricing configuration. */
export function createVendors(overrides: PricingOverrides = {}): Record<VendorName, VendorAdapter> {
  return {
    stripe: createStripeAdapter({ rates: loadExchangeRates(overrides.exchangeRates ?? {}) }),
    twilio: createTwilioAdapter(overrides.twilio ? { prices: overrides.twilio } : {}),
    resend: createResendAdapter(overrides.resend ? { prices: overrides.resend } : {}),
  };
}
