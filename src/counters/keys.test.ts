import { describe, expect, it } from 'vitest';
import { idempotencyRecordKey, leaseKey } from './keys.ts';

describe('idempotencyRecordKey', () => {
  // Found by a probe: a vault token sent as Idempotency-Key was stored in clear in a Redis key name.
  it('never writes the caller-chosen key into the record name', () => {
    const token = `kb_stripe_${'A'.repeat(39)}`;
    const brought = 'foreign-agent-token-0123456789abcdefXYZ';
    for (const key of [token, brought, 'order-1']) {
      const name = idempotencyRecordKey('ns/bot', key);
      expect(name).not.toContain(key);
      expect(name).toMatch(/^\{vk:ns\/bot\}:idem:sha256:[0-9a-f]{64}$/);
    }
  });

  it('names one record per key, a literal sha256:<hex> key another', () => {
    const a = idempotencyRecordKey('s', 'order-1');
    expect(idempotencyRecordKey('s', 'order-1')).toBe(a);
    expect(idempotencyRecordKey('s', a.slice('{vk:s}:idem:'.length))).not.toBe(a);
  });
});

describe('leaseKey', () => {
  it('keeps a short printable object id readable', () => {
    expect(leaseKey('stripe:0123456789abcdef', 'pi_1')).toBe('{lease:stripe:0123456789abcdef}:pi_1');
  });
});
