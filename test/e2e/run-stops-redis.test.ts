// Stopped runs in the Redis counter store (ADR 0010) against real redis-server processes: the record
// the reserve script checks (in the same round trip, writing nothing when stopped), its expiry, the
// pub/sub message every replica hears, the index a late subscriber reads, and the same on a cluster.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STOPPED_RUNS_INDEX, stoppedRunsOfKey } from '../../src/counters/keys.ts';
import { createRedisCounterStore, type RedisCounterStore } from '../../src/counters/redis-store.ts';
import { windowsFor } from '../../src/counters/windows.ts';
import { MAX_STOPPED_RUNS_PER_KEY, type StoppedRun } from '../../src/snapshot/run-keys.ts';
import type { CompiledPolicy } from '../../src/snapshot/types.ts';
import { type RedisServer, startRedis, waitFor } from '../env/redis.ts';
import { type RedisClusterHandle, startRedisCluster } from '../env/redis-cluster.ts';

const USD = 1_000_000;
let seq = 0;
const freshScope = () => `agents/runs-${process.pid}-${++seq}`;
const policy: CompiledPolicy = {
  ref: 'agents/p',
  limits: { perDayMicros: 100 * USD, perRunMicros: 10 * USD },
  timezone: 'UTC',
  readsWhenStoreDown: false,
};

function runWindows(runId: string, now = Date.now()) {
  return windowsFor(policy, USD, now, runId, { capMicros: 5 * USD });
}

describe('stopped runs on one redis-server', () => {
  let server: RedisServer;
  const stores: RedisCounterStore[] = [];
  let inspect: Redis;

  beforeAll(async () => {
    server = await startRedis();
    for (let i = 0; i < 3; i++) stores.push(createRedisCounterStore(server.url, { timeoutMs: 1_000 }));
    for (const s of stores) expect(await s.waitUntilReady()).toBe(true);
    inspect = new Redis(server.port, '127.0.0.1');
  });

  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    inspect?.disconnect();
    await server?.stop();
  });

  it("refuses a stopped run's money in the reserve script itself, writing nothing, in one round trip", async () => {
    const [a, b] = stores as [RedisCounterStore, RedisCounterStore];
    const scope = freshScope();
    const now = Date.now();
    expect((await a.reserve({ scope, windows: runWindows('r1', now), now, runKey: 'r1' })).ok).toBe(true);
    await b.stopRun({ scope, runId: 'r1', until: now + 60_000 });
    const before = a.stats.roundTrips;
    expect(await a.reserve({ scope, windows: runWindows('r1', now), now, runKey: 'r1' })).toEqual({
      ok: false,
      stopped: true,
    });
    expect(a.stats.roundTrips - before).toBe(1);
    expect(await a.used(scope, 'run:r1')).toBe(USD);
    // Another run of the same key, and the same run id sent as a header (no run key), are not stopped.
    expect((await a.reserve({ scope, windows: runWindows('r2', now), now, runKey: 'r2' })).ok).toBe(true);
    expect((await a.reserve({ scope, windows: runWindows('r1', now), now })).ok).toBe(true);
  });

  it('keeps the stop exactly until the run can no longer be valid, and indexes it', async () => {
    const scope = freshScope();
    const until = Date.now() + 90_000;
    await stores[0]!.stopRun({ scope, runId: 'r1', until });
    const pttl = await inspect.pttl(`{vk:${scope}}:revoked-run:r1`);
    expect(pttl).toBeGreaterThan(80_000);
    expect(pttl).toBeLessThanOrEqual(90_000);
    expect(await inspect.zscore(STOPPED_RUNS_INDEX, JSON.stringify({ scope, runId: 'r1' }))).toBe(
      String(until),
    );
  });

  // Fourth probe round: every stop of a made-up run id left a record and an index entry for 7 days.
  it(`refuses a stop past ${MAX_STOPPED_RUNS_PER_KEY} live ones of a key, writing nothing, from any number of replicas`, async () => {
    const scope = freshScope();
    const until = Date.now() + 60_000;
    const stop = (i: number, runId = `made-up-${i}`) =>
      stores[i % stores.length]!.stopRun({ scope, runId, until });
    const first = MAX_STOPPED_RUNS_PER_KEY - 10;
    for (let i = 0; i < first; i += 1_000)
      await Promise.all(Array.from({ length: Math.min(1_000, first - i) }, (_, j) => stop(i + j)));
    // Three replicas race for the last 10 places: exactly 10 stops are taken.
    const raced = await Promise.all(Array.from({ length: 60 }, (_, j) => stop(j, `raced-${j}`)));
    expect(raced.filter((o) => o === 'stopped')).toHaveLength(10);
    expect(raced.filter((o) => o === 'too_many')).toHaveLength(50);
    expect(await inspect.zcard(stoppedRunsOfKey(scope))).toBe(MAX_STOPPED_RUNS_PER_KEY);
    const refused = raced.indexOf('too_many');
    expect(await inspect.exists(`{vk:${scope}}:revoked-run:raced-${refused}`)).toBe(0);
    expect(
      await inspect.zscore(STOPPED_RUNS_INDEX, JSON.stringify({ scope, runId: `raced-${refused}` })),
    ).toBeNull();
    // A run stopped already is stopped again; another key has its own bound.
    expect(await stop(0)).toBe('stopped');
    expect(await stores[0]!.stopRun({ scope: freshScope(), runId: 'r', until })).toBe('stopped');
    // The key's index lives as long as its last stop.
    expect(await inspect.pttl(stoppedRunsOfKey(scope))).toBeGreaterThan(50_000);
  });

  it('counts only live stops against the bound', async () => {
    const scope = freshScope();
    const now = Date.now();
    const members = Array.from({ length: MAX_STOPPED_RUNS_PER_KEY }, (_, i) => [
      String(now - 1),
      `old-${i}`,
    ]).flat();
    await inspect.zadd(stoppedRunsOfKey(scope), ...members);
    expect(await stores[0]!.stopRun({ scope, runId: 'new', until: now + 60_000 })).toBe('stopped');
    expect(await inspect.zrange(stoppedRunsOfKey(scope), '0', '-1')).toEqual(['new']);
  });

  it('tells every subscribed replica, and a replica that subscribes later reads it from the index', async () => {
    const scope = freshScope();
    const heard: StoppedRun[][] = [[], []];
    const watch = stores.slice(1).map((s, i) => s.watchStoppedRuns((r) => heard[i]!.push(r)));
    try {
      // Subscribed: the index read on connect has delivered every earlier stop by the time a ping
      // round-trips the subscription; a fresh stop must then arrive as a message.
      const run = { scope, runId: 'live', until: Date.now() + 60_000 };
      await waitFor(
        'both watchers subscribed',
        async () => (await inspect.pubsub('NUMSUB', 'keybrake:revoked-runs'))[1] === 2,
      );
      await stores[0]!.stopRun(run);
      await waitFor('both replicas to hear the stop', async () =>
        heard.every((h) => h.some((r) => r.scope === scope && r.runId === 'live')),
      );
      expect(heard[0]!.find((r) => r.scope === scope)).toEqual(run);

      const late: StoppedRun[] = [];
      const lateWatch = stores[0]!.watchStoppedRuns((r) => late.push(r));
      await waitFor('the late replica to read the stop from the index', async () =>
        late.some((r) => r.scope === scope && r.runId === 'live' && r.until === run.until),
      );
      await lateWatch.close();
    } finally {
      await Promise.all(watch.map((w) => w.close()));
    }
  });

  // A fourth-round probe: 120 000 stops read in one ZRANGEBYSCORE held Redis 137 to 228 ms (other
  // replicas' money calls failed closed) and outlasted the client's command timeout.
  it('reads a large index in pages, every live stop and none expired', async () => {
    const scope = freshScope();
    const now = Date.now();
    const live = 5_000;
    const members: string[] = [];
    for (let i = 0; i < live; i++)
      members.push(String(now + 600_000), JSON.stringify({ scope, runId: `p-${i}` }));
    members.push(String(now - 1), JSON.stringify({ scope, runId: 'expired' }));
    await inspect.zadd(STOPPED_RUNS_INDEX, ...members);
    await inspect.config('RESETSTAT');
    const heard = new Set<string>();
    const watch = stores[1]!.watchStoppedRuns((r) => {
      if (r.scope === scope) heard.add(r.runId);
    });
    try {
      await waitFor('every live stop read from the index', async () => heard.size >= live);
      expect(heard.has('expired')).toBe(false);
      const stats = await inspect.info('commandstats');
      const calls = (command: string) =>
        Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
      expect(calls('zrangebyscore')).toBe(0);
      expect(calls('zscan')).toBeGreaterThanOrEqual(live / 1_000);
    } finally {
      await watch.close();
      await inspect.zrem(STOPPED_RUNS_INDEX, ...members.filter((_, i) => i % 2 === 1));
    }
  });

  it('ignores a malformed message on the channel', async () => {
    const heard: StoppedRun[] = [];
    const watch = stores[1]!.watchStoppedRuns((r) => heard.push(r));
    try {
      await waitFor(
        'subscribed',
        async () => (await inspect.pubsub('NUMSUB', 'keybrake:revoked-runs'))[1] === 1,
      );
      const scope = freshScope();
      await inspect.publish('keybrake:revoked-runs', '{"scope":"x{y}","runId":"r","until":1}');
      await inspect.publish('keybrake:revoked-runs', 'not json');
      await stores[0]!.stopRun({ scope, runId: 'ok', until: Date.now() + 60_000 });
      await waitFor('the valid stop', async () => heard.some((r) => r.scope === scope));
      expect(heard.filter((r) => r.scope === 'x{y}')).toEqual([]);
    } finally {
      await watch.close();
    }
  });
});

describe('stopped runs on a three-master Redis Cluster', () => {
  let cluster: RedisClusterHandle;
  const stores: RedisCounterStore[] = [];

  beforeAll(async () => {
    cluster = await startRedisCluster();
    for (let i = 0; i < 2; i++) stores.push(createRedisCounterStore(cluster.url, { timeoutMs: 2_000 }));
    for (const s of stores) expect(await s.waitUntilReady(10_000)).toBe(true);
  });

  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await cluster?.stop();
  });

  it('stops, refuses in the script and publishes with no CROSSSLOT', async () => {
    const heard: StoppedRun[] = [];
    const watch = stores[1]!.watchStoppedRuns((r) => heard.push(r));
    try {
      const scopes = Array.from({ length: 6 }, freshScope);
      const now = Date.now();
      for (const scope of scopes) {
        expect(
          (await stores[0]!.reserve({ scope, windows: runWindows('r', now), now, runKey: 'r' })).ok,
        ).toBe(true);
      }
      // The subscription is up once a stop published now arrives; keep publishing until one does.
      for (const scope of scopes)
        expect(await stores[0]!.stopRun({ scope, runId: 'r', until: now + 60_000 })).toBe('stopped');
      for (const scope of scopes) {
        expect(await stores[1]!.reserve({ scope, windows: runWindows('r', now), now, runKey: 'r' })).toEqual({
          ok: false,
          stopped: true,
        });
      }
      await waitFor('every stop heard (message or index)', async () =>
        scopes.every((s) => heard.some((r) => r.scope === s)),
      );
    } finally {
      await watch.close();
    }
  });
});
