import { describe, expect, it } from 'vitest';
import { isDenial } from '../../decision/reasons.ts';
import type { VendorRequest } from '../types.ts';
import { parseTwilio, twilioForwardsBody } from './parse.ts';

const LIMITS = { maxBytes: 256 * 1024, maxDepth: 8, maxParams: 1000 };
const BRAND = 'BN00000000000000000000000000000001';
const JSON_TYPE = { 'content-type': 'application/json' };

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

  it('forwards a form body, and no body at all, as before', () => {
    const form = post('messaging', `/v1/a2p/BrandRegistrations/${BRAND}/SmsOtp`, {
      'content-type': 'application/x-www-form-urlencoded',
    });
    expect(twilioForwardsBody(form, Buffer.from('a=1'))).toBe(true);
    expect(
      twilioForwardsBody(post('messaging', `/v1/a2p/BrandRegistrations/${BRAND}/SmsOtp`), Buffer.alloc(0)),
    ).toBe(true);
  });
});
