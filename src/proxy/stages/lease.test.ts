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
    // One spelling per UUID (Postgres reads every one below as the first): only the canonical one.
    ['4f8b2d1e-9c3a-4e7b-8a61-2b5c9d0e7f13', '4f8b2d1e-9c3a-4e7b-8a61-2b5c9d0e7f13'],
    ['4F8B2D1E-9C3A-4E7B-8A61-2B5C9D0E7F13', '4f8b2d1e-9c3a-4e7b-8a61-2b5c9d0e7f13'],
    ['4f8b2d1e9c3a4e7b8a612b5c9d0e7f13', undefined],
    ['{4f8b2d1e-9c3a-4e7b-8a61-2b5c9d0e7f13}', undefined],
    ['%7B4f8b2d1e-9c3a-4e7b-8a61-2b5c9d0e7f13%7D', undefined],
    ['4f8b-2d1e-9c3a-4e7b-8a61-2b5c-9d0e-7f13', undefined],
    ['4f8b2d1e-9c3a4e7b-8a612b5c9d0e7f13', undefined],
    ['%204f8b2d1e-9c3a-4e7b-8a61-2b5c9d0e7f13', undefined],
    // Not UUIDs: a Twilio SID of hex letters, a Stripe id, a shorter run of hex digits.
    ['CA4f8b2d1e9c3a4e7b8a612b5c9d0e7f13', 'ca4f8b2d1e9c3a4e7b8a612b5c9d0e7f13'],
    ['ch_4f8b2d1e9c3a4e7b8a612b5c9d0e7f13', 'ch_4f8b2d1e9c3a4e7b8a612b5c9d0e7f13'],
    ['4f8b2d1e9c3a', '4f8b2d1e9c3a'],
  ])('reads object %j as %j', (id, expected) => {
    expect(canonicalObject(id)).toBe(expected);
  });

  it('outlives the upstream timeout by the margin', () => {
    expect(leaseTtlMsFor(30_000)).toBe(35_000);
    expect(FALLBACK_LEASE_TTL_MS).toBeGreaterThan(leaseTtlMsFor(30_000));
  });
});
