import { describe, expect, it } from 'vitest';
import { isDenial } from '../../decision/reasons.ts';
import type { CostLookup } from '../types.ts';
import { destination } from './destinations.ts';
import {
  MAX_OWN_NUMBER_READS,
  ownNumberCandidates,
  ownNumberLookup,
  twilioSipDenial,
} from './own-numbers.ts';

const AC = 'AC00000000000000000000000000000001';
const none = { incoming_phone_numbers: [] };
const own = { incoming_phone_numbers: [{ sid: 'PN1', phone_number: '+18885550100' }] };

function lookup(numbers: string[], micros = 100, then?: CostLookup): CostLookup {
  const l = ownNumberLookup(AC, numbers, micros, then);
  if (l === undefined || isDenial(l)) throw new Error('expected a lookup');
  return l;
}

// Thirteenth round, probe twmoney13, finding 1: a call or text to the account's own number is billed
// inbound too and runs that number's instructions; it was priced as one outbound leg.
describe("ownNumberLookup: a call or text to the account's own number", () => {
  it('reads the number among the account IncomingPhoneNumbers with a filter that takes no wildcard', () => {
    expect(lookup(['+18885550100']).path).toBe(
      `/2010-04-01/Accounts/${AC}/IncomingPhoneNumbers.json?PhoneNumber=%2B18885550100&PageSize=1`,
    );
  });

  it('prices the call at its own cost when the number is not the account’s, and leaves it unpriced when it is', () => {
    const l = lookup(['+18885550100']);
    expect(l.next?.(none)).toBeUndefined();
    expect(l.price(none)).toBe(100);
    expect(l.next?.(own)).toBeUndefined();
    expect(l.price(own)).toBeUndefined();
    expect(l.confirms).toBe(true);
  });

  it.each([
    ['no list', {}],
    ['a list that is not an array', { incoming_phone_numbers: {} }],
    ['not an object', 'x'],
    ['null', null],
  ])('fails closed on an answer with %s', (_name, body) => {
    const l = lookup(['+18885550100']);
    expect(l.next?.(body)).toBeUndefined();
    expect(l.price(body)).toBeUndefined();
  });

  it('reads every number in turn, then the call’s own lookup', () => {
    const then: CostLookup = { path: '/then', price: () => 7 };
    const first = lookup(['+14155550100', '+18885550100'], 100, then);
    expect(first.confirms).toBeUndefined();
    const second = first.next!(none)!;
    expect(second.path).toContain('PhoneNumber=%2B18885550100');
    expect(second.next!(none)).toBe(then);
    expect(second.next!(own)).toBeUndefined();
    expect(second.price(own)).toBeUndefined();
  });

  it('asks only about E.164 phone numbers, once each', () => {
    expect(
      ownNumberCandidates([
        destination('+14155550100'),
        destination('+14155550100'),
        { channel: 'whatsapp', address: '+14155550101' },
        destination('sip:a@pbx.example'),
        destination('client:alice'),
        undefined,
      ]),
    ).toEqual(['+14155550100']);
  });

  it(`refuses a call reaching more than ${MAX_OWN_NUMBER_READS} numbers and reads nothing for none`, () => {
    const many = Array.from(
      { length: MAX_OWN_NUMBER_READS + 1 },
      (_, i) => `+1415555${String(i).padStart(4, '0')}`,
    );
    const refused = ownNumberLookup(AC, many, 1);
    expect(isDenial(refused) && refused.reason).toBe('price_unknown');
    expect(ownNumberLookup(AC, [], 1)).toBeUndefined();
  });
});

describe('twilioSipDenial: a SIP address on a Twilio host', () => {
  it.each([
    'sip:+8816555012345@acme.sip.twilio.com',
    'sip:alice@acme.sip.us1.twilio.com',
    'sip:alice@ACME.SIP.TWILIO.COM:5060;transport=tls',
    'sip:x@trunk.pstn.twilio.com',
  ])('refuses %s as unpriced', (address) => {
    expect(twilioSipDenial([destination(address)])?.reason).toBe('price_unknown');
  });

  it.each(['sip:alice@pbx.example', 'sip:alice@twilio.com.evil.example', 'sip:twilio.com@pbx.example'])(
    'leaves %s to the SIP rate',
    (address) => {
      expect(twilioSipDenial([destination(address)])).toBeUndefined();
    },
  );
});
