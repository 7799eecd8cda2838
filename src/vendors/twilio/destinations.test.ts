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
    // Fifth round: numbers a country's ordinary rate does not cover keep their country and are marked.
    [
      'a UK 09 premium-rate number is GB at a special rate',
      '+449012345678',
      { channel: 'phone', address: '+449012345678', country: 'GB', specialRate: true },
    ],
    [
      'a UK 070 personal number is GB at a special rate',
      '+447011234567',
      { channel: 'phone', address: '+447011234567', country: 'GB', specialRate: true },
    ],
    [
      'a French 0899 premium-rate number is FR at a special rate',
      '+33899123456',
      { channel: 'phone', address: '+33899123456', country: 'FR', specialRate: true },
    ],
    [
      'a WhatsApp premium-rate number is marked too',
      'whatsapp:+19005550123',
      { channel: 'whatsapp', address: '+19005550123', country: 'US', specialRate: true },
    ],
    [
      'a French mobile is ordinary',
      '+33612345678',
      { channel: 'phone', address: '+33612345678', country: 'FR' },
    ],
    [
      'a US toll-free number is ordinary',
      '+18005550100',
      { channel: 'phone', address: '+18005550100', country: 'US' },
    ],
    ['a Voice SDK client has no country', 'client:alice', { channel: 'client', address: 'client:alice' }],
    ['a SIP URI has no country', 'sip:bob@example.com', { channel: 'sip', address: 'sip:bob@example.com' }],
    ['a national number without + has no country', '4155550100', { channel: 'phone', address: '4155550100' }],
    [
      'an unassigned calling code has no country',
      '+9991234567',
      { channel: 'phone', address: '+9991234567' },
    ],
    // Third probe round: a list or text is not one number (its raw text matched `+1415555*`).
    [
      'a comma-separated list is unreadable',
      '+14155550100,+19005550123',
      { channel: 'phone', address: '+14155550100,+19005550123', unreadable: true },
    ],
    [
      'a WhatsApp list is unreadable',
      'whatsapp:+14155550100;+19005550123',
      { channel: 'whatsapp', address: '+14155550100;+19005550123', unreadable: true },
    ],
    [
      'letters are unreadable',
      '+1415555HELP',
      { channel: 'phone', address: '+1415555HELP', unreadable: true },
    ],
  ])('%s', (_name, raw, expected) => {
    expect(destination(raw)).toEqual(expected);
  });

  it('trims the ASCII spaces around a value', () => {
    expect(destination('  +1 415 555 0100  ')).toEqual({
      channel: 'phone',
      address: '+14155550100',
      country: 'US',
    });
  });

  // Fifth round: String.trim and `\s` dropped these, so each was judged as the number or address it
  // resembles while Twilio received the raw value. Anything but ASCII spaces around a value, or a
  // blank that is not an ASCII space inside a number, leaves it unreadable (refused by classify).
  it.each([
    ['a no-break space before a number', '\u00a0+19005550123'],
    ['a line separator after a number', '+14155550100\u2028'],
    ['a byte-order mark before a WhatsApp address', '\ufeffwhatsapp:+14155550100'],
    ['a no-break space after the whatsapp: prefix', 'whatsapp:\u00a0+14155550100'],
    ['a tab after a number', '+14155550100\t'],
    ['a zero-width space before a client', '\u200bclient:alice'],
    ['an ideographic space after a SIP URI', 'sip:bob@example.com\u3000'],
    ['a no-break space inside a number', '+1\u00a0415\u00a0555\u00a00100'],
    ['a tab inside a number', '+1\t4155550100'],
  ])('leaves unreadable a value with %s', (_name, raw) => {
    expect(destination(raw).unreadable).toBe(true);
  });

  // Sixth round: the raw URI was the recipient, so `sip:*@pbx.ok.com` matched a host hidden in the
  // URI's headers or parameters while Twilio dialled evil.example.
  it.each([
    ['an @ in its headers', 'sip:+19005550123@evil.example?X-Note=@pbx.ok.com'],
    ['an @ in its parameters', 'sip:+19005550123@evil.example;x=@pbx.ok.com'],
    ['a host-only URI with an @ in its parameters', 'sip:evil.example;x=@pbx.ok.com'],
    ['two @', 'sip:x@evil.example@pbx.ok.com'],
    ['a space inside it', 'sip:x@evil.example pbx.ok.com'],
  ])('leaves unreadable a SIP URI with %s', (_name, raw) => {
    expect(destination(raw)).toMatchObject({ channel: 'sip', unreadable: true });
  });

  // Sixth round follow-up: a sips: URI was raw text (channel other), so `sips:*@pbx.ok.com` had the
  // hole sip: had: the * running into its parameters or headers.
  it.each([
    ['an @ in its headers', 'sips:+19005550123@evil.example?X-Note=@pbx.ok.com'],
    ['an @ in its parameters', 'sips:+19005550123@evil.example;x=@pbx.ok.com'],
    ['two @', 'SIPS:x@evil.example@pbx.ok.com'],
  ])('leaves unreadable a SIPS URI with %s', (_name, raw) => {
    expect(destination(raw)).toMatchObject({ channel: 'sip', unreadable: true });
  });

  it.each([
    ['its parameters', 'sips:bob@pbx.ok.com;transport=tls'],
    ['its headers', 'sips:bob@pbx.ok.com?X-Note=hi'],
    ['an upper-case scheme', 'SIPS:bob@pbx.ok.com'],
  ])('reads a SIPS URI as user@host without %s', (_name, raw) => {
    expect(destination(raw)).toEqual({ channel: 'sip', address: 'sips:bob@pbx.ok.com' });
  });

  it.each([
    ['its parameters', 'sip:bob@pbx.ok.com;transport=tls'],
    ['its headers', 'sip:bob@pbx.ok.com?X-Note=hi'],
    ['an upper-case scheme', 'SIP:bob@pbx.ok.com'],
    // What Twilio documents: the transport, region, edge and SRTP; custom X- headers (escapes in a
    // value, several joined by &) and User-to-User.
    [
      'every documented parameter and header',
      'sip:bob@pbx.ok.com;transport=tls;region=ie1;edge=dublin;secure=true?X-Custom=1&x-name=Bob%2CShield&User-to-User=56a390f3d2b7310023a2%3Bencoding%3Dhex',
    ],
  ])('reads a SIP URI as user@host without %s', (_name, raw) => {
    expect(destination(raw)).toEqual({ channel: 'sip', address: 'sip:bob@pbx.ok.com' });
  });

  // Sixth round, follow-up: RFC 3261 §19.1.1's maddr overrides the host the request is sent to, and
  // a Route header sends it through another server; under `sip:*@pbx.ok.com` both were admitted and
  // Twilio would have sent the INVITE to evil.example. Only what Twilio documents is taken.
  it.each([
    ['a maddr naming a host', 'sip:alice@pbx.ok.com;maddr=evil.example'],
    ['a maddr naming an address', 'sip:alice@pbx.ok.com;maddr=203.0.113.9'],
    ['a maddr in capitals after a transport', 'sip:alice@pbx.ok.com;transport=tls;MADDR=evil.example'],
    ['a Route header', 'sip:alice@pbx.ok.com?Route=%3Csip:evil.example;lr%3E'],
    ['a Route header after an X- header', 'sips:alice@pbx.ok.com?X-Custom=1&route=%3Csip:evil.example%3E'],
    ['an escaped parameter name', 'sip:alice@pbx.ok.com;%6Daddr=evil.example'],
    ['a parameter Twilio does not document', 'sip:alice@pbx.ok.com;lr'],
    ['a header that is not X-', 'sip:alice@pbx.ok.com?Via=SIP/2.0/UDP%20evil.example'],
    ['a parameter given twice', 'sip:alice@pbx.ok.com;transport=tls;transport=udp'],
    ['a header without a value', 'sip:alice@pbx.ok.com?X-Custom'],
    ['an empty parameter', 'sip:alice@pbx.ok.com;;transport=tls'],
    ['a parameter after the headers', 'sip:alice@pbx.ok.com?X-Custom=1;maddr=evil.example'],
  ])('leaves unreadable a SIP URI with %s', (_name, raw) => {
    expect(destination(raw)).toMatchObject({ channel: 'sip', unreadable: true });
  });
});
