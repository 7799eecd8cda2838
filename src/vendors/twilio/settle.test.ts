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
  mmsMicros: 32_000,
};
/** A Content template send: reserved at 25 segments, its text never counted by Keybrake. */
const template: TwilioOperation = { ...sms, costMicros: 295_000, perSegmentMicros: undefined };
const whatsapp: TwilioOperation = { ...template, costMicros: 50_000, mmsMicros: undefined };
const call: TwilioOperation = {
  ...sms,
  id: 'twilio.calls.create',
  costMicros: 840_000,
  perSegmentMicros: undefined,
  mmsMicros: undefined,
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
      { price: null, num_segments: '3', num_media: '0' },
      35_400,
    ],
    // Ninth round: a template may be a media template, billed as MMS whatever num_segments says.
    [
      'nothing for a Content template send (its text is not the request’s)',
      template,
      201,
      { price: null, num_segments: '1', num_media: '0' },
      undefined,
    ],
    [
      'no less than the MMS price for an SMS Twilio answers carries media',
      sms,
      201,
      { price: null, num_segments: '1', num_media: '1' },
      32_000,
    ],
    [
      'no less than the reservation for a template Twilio answers carries media',
      template,
      201,
      { price: null, num_segments: '1', num_media: 1 },
      295_000,
    ],
    [
      'nothing for media without an MMS price (WhatsApp)',
      whatsapp,
      201,
      { price: null, num_segments: '1', num_media: '1' },
      undefined,
    ],
    ['nothing without num_media', sms, 201, { price: null, num_segments: '1' }, undefined],
    [
      'nothing for a nonsensical num_media',
      sms,
      201,
      { price: null, num_segments: '1', num_media: '-1' },
      undefined,
    ],
    [
      'the reported price of a message with media: Twilio’s bill',
      template,
      201,
      { price: '-0.0220', price_unit: 'USD', num_segments: '1', num_media: '1' },
      22_000,
    ],
    ['nothing for a price in another currency', call, 200, { price: '-0.05', price_unit: 'EUR' }, undefined],
    [
      'nothing for num_segments without a per-segment rate',
      call,
      201,
      { price: null, num_segments: '2', num_media: '0' },
      undefined,
    ],
    ['nothing for an error response', sms, 400, { price: '-1.00' }, undefined],
    ['nothing for a body that is not an object', sms, 201, 'oops', undefined],
    ['nothing for a nonsensical num_segments', sms, 201, { num_segments: 'two', num_media: '0' }, undefined],
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
