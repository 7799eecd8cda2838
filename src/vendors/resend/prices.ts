import type { MicroUsd } from '../../money/micro-usd.ts';

/** The Resend price table classify reads (price stage); built once per adapter from defaults and overrides. */
export interface ResendPrices {
  /** Per email delivered to one recipient (to, cc and bcc each count). */
  readonly perEmail: MicroUsd;
  /**
   * Recipients assumed when a send names none Keybrake can see (a stored draft, reply-all): Resend's
   * limit of 50 recipients per email.
   */
  readonly unseenRecipients: number;
}

/** Configuration overrides (`createResendAdapter({ prices })`). */
export type ResendPriceOverrides = Partial<ResendPrices>;

/**
 * Source: resend.com/pricing and the "Pay-as-you-go pricing" changelog, consulted 2026-11-26.
 * Transactional Pro is $20 for 50,000 emails ($0.0004 each) and every email beyond the quota costs
 * $0.90 per 1,000. The marginal email is what a runaway agent spends, so the default is $0.0009.
 */
export const RESEND_PRICES_SOURCE =
  'resend.com/pricing, Pro overage $0.90 per 1,000 emails, consulted 2026-11-26';

export const DEFAULT_RESEND_PRICES: ResendPrices = { perEmail: 900, unseenRecipients: 50 };

/** Merges configuration overrides into the defaults. */
export function resolveResendPrices(overrides: ResendPriceOverrides = {}): ResendPrices {
  return { ...DEFAULT_RESEND_PRICES, ...overrides };
}
