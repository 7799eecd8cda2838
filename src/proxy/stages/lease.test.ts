import { describe, expect, it } from 'vitest';
import { canonicalObject, FALLBACK_LEASE_TTL_MS, leaseAccount, leaseTtlMsFor } from './lease.ts';

describe('lease keys (ADR 0007 §5)', () => {
  it('shares one account between keys holding the same upstream credential, and no other', () => {
    const a = leaseAccount('stripe', { kind: 'bearer', token: 'sk_live_1' });
    expect(a).toMatch(/^stripe:[0-9a-f]{32}$/);
    expect(leaseAccount('stripe', { kind: 'bearer', token: 'sk_live_1' })).toBe(a);
    expect(leaseAccount('stripe', { kind: 'bearer', token: 'sk_live_2' })).not.toBe(a);
    expect(leaseAccount('resend', { kind: 'bearer', token: 'sk_live_1' })).not.toBe(
      a.replace('stripe', 'resend'),
    );
    expect(a).not.toContain('sk_live_1');
  });

  it('names a Twilio account by its SID, whichever credential of it the key holds', () => {
    const byToken = leaseAccount('twilio', { kind: 'basic', username: 'AC1', password: 'token' });
    const byApiKey = leaseAccount('twilio', {
      kind: 'basic',
      username: 'SK1',
      password: 's',
      accountSid: 'AC1',
    });
    expect(byApiKey).toBe(byToken);
  });

  it.each([
    ['pi_123', 'pi_123'],
    ['pi%5F123', 'pi_123'],
    ['PI_123', 'pi_123'],
    ['%E0%A4%A', undefined],
    ['', undefined],
  ])('reads object %j as %j', (id, expected) => {
    expect(canonicalObject(id)).toBe(expected);
  });

  it('outlives the upstream timeout by the margin', () => {
    expect(leaseTtlMsFor(30_000)).toBe(35_000);
    expect(FALLBACK_LEASE_TTL_MS).toBeGreaterThan(leaseTtlMsFor(30_000));
  });
});
