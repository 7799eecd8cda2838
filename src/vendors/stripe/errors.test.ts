import { describe, expect, it } from 'vitest';
import { type DenyReason, REASONS } from '../../decision/reasons.ts';
import { stripeError } from './errors.ts';

describe('stripeError', () => {
  it.each([
    ['key_unknown', 'invalid_request_error', 'false'],
    ['body_invalid', 'invalid_request_error', 'false'],
    ['body_too_large', 'invalid_request_error', 'false'],
    ['daily_cap_exceeded', 'invalid_request_error', 'false'],
    ['route_unknown', 'invalid_request_error', 'false'],
    ['rate_limited', 'invalid_request_error', undefined],
    ['counter_store_unavailable', 'api_error', undefined],
    ['upstream_timeout', 'api_error', undefined],
    ['internal_error', 'api_error', 'false'],
  ] as const)('renders %s as a %s', (reason: DenyReason, type, shouldRetry) => {
    const { status } = REASONS[reason];
    const e = stripeError(reason, 'Keybrake says no.', status);
    expect(e.status).toBe(status);
    expect(e.headers['content-type']).toBe('application/json');
    expect(e.headers['stripe-should-retry']).toBe(shouldRetry);
    expect(JSON.parse(e.body)).toEqual({ error: { type, code: reason, message: 'Keybrake says no.' } });
  });
});
