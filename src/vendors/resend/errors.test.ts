import { describe, expect, it } from 'vitest';
import { REASONS } from '../../decision/reasons.ts';
import { resendError } from './errors.ts';

describe('resendError', () => {
  it.each([
    ['key_unknown', 'invalid_api_key'],
    ['body_invalid', 'validation_error'],
    ['recipient_not_allowed', 'restricted_api_key'],
    ['sender_not_allowed', 'invalid_from_address'],
    ['daily_cap_exceeded', 'daily_quota_exceeded'],
    ['monthly_cap_exceeded', 'monthly_quota_exceeded'],
    ['rate_limited', 'rate_limit_exceeded'],
    ['counter_store_unavailable', 'application_error'],
    ['internal_error', 'internal_server_error'],
  ] as const)('renders %s as Resend error name %s', (reason, name) => {
    const status = REASONS[reason].status;
    const error = resendError(reason, 'Denied by Keybrake.', status);
    expect(error.status).toBe(status);
    expect(error.headers['content-type']).toBe('application/json');
    expect(JSON.parse(error.body)).toEqual({ statusCode: status, name, message: 'Denied by Keybrake.' });
  });
});
