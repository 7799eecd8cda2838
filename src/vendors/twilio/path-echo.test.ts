import { describe, expect, it } from 'vitest';
import { isDenial } from '../../decision/reasons.ts';
import type { VendorRequest } from '../types.ts';
import { parseTwilio, twilioForwardsBody } from './parse.ts';

const LIMITS = { maxBytes: 256 * 1024, maxDepth: 8, maxParams: 1000 };
const BRAND = 'BN00000000000000000000000000000001';
const JSON_TYPE = { 'content-type': 'application/json' };
const FORM_TYPE = { 'content-type': 'application/x-www-form-urlencoded' };

function post(subHost: string, path: string, headers: VendorRequest['headers'] = JSON_TYPE): VendorRequest {
  return { method: 'POST', path, query: '', subHost, headers };
}

/** What parse and the forward decision make of a body to `req`. */
function read(req: VendorRequest, body: string) {
  const bytes = Buffer.from(body);
  const params = parseTwilio(req, bytes, LIMITS);
  return isDenial(params)
    ? { reason: params.reason }
    : { params: { ...params }, forwarded: twilioForwardsBody(req, bytes) };
}

// What @twilio-alpha/mcp sends to operations whose definition declares no body: its tool's arguments
// as JSON (sixth round: refused body_invalid, even under an exact entry).
describe('a JSON body to an operation that declares none', () => {
  it.each([
    [
      'an A2P brand SMS OTP',
      'messaging',
      `/v1/a2p/BrandRegistrations/${BRAND}/SmsOtp`,
      `{"BrandRegistrationSid":"${BRAND}"}`,
    ],
    ['an A2P brand resubmitted', 'messaging', `/v1/a2p/BrandRegistrations/${BRAND}`, `{"Sid":"${BRAND}"}`],
    ['an Event Streams sink test', 'events', '/v1/Sinks/DG00000000000000000000000000000001/Test', '{}'],
    [
      'a Video participant anonymized',
      'video',
      '/v1/Rooms/RM00000000000000000000000000000001/Participants/PA00000000000000000000000000000001/Anonymize',
      '{"RoomSid":"RM00000000000000000000000000000001","Sid":"PA00000000000000000000000000000001"}',
    ],
  ])(
    'takes %s that only repeats its path, with no parameters, and forwards no body',
    (_name, host, path, body) => {
      expect(read(post(host, path), body)).toEqual({ params: {}, forwarded: false });
    },
  );

  it.each([
    ['a key that is no path parameter', `{"BrandRegistrationSid":"${BRAND}","Extra":"x"}`],
    ['another value than the path', '{"BrandRegistrationSid":"BN00000000000000000000000000000002"}'],
    ['a path parameter spelt in another case', `{"brandregistrationsid":"${BRAND}"}`],
    ['a value that is not a string', '{"BrandRegistrationSid":1}'],
    ['an array', '[]'],
    ['a JSON text that is no object', '"x"'],
    ['JSON that does not parse', '{'],
  ])('refuses %s', (_name, body) => {
    expect(read(post('messaging', `/v1/a2p/BrandRegistrations/${BRAND}/SmsOtp`), body)).toEqual({
      reason: 'body_invalid',
    });
  });

  it('still refuses JSON to an operation that declares a form body', () => {
    expect(read(post('messaging', `/v1/a2p/BrandRegistrations/${BRAND}/Vettings`), '{}')).toEqual({
      reason: 'body_invalid',
    });
  });

  it('forwards no body at all as it came (what twilio-node sends: none, with a form Content-Type)', () => {
    const req = post('messaging', `/v1/a2p/BrandRegistrations/${BRAND}`, FORM_TYPE);
    expect(read(req, '')).toEqual({ params: {}, forwarded: true });
  });
});

// Sixth round follow-up: a form body to such an operation was read with no declared names and
// forwarded whole, so Twilio could act on parameters Keybrake never judged. It is held to the JSON rule.
describe('a form body to an operation that declares none', () => {
  const otp = () => post('messaging', `/v1/a2p/BrandRegistrations/${BRAND}/SmsOtp`, FORM_TYPE);

  it.each([
    ['that only repeats its path', `BrandRegistrationSid=${BRAND}`],
    ['with no parameter in it', '&'],
  ])('takes one %s, with no parameters, and forwards no body', (_name, body) => {
    expect(read(otp(), body)).toEqual({ params: {}, forwarded: false });
  });

  it.each([
    ['a parameter that is no path parameter', `BrandRegistrationSid=${BRAND}&Mock=true`],
    ['only a parameter that is no path parameter', 'a=1'],
    ['another value than the path', 'BrandRegistrationSid=BN00000000000000000000000000000002'],
    ['a path parameter spelt in another case', `brandregistrationsid=${BRAND}`],
  ])('refuses one with %s', (_name, body) => {
    expect(read(otp(), body)).toEqual({ reason: 'body_invalid' });
  });
});
