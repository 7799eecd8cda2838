import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createRedisCounterStore } from './redis-store.ts';
import { InvalidRedisUrlError } from './redis-url.ts';
import { CounterStoreUnavailableError } from './store.ts';

// The store against real servers is in test/e2e/redis-store.test.ts; these need no Redis at all.

async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const addr = srv.address();
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return typeof addr === 'object' && addr ? addr.port : 1;
}

const day = { kind: 'day', bucket: 'day:2026-11-26', limit: 100, amount: 1, ttlSeconds: 60 } as const;

describe('createRedisCounterStore', () => {
  it('rejects a malformed URL without echoing its password', () => {
    expect(() => createRedisCounterStore('redis://:hunter2@a:1,b:2')).toThrow(InvalidRedisUrlError);
    expect(() => createRedisCounterStore('redis://:hunter2@a:1,b:2')).not.toThrow(/hunter2/);
  });

  it('describes its target without credentials', async () => {
    const store = createRedisCounterStore(`redis://:hunter2@127.0.0.1:${await closedPort()}/2`);
    try {
      expect(store.description).toMatch(/^redis:\/\/127\.0\.0\.1:\d+\/2$/);
    } finally {
      await store.close();
    }
  });

  it('fails closed at once, without queueing, when nothing listens', async () => {
    const store = createRedisCounterStore(`redis://127.0.0.1:${await closedPort()}`, { timeoutMs: 200 });
    try {
      const started = performance.now();
      const error = await store.reserve({ scope: 's', windows: [day], now: 1 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CounterStoreUnavailableError);
      expect(performance.now() - started).toBeLessThan(300);
      await expect(store.used('s', 'day:2026-11-26')).rejects.toBeInstanceOf(CounterStoreUnavailableError);
      await expect(store.lastUsed('s')).rejects.toBeInstanceOf(CounterStoreUnavailableError);
      expect(await store.healthy()).toBe(false);
      expect(store.stats).toMatchObject({ roundTrips: 3, errors: 3 });
    } finally {
      await store.close();
    }
  });

  it('answers a call with no windows without touching Redis', async () => {
    const store = createRedisCounterStore(`redis://127.0.0.1:${await closedPort()}`);
    try {
      expect(
        await store.reserve({
          scope: 's',
          windows: [],
          now: 1,
          idempotency: { key: 'k', fingerprint: 'f' },
        }),
      ).toEqual({
        ok: true,
        replay: false,
        reservation: { scope: 's', money: [] },
      });
      await store.settle({ scope: 's', money: [{ bucket: 'day:x', amount: 5, ttlSeconds: 60 }] }, 5);
      expect(store.stats.roundTrips).toBe(0);
    } finally {
      await store.close();
    }
  });
});
