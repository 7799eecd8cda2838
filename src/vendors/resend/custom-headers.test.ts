import { describe, expect, it } from 'vitest';
import { customHeadersDenial } from './custom-headers.ts';

const denial = (headers: Record<string, string>) => customHeadersDenial({ headers });

describe('customHeadersDenial', () => {
  // Third probe round: read receipts mailed by the reader's program to an address no allowlist read.
  it.each([
    ['X-Confirm-Reading-To', 'boss@evil.test'],
    ['Read-Receipt-To', 'boss@evil.test'],
    ['x-confirm-reading-to', 'boss'],
    ['Notice-Requested-Upon-Delivery-To', 'boss@evil.test'],
    // Any other name whose value has an address in it: the list of names cannot be complete.
    ['X-Notify', 'Boss <boss@evil.test>'],
    ['X-Notify', 'boss\uFF20evil.test'],
    ['List-Foo', 'boss@evil.test'],
    ['X-Id-Of', 'boss@evil.test'],
  ])('refuses %s: %s', (name, value) => {
    expect(denial({ [name]: value })).toMatchObject({
      reason: 'body_invalid',
      message: expect.stringContaining(name),
    });
  });

  it.each([
    ['X-Entity-Ref-ID', '<9f1c@mail.example.com>'],
    ['X-Entity-Ref-ID', 'order-42'],
    ['Message-ID', '<a1@mail.example.com>'],
    ['In-Reply-To', '<a1@mail.example.com>'],
    ['References', '<a1@mail.example.com> <a2@mail.example.com>'],
    ['List-Unsubscribe', '<mailto:unsubscribe@example.com?subject=stop>, <https://example.com/u/1>'],
    ['List-Unsubscribe-Post', 'List-Unsubscribe=One-Click'],
    ['X-Campaign', 'spring sale'],
  ])('keeps %s: %s', (name, value) => {
    expect(denial({ [name]: value })).toBeUndefined();
  });
});
