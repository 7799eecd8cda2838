// Run keys through the real pipeline (ADR 0010): the stripe adapter, the memory counter store, and a
// recording upstream, so "nothing forwarded" is checked where it matters.
import { describe, expect, it } from 'vitest';
import { stripeParentKey } from '../../test/fixtures/stripe-parent-key.ts';
import { withStripeAccount } from '../../test/fixtures/stripe-pipeline.ts';
import { fixedClock } from '../clock.ts';
import { MemoryCounterStore } from '../counters/memory-store.ts';
import type { CounterStore, ReserveRequest } from '../counters/store.ts';
import { loadExchangeRates } from '../money/exchange-rates.ts';
import { SnapshotHolder } from '../snapshot/holder.ts';
import { MAX_STOPPED_RUNS, MAX_STOPPED_RUNS_PER_KEY, STOPPED_RUNS_CEILING } from '../snapshot/run-keys.ts';
import type { CompiledKey, CompiledLimits, Snapshot } from '../snapshot/types.ts';
import { memoryAuditSink } from '../telemetry/audit.ts';
import { silentLogger } from '../telemetry/logger.ts';
import { createProxyMetrics } from '../telemetry/metrics.ts';
import { mintRunToken, type RunGrant, runSecretFor } from '../tokens/run-token.ts';
import { newToken, tokenDigest } from '../tokens/token.ts';
import { createResendAdapter } from '../vendors/resend/index.ts';
import { createStripeAdapter } from '../vendors/stripe/index.ts';
import { createTwilioAdapter } from '../vendors/twilio/index.ts';
import { createPipeline } from './pipeline.ts';
import { StoppedRuns } from './runs.ts';
import { findCaller } from './stages/authenticate.ts';
import { UnsentDenial, type Upstreams } from './upstreams.ts';

const USD = 1_000_000;
const NOW = Date.parse('2026-11-26T12:00:00Z');
const VAULT = newToken('stripe');
const OTHER_VAULT = newToken('stripe');
const RESEND_VAULT = newToken('resend');

function setup(
  opts: {
    limits?: CompiledLimits;
    parent?: Partial<CompiledKey>;
    requireRunId?: boolean;
    /** Runs as the upstream answers a price lookup (a GET made with the real key). */
    duringLookup?: () => void;
    /** Runs while the store renews the call's leases, just before the forward. */
    duringRenew?: () => void;
    /**
     * Runs while a write waits for an upstream connection; then, as createUpstreams does when one
     * comes free, the call's admit check decides whether it is sent at all.
     */
    whileWaiting?: () => void;
  } = {},
) {
  const clock = fixedClock(NOW);
  const snapshots = new SnapshotHolder(clock);
  const parent = stripeParentKey(
    'bot',
    VAULT,
    opts.parent,
    opts.limits ?? { perRunMicros: 10 * USD, perDayMicros: 100 * USD },
  );
  const withPolicy = opts.requireRunId
    ? { ...parent, policy: { ...parent.policy, requireRunId: true } }
    : parent;
  const snapshot: Snapshot = {
    version: 1,
    compiledAt: NOW,
    keys: new Map([
      [tokenDigest(VAULT), withPolicy],
      [tokenDigest(OTHER_VAULT), stripeParentKey('other', OTHER_VAULT)],
      [
        tokenDigest(RESEND_VAULT),
        { ...stripeParentKey('mailer', RESEND_VAULT), vendor: 'resend', tokenPrefix: 'kb_resend_' },
      ],
    ]),
  };
  snapshots.apply(snapshot);
  const sent: string[] = [];
  const upstreams: Upstreams = {
    forward: withStripeAccount(async (req) => {
      if (req.method === 'POST' && opts.whileWaiting) {
        opts.whileWaiting();
        const refused = req.admit?.(30_000);
        if (refused) return new UnsentDenial(refused.reason, refused.message);
      }
      sent.push(`${req.method} ${req.pathAndQuery} ${req.headers.authorization}`);
      if (req.method === 'GET' && req.pathAndQuery.startsWith('/v1/payment_intents/')) {
        opts.duringLookup?.();
        return {
          status: 200,
          headers: { 'content-type': 'application/json' },
          body: Buffer.from(
            JSON.stringify({
              id: 'pi_1',
              object: 'payment_intent',
              amount: 500,
              currency: 'usd',
              status: 'requires_confirmation',
            }),
          ),
        };
      }
      const amount = Number(new URLSearchParams(req.body?.toString() ?? '').get('amount'));
      return {
        status: 200,
        headers: { 'content-type': 'application/json' },
        body: Buffer.from(JSON.stringify({ id: 'ch_1', object: 'charge', amount, currency: 'usd' })),
      };
    }),
    close: async () => {},
  };
  const memory = new MemoryCounterStore({ clock, sweepIntervalMs: 0 });
  const reserves: ReserveRequest[] = [];
  const counters: CounterStore = Object.assign(Object.create(memory) as CounterStore, {
    reserve: (r: ReserveRequest) => {
      reserves.push(r);
      return memory.reserve(r);
    },
    // The store's private state is reached through its own methods, bound to it.
    acquireLeases: memory.acquireLeases.bind(memory),
    renewLeases: (...args: Parameters<typeof memory.renewLeases>) => {
      opts.duringRenew?.();
      return memory.renewLeases(...args);
    },
    releaseLeases: memory.releaseLeases.bind(memory),
    settle: memory.settle.bind(memory),
  });
  const stoppedRuns = new StoppedRuns(clock);
  const audit = memoryAuditSink();
  const handle = createPipeline({
    snapshots,
    vendors: { stripe: createStripeAdapter({ rates: loadExchangeRates() }) },
    upstreams,
    counters,
    clock,
    audit,
    metrics: createProxyMetrics({ snapshotAgeSeconds: () => 0 }),
    log: silentLogger(),
    parseLimits: { maxBytes: 4096, maxDepth: 5, maxParams: 50 },
    stoppedRuns,
  });
  const mint = (grant: Partial<RunGrant> = {}, key = withPolicy, vault = VAULT) =>
    mintRunToken(
      { tokenPrefix: key.tokenPrefix!, runSecret: key.runSecret!, digest: tokenDigest(vault) },
      { runId: 'run-1', issuedAt: NOW, expiresAt: NOW + 30 * 60_000, ...grant },
    );
  const charge = async (token: string, dollars: number, headers: Record<string, string> = {}) => {
    const res = await handle({
      method: 'POST',
      url: '/stripe/v1/charges',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/x-www-form-urlencoded',
        ...headers,
      },
      body: Buffer.from(`amount=${dollars * 100}&currency=usd&source=tok_visa`),
    });
    return { status: res.status, decision: String(res.headers['keybrake-decision']) };
  };
  const confirm = async (token: string) => {
    const res = await handle({
      method: 'POST',
      url: '/stripe/v1/payment_intents/pi_1/confirm',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: Buffer.alloc(0),
    });
    return { status: res.status, decision: String(res.headers['keybrake-decision']) };
  };
  const read = async (token: string) => {
    const res = await handle({
      method: 'GET',
      url: '/stripe/v1/customers',
      headers: { authorization: `Bearer ${token}` },
      body: Buffer.alloc(0),
    });
    return { status: res.status, decision: String(res.headers['keybrake-decision']) };
  };
  return {
    clock,
    snapshots,
    snapshot,
    parent: withPolicy,
    mint,
    charge,
    confirm,
    read,
    sent,
    audit,
    memory,
    reserves,
    stoppedRuns,
  };
}

describe('a run key', () => {
  it('is audited and capped per run without any header, under its own cap, the parent caps still applying', async () => {
    const t = setup();
    const token = t.mint({ capMicros: 5 * USD });
    expect(await t.charge(token, 2)).toEqual({ status: 200, decision: 'allow; reason=ok' });
    expect(await t.charge(token, 3)).toEqual({ status: 200, decision: 'allow; reason=ok' });
    expect(await t.charge(token, 1)).toEqual({ status: 403, decision: 'deny; reason=run_cap_exceeded' });
    expect(t.sent).toHaveLength(2);
    // The real key went upstream, never the run token.
    for (const s of t.sent) expect(s).toContain('Bearer sk_real');
    expect(t.audit.records.map((r) => [r.vaultKey, r.runId, r.decision])).toEqual([
      ['agents/bot', 'run-1', 'allow'],
      ['agents/bot', 'run-1', 'allow'],
      ['agents/bot', 'run-1', 'deny'],
    ]);
    expect(JSON.stringify(t.audit.records)).not.toContain(token);
    expect(await t.memory.used('agents/bot', 'run:run-1')).toBe(5 * USD);
    expect(await t.memory.used('agents/bot', 'day:2026-11-26')).toBe(5 * USD);
  });

  it("meets the policy's perRunUsd when it is lower than the token's cap (the policy changed after minting)", async () => {
    const t = setup({ limits: { perRunMicros: 3 * USD } });
    const token = t.mint({ capMicros: 5 * USD });
    expect((await t.charge(token, 3)).status).toBe(200);
    expect((await t.charge(token, 1)).decision).toBe('deny; reason=run_cap_exceeded');
  });

  it("meets the parent's daily cap across runs", async () => {
    const t = setup({ limits: { perDayMicros: 4 * USD } });
    expect((await t.charge(t.mint({ runId: 'a', capMicros: 3 * USD }), 3)).status).toBe(200);
    expect((await t.charge(t.mint({ runId: 'b', capMicros: 3 * USD }), 2)).decision).toBe(
      'deny; reason=daily_cap_exceeded',
    );
  });

  it('without a cap of its own, still reaches the counter store (where a stop is checked) on money calls', async () => {
    const t = setup({ limits: {} });
    expect((await t.charge(t.mint(), 1)).status).toBe(200);
    expect(t.reserves.map((r) => r.runKey)).toEqual(['run-1']);
    expect(t.reserves[0]!.windows.map((w) => w.kind)).toEqual(['run']);
  });

  it('satisfies requireRunId', async () => {
    const t = setup({ requireRunId: true });
    expect((await t.charge(VAULT, 1)).decision).toBe('deny; reason=run_id_required');
    expect((await t.charge(t.mint(), 1)).status).toBe(200);
  });

  it('accepts a Keybrake-Run-Id that agrees, and refuses one that names another run (run_id_invalid)', async () => {
    const t = setup();
    const token = t.mint();
    expect((await t.charge(token, 1, { 'keybrake-run-id': 'run-1' })).status).toBe(200);
    expect(await t.charge(token, 1, { 'keybrake-run-id': 'run-2' })).toEqual({
      status: 400,
      decision: 'deny; reason=run_id_invalid',
    });
    expect(await t.charge(token, 1, { baggage: 'keybrake.run_id=run-2' })).toMatchObject({ status: 400 });
    expect(t.sent).toHaveLength(1);
  });

  // Seventh round: the refusal was recorded with runId null, though the run key names its run.
  it.each([
    ['names another run', { 'keybrake-run-id': 'other' }],
    ['is malformed', { 'keybrake-run-id': 'a b' }],
    ['carries the run key itself', { 'keybrake-run-id': 'RUNKEY' }],
  ])('is recorded in its own run when the run id sent with it %s', async (_name, headers) => {
    const t = setup();
    const token = t.mint({ runId: 'myrun-7' });
    const sent = { 'keybrake-run-id': headers['keybrake-run-id'].replace('RUNKEY', token) };
    expect((await t.charge(token, 1, sent)).decision).toBe('deny; reason=run_id_invalid');
    expect(t.sent).toEqual([]);
    expect(t.audit.records.map((r) => [r.vaultKey, r.runId, r.reason])).toEqual([
      ['agents/bot', 'myrun-7', 'run_id_invalid'],
    ]);
    expect(JSON.stringify(t.audit.records)).not.toContain(token);
  });

  it('expires at its TTL, by the proxy clock', async () => {
    const t = setup();
    const token = t.mint({ expiresAt: NOW + 1_000 });
    expect((await t.read(token)).status).toBe(200);
    t.clock.advance(1_000);
    expect(await t.read(token)).toEqual({ status: 401, decision: 'deny; reason=key_expired' });
    expect(await t.charge(token, 1)).toEqual({ status: 401, decision: 'deny; reason=key_expired' });
    expect(t.sent).toHaveLength(1);
  });

  it('dies with its parent: suspended, expired, deleted or re-minted', async () => {
    const t = setup();
    const token = t.mint();
    const swap = (keys: Map<string, CompiledKey>) =>
      t.snapshots.apply({ ...t.snapshot, version: t.snapshots.current!.version + 1, keys });
    swap(new Map([[tokenDigest(VAULT), { ...t.parent, suspended: true }]]));
    expect((await t.read(token)).decision).toBe('deny; reason=key_suspended');
    swap(new Map([[tokenDigest(VAULT), { ...t.parent, expiresAt: NOW }]]));
    expect((await t.read(token)).decision).toBe('deny; reason=key_expired');
    swap(new Map());
    expect((await t.read(token)).decision).toBe('deny; reason=key_unknown');
    // The same key re-minted: a new token, hence a new key id and a new run secret.
    const fresh = newToken('stripe');
    swap(new Map([[tokenDigest(fresh), stripeParentKey('bot', fresh)]]));
    expect((await t.read(token)).decision).toBe('deny; reason=key_unknown');
    expect(t.sent).toEqual([]);
  });

  it('is refused on every call once its run is stopped, and only that run', async () => {
    const t = setup();
    const token = t.mint();
    const other = t.mint({ runId: 'run-2' });
    expect((await t.read(token)).status).toBe(200);
    t.stoppedRuns.add({ scope: 'agents/bot', runId: 'run-1', until: NOW + 60_000 });
    expect(await t.read(token)).toEqual({ status: 401, decision: 'deny; reason=key_unknown' });
    expect((await t.charge(token, 1)).decision).toBe('deny; reason=key_unknown');
    expect((await t.charge(other, 1)).status).toBe(200);
    // Another token of the same run (minted again) is stopped too.
    expect((await t.read(t.mint())).decision).toBe('deny; reason=key_unknown');
    expect(t.sent.filter((s) => s.startsWith('POST'))).toHaveLength(1);
  });

  it('names its key and run in the audit record when refused for its run, its expiry or its parent', async () => {
    const t = setup();
    const token = t.mint({ expiresAt: NOW + 1_000 });
    t.stoppedRuns.add({ scope: 'agents/bot', runId: 'run-1', until: NOW + 60_000 });
    expect((await t.read(token)).decision).toBe('deny; reason=key_unknown');
    t.clock.advance(1_000);
    expect((await t.read(token)).decision).toBe('deny; reason=key_expired');
    t.snapshots.apply({
      ...t.snapshot,
      version: t.snapshots.current!.version + 1,
      keys: new Map([[tokenDigest(VAULT), { ...t.parent, suspended: true }]]),
    });
    expect((await t.read(VAULT)).decision).toBe('deny; reason=key_suspended');
    // A credential no key holds is recorded as nobody's.
    expect((await t.read(newToken('stripe'))).decision).toBe('deny; reason=key_unknown');
    expect(t.audit.records.map((r) => [r.vaultKey, r.runId, r.reason])).toEqual([
      ['agents/bot', 'run-1', 'key_unknown'],
      ['agents/bot', 'run-1', 'key_expired'],
      ['agents/bot', null, 'key_suspended'],
      [null, null, 'key_unknown'],
    ]);
    expect(JSON.stringify(t.audit.records)).not.toContain(token);
    expect(t.sent).toEqual([]);
  });

  // From the third probe: a run key's confirm, priced by a 3 s lookup, was forwarded 2 s after the
  // key had expired; authenticate had judged it before the lookup.
  it.each<[string, (t: ReturnType<typeof setup>) => void, string]>([
    ['the run key expires', (t) => t.clock.advance(30 * 60_000), 'deny; reason=key_expired'],
    [
      'its run is stopped',
      (t) => t.stoppedRuns.add({ scope: 'agents/bot', runId: 'run-1', until: NOW + 60_000 }),
      'deny; reason=key_unknown',
    ],
    [
      'its key is suspended',
      (t) =>
        t.snapshots.apply({
          ...t.snapshot,
          version: 2,
          keys: new Map([[tokenDigest(VAULT), { ...t.parent, suspended: true }]]),
        }),
      'deny; reason=key_suspended',
    ],
    [
      'its key is deleted',
      (t) => t.snapshots.apply({ ...t.snapshot, version: 2, keys: new Map() }),
      'deny; reason=key_unknown',
    ],
  ])(
    'is refused, nothing forwarded, when %s while its price is looked up',
    async (_name, change, decision) => {
      let t: ReturnType<typeof setup> | undefined;
      t = setup({ duringLookup: () => change(t!) });
      const token = t.mint();
      expect(await t.confirm(token)).toEqual({ status: 401, decision });
      expect(t.sent.map((s) => s.split(' ')[0])).toEqual(['GET']);
      expect(await t.memory.used('agents/bot', 'run:run-1')).toBe(0);
    },
  );

  // From the fourth probe: a day cap lowered while a broadcast's recipients were read; the send was
  // reserved and forwarded under the old cap. And from the round's last probe: revalidate ran before
  // the lease renewal's round trip, so a policy changed during it was not seen before reserve.
  it.each<[string, 'duringLookup' | 'duringRenew']>([
    ['its price is looked up', 'duringLookup'],
    ['its leases are renewed', 'duringRenew'],
  ])(
    'is refused as policy_stale, nothing forwarded, when its policy changes while %s',
    async (_when, hook) => {
      let t: ReturnType<typeof setup> | undefined;
      const lowerCap = () =>
        t!.snapshots.apply({
          ...t!.snapshot,
          version: 2,
          keys: new Map([
            [
              tokenDigest(VAULT),
              { ...t!.parent, policy: { ...t!.parent.policy, limits: { perDayMicros: 1 } } },
            ],
          ]),
        });
      t = setup({ [hook]: lowerCap });
      expect(await t.confirm(VAULT)).toEqual({ status: 503, decision: 'deny; reason=policy_stale' });
      expect(t.sent.map((s) => s.split(' ')[0])).toEqual(['GET']);
    },
  );

  // From the fifth probe: a run key's charge queued behind held reads reached the vendor 9.8 s after
  // its run was stopped; the checks before the forward had passed while every connection was busy.
  it('is refused, nothing forwarded and its reservation given back, when its run is stopped while it waits for an upstream connection', async () => {
    let t: ReturnType<typeof setup> | undefined;
    t = setup({
      whileWaiting: () => t!.stoppedRuns.add({ scope: 'agents/bot', runId: 'run-1', until: NOW + 60_000 }),
    });
    expect(await t.charge(t.mint(), 1)).toEqual({ status: 401, decision: 'deny; reason=key_unknown' });
    expect(t.sent).toEqual([]);
    expect(await t.memory.used('agents/bot', 'run:run-1')).toBe(0);
    expect(await t.memory.used('agents/bot', 'day:2026-11-26')).toBe(0);
  });

  it('goes through when a new table keeps its policy while its price is looked up', async () => {
    let t: ReturnType<typeof setup> | undefined;
    t = setup({
      duringLookup: () => t!.snapshots.apply({ ...t!.snapshot, version: 2, keys: new Map(t!.snapshot.keys) }),
    });
    expect((await t.confirm(VAULT)).status).toBe(200);
    expect(t.sent.map((s) => s.split(' ')[0])).toEqual(['GET', 'POST']);
  });

  it('is refused by the reserve step when the store says the run was stopped elsewhere', async () => {
    const t = setup();
    const token = t.mint();
    const stoppedStore = Object.assign(Object.create(t.memory) as CounterStore, {
      reserve: async () => ({ ok: false as const, stopped: true as const }),
    });
    const handle = createPipeline({
      snapshots: t.snapshots,
      vendors: { stripe: createStripeAdapter({ rates: loadExchangeRates() }) },
      upstreams: {
        forward: async () => Promise.reject(new Error('must not forward')),
        close: async () => {},
      },
      counters: stoppedStore,
      clock: t.clock,
      audit: memoryAuditSink(),
      metrics: createProxyMetrics({ snapshotAgeSeconds: () => 0 }),
      log: silentLogger(),
      parseLimits: { maxBytes: 4096, maxDepth: 5, maxParams: 50 },
    });
    const res = await handle({
      method: 'POST',
      url: '/stripe/v1/charges',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: Buffer.from('amount=100&currency=usd&source=tok_visa'),
    });
    expect(res.status).toBe(401);
    expect(res.headers['keybrake-decision']).toBe('deny; reason=key_unknown');
  });
});

describe('a run token that is not one', () => {
  it.each<[string, (t: ReturnType<typeof setup>) => string]>([
    [
      'forged under a guessed secret',
      (t) => t.mint({}, { ...t.parent, runSecret: runSecretFor('guess', 'agents/bot') }),
    ],
    ['tampered (its run id changed)', (t) => t.mint().replace('A', 'B')],
    ['truncated', (t) => t.mint().slice(0, -1)],
    [
      'minted by another key, its key id swapped',
      (t) => {
        const mine = t.mint();
        const theirs = t.mint({}, t.snapshot.keys.get(tokenDigest(OTHER_VAULT))!, OTHER_VAULT);
        return mine.slice(0, -41) + theirs.slice(-41, -25) + mine.slice(-25);
      },
    ],
    ['of another vendor', (t) => t.mint({}, t.snapshot.keys.get(tokenDigest(RESEND_VAULT))!, RESEND_VAULT)],
    ['under the wrong prefix', (t) => t.mint().replace('kb_stripe_', 'kb_strip3_')],
  ])('is key_unknown when %s, and nothing is forwarded', async (_name, make) => {
    const t = setup();
    const token = make(t);
    expect(await t.charge(token, 1)).toEqual({ status: 401, decision: 'deny; reason=key_unknown' });
    expect(await t.read(token)).toEqual({ status: 401, decision: 'deny; reason=key_unknown' });
    expect(t.sent).toEqual([]);
  });

  it('still lets an ordinary vault key through (the run-key path is only for run-token shapes)', async () => {
    const t = setup();
    expect((await t.charge(VAULT, 1)).status).toBe(200);
    expect(t.audit.records[0]!.runId).toBeNull();
  });
});

describe('StoppedRuns', () => {
  it('keeps a stop until its end, idempotently, and forgets it after', () => {
    const clock = fixedClock(NOW);
    const runs = new StoppedRuns(clock);
    const heard: string[] = [];
    runs.onAdd((r) => heard.push(r.runId));
    expect(runs.add({ scope: 's', runId: 'r', until: NOW + 10 })).toBe(true);
    expect(runs.add({ scope: 's', runId: 'r', until: NOW + 5 })).toBe(false);
    expect(runs.add({ scope: 's', runId: 'r', until: NOW - 1 })).toBe(false);
    expect(runs.has('s', 'r')).toBe(true);
    expect(runs.has('t', 'r')).toBe(false);
    expect(runs.list()).toEqual([{ scope: 's', runId: 'r', until: NOW + 10 }]);
    clock.advance(10);
    expect(runs.has('s', 'r')).toBe(false);
    runs.sweep();
    expect(runs.size).toBe(0);
    expect(heard).toEqual(['r']);
  });

  it(`says when a new stop would pass ${MAX_STOPPED_RUNS_PER_KEY} live stops of a key or ${STOPPED_RUNS_CEILING} of the process, and never drops one`, () => {
    const clock = fixedClock(NOW);
    const runs = new StoppedRuns(clock);
    for (let i = 0; i < MAX_STOPPED_RUNS_PER_KEY - 1; i++)
      runs.add({ scope: 's', runId: `r${i}`, until: NOW + 10 });
    expect(runs.boundReached('s', 'stop')).toBeUndefined();
    runs.add({ scope: 's', runId: 'last', until: NOW + 20 });
    expect(runs.boundReached('s', 'stop')).toBe('key');
    expect(runs.boundReached('s', 'start')).toBe('key');
    expect(runs.boundReached('t', 'stop')).toBeUndefined();
    // Stops heard from elsewhere (Redis, the operator) are kept past the bound: they were taken.
    expect(runs.add({ scope: 's', runId: 'heard', until: NOW + 20 })).toBe(true);
    expect(runs.has('s', 'heard')).toBe(true);
    expect(runs.size).toBe(MAX_STOPPED_RUNS_PER_KEY + 1);
    // Expired stops do not count: swept before a refusal.
    clock.advance(10);
    expect(runs.boundReached('s', 'stop')).toBeUndefined();
    expect(runs.size).toBe(2);
    for (let k = 0; runs.size < STOPPED_RUNS_CEILING; k++)
      runs.add({ scope: `k${k % 20}`, runId: `r${k}`, until: NOW + 20 });
    expect(runs.boundReached('fresh', 'stop')).toBe('process');
    expect(runs.boundReached('fresh', 'start')).toBe('process');
    expect(runs.add({ scope: 'fresh', runId: 'heard', until: NOW + 20 })).toBe(true);
    expect(runs.has('s', 'last')).toBe(true);
  });

  // Seventh round: with the process bound refusing stops, one key's 10 000 made-up stops on top of
  // the ~90 000 a busy fleet's `run exec`s leave had every other key's stops and starts refused, and
  // a run still going could not be stopped.
  it("never refuses a key's stop for other keys' stops, and starts no run of a key holding its share", () => {
    const clock = fixedClock(NOW);
    const runs = new StoppedRuns(clock);
    const fill = (scope: string, n: number) => {
      for (let i = 0; i < n; i++) runs.add({ scope, runId: `run-${i}`, until: NOW + 60_000 });
    };
    for (let k = 0; k < 10; k++) fill(`ns/normal-${k}`, 9_500);
    fill('ns/victim', 100);
    for (let i = 0; runs.boundReached('ns/adversary', 'stop') === undefined; i++)
      runs.add({ scope: 'ns/adversary', runId: `junk-${i}`, until: NOW + 30_000 });
    expect(runs.boundReached('ns/adversary', 'stop')).toBe('key');
    expect(runs.size).toBe(10 * 9_500 + 100 + MAX_STOPPED_RUNS_PER_KEY);
    expect(runs.size).toBeGreaterThan(MAX_STOPPED_RUNS);
    // The victim, and a key holding no stop, may stop and start runs.
    for (const scope of ['ns/victim', 'ns/new']) {
      expect(runs.boundReached(scope, 'stop')).toBeUndefined();
      expect(runs.boundReached(scope, 'start')).toBeUndefined();
    }
    // A key holding at least an equal share (100 000 / 12 holders) starts no run, but stops its own.
    expect(runs.boundReached('ns/normal-0', 'start')).toBe('share');
    expect(runs.boundReached('ns/normal-0', 'stop')).toBeUndefined();
    // Once the adversary's stops have expired the process holds less than the bound: it may again.
    clock.advance(30_000);
    expect(runs.boundReached('ns/normal-0', 'start')).toBeUndefined();
  });
});

describe('run keys in every vendor credential reader', () => {
  const key = (vendor: 'stripe' | 'twilio' | 'resend', token: string): CompiledKey => ({
    ...stripeParentKey(`${vendor}-bot`, token),
    vendor,
    tokenPrefix: `kb_${vendor}_`,
  });
  const cases = [
    ['stripe', 'Bearer', createStripeAdapter({ rates: loadExchangeRates() })],
    ['stripe', 'Basic user', createStripeAdapter({ rates: loadExchangeRates() })],
    ['twilio', 'Basic password', createTwilioAdapter()],
    ['resend', 'Bearer', createResendAdapter()],
  ] as const;

  it.each(cases)('%s reads a run key from %s', (vendor, how, adapter) => {
    const vault = newToken(vendor);
    const k = key(vendor, vault);
    const snapshot: Snapshot = { version: 1, compiledAt: NOW, keys: new Map([[tokenDigest(vault), k]]) };
    const token = mintRunToken(
      { tokenPrefix: k.tokenPrefix!, runSecret: k.runSecret!, digest: tokenDigest(vault) },
      { runId: 'r', issuedAt: NOW, expiresAt: NOW + 60_000 },
    );
    const authorization =
      how === 'Bearer'
        ? `Bearer ${token}`
        : how === 'Basic user'
          ? `Basic ${Buffer.from(`${token}:`).toString('base64')}`
          : `Basic ${Buffer.from(`AC00000000000000000000000000000001:${token}`).toString('base64')}`;
    const found = findCaller(adapter, { authorization }, snapshot, NOW);
    expect(found).toMatchObject({ key: { name: `${vendor}-bot` }, run: { runId: 'r' } });
  });
});
