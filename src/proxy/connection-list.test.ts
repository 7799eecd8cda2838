import { describe, expect, it } from 'vitest';
import { nominatedHeaders } from './connection-list.ts';
import { checkHeaders } from './headers.ts';
import { upstreamHeaders } from './upstreams.ts';

describe('nominatedHeaders', () => {
  it('reads every element of every value, lower case, trimmed of spaces and tabs', () => {
    expect(nominatedHeaders(['keep-alive, \tX-Private ', ',Upgrade,,'])).toEqual([
      'keep-alive',
      'x-private',
      'upgrade',
    ]);
    expect(nominatedHeaders(undefined)).toEqual([]);
  });

  it.each([
    ['a no-break space', 'stripe-account\u00a0'],
    ['a byte-order mark', '\ufeffstripe-account'],
    ['a vertical tab', 'stripe-account\v'],
    ['a line separator', 'stripe-account\u2028'],
  ])('keeps %s, which is not HTTP whitespace, in the name', (_, element) => {
    expect(nominatedHeaders(`close, ${element}`)).toEqual(['close', element]);
  });
});

// Fifth round: the check, the replay record and the forwarder each split and trimmed the list with
// their own String.trim. A hop drops a header exactly when the check saw it nominated: refused, or
// kept and judged, never judged and then dropped.
describe('the header check and the forwarder read one Connection list', () => {
  it.each([
    ['close, Stripe-Account', true],
    [' \tStripe-Account\t ', true],
    ['close, Stripe-Account\u00a0', false],
    ['\u00a0Stripe-Account', false],
    ['Stripe-Account\v', false],
    ['Stripe-Account\f', false],
  ])('Connection: %j nominates Stripe-Account: %s', (connection, nominated) => {
    const refused = checkHeaders('stripe', ['Stripe-Account', 'acct_1', 'Connection', connection]);
    const forwarded = upstreamHeaders({ 'stripe-account': 'acct_1', connection }, 'Bearer sk_test_real');
    expect(refused?.reason).toBe(nominated ? 'header_invalid' : undefined);
    expect(forwarded['stripe-account']).toBe(nominated ? undefined : 'acct_1');
  });
});
