import { describe, expect, it } from 'vitest';
import {
  DEFAULT_RESEND_PRICES,
  MAX_BROADCAST_CONTACTS_LIMIT,
  type ResendPriceOverrides,
  resolveResendPrices,
} from './prices.ts';

describe('Resend prices', () => {
  it('defaults to the marginal Pro email, 50 unseen recipients and 1000 contacts per broadcast', () => {
    expect(resolveResendPrices()).toEqual({
      perEmail: 900,
      unseenRecipients: 50,
      maxBroadcastContacts: 1000,
    });
    expect(resolveResendPrices()).toEqual(DEFAULT_RESEND_PRICES);
  });

  it('takes overrides', () => {
    expect(resolveResendPrices({ perEmail: 400, maxBroadcastContacts: 5000 })).toMatchObject({
      perEmail: 400,
      maxBroadcastContacts: 5000,
    });
  });

  it.each([
    ['a zero price', { perEmail: 0 }],
    ['a fractional price', { perEmail: 0.5 }],
    ['a price written as text', { perEmail: '900' as unknown as number }],
    ['no unseen recipients', { unseenRecipients: 0 }],
    ['a contact bound past 100 pages', { maxBroadcastContacts: MAX_BROADCAST_CONTACTS_LIMIT + 1 }],
  ])('stops startup on %s rather than ignoring it', (_name, overrides) => {
    expect(() => resolveResendPrices(overrides)).toThrow(/resend price/);
  });

  // Sixteenth round (probe newuser16 finding 2): a misspelt field was spread in beside the default and
  // ignored, so every delivery kept the built-in $0.0009 whatever the operator priced it at.
  it.each<[string, unknown, string]>([
    [
      'a misspelt perEmail',
      { perEmai: 5000 },
      'resend price: unknown field "perEmai" (expected perEmail, unseenRecipients, maxBroadcastContacts)',
    ],
    ['a field of another vendor', { smsPerSegment: 5000 }, 'unknown field "smsPerSegment"'],
    [
      'a misspelling beside the right field',
      { perEmail: 5000, maxBroadcastContact: 10 },
      'unknown field "maxBroadcastContact"',
    ],
    ['an inherited name', JSON.parse('{"__proto__": {"perEmail": 1}}'), 'unknown field "__proto__"'],
    ['a number where the mapping goes', 2000, 'resend price: expected a mapping'],
    ['a string where the mapping goes', '0.002', 'resend price: expected a mapping'],
    ['a list where the mapping goes', [5000], 'resend price: expected a mapping'],
  ])('refuses %s rather than pricing mail at the default', (_name, overrides, message) => {
    expect(() => resolveResendPrices(overrides as ResendPriceOverrides)).toThrow(message);
  });

  it('says a quoted number is a string, in its quotes', () => {
    expect(() => resolveResendPrices({ perEmail: '2000' as unknown as number })).toThrow(
      'resend price perEmail: expected a whole number from 1 to 9007199254740991, got "2000": "2000" in quotes is a string; write 2000 without quotes',
    );
    expect(() => resolveResendPrices({ perEmail: '0.002' as unknown as number })).toThrow(
      'got "0.002": a value in quotes is a string; write the whole number of micro-USD without quotes (2000 for $0.002)',
    );
  });
});
