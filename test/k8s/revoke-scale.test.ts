// Revocation does not slow down with the table (ADR 0013): `kubectl delete vaultkey` → key_unknown on
// three real proxies, 20 trials with 10 keys in the table and 20 with 10 000, the keys created in bulk
// through the API. The figures are printed either way; the assertions are about what snapshot deltas
// guarantee: a revocation reaches the proxies as a small delta, applied on top of their table, and the
// time from the operator's publish to the last proxy having applied it stays what it is with 10 keys.
// (The operator's own work on a change, validating and compiling the whole table, still grows with it,
// and on this shared machine its CPU slows the proxies' answers to the pollers too: both are printed,
// not asserted.) The 100 000-key run is bench/k8s-revoke.ts (docs/benchmarks.md).
import { afterAll, describe, expect, it } from 'vitest';
import { injectedControlPlane } from '../env/control-plane/inject.ts';
import { type RevokeScaleResult, removeScaleObjects, runRevokeScale } from './scale.ts';

const cp = injectedControlPlane();
const TRIALS = 20;
const LARGE = Number(process.env['KEYBRAKE_REVOKE_SCALE_KEYS'] ?? 10_000);
// How much slower distribution may be with the large table than with 10 keys, in ms, on top of
// twice the small figure. KEYBRAKE_REVOKE_SCALE_SLACK_MS raises it on a loaded machine.
const SLACK_MS = Number(process.env['KEYBRAKE_REVOKE_SCALE_SLACK_MS'] ?? 25);

const runs: Record<'small' | 'large', RevokeScaleResult | undefined> = { small: undefined, large: undefined };
const log = (line: string) => console.log(`[revoke-scale] ${line}`);

afterAll(async () => {
  for (const name of ['scale-small', 'scale-large']) {
    await removeScaleObjects(cp, `${name}-agents`);
    await cp.kubectl([
      'delete',
      'namespace',
      `${name}-agents`,
      `${name}-system`,
      '--wait=false',
      '--ignore-not-found',
    ]);
  }
});

describe(`revocation with 10 and ${LARGE} keys in the table (${TRIALS} trials each)`, () => {
  it('with 10 keys', { timeout: 300_000 }, async () => {
    runs.small = await runRevokeScale({ cp, keys: 10, trials: TRIALS, name: 'scale-small', log });
    expect(runs.small.trials).toHaveLength(TRIALS);
  });

  it(`with ${LARGE} keys`, { timeout: 900_000 }, async () => {
    runs.large = await runRevokeScale({ cp, keys: LARGE, trials: TRIALS, name: 'scale-large', log });
    expect(runs.large.trials).toHaveLength(TRIALS);
  });

  it('reaches every proxy as a one-key delta applied on top of its table, whatever the table size', () => {
    for (const run of [runs.small!, runs.large!]) {
      expect(run.summary.appliedKinds).toEqual(['delta']);
      expect(run.summary.deltaEntries.max).toBe(1);
      // One removed digest and its line: a few hundred bytes, not the table.
      expect(run.summary.deltaBytes.max).toBeLessThan(1_024);
    }
  });

  it('is distributed as fast with the large table as with 10 keys', () => {
    const small = runs.small!.summary;
    const large = runs.large!.summary;
    console.log(
      `[revoke-scale] ${JSON.stringify({
        keys: [runs.small!.keys, runs.large!.keys],
        p50AllMs: [small.all.p50, large.all.p50],
        p99AllMs: [small.all.p99, large.all.p99],
        p99OperatorLagMs: [small.operatorLag.p99, large.operatorLag.p99],
        p50DistributionMs: [small.distribution.p50, large.distribution.p50],
        p99DistributionMs: [small.distribution.p99, large.distribution.p99],
        p50AppliedMs: [small.applied.p50, large.applied.p50],
        p99AppliedMs: [small.applied.p99, large.applied.p99],
        p99ProxyApplyMs: [small.proxyApplyMs.p99, large.proxyApplyMs.p99],
        fullApplyMs: [runs.small!.fullApplyMs, runs.large!.fullApplyMs],
        createMs: runs.large!.createMs,
        firstTableMs: runs.large!.firstTableMs,
      })}`,
    );
    // From the operator's publish to the last proxy applying the delta: the stream and the apply.
    expect(large.applied.p50).toBeLessThan(small.applied.p50 + SLACK_MS);
    expect(large.applied.p99).toBeLessThan(2 * small.applied.p99 + SLACK_MS);
    // Applying the delta is the proxy's share: it must not grow with the table either. Its median
    // against a fixed bound. Its p99 is the slowest of 20, which one collector pause on the shared
    // CI machine sets (5.1, 5.6 and 6.6 ms seen, at either size; 40.5 ms once at load average 5-10,
    // a major collection of the 10 000-key heap, p50 0.35 ms): it is held against what applying the
    // whole large table cost the same proxies in this run (0.33-0.46 s at 10 000 keys), a quarter of
    // it, not against the small table's own slowest.
    expect(large.proxyApplyMs.p50).toBeLessThan(5);
    expect(large.proxyApplyMs.p99).toBeLessThan(runs.large!.fullApplyMs / 4);
  });
});
