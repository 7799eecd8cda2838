import { describe, expect, it } from 'vitest';
import { checkHeaders, headerLines, rawHeadersOf } from './headers.ts';

const lines = (...pairs: [string, string][]) => pairs.flat();

describe('checkHeaders', () => {
  it.each([
    [
      'an ordinary Stripe call',
      'stripe',
      lines(['Authorization', 'Bearer x'], ['Idempotency-Key', 'k'], ['Stripe-Account', 'acct_1']),
    ],
    ['a plain keep-alive Connection', 'stripe', lines(['Connection', 'keep-alive'])],
    ['Connection: close', 'twilio', lines(['Connection', 'close'])],
    [
      'Connection nominating a header Keybrake does not read',
      'stripe',
      lines(['Connection', 'keep-alive, Upgrade']),
    ],
    ['one baggage header', 'stripe', lines(['baggage', 'a=1,keybrake.run_id=r'])],
    // W3C allows several; a tracer adding its own broke every call (a new-user walkthrough). The run
    // id reader walks them all and refuses a run named twice across them (run-id.test.ts).
    ['two baggage headers', 'stripe', lines(['baggage', 'keybrake.run_id=r'], ['baggage', 'other=1'])],
    [
      'Stripe headers twice on Twilio, which reads none of them',
      'twilio',
      lines(['Stripe-Account', 'a'], ['Stripe-Account', 'b']),
    ],
    ['Connection nominating Stripe-Context on Resend', 'resend', lines(['Connection', 'Stripe-Context'])],
    [
      'repeated headers Keybrake does not read',
      'stripe',
      lines(['Accept', 'a'], ['Accept', 'b'], ['X-Other', '1'], ['x-other', '2']),
    ],
  ] as const)('accepts %s', (_name, vendor, raw) => {
    expect(checkHeaders(vendor, raw)).toBeUndefined();
  });

  it.each([
    ['Authorization', 'stripe'],
    ['authorization', 'twilio'],
    ['Idempotency-Key', 'stripe'],
    ['Idempotency-Key', 'resend'],
    ['Content-Type', 'stripe'],
    ['Content-Encoding', 'twilio'],
    ['Stripe-Account', 'stripe'],
    ['Stripe-Context', 'stripe'],
  ] as const)('refuses %s given twice on %s with header_invalid', (name, vendor) => {
    const raw = lines([name, 'a'], ['X-Between', '1'], [name.toUpperCase(), 'a']);
    const r = checkHeaders(vendor, raw);
    expect(r?.reason).toBe('header_invalid');
    expect(r?.message).toMatch(/given more than once/);
  });

  // Found by an adversarial probe: forwarded unjudged, and read as Stripe-Account by CGI-style stacks.
  it.each([
    ['Stripe_Account', 'stripe', 'Stripe-Account'],
    ['stripe_context', 'stripe', 'Stripe-Context'],
    ['Idempotency_Key', 'resend', 'Idempotency-Key'],
    ['Content_Type', 'twilio', 'Content-Type'],
    // And a method override spelt so (a probe of this round's fixes).
    ['X_HTTP_Method_Override', 'stripe', 'a method override'],
    ['x_method_override', 'resend', 'a method override'],
  ] as const)('refuses %s on %s, which may be read as %s', (name, vendor, meant) => {
    const r = checkHeaders(vendor, lines([name, 'acct_evil']));
    expect(r?.reason).toBe('header_invalid');
    expect(r?.message).toContain(`may be read as ${meant}`);
  });

  it('leaves other underscored names alone', () => {
    expect(checkHeaders('twilio', lines(['Stripe_Account', 'x'], ['X_Custom', '1']))).toBeUndefined();
  });

  it('refuses Keybrake-Run-Id given twice with run_id_invalid', () => {
    expect(checkHeaders('stripe', lines(['Keybrake-Run-Id', 'a'], ['keybrake-run-id', 'a']))?.reason).toBe(
      'run_id_invalid',
    );
  });

  it.each([
    ['Idempotency-Key', 'stripe'],
    ['Authorization', 'twilio'],
    ['keybrake-run-id', 'resend'],
    ['BAGGAGE', 'stripe'],
    ['Stripe-Account', 'stripe'],
    ['Stripe-Context', 'stripe'],
    ['Content-Type', 'stripe'],
    ['Content-Encoding', 'resend'],
  ] as const)('refuses Connection nominating %s on %s', (name, vendor) => {
    const r = checkHeaders(vendor, lines(['Connection', `close,  ${name} `]));
    expect(r?.reason).toBe('header_invalid');
    expect(r?.message).toMatch(/Connection nominates/);
  });

  it('reads every Connection line', () => {
    expect(
      checkHeaders('stripe', lines(['Connection', 'keep-alive'], ['Connection', 'Idempotency-Key']))?.reason,
    ).toBe('header_invalid');
  });

  it.each(['X-HTTP-Method-Override', 'x-http-method', 'X-Method-Override'])(
    'refuses the method override %s',
    (name) => {
      const r = checkHeaders('resend', lines([name, 'DELETE']));
      expect(r?.reason).toBe('header_invalid');
      expect(r?.message).toMatch(/method override/);
    },
  );
});

describe('rawHeadersOf', () => {
  it('keeps the raw lines when there are some', () => {
    const raw = ['A', '1'];
    expect(rawHeadersOf({ a: '1' }, raw)).toBe(raw);
  });

  it('rebuilds lines from parsed headers, arrays included', () => {
    expect(rawHeadersOf({ a: '1', 'set-cookie': ['x', 'y'], b: undefined }, undefined)).toEqual([
      'a',
      '1',
      'set-cookie',
      'x',
      'set-cookie',
      'y',
    ]);
  });
});

describe('headerLines', () => {
  it('collects every value of one header whatever its case', () => {
    expect(headerLines(lines(['Baggage', 'a=1'], ['X', 'y'], ['baggage', 'b=2']), 'baggage')).toEqual([
      'a=1',
      'b=2',
    ]);
  });
});
