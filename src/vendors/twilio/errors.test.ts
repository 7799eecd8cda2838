import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { type DenyReason, REASONS } from '../../decision/reasons.ts';
import { TWILIO_ERROR_CODES, twilioError } from './errors.ts';

// The real twilio-node exception, so the test fails if the SDK stops reading our body.
const require = createRequire(import.meta.url);
const RestException = require('twilio/lib/base/RestException').default as new (response: {
  statusCode: number;
  body: string;
}) => Error & { status: number; code: number; moreInfo: string };

describe('twilioError', () => {
  it.each([
    ['key_unknown', 20003],
    ['rate_limited', 20429],
    ['account_not_allowed', 98022],
    ['daily_cap_exceeded', 98031],
  ] as const)('renders %s so twilio-node raises RestException with code %i', (reason, code) => {
    const status = REASONS[reason].status;
    const error = twilioError(reason, 'Denied by Keybrake policy.', status);
    expect(error.headers['content-type']).toBe('application/json');
    const raised = new RestException({ statusCode: error.status, body: error.body });
    expect(raised).toMatchObject({
      status,
      code,
      message: 'Denied by Keybrake policy.',
      moreInfo: `https://keybrake.dev/docs/reasons#${reason}`,
    });
  });

  it('gives every reason a distinct code, except the three authentication failures', () => {
    const reasons = Object.keys(REASONS).filter((r) => r !== 'ok') as DenyReason[];
    const codes = reasons.map((r) => TWILIO_ERROR_CODES[r]);
    expect(new Set(codes).size).toBe(reasons.length - 2);
  });
});
