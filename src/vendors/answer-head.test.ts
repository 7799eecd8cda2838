import { describe, expect, it } from 'vitest';
import { isDenial } from '../decision/reasons.ts';
import { withheldHeadUrls, withheldValue } from './answer-head.ts';
import { createResendAdapter } from './resend/index.ts';
import { createStripeAdapter } from './stripe/index.ts';
import { createTwilioAdapter } from './twilio/index.ts';
import type { AnswerHead } from './types.ts';

// Sixteenth round, probe catalog16 finding 1: a Twilio Bulk Export day's 307 carried the day's
// pre-signed S3 file whole in `Location` while its `redirect_to` was cut.
const S3 =
  'https://com-twilio-us1-bulkexport.s3.amazonaws.com/v1/AC1/Messages/2026-12-01.json.gz?X-Amz-Expires=300&X-Amz-Signature=5d672d79';
const S3_CUT = 'https://com-twilio-us1-bulkexport.s3.amazonaws.com/withheld_by_keybrake';
const twilioHost = (host: string) => host === 'twilio.com' || host.endsWith('.twilio.com');

function value(text: string): string {
  const out = withheldValue(text, twilioHost);
  if (isDenial(out)) throw new Error(out.message);
  return out;
}

describe('withheldValue', () => {
  it.each([
    [S3, S3_CUT],
    ['0; url=https://files.example.net/r?token=t1', '0; url=https://files.example.net/withheld_by_keybrake'],
    ['0;URL="https://files.example.net/r/t1"', '0;URL="https://files.example.net/withheld_by_keybrake"'],
    [
      '<https://api.twilio.com/2010-04-01/x.json?Page=1>; rel="next", <https://files.example.net/t1>; rel="alternate"',
      '<https://api.twilio.com/2010-04-01/x.json?Page=1>; rel="next", <https://files.example.net/withheld_by_keybrake>; rel="alternate"',
    ],
    // A network-path reference is a URL on that host, backslashes as a WHATWG parser reads them.
    ['//bucket.s3.amazonaws.com/t1?sig=1', '//bucket.s3.amazonaws.com/withheld_by_keybrake'],
    ['\\\\bucket.s3.amazonaws.com\\t1', '\\\\bucket.s3.amazonaws.com/withheld_by_keybrake'],
    ['<//bucket.s3.amazonaws.com/t1>; rel=x', '<//bucket.s3.amazonaws.com/withheld_by_keybrake>; rel=x'],
    ['0; url=//bucket.example/t1', '0; url=//bucket.example/withheld_by_keybrake'],
    // Percent-encoded in a value (as the body's rule reads it).
    [
      '0; url=https%3A%2F%2Fbucket.example%2Ft1%3Fsig%3D1',
      '0; url=https%3A%2F%2Fbucket.example%2Fwithheld_by_keybrake',
    ],
    // A userinfo is withheld on every host, Twilio's too.
    ['https://u:pw1@api.twilio.com/x', 'https://withheld_by_keybrake@api.twilio.com/x'],
    // A look-alike host is not Twilio's.
    ['https://api.twilio.com.evil.test/t1', 'https://api.twilio.com.evil.test/withheld_by_keybrake'],
  ])('withholds %s', (text, kept) => {
    expect(value(text)).toBe(kept);
  });

  it.each([
    'https://media.twilio.com/v1/x?Signature=1',
    'https://files.example.net',
    'https://files.example.net/',
    '/2010-04-01/Accounts/AC1/Messages.json?Page=1',
    'application/json; charset=utf-8',
    'Wed, 02 Dec 2026 10:00:00 GMT',
    'max-age=31536000; includeSubDomains',
    '*',
  ])('keeps %s', (text) => {
    expect(value(text)).toBe(text);
  });
});

describe('withheldHeadUrls', () => {
  it('answers the same object when nothing is withheld', () => {
    const head: AnswerHead = { 'content-type': 'application/json', date: 'x', 'x-y': undefined };
    expect(withheldHeadUrls(head, twilioHost)).toBe(head);
  });

  it('withholds in every header, whatever its name, and in each value of a repeated one', () => {
    const head: AnswerHead = {
      location: S3,
      'x-anything': `see ${S3}`,
      link: ['<https://api.twilio.com/a>; rel=next', '<https://cdn.example/t1>; rel=alt'],
      'content-type': 'application/json',
    };
    expect(withheldHeadUrls(head, twilioHost)).toEqual({
      location: S3_CUT,
      'x-anything': `see ${S3_CUT}`,
      link: ['<https://api.twilio.com/a>; rel=next', '<https://cdn.example/withheld_by_keybrake>; rel=alt'],
      'content-type': 'application/json',
    });
    expect(head['location']).toBe(S3);
  });
});

describe("each vendor's answer head", () => {
  const stripe = createStripeAdapter({ rates: { base: 'usd', rates: {} } as never });
  const twilio = createTwilioAdapter();
  const resend = createResendAdapter();

  it.each([
    ['twilio', twilio, 'https://api.twilio.com/v1/x?Page=2'],
    ['stripe', stripe, 'https://api.stripe.com/v1/customers?starting_after=cus_1'],
    ['resend', resend, 'https://api.resend.com/emails?after=1'],
  ] as const)('%s keeps its API host and withholds every other path', (_name, adapter, own) => {
    const out = adapter.withholdFromAnswerHead!({ location: S3, link: `<${own}>; rel=next` });
    expect(out).toEqual({ location: S3_CUT, link: `<${own}>; rel=next` });
  });

  it("stripe's other hosts (hosted pages, file links) are withheld in a header", () => {
    const out = stripe.withholdFromAnswerHead!({
      location: 'https://checkout.stripe.com/c/pay/cs_live_x#fidk',
      'content-location': 'https://files.stripe.com/links/MDB8YWNjdF8x',
    });
    expect(out).toEqual({
      location: 'https://checkout.stripe.com/withheld_by_keybrake',
      'content-location': 'https://files.stripe.com/withheld_by_keybrake',
    });
  });

  it('stripe withholds an answer whose head still carries a client secret', () => {
    const secret = ['pi_3Mt', '_secret_', 'Ab12'].join('');
    const out = stripe.withholdFromAnswerHead!({
      location: `https://api.stripe.com/v1/payment_intents/pi_3Mt?client_secret=${secret}`,
    });
    expect(isDenial(out) && out.reason).toBe('credential_in_response');
  });

  // Sixteenth round, probe fixes16b finding 3: Stripe echoes the agent's Idempotency-Key.
  it("stripe relays the agent's own Idempotency-Key echoed back, whatever its shape", () => {
    const head = { 'idempotency-key': 'order_secret_42', 'request-id': 'req_1' };
    expect(stripe.withholdFromAnswerHead!(head, { 'idempotency-key': 'order_secret_42' })).toBe(head);
  });

  it.each([
    ['a client secret where the agent sent another key', { 'idempotency-key': 'order_secret_42' }],
    [
      'a client secret in another header than the one the agent sent it in',
      { 'x-other': 'pi_1_secret_Ab12' },
    ],
    ['a client secret when the agent sent nothing', {}],
  ])('stripe still withholds %s', (_name, sent) => {
    const head = { 'idempotency-key': 'pi_1_secret_Ab12' };
    const out = stripe.withholdFromAnswerHead!(head, sent);
    expect(isDenial(out) && out.reason).toBe('credential_in_response');
  });
});
