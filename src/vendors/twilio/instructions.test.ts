import { describe, expect, it } from 'vitest';
import { TWILIO_REQUEST_BODIES } from './bodies.ts';
import {
  instructionParams,
  NOT_INSTRUCTION_PATTERNS,
  NOT_INSTRUCTIONS,
  TWILIO_INSTRUCTION_PARAMS,
  writtenIntoUrls,
} from './instructions.ts';
import { TWILIO_OPERATIONS } from './operations.ts';

/** A parameter name that could point Twilio somewhere: a URL, an application or flow, inline TwiML. */
const URL_LIKE = /(?:url|uri)$|applicationsid$|flowsid$|twiml/i;

describe('the instruction parameters table', () => {
  it('names only operations and parameters of the definitions', () => {
    const ids = new Set(TWILIO_OPERATIONS.map((r) => r.id));
    for (const [id, entry] of Object.entries(TWILIO_INSTRUCTION_PARAMS)) {
      expect(ids.has(id), id).toBe(true);
      const names = TWILIO_REQUEST_BODIES[id]?.names ?? [];
      for (const name of [...(entry.urls ?? []), ...(entry.opaque ?? []).map(([n]) => n)]) {
        expect(names, `${id} ${name}`).toContain(name);
      }
    }
  });

  it('accounts for every URL-like parameter of every operation (a new one fails here until reviewed)', () => {
    const unreviewed: string[] = [];
    for (const [id, body] of Object.entries(TWILIO_REQUEST_BODIES)) {
      const entry = TWILIO_INSTRUCTION_PARAMS[id];
      const listed = new Set([...(entry?.urls ?? []), ...(entry?.opaque ?? []).map(([n]) => n)]);
      for (const name of body.names.filter((n) => URL_LIKE.test(n))) {
        // Inline TwiML is read as destinations by classify (twiml.ts), not fetched.
        if (name === 'Twiml') continue;
        if (listed.has(name) || /callback/i.test(name) || Object.hasOwn(NOT_INSTRUCTIONS, name)) continue;
        if (NOT_INSTRUCTION_PATTERNS.some(([pattern]) => pattern.test(name))) continue;
        unreviewed.push(`${id} ${name}`);
      }
    }
    expect(unreviewed).toEqual([]);
  });

  it('takes inline TwiML only on the two Calls operations classify reads it for', () => {
    const withTwiml = Object.entries(TWILIO_REQUEST_BODIES)
      .filter(([, body]) => body.names.includes('Twiml'))
      .map(([id]) => id)
      .sort();
    expect(withTwiml).toEqual(['twilio.calls.create', 'twilio.calls.update']);
  });
});

describe('instructionParams', () => {
  it('reads the URLs and application SIDs a call carries, trimmed, skipping empty ones', () => {
    expect(
      instructionParams('twilio.calls.create', {
        Url: ' https://a.example/x ',
        FallbackUrl: '',
        ApplicationSid: 'AP1',
        StatusCallback: 'https://s.example',
      }),
    ).toEqual([
      { kind: 'url', where: 'Url', url: 'https://a.example/x' },
      { kind: 'opaque', where: 'ApplicationSid', what: 'a TwiML application' },
    ]);
  });

  // Fifth round: String.trim made `\u00a0https://allowed…` the allowed URL, and a lone no-break space
  // an empty value that clears the setting; Twilio receives the raw value.
  it('judges a value with blank or invisible characters around it raw, and never as empty', () => {
    expect(
      instructionParams('twilio.calls.create', {
        Url: '\u00a0https://a.example/x',
        FallbackUrl: '\u00a0',
        ApplicationSid: '\ufeff',
      }),
    ).toEqual([
      { kind: 'url', where: 'Url', url: '\u00a0https://a.example/x' },
      { kind: 'url', where: 'FallbackUrl', url: '\u00a0' },
      { kind: 'opaque', where: 'ApplicationSid', what: 'a TwiML application' },
    ]);
  });

  it('reads nothing for an operation outside the table', () => {
    expect(instructionParams('twilio.messages.create', { Url: 'https://a.example' })).toEqual([]);
  });
});

// Sixteenth round (money16 finding 2): a TwiML Bin, a Twimlet or a Function builds its TwiML from the
// URL the agent writes; what reads as a destination there is one.
describe('writtenIntoUrls', () => {
  const read = (url: string) => writtenIntoUrls([{ kind: 'url', where: 'Url', url }]);
  const addresses = (url: string) => read(url).destinations.map((d) => d.address);

  it.each([
    [
      'a Bin template value',
      'https://handler.twilio.com/twiml/EHaa?Target=%2B449098790000',
      ['+449098790000'],
    ],
    ['a raw +', 'https://twimlets.com/forward?PhoneNumber=+449098790000', ['+449098790000']],
    ['+ for spaces', 'https://twimlets.com/forward?PhoneNumber=%2B44+909+879+0000', ['+449098790000']],
    ['punctuation', 'https://x.twil.io/f?To=%2B44%20(909)%20879-0000', ['+449098790000']],
    ['double encoding', 'https://twimlets.com/forward?PhoneNumber=%252B449098790000', ['+449098790000']],
    [
      'bracketed keys',
      'https://twimlets.com/simulring?PhoneNumbers%5B0%5D=%2B14155550101&PhoneNumbers[1]=%2B882123456789',
      ['+14155550101', '+882123456789'],
    ],
    [
      'a comma list',
      'https://a.example/r?N=%2B14155550101,%2B449098790000',
      ['+14155550101', '+449098790000'],
    ],
    ['a semicolon separator', 'https://a.example/r?a=1;N=%2B449098790000', ['+449098790000']],
    ['a path segment', 'https://a.example/dial/%2B449098790000/now', ['+449098790000']],
    ['a national number', 'https://a.example/f?To=415-555-0100', ['4155550100']],
    ['a query name', 'https://a.example/f?%2B449098790000', ['+449098790000']],
    [
      'a SIP address',
      'https://a.example/f?To=sip%3Aagent%40pbx.evil.example',
      ['sip:agent@pbx.evil.example'],
    ],
    ['a client', 'https://a.example/f?To=client:alice', ['client:alice']],
    ['WhatsApp', 'https://a.example/f?To=whatsapp:%2B449098790000', ['+449098790000']],
  ])('reads %s as a destination', (_name, url, expected) => {
    expect(addresses(url)).toEqual(expected);
  });

  // Sixteenth round, probe fixes16b finding 2: short numbers (emergency, N11, short codes, 6-digit
  // premium services) under a name that names a destination, or with a +, were read as nothing.
  it.each([
    ['an emergency number under Target', '?Target=911', ['911']],
    ['a 6-digit premium service under Target', '?Target=118118', ['118118']],
    ['a percent-encoded name', '?T%61rget=112', ['112']],
    ['a bracketed PhoneNumbers', '?PhoneNumbers%5B0%5D=999', ['999']],
    ['a snake-case forward_to', '?forward_to=999', ['999']],
    ['a one-case TARGETNUMBER', '?TARGETNUMBER=15', ['15']],
    ['a callerId', '?callerId=911', ['911']],
    ['a + under any name', '?x=%2B882', ['+882']],
    ['a + in a path segment', '/%2B911/', ['+911']],
  ])('reads %s as a destination', (_name, tail, expected) => {
    expect(addresses(`https://handler.twilio.com/twiml/EHaa${tail}`)).toEqual(expected);
  });

  it('reads no ordinary numeric parameter as a destination (Timeout, Retries, a ticket, a time, a date)', () => {
    expect(
      addresses(
        'https://handler.twilio.com/twiml/EHaa?Timeout=20&Retries=3&Ticket=4521&Offset=100&At=12:30:45&Date=12/02/2026&Token=123456&Photo=123',
      ),
    ).toEqual([]);
  });

  it.each([
    ['a non-breaking hyphen', '?To=%2B44%E2%80%917911123456'],
    [
      'fullwidth digits and +',
      '?To=%EF%BC%8B%EF%BC%94%EF%BC%94%EF%BC%97%EF%BC%99%EF%BC%91%EF%BC%91%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94',
    ],
    ['a NUL after', '?To=%2B447911123456%00'],
  ])('reads a number with %s as unreadable, not as nothing', (_name, tail) => {
    expect(read(`https://handler.twilio.com/twiml/EHaa${tail}`).destinations).toEqual([
      expect.objectContaining({ unreadable: true }),
    ]);
  });

  it('reads nothing from ids, short numbers, dates with letters or the fragment', () => {
    expect(
      read(
        'https://handler.twilio.com/twiml/EH1234567890abcdef1234567890abcdef?CallSid=CA12345678901234567890123456789012&Ticket=4521&Name=Ann+Lee&At=2026-12-02T10:00Z#To=%2B449098790000',
      ),
    ).toEqual({
      instructions: [
        {
          kind: 'url',
          where: 'Url',
          url: 'https://handler.twilio.com/twiml/EH1234567890abcdef1234567890abcdef?CallSid=CA12345678901234567890123456789012&Ticket=4521&Name=Ann+Lee&At=2026-12-02T10:00Z#To=%2B449098790000',
        },
      ],
      destinations: [],
    });
  });

  it('reads a SIP address with its parameters whole, as a host that splits on & alone does', () => {
    expect(read('https://a.example/f?To=sip:x@pbx.ok.com;maddr=evil.example').destinations).toContainEqual(
      expect.objectContaining({ channel: 'sip', unreadable: true }),
    );
  });

  it('reads a number with a tab or no-break space inside as unreadable, as an inline <Number>', () => {
    expect(read('https://a.example/f?To=%2B44%09909%C2%A0879').destinations).toEqual([
      expect.objectContaining({ unreadable: true }),
    ]);
  });

  it('makes a URL written into the query an instruction of its own, its query read the same way', () => {
    const nested = read(
      'https://twimlets.com/forward?PhoneNumber=%2B14155550101&FailUrl=https%3A%2F%2Ftwimlets.com%2Fforward%3FPhoneNumber%3D%252B882163012345',
    );
    // Once and twice decoded: a host may decode either way.
    expect(nested.instructions).toEqual([
      expect.objectContaining({ kind: 'url', where: 'Url' }),
      {
        kind: 'url',
        where: 'Url (a URL written into it)',
        url: 'https://twimlets.com/forward?PhoneNumber=%2B882163012345',
      },
      {
        kind: 'url',
        where: 'Url (a URL written into it)',
        url: 'https://twimlets.com/forward?PhoneNumber=+882163012345',
      },
    ]);
    expect(nested.destinations.map((d) => d.address)).toEqual(['+14155550101', '+882163012345']);
    expect(read('https://a.example/x?next=%2F%2Fevil.example%2Fy').instructions[1]).toMatchObject({
      kind: 'url',
      url: '//evil.example/y',
    });
  });

  it('makes TwiML markup in the query, and URLs nested too deep, instructions it cannot check', () => {
    expect(
      read(
        'https://twimlets.com/echo?Twiml=%3CResponse%3E%3CDial%3E%2B449098790000%3C%2FDial%3E%3C%2FResponse%3E',
      ).instructions[1],
    ).toEqual({ kind: 'opaque', where: 'Url', what: 'TwiML markup written into its URL' });
    let url = 'https://a.example/x';
    for (let i = 0; i < 4; i++) url = `https://a.example/x?next=${encodeURIComponent(url)}`;
    expect(read(url).instructions.some((i) => i.kind === 'opaque')).toBe(true);
  });
});
