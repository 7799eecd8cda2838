import { describe, expect, it } from 'vitest';
import { NO_PARTIES } from '../types.ts';
import type { TwilioOperation } from './classify.ts';
import { settleTwilio } from './settle.ts';

const sms: TwilioOperation = {
  id: 'twilio.messages.create',
  class: 'money',
  movesMoney: true,
  costMicros: 11_800,
  parties: NO_PARTIES,
  perSegmentMicros: 11_800,
};
const call: TwilioOperation = {
  ...sms,
  id: 'twilio.calls.create',
  costMicros: 840_000,
  perSegmentMicros: undefined,
};

describe('settleTwilio', () => {
  it.each([
    [
      'the reported price, as a positive amount',
      sms,
      201,
      { price: '-0.00790', price_unit: 'USD', num_segments: '1' },
      7_900,
    ],
    ['a numeric price', call, 200, { price: -0.042, price_unit: 'USD' }, 42_000],
    [
      'a price with more than six decimals, rounded up',
      call,
      200,
      { price: '-0.0000001', price_unit: 'USD' },
      1,
    ],
    [
      'num_segments times the rate while price is still null',
      sms,
      201,
      { price: null, num_segments: '3' },
      35_400,
    ],
    ['nothing for a price in another currency', call, 200, { price: '-0.05', price_unit: 'EUR' }, undefined],
    [
      'nothing for num_segments without a per-segment rate',
      call,
      201,
      { price: null, num_segments: '2' },
      undefined,
    ],
    ['nothing for an error response', sms, 400, { price: '-1.00' }, undefined],
    ['nothing for a body that is not an object', sms, 201, 'oops', undefined],
    ['nothing for a nonsensical num_segments', sms, 201, { num_segments: 'two' }, undefined],
    [
      'nothing for a read of a sent message (its price is not this call’s)',
      { ...sms, id: 'twilio.api.fetch_message', class: 'read' as const, movesMoney: false, costMicros: 0 },
      200,
      { price: '-0.0079', price_unit: 'USD', num_segments: '1' },
      undefined,
    ],
    [
      'nothing for a live call’s update (the price is the whole call’s so far)',
      { ...call, id: 'twilio.calls.update' },
      200,
      { price: '-0.60', price_unit: 'USD' },
      undefined,
    ],
  ])('settles to %s', (_name, op, status, body, expected) => {
    expect(settleTwilio(op, status, body)).toBe(expected);
  });
});
