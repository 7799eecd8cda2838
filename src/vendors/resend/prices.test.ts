import { describe, expect, it } from 'vitest';
import { DEFAULT_RESEND_PRICES, MAX_BROADCAST_CONTACTS_LIMIT, resolveResendPrices } from './prices.ts';

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
});
