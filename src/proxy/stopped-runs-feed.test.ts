// A replica's stopped-run set while it cannot know every stop (ADR 0010, seventh round): before its
// first read of the shared stops and from the loss of its subscription until it has read them again,
// every run key is refused and nothing is forwarded, checked at a recording upstream; vault keys go on.
import { describe, expect, it } from 'vitest';
import { runKeyOf, snapshotServing, stripeParentKey } from '../../test/fixtures/stripe-parent-key.ts';
import { withStripeAccount } from '../../test/fixtures/stripe-pipeline.ts';
import { fixedClock } from '../clock.ts';
import { MemoryCounterStore } from '../counters/memory-store.ts';
import type { CounterStore, RunStopStore } from '../counters/store.ts';
import { loadExchangeRates } from '../money/exchange-rates.ts';
import { SnapshotHolder } from '../snapshot/holder.ts';
import type { StoppedRun } from '../snapshot/run-keys.ts';
import { memoryAuditSink } from '../telemetry/audit.ts';
import { silentLogger } from '../telemetry/logger.ts';
import { createProxyMetrics } from '../telemetry/metrics.ts';
import { newToken } from '../tokens/token.ts';
import { createStripeAdapter } from '../vendors/stripe/index.ts';
import { createPipeline } from './pipeline.ts';
import { STOPS_READY_WAIT_MS, startStoppedRuns } from './stopped-runs-feed.ts';
import type { Upstreams } from './upstreams.ts';

const NOW = Date.parse('2026-12-01T12:00:00Z');
const VAULT = newToken('stripe');
const UID = 'agents/bot';

/** A shared store whose subscription the test drives: stops and completeness as Redis would report them. */
function sharedStops() {
  const memory = new MemoryCounterStore({ clock: fixedClock(NOW), sweepIntervalMs: 0 });
  let stopped: ((run: StoppedRun) => void) | undefined;
  let complete: ((complete: boolean) => void) | undefined;
  const stopStore: RunStopStore = {
    stopRun: async () => 'stopped',
    watchStoppedRuns(onStopped, onComplete) {
      stopped = onStopped;
      complete = onComplete;
      return { close: async () => {} };
    },
  };
  const counters = Object.assign(memory, stopStore) as CounterStore & RunStopStore;
  return {
    counters,
    deliver: (runId: string) => stopped!({ scope: UID, runId, until: NOW + 60_000 }),
    complete: (known: boolean) => complete!(known),
  };
}

function setup(opts: { duringLookup?: () => void } = {}) {
  const clock = fixedClock(NOW);
  const key = stripeParentKey('bot', VAULT);
  const snapshots = new SnapshotHolder(clock);
  snapshots.apply(snapshotServing(VAULT, key, NOW));
  const shared = sharedStops();
  let monotonic = 0;
  const feed = startStoppedRuns(shared.counters, clock, { monotonic: () => monotonic });
  const sent: string[] = [];
  const upstreams: Upstreams = {
    forward: withStripeAccount(async (req) => {
      sent.push(`${req.method} ${req.pathAndQuery}`);
      const lookup = req.method === 'GET' && req.pathAndQuery.startsWith('/v1/payment_intents/');
      if (lookup) opts.duringLookup?.();
      const body = lookup
        ? {
            id: 'pi_1',
            object: 'payment_intent',
            amount: 500,
            currency: 'usd',
            status: 'requires_confirmation',
          }
        : { id: 'cus_1', object: 'customer' };
      return {
        status: 200,
        headers: { 'content-type': 'application/json' },
        body: Buffer.from(JSON.stringify(body)),
      };
    }),
    close: async () => {},
  };
  const handle = createPipeline({
    snapshots,
    vendors: { stripe: createStripeAdapter({ rates: loadExchangeRates() }) },
    upstreams,
    counters: shared.counters,
    clock,
    audit: memoryAuditSink(),
    metrics: createProxyMetrics({ snapshotAgeSeconds: () => 0 }),
    log: silentLogger(),
    parseLimits: { maxBytes: 4096, maxDepth: 5, maxParams: 50 },
    stoppedRuns: feed.stoppedRuns,
  });
  const call = async (token: string, method: 'GET' | 'POST', path: string, body = '') => {
    const res = await handle({
      method,
      url: `/stripe${path}`,
      headers: {
        authorization: `Bearer ${token}`,
        ...(method === 'POST' ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
      body: Buffer.from(body),
    });
    return `${res.status} ${String(res.headers['keybrake-decision'])}`;
  };
  const runKey = (runId: string) =>
    runKeyOf(key, VAULT, { runId, issuedAt: NOW, expiresAt: NOW + 30 * 60_000 });
  return {
    ...shared,
    feed,
    sent,
    runKey,
    elapse: (ms: number) => {
      monotonic += ms;
    },
    read: (token: string) => call(token, 'GET', '/v1/customers?limit=1'),
    freeWrite: (token: string) => call(token, 'POST', '/v1/customers', 'name=late'),
    confirm: (token: string) => call(token, 'POST', '/v1/payment_intents/pi_1/confirm'),
  };
}

const NOT_KNOWN = '503 deny; reason=counter_store_unavailable';

describe('a replica that shares stops through its counter store', () => {
  it('refuses every run key, forwarding nothing, until it has read the shared stops; vault keys go on', async () => {
    const t = setup();
    const stopped = t.runKey('late-1');
    const live = t.runKey('live-1');
    for (const token of [stopped, live]) {
      expect(await t.read(token)).toBe(NOT_KNOWN);
      expect(await t.freeWrite(token)).toBe(NOT_KNOWN);
    }
    expect(t.sent).toEqual([]);
    expect(await t.read(VAULT)).toBe('200 allow; reason=ok');
    expect(t.sent).toEqual(['GET /v1/customers?limit=1']);
    // Read through: the stopped run is known, and the others' keys work.
    t.deliver('late-1');
    t.complete(true);
    expect(await t.read(stopped)).toBe('401 deny; reason=key_unknown');
    expect(await t.freeWrite(live)).toBe('200 allow; reason=ok');
    expect(t.sent).toEqual(['GET /v1/customers?limit=1', 'POST /v1/customers']);
  });

  it('refuses every run key again from the loss of its subscription until it has read the stops again', async () => {
    const t = setup();
    t.complete(true);
    const token = t.runKey('r-1');
    expect(await t.read(token)).toBe('200 allow; reason=ok');
    // Disconnected: a stop published now is missed; the re-read after reconnecting finds it.
    t.complete(false);
    expect(await t.read(token)).toBe(NOT_KNOWN);
    expect(await t.freeWrite(token)).toBe(NOT_KNOWN);
    expect(await t.read(VAULT)).toBe('200 allow; reason=ok');
    t.deliver('r-1');
    t.complete(true);
    expect(await t.read(token)).toBe('401 deny; reason=key_unknown');
    expect(t.sent).toEqual(['GET /v1/customers?limit=1', 'GET /v1/customers?limit=1']);
  });

  it('refuses a run key, forwarding nothing more, whose stops stop being known while its price is looked up', async () => {
    let t: ReturnType<typeof setup> | undefined;
    t = setup({ duringLookup: () => t!.complete(false) });
    t.complete(true);
    expect(await t.confirm(t.runKey('r-1'))).toBe(NOT_KNOWN);
    expect(t.sent).toEqual(['GET /v1/payment_intents/pi_1']);
  });

  it('is not ready until its first read of the stops, or for at most STOPS_READY_WAIT_MS', () => {
    const t = setup();
    expect(t.feed.readiness()).toMatch(/stopped runs not read/);
    t.complete(true);
    expect(t.feed.readiness()).toBeUndefined();
    // A later loss of the subscription refuses run keys but keeps the replica ready (ADR 0011).
    t.complete(false);
    expect(t.feed.readiness()).toBeUndefined();

    const slow = setup();
    slow.elapse(STOPS_READY_WAIT_MS - 1);
    expect(slow.feed.readiness()).toMatch(/stopped runs not read/);
    slow.elapse(1);
    expect(slow.feed.readiness()).toBeUndefined();
    expect(slow.feed.stoppedRuns.complete).toBe(false);
  });
});

describe('a replica whose stops are its own (memory counters)', () => {
  it('knows every stop from the start: ready, and run keys admitted', async () => {
    const clock = fixedClock(NOW);
    const feed = startStoppedRuns(new MemoryCounterStore({ clock, sweepIntervalMs: 0 }), clock);
    expect(feed.readiness()).toBeUndefined();
    expect(feed.stoppedRuns.complete).toBe(true);
  });
});
