import { describe, expect, it } from 'vitest';
import { destination } from './destinations.ts';

describe('destination', () => {
  it.each([
    [
      'a US number resolves to US',
      '+14155550100',
      { channel: 'phone', address: '+14155550100', country: 'US' },
    ],
    [
      'a Guernsey mobile on +44 resolves to GG, not GB',
      '+447911123456',
      { channel: 'phone', address: '+447911123456', country: 'GG' },
    ],
    [
      'a London number resolves to GB',
      '+442071838750',
      { channel: 'phone', address: '+442071838750', country: 'GB' },
    ],
    [
      'punctuation is dropped to E.164',
      '+1 (415) 555-0100',
      { channel: 'phone', address: '+14155550100', country: 'US' },
    ],
    [
      'a WhatsApp address loses its prefix',
      'whatsapp:+4915123456789',
      { channel: 'whatsapp', address: '+4915123456789', country: 'DE' },
    ],
    ['a Voice SDK client has no country', 'client:alice', { channel: 'client', address: 'client:alice' }],
    ['a SIP URI has no country', 'sip:bob@example.com', { channel: 'sip', address: 'sip:bob@example.com' }],
    ['a national number without + has no country', '4155550100', { channel: 'phone', address: '4155550100' }],
    [
      'an unassigned calling code has no country',
      '+9991234567',
      { channel: 'phone', address: '+9991234567' },
    ],
  ])('%s', (_name, raw, expected) => {
    expect(destination(raw)).toEqual(expected);
  });
});
