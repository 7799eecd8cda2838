import { describe, expect, it } from 'vitest';
import { withoutToken, withoutTokenShapes } from './redact.ts';
import { fingerprint, newToken } from './token.ts';

const token = newToken('stripe', { random: () => new Uint8Array(24).fill(7) });

describe('withoutToken', () => {
  it('replaces every occurrence by the fingerprint', () => {
    expect(withoutToken(`/v1/customers/${token}/x${token}`, token)).toBe(
      `/v1/customers/${fingerprint(token)}/x${fingerprint(token)}`,
    );
    expect(withoutToken('/v1/customers', token)).toBe('/v1/customers');
  });
});

describe('withoutTokenShapes', () => {
  it('replaces a segment that is a vault token (its checksum holds) by its fingerprint', () => {
    const path = withoutTokenShapes(`/${token}/v1/charges`);
    expect(path).toBe(`/${fingerprint(token)}/v1/charges`);
    expect(path).not.toContain(token);
  });

  it('leaves ids, digests and near misses alone', () => {
    const sha = 'a'.repeat(40);
    const nearMiss = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
    for (const path of [`/v1/customers/${sha}`, `/v1/customers/${nearMiss}`, '/v1/customers/cus_123'])
      expect(withoutTokenShapes(path)).toBe(path);
  });
});
