import type { MicroUsd } from '../../money/micro-usd.ts';

/** The Resend price table classify reads (price stage); built once per adapter from defaults and overrides. */
export interface ResendPrices {
  /** Per email delivered to one recipient (to, cc and bcc each count). */
  readonly perEmail: MicroUsd;
  /**
   * No longer read (twelfth round): a stored draft and a reply were priced at this many recipients
   * (Resend's 50 per email), but nothing bounds a draft's, so they are now priced by reading the
   * draft and the email replied to (inbox-sends.ts). Still accepted and checked, so that an existing
   * `--pricing` file loads.
   */
  readonly unseenRecipients: number;
  /**
   * The most contacts Keybrake counts for one broadcast, reading its segment 100 contacts a page
   * (Resend's largest page): a segment with more is denied with price_unknown rather than priced by
   * a guess. Each page is one upstream read, within Resend's API rate limit.
   */
  readonly maxBroadcastContacts: number;
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

/** Resend's largest page of a list (`limit`, 1 to 100): one read counts this many contacts at most. */
export const RESEND_PAGE_SIZE = 100;

/** Bound on `maxBroadcastContacts`: 100 pages, one read each, so one call's work stays bounded. */
export const MAX_BROADCAST_CONTACTS_LIMIT = 100 * RESEND_PAGE_SIZE;

export const DEFAULT_RESEND_PRICES: ResendPrices = {
  perEmail: 900,
  unseenRecipients: 50,
  maxBroadcastContacts: 1000,
};

/**
 * Merges configuration overrides into the defaults. A value that is not a whole number in range
 * stops startup rather than being ignored: a zero price would make mail free, an unbounded contact
 * count unbounded work. So does a field that is not one of the table's, as Twilio's are refused
 * (sixteenth round): a misspelt `perEmai: 5000` was spread in beside the default and every delivery
 * kept the built-in $0.0009, so a cap admitted more real spending than the operator's price.
 */
export function resolveResendPrices(overrides: ResendPriceOverrides = {}): ResendPrices {
  if (typeof overrides !== 'object' || overrides === null || Array.isArray(overrides))
    throw new Error(
      `resend price: expected a mapping such as { perEmail: 2000 }, got ${JSON.stringify(overrides)}`,
    );
  const unknown = Object.keys(overrides).find((k) => !Object.hasOwn(DEFAULT_RESEND_PRICES, k));
  if (unknown !== undefined)
    throw new Error(
      `resend price: unknown field ${JSON.stringify(unknown.slice(0, 64))} (expected ${Object.keys(DEFAULT_RESEND_PRICES).join(', ')})`,
    );
  const prices = { ...DEFAULT_RESEND_PRICES, ...overrides };
  const check = (name: keyof ResendPrices, max: number) => {
    const v: unknown = prices[name];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1 || v > max) {
      // A quoted "2000" is shown in its quotes, and said to be a string: `got 2000` read as the
      // number it looks like, and the operator saw nothing wrong (as the manifests' hint does).
      const hint = typeof v === 'string' ? quotedHint(v) : '';
      throw new Error(
        `resend price ${name}: expected a whole number from 1 to ${max}, got ${JSON.stringify(v) ?? String(v)}${hint}`,
      );
    }
  };
  check('perEmail', Number.MAX_SAFE_INTEGER);
  check('unseenRecipients', Number.MAX_SAFE_INTEGER);
  check('maxBroadcastContacts', MAX_BROADCAST_CONTACTS_LIMIT);
  return prices;
}

function quotedHint(v: string): string {
  return /^[+-]?[0-9]{1,20}$/.test(v)
    ? `: "${v}" in quotes is a string; write ${v} without quotes`
    : ': a value in quotes is a string; write the whole number of micro-USD without quotes (2000 for $0.002)';
}
