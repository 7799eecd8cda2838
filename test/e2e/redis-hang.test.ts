// A hung Redis (SIGSTOP: the connection stays up, nothing is answered) fails closed for calls that
// touch no counter too: a free write, a read under `readsWhenCountersDown: deny` and a destructive
// call are refused (503 counter_store_unavailable) and never reach the vendor, as when Redis is gone;
// once Redis answers again they pass. Sixth round: all three were forwarded while Redis hung, because
// the connection still said `ready` (docs/counters.md, "Fail closed").
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StripeEmulator, startStripeEmulator } from '../../src/emulators/stripe.ts';
import type { KeybrakeProcess } from '../env/keybrake.ts';
import { manifestDir } from '../env/keybrake.ts';
import { type RedisServer, startRedis, waitFor } from '../env/redis.ts';
import { mintKeys, startReplicas, UPSTREAM_KEY } from './fixtures/replicas.ts';

const { files, keys } = mintKeys([
  {
    name: 'no-rate',
    // No requestsPerMinute: the free calls below count nothing, so only the store's state stops them.
    limits: { perDayUsd: '100' },
    readsWhenCountersDown: 'deny',
    endpoints: ['POST /v1/customers', 'GET /v1/**', 'DELETE /v1/customers/cus_1'],
  },
]);

const CALLS = {
  'free write': { method: 'POST', path: '/v1/customers', body: 'name=x' },
  'read under deny': { method: 'GET', path: '/v1/customers' },
  'destructive call': { method: 'DELETE', path: '/v1/customers/cus_1' },
} as const;
type CallName = keyof typeof CALLS;

describe('keybrake serve on a redis-server that hangs', () => {
  let redis: RedisServer | undefined;
  let emulator: StripeEmulator | undefined;
  let manifests: Awaited<ReturnType<typeof manifestDir>> | undefined;
  let proxy: KeybrakeProcess | undefined;

  beforeAll(async () => {
    [redis, emulator, manifests] = await Promise.all([
      startRedis(),
      startStripeEmulator({ validKeys: [UPSTREAM_KEY] }),
      manifestDir(files),
    ]);
    [proxy] = await startReplicas(1, { manifests: manifests.dir, redis: redis.url, upstream: emulator.url });
  });

  afterAll(async () => {
    redis?.resume();
    await proxy?.stop();
    await Promise.allSettled([emulator?.close(), redis?.stop(), manifests?.remove()]);
  });

  async function call(name: CallName): Promise<{ status: number; code: string | undefined }> {
    const c: { method: string; path: string; body?: string } = CALLS[name];
    const res = await fetch(new URL(c.path, proxy!.urls['stripe']), {
      method: c.method,
      headers: {
        authorization: `Bearer ${keys['no-rate'].token}`,
        ...(c.body === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' }),
      },
      ...(c.body === undefined ? {} : { body: c.body }),
      signal: AbortSignal.timeout(5_000),
    });
    const body = (await res.json().catch(() => ({}))) as { error?: { code?: string } };
    return { status: res.status, code: body.error?.code };
  }

  const seen = (name: CallName) =>
    emulator!.requests.filter((r) => r.method === CALLS[name].method && r.path === CALLS[name].path).length;

  /** Sends the call and returns what it got and whether the vendor saw it. */
  async function forwarded(name: CallName) {
    const before = seen(name);
    const answer = await call(name);
    return { ...answer, forwarded: seen(name) - before };
  }

  it('refuses the free write, the read under deny and the destructive call while Redis hangs, forwarding none', async () => {
    // Answering: each is forwarded (the DELETE meets the emulator's 404: it reached the vendor).
    for (const name of Object.keys(CALLS) as CallName[]) {
      expect(await forwarded(name), name).toMatchObject({ forwarded: 1 });
      expect((await call(name)).code, name).not.toBe('counter_store_unavailable');
    }

    redis!.pause();
    try {
      // Noticed within about two --redis-timeouts (an idle connection is probed); poll until then.
      await waitFor(
        'the proxy to see Redis hung',
        async () => (await call('read under deny')).status === 503,
      );
      for (const name of Object.keys(CALLS) as CallName[]) {
        expect(await forwarded(name), name).toEqual({
          status: 503,
          code: 'counter_store_unavailable',
          forwarded: 0,
        });
      }
    } finally {
      redis!.resume();
    }

    await waitFor(
      'the proxy to see Redis answer again',
      async () => (await call('read under deny')).status === 200,
    );
    expect(await forwarded('free write')).toMatchObject({ status: 200, forwarded: 1 });
    expect(await forwarded('read under deny')).toMatchObject({ status: 200, forwarded: 1 });
    expect(await forwarded('destructive call')).toMatchObject({ forwarded: 1 });
  });
});
