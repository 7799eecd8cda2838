import { describe, expect, it } from 'vitest';
import { holdsTokenShape, withoutToken, withoutTokenShapes } from './redact.ts';
import { mintRunToken, runSecretFor } from './run-token.ts';
import { fingerprint, newToken, tokenDigest } from './token.ts';

const token = newToken('stripe', { random: () => new Uint8Array(24).fill(7) });
const other = newToken('twilio', { random: () => new Uint8Array(24).fill(9), prefix: 'ab' });

describe('withoutToken', () => {
  it('replaces every occurrence by the fingerprint', () => {
    expect(withoutToken(`/v1/customers/${token}/x${token}`, token)).toBe(
      `/v1/customers/${fingerprint(token)}/x${fingerprint(token)}`,
    );
    expect(withoutToken('/v1/customers', token)).toBe('/v1/customers');
  });
});

describe('withoutTokenShapes', () => {
  it.each([
    ['a whole segment', `/${token}/v1/charges`],
    ['inside a segment, with text on both sides', `/v1/customers/x${token}y`],
    ['after an escape', `/v1/customers/%5F${token}`],
    [
      'fully percent-encoded',
      `/v1/customers/${[...token].map((c) => `%${c.charCodeAt(0).toString(16)}`).join('')}`,
    ],
    ['in a query', `/v1/customers?email=${token}`],
    ['with a short prefix of its own, twice', `/${other}/${other}`],
  ])('finds a vault token %s, and writes its fingerprint instead', (_name, text) => {
    const clean = withoutTokenShapes(text);
    expect(clean).not.toContain(token);
    expect(clean).not.toContain(other);
    expect(clean).toMatch(/…/);
    expect(holdsTokenShape(text)).toBe(true);
  });

  it('finds a run key', () => {
    const parent = {
      tokenPrefix: 'kb_stripe_',
      digest: tokenDigest(token),
      runSecret: runSecretFor(token, 'a/b'),
    };
    const runKey = mintRunToken(parent, {
      runId: 'run-1',
      capMicros: 1_000_000,
      issuedAt: 1_900_000_000_000,
      expiresAt: 2_000_000_000_000,
    });
    const clean = withoutTokenShapes(`/v1/customers/${runKey}`);
    expect(clean).not.toContain(runKey);
    expect(holdsTokenShape(runKey)).toBe(true);
  });

  it('leaves ids, digests, cursors and near misses alone', () => {
    const nearMiss = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
    for (const text of [
      `/v1/customers/${'a'.repeat(40)}`,
      `/v1/customers/${nearMiss}`,
      '/v1/customers/cus_NffrFeUfNV2Hib',
      `/2010-04-01/Accounts/AC${'0'.repeat(32)}/Messages/SM${'f'.repeat(32)}.json`,
      `/v1/customers?starting_after=${'x'.repeat(200)}`,
    ]) {
      expect(withoutTokenShapes(text)).toBe(text);
      expect(holdsTokenShape(text)).toBe(false);
    }
  });

  it('cuts short, and counts as holding one, what is too long to search', () => {
    const long = `/v1/customers/${'a'.repeat(300)}`;
    expect(withoutTokenShapes(long)).toBe('/v1/customers/aaaaaaaa…');
    expect(holdsTokenShape(long)).toBe(true);
    const many = Array.from({ length: 9 }, () => 'b'.repeat(45)).join('/');
    expect(holdsTokenShape(many)).toBe(true);
  });
});
