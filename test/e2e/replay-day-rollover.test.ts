// A free Idempotency-Key replay must not carry a call counted in a day that has ended into the next
// day (ADR 0007 §4 and §8, eleventh round). The probe's run (repro11-races/t12-shift.mjs, at a real
// midnight): call A ($5, Idempotency-Key K) was counted in day D and waited for an upstream
// connection, its key's share held by the agent's own slow calls; after midnight the same request
// and key (B) passed as a replay, free, and went out at once; at A's turn sendable.ts refused A (the
// day it was counted in had ended) but kept its $5 in D, since a replay of it had been admitted. The
// vendor, which never saw A, carried out B in D+1, and D+1's cap was whole: $15 moved in D+1 under a
// $10 daily cap. Here on an injected clock, with the real pipeline and Stripe adapter, before an
// upstream that records what it carries out (the "connection" is the test's to hand out), on the
// memory store and on a real redis-server with the retry through a second replica.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../../src/clock.ts';
import { MemoryCounterStore } from '../../src/counters/memory-store.ts';
import { createRedisCounterStore } from '../../src/counters/redis-store.ts';
import type { CounterStore } from '../../src/counters/store.ts';
import { decisionHeader } from '../../src/decision/reasons.ts';
import { loadExchangeRates } from '../../src/money/exchange-rates.ts';
import { LeaseBackoff } from '../../src/proxy/lease-backoff.ts';
import { createPipeline } from '../../src/proxy/pipeline.ts';
import {
  type ForwardRequest,
  UnsentDenial,
  type UpstreamResponse,
  type Upstreams,
} from '../../src/proxy/upstreams.ts';
import { SnapshotHolder } from '../../src/snapshot/holder.ts';
import { memoryAuditSink } from '../../src/telemetry/audit.ts';
import { silentLogger } from '../../src/telemetry/logger.ts';
import { createProxyMetrics } from '../../src/telemetry/metrics.ts';
import { newToken } from '../../src/tokens/token.ts';
import { createStripeAdapter } from '../../src/vendors/stripe/index.ts';
import { type RedisServer, startRedis } from '../env/redis.ts';

const USD = 1_000_000;
const TOKEN = newToken('stripe');
/** Ten seconds before the end of 2026-11-26 in the policy's time zone (UTC). */
const BEFORE_MIDNIGHT = '2026-11-26T23:59:50Z';
/** The upstream timeout: how long an answer may take once the call is on a connection. */
const ANSWER_MS = 30_000;

/** What the vendor carried out: each money call the first time it saw it, at the test's time. */
interface Executed {
  readonly at: number;
  readonly amountCents: number;
  readonly idempotencyKey: string | undefined;
}

/**
 * A Stripe stand-in behind a pool whose connections the test hands out: a call marked held waits
 * for `release()` before it is handed to a connection (the probe's key share kept busy by the
 * agent's slow calls), and each call is asked `admit` as undici asks it (upstreams.ts) before a byte
 * is sent. Charges are carried out once per Idempotency-Key, as Stripe does; a refused call is
 * answered unsent and never reaches the vendor.
 */
function recordingStripe(clock: { now(): number }) {
  const executed: Executed[] = [];
  const saved = new Map<string, UpstreamResponse>();
  let holdNext = false;
  let waiting: ((release: () => void) => void) | undefined;
  const vendor = (req: ForwardRequest): UpstreamResponse => {
    const key = headerValue(req.headers['idempotency-key']);
    const earlier = key === undefined ? undefined : saved.get(key);
    if (earlier !== undefined) return earlier;
    const amountCents = Number(new URLSearchParams(req.body?.toString() ?? '').get('amount'));
    executed.push({ at: clock.now(), amountCents, idempotencyKey: key });
    const answer = json(200, {
      id: `ch_${executed.length}`,
      object: 'charge',
      amount: amountCents,
      currency: 'usd',
      captured: true,
      amount_captured: amountCents,
    });
    if (key !== undefined) saved.set(key, answer);
    return answer;
  };
  const onConnection = (req: ForwardRequest): UpstreamResponse | UnsentDenial => {
    const refused = req.admit?.(ANSWER_MS);
    if (refused !== undefined) return new UnsentDenial(refused.reason, refused.message, refused.operation);
    return vendor(req);
  };
  const upstreams: Upstreams = {
    forward: async (req) => {
      if (!holdNext) return onConnection(req);
      holdNext = false;
      await new Promise<void>((connection) => waiting?.(connection));
      return onConnection(req);
    },
    close: async () => {},
  };
  return {
    upstreams,
    executed,
    /** The next call waits for a connection; resolves with its release once it waits. */
    holdNextCall(): Promise<() => void> {
      holdNext = true;
      return new Promise((resolve) => {
        waiting = resolve;
      });
    },
  };
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

const json = (status: number, body: unknown): UpstreamResponse => ({
  status,
  headers: { 'content-type': 'application/json' },
  body: Buffer.from(JSON.stringify(body)),
});

/** One proxy replica: the real pipeline and Stripe adapter on the given store and upstream. */
function replica(
  uid: string,
  store: CounterStore,
  upstreams: Upstreams,
  clock: ReturnType<typeof fixedClock>,
) {
  const snapshots = new SnapshotHolder(clock);
  snapshots.apply({
    version: 1,
    compiledAt: clock.now(),
    keys: new Map([
      [
        createHash('sha256').update(TOKEN).digest('hex'),
        {
          uid,
          namespace: 'agents',
          name: 'rollover',
          vendor: 'stripe' as const,
          tokenFingerprint: 'kb_stripe_…',
          upstream: { kind: 'bearer' as const, token: 'sk_real' },
          suspended: false,
          policy: {
            ref: 'agents/p',
            limits: { perDayMicros: 10 * USD },
            timezone: 'UTC',
            readsWhenStoreDown: false,
          },
        },
      ],
    ]),
  });
  const handle = createPipeline({
    snapshots,
    vendors: { stripe: createStripeAdapter({ rates: loadExchangeRates() }) },
    upstreams,
    counters: store,
    clock,
    audit: memoryAuditSink(),
    metrics: createProxyMetrics({ snapshotAgeSeconds: () => 0 }),
    log: silentLogger(),
    parseLimits: { maxBytes: 4096, maxDepth: 5, maxParams: 50 },
    leaseTtlMs: ANSWER_MS + 5_000,
    leaseBackoff: new LeaseBackoff({ monotonic: () => clock.now() }),
  });
  return (amountCents: number, idempotencyKey?: string) =>
    handle({
      method: 'POST',
      url: '/stripe/v1/charges',
      headers: {
        authorization: `Bearer ${TOKEN}`,
        'content-type': 'application/x-www-form-urlencoded',
        ...(idempotencyKey !== undefined ? { 'idempotency-key': idempotencyKey } : {}),
      },
      body: Buffer.from(`amount=${amountCents}&currency=usd&customer=cus_a`),
    });
}
let keys = 0;

const decision = (res: { headers: Record<string, string | string[]> }) => res.headers['keybrake-decision'];

let redis: RedisServer | undefined;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

/** The stores of the first attempt's replica and of the retry's, and how to close them. */
interface Stores {
  readonly first: CounterStore;
  readonly retry: CounterStore;
  close(): Promise<void>;
}

async function memoryStores(clock: ReturnType<typeof fixedClock>): Promise<Stores> {
  const store = new MemoryCounterStore({ clock, sweepIntervalMs: 0 });
  return { first: store, retry: store, close: async () => {} };
}

async function redisStores(): Promise<Stores> {
  const a = createRedisCounterStore(redis!.url, { timeoutMs: 2_000 });
  const b = createRedisCounterStore(redis!.url, { timeoutMs: 2_000 });
  expect(await a.waitUntilReady()).toBe(true);
  expect(await b.waitUntilReady()).toBe(true);
  return {
    first: a,
    retry: b,
    close: async () => {
      await Promise.all([a.close(), b.close()]);
    },
  };
}

describe.each([
  ['the memory store', memoryStores],
  ['Redis, the retry through another replica', redisStores],
])('a replay after the day its first attempt was counted in has ended (%s)', (_name, makeStores) => {
  it('is counted in the new day, so the vendor moves no more than the daily cap there', async () => {
    const clock = fixedClock(BEFORE_MIDNIGHT);
    const stripe = recordingStripe(clock);
    const stores = await makeStores(clock);
    try {
      // One vault key, served by both replicas; a fresh one per run, as Redis outlives a test.
      const uid = `agents/rollover-${process.pid}-${++keys}`;
      const first = replica(uid, stores.first, stripe.upstreams, clock);
      const retry =
        stores.retry === stores.first ? first : replica(uid, stores.retry, stripe.upstreams, clock);
      const idem = 'order-1';

      // A, counted in 2026-11-26, waits for a connection.
      const queued = stripe.holdNextCall();
      const a = first(500, idem);
      const release = await queued;

      // Midnight passes; B, the same request with the same key, is sent in 2026-11-27.
      clock.set('2026-11-27T00:00:00.300Z');
      const b = await retry(500, idem);
      expect(decision(b)).toBe(decisionHeader('ok'));

      // A's turn comes: the day it was counted in has ended, so it is not sent.
      clock.set('2026-11-27T00:00:01Z');
      release();
      expect(decision(await a)).toBe(decisionHeader('upstream_unavailable'));

      // A $10 charge in the new day.
      clock.set('2026-11-27T00:00:02Z');
      const c = await first(1000);

      // At the vendor: B was carried out (for the first time) in 2026-11-27; with it counted there,
      // the $10 charge no longer fits.
      const midnight = Date.parse('2026-11-27T00:00:00Z');
      const movedInNewDay = stripe.executed
        .filter((e) => e.at >= midnight)
        .reduce((s, e) => s + e.amountCents, 0);
      expect(stripe.executed).toHaveLength(1);
      expect(movedInNewDay).toBeLessThanOrEqual(1000);
      expect(decision(c)).toBe(decisionHeader('daily_cap_exceeded'));
      // A was given back to the day that ended (never sent); B is counted in the day it went out.
      expect(await stores.first.used(uid, 'day:2026-11-26')).toBe(0);
      expect(await stores.first.used(uid, 'day:2026-11-27')).toBe(5 * USD);
    } finally {
      await stores.close();
    }
  });
});
