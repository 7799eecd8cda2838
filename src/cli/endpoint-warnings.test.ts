import { describe, expect, it } from 'vitest';
import { endpointWarning } from './endpoint-warnings.ts';

// Fifteenth round (probe newuser, finding 3): policy-check passed endpoint entries no operation has.
describe('endpointWarning', () => {
  it.each([
    ['stripe', 'POST /v1/charges'],
    ['stripe', 'GET /v1/**'],
    ['stripe', '* /v1/customers/*'],
    ['stripe', 'POST /v1/charges/*/capture'],
    // A literal id where the template has a placeholder, as a policy pins one object.
    ['stripe', 'POST /v1/charges/ch_1/capture'],
    ['stripe', 'POST /v1/payment_intents/{intent}/confirm'],
    // Stripe's v2 API is outside the catalog on purpose: exact entries are how a policy admits it.
    ['stripe', 'GET /v2/core/event_destinations/ed_1'],
    ['twilio', 'POST /2010-04-01/Accounts/*/Messages.json'],
    ['twilio', 'GET /2010-04-01/Accounts/AC1/Messages/SM1.json'],
    ['twilio', 'POST /v1/Conversations/*/Messages'],
    ['resend', 'POST /emails'],
    ['resend', 'GET /emails/*'],
  ] as const)('passes %s %s', (vendor, entry) => {
    expect(endpointWarning(vendor, entry)).toBeUndefined();
  });

  it('names a typo of an exact entry, what it still admits, and the row meant', () => {
    expect(endpointWarning('stripe', 'POST /v1/chargez')).toBe(
      'names no operation of Keybrake\'s stripe catalog (`keybrake catalog stripe` lists them): it admits only a call the catalog does not know, as an unknown operation; did you mean "POST /v1/charges"?',
    );
    expect(endpointWarning('resend', 'POST /email')).toMatch(/did you mean "POST \/emails"\?$/);
  });

  it('says a pattern that meets no operation admits nothing', () => {
    expect(endpointWarning('stripe', 'GET /v1/customer/*')).toMatch(
      /^admits no operation of Keybrake's stripe catalog .*, so nothing: a pattern admits no unknown operation/,
    );
    expect(endpointWarning('stripe', 'POST /v1/charges/*/capturez')).toBeDefined();
  });

  // Fifteenth round (probe fixes15, finding 7): a template names one operation, not what it fits.
  it('says a template no operation has admits nothing, though rows fit it as a glob', () => {
    expect(endpointWarning('stripe', 'GET /v1/{resource}')).toMatch(
      /^names no operation .*, so nothing: an entry with \{placeholders\}/,
    );
    expect(endpointWarning('stripe', 'GET /v1/{resource}/{id}')).toBeDefined();
    expect(endpointWarning('resend', 'GET /{x}')).toBeDefined();
    expect(endpointWarning('stripe', 'GET /v1/customers/{c}')).toBeUndefined();
    expect(endpointWarning('twilio', 'POST /2010-04-01/Accounts/{AccountSid}/Messages.json')).toBeUndefined();
  });

  it("names the router's prefix copied from a URL", () => {
    expect(endpointWarning('stripe', 'POST /stripe/v1/charges')).toMatch(
      /without the router's \/stripe prefix: "POST \/v1\/charges"$/,
    );
    expect(
      endpointWarning('twilio', 'POST /twilio/api.twilio.com/2010-04-01/Accounts/*/Messages.json'),
    ).toMatch(/without the router's \/twilio prefix: "POST \/2010-04-01\/Accounts\/\*\/Messages.json"$/);
  });

  it("checks another vendor's paths against the policy's own vendor", () => {
    expect(endpointWarning('twilio', 'POST /v1/refunds')).toBeDefined();
  });
});
