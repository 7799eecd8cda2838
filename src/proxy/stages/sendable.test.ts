import { describe, expect, it } from 'vitest';
import { snapshotServing, stripeParentKey } from '../../../test/fixtures/stripe-parent-key.ts';
import { fixedClock } from '../../clock.ts';
import { loadExchangeRates } from '../../money/exchange-rates.ts';
import type { Snapshot } from '../../snapshot/types.ts';
import type { RunGrant } from '../../tokens/run-token.ts';
import { newToken, tokenDigest } from '../../tokens/token.ts';
import { createStripeAdapter } from '../../vendors/stripe/index.ts';
import { newContext, type PipelineDeps } from '../context.ts';
import { StoppedRuns } from '../runs.ts';
import { LEASE_MARGIN_MS, LEASE_UNCONFIRMED_MS } from './lease.ts';
import { sendable } from './sendable.ts';

const NOW = Date.parse('2026-11-26T23:59:50Z');
const VAULT = newToken('stripe');
/** The upstream timeout: how long the answer may take once the call is on a connection. */
const ANSWER_MS = 30_000;

const key = stripeParentKey('bot', VAULT);

/** A call past reserve, waiting for an upstream connection, as the forward's admit check sees it. */
function waiting() {
  const clock = fixedClock(NOW);
  const snapshot = snapshotServing(VAULT, key, NOW);
  const snapshots = { current: snapshot as Snapshot | undefined };
  const stoppedRuns = new StoppedRuns(clock);
  const ctx = newContext({
    method: 'POST',
    url: '/v1/charges',
    headers: { authorization: `Bearer ${VAULT}` },
    body: Buffer.alloc(0),
  });
  ctx.adapter = createStripeAdapter({ rates: loadExchangeRates() });
  ctx.table = snapshot;
  ctx.key = key;
  const deps = { clock, snapshots, stoppedRuns } as unknown as PipelineDeps;
  return { clock, snapshots, snapshot, stoppedRuns, ctx, deps };
}

type Waiting = ReturnType<typeof waiting>;

describe('sendable: a call is sent only while what admitted it still holds', () => {
  it('sends a call nothing has changed for', () => {
    const t = waiting();
    expect(sendable(t.ctx, t.deps, ANSWER_MS)).toBeUndefined();
  });

  // Ninth round: Redis lost a queued confirm's lease 2.5 s after its renewal, another replica raised
  // the amount, and the confirm, trusting the lease until its TTL, charged it.
  it('refuses a call whose leases the store vouched for longer ago than it trusts them (object_busy), and not a moment earlier', () => {
    const t = waiting();
    t.ctx.leases = { account: 'stripe:x', objects: ['pi_1'], token: 't' };
    t.ctx.leasesConfirmedAt = NOW;
    t.clock.advance(LEASE_UNCONFIRMED_MS);
    expect(sendable(t.ctx, t.deps, ANSWER_MS)).toBeUndefined();
    t.clock.advance(1);
    expect(sendable(t.ctx, t.deps, ANSWER_MS)).toMatchObject({
      reason: 'object_busy',
      message: expect.stringContaining('after the counter store last confirmed its lock'),
    });
  });

  it('refuses a call whose leases could lapse before its answer (object_busy), and not a moment earlier', () => {
    const t = waiting();
    const deps = { ...t.deps, leaseTtlMs: ANSWER_MS + 500 } as PipelineDeps;
    t.ctx.leases = { account: 'stripe:x', objects: ['pi_1'], token: 't' };
    t.ctx.leasesConfirmedAt = NOW;
    t.clock.advance(500);
    expect(sendable(t.ctx, deps, ANSWER_MS)).toBeUndefined();
    t.clock.advance(1);
    expect(sendable(t.ctx, deps, ANSWER_MS)).toMatchObject({
      reason: 'object_busy',
      message: expect.stringContaining('could lapse before the vendor answers'),
    });
  });

  it('trusts a lock no longer unconfirmed than the lease margin outlasts an answer', () => {
    expect(LEASE_UNCONFIRMED_MS).toBeLessThan(LEASE_MARGIN_MS);
  });

  it.each<[string, (t: Waiting) => void, string]>([
    [
      'its key is deleted',
      (t) => (t.snapshots.current = { ...t.snapshot, version: 2, keys: new Map() }),
      'key_unknown',
    ],
    [
      'its key is suspended',
      (t) =>
        (t.snapshots.current = {
          ...t.snapshot,
          version: 2,
          keys: new Map([[tokenDigest(VAULT), { ...key, suspended: true }]]),
        }),
      'key_suspended',
    ],
    [
      'its policy changes',
      (t) =>
        (t.snapshots.current = {
          ...t.snapshot,
          version: 2,
          keys: new Map([
            [tokenDigest(VAULT), { ...key, policy: { ...key.policy, limits: { perDayMicros: 1 } } }],
          ]),
        }),
      'policy_stale',
    ],
    [
      'its run is stopped',
      (t) => {
        t.ctx.runKey = { runId: 'run-1', issuedAt: NOW, expiresAt: NOW + 60_000 } satisfies RunGrant;
        t.stoppedRuns.add({ scope: key.uid, runId: 'run-1', until: NOW + 60_000 });
      },
      'key_unknown',
    ],
    [
      'the day it was counted in ends',
      (t) => {
        t.ctx.reservation = {
          scope: key.uid,
          money: [{ bucket: 'day:2026-11-26', amount: 1, ttlSeconds: 60 }],
        };
        t.clock.advance(10_000);
      },
      'upstream_unavailable',
    ],
  ])('refuses a call when %s while it waits: %s', (_what, change, reason) => {
    const t = waiting();
    change(t);
    expect(sendable(t.ctx, t.deps, ANSWER_MS)).toMatchObject({ reason });
  });

  it('sends a call counted in a day that has not ended', () => {
    const t = waiting();
    t.ctx.reservation = { scope: key.uid, money: [{ bucket: 'day:2026-11-26', amount: 1, ttlSeconds: 60 }] };
    t.clock.advance(9_999);
    expect(sendable(t.ctx, t.deps, ANSWER_MS)).toBeUndefined();
  });
});
