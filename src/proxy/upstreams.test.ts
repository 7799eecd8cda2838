import { describe, expect, it } from 'vitest';
import { DEFAULT_UPSTREAMS, parseUpstreams, upstreamHeaders } from './upstreams.ts';

describe('upstreamHeaders', () => {
  it('swaps the credential and drops hop-by-hop and Keybrake headers', () => {
    const out = upstreamHeaders(
      {
        authorization: 'Bearer kb_stripe_vault',
        connection: 'keep-alive, x-private',
        'x-private': 'drop me',
        'keep-alive': 'timeout=5',
        'transfer-encoding': 'chunked',
        'keybrake-run-id': 'run-1',
        'idempotency-key': 'abc',
        'stripe-version': '2025-01-01',
        host: 'keybrake:8081',
      },
      'Bearer sk_test_real',
    );
    expect(out).toEqual({
      authorization: 'Bearer sk_test_real',
      'idempotency-key': 'abc',
      'stripe-version': '2025-01-01',
    });
  });
});

describe('parseUpstreams', () => {
  it('overrides one vendor and keeps the other defaults', () => {
    const cfg = parseUpstreams(['stripe=http://127.0.0.1:12111/']);
    expect(cfg).toEqual({ ...DEFAULT_UPSTREAMS, stripe: 'http://127.0.0.1:12111' });
  });
  it.each([
    ['an unknown vendor', 'paypal=https://api.paypal.com'],
    ['a missing vendor', '=https://x'],
    ['a non-http scheme', 'stripe=file:///etc/passwd'],
    ['a bad URL', 'stripe=not a url'],
  ])('rejects %s', (_name, pair) => {
    expect(() => parseUpstreams([pair])).toThrow();
  });
});
