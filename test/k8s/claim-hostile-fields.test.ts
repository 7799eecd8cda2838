// A namespace's claim patched by hand with values the API server stores but a holder's own write
// cannot build on (thirteenth round, probe k8s13, finding 1, HIGH; finding 2a, MEDIUM). A tenant
// allowed to write Leases in its namespace patched `keybrake-claim` once: holderIdentity the other
// release, leaseTransitions 2147483647. The holder's take-back wrote leaseTransitions + 1 = 2^31,
// which the API server refuses (int32: 400) at every round, so its hold lapsed, the other release
// adopted the claim, and served the namespace from its own counters: 4 charges reached the upstream
// against a $2/day cap. Named nobody, the claim stayed unserved for good (every take-over a 400).
// Now a leaseTransitions written over another's stops at the int32 ceiling (leader-election.ts
// nextLeaseTransitions). Charges are counted at the emulator.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { injectedControlPlane } from '../env/control-plane/inject.ts';
import { until } from '../env/k8s-system.ts';
import { startTwoReleases, type TwoReleases } from './two-releases.ts';

const cp = injectedControlPlane();
const INT32_MAX = 2_147_483_647;

let r: TwoReleases;

/** The tenant namespace's claim as stored. */
const claim = async () => {
  const got = await cp.kubectl(['-n', r.tenant, 'get', 'lease', 'keybrake-claim', '-o', 'json']);
  if (got.code !== 0) return { holder: '', transitions: undefined };
  const spec = (JSON.parse(got.stdout) as { spec: { holderIdentity?: string; leaseTransitions?: number } })
    .spec;
  return { holder: spec.holderIdentity ?? '', transitions: spec.leaseTransitions };
};

/** The tenant's one write: a merge patch of the claim's spec. */
const patchClaim = (spec: Record<string, unknown>) =>
  r.kubectl(['patch', 'lease', 'keybrake-claim', '--type', 'merge', '-p', JSON.stringify({ spec })]);

/** What the wide leader logged about failing to write the tenant namespace's claim. */
const refusedWrites = () => r.wideLog('a').filter((l) => /cannot claim namespace/.test(l));

beforeAll(async () => {
  r = await startTwoReleases(cp, 'claimfields', { teamSeesClaim: true });
});

afterAll(async () => {
  await r?.close();
});

describe('a claim patched by hand with leaseTransitions at the int32 ceiling (thirteenth round)', () => {
  it('handed to the other release: the holder takes it back, the other never serves, the cap holds at the upstream', async () => {
    expect(await r.spendCapUntilEstablished()).toEqual(['ok', 'ok', 'daily_cap_exceeded']);
    await patchClaim({ holderIdentity: r.teamHolder, leaseTransitions: INT32_MAX });
    // Taken back within a round or so (250 ms); the other release would adopt it only after 5 s.
    await until(
      async () => (await claim()).holder === r.wideHolder,
      20_000,
      'the wide release to take its claim back',
    );
    expect(await claim()).toEqual({ holder: r.wideHolder, transitions: INT32_MAX });
    await until(
      async () => (await r.call(r.widePool, 'GET')) === 'ok',
      30_000,
      'the wide release to serve again',
    );
    expect([await r.call(r.teamPool, 'POST'), await r.call(r.teamPool, 'GET')]).toEqual([
      'key_unknown',
      'key_unknown',
    ]);
    expect(await r.call(r.widePool, 'POST')).toBe('daily_cap_exceeded');
    expect(r.chargesForwarded()).toBe(2);
    expect(refusedWrites()).toEqual([]);
  });

  it('named nobody: the holder takes it back and serves the namespace again', async () => {
    await patchClaim({ holderIdentity: 'nobody/else', leaseTransitions: INT32_MAX });
    await until(
      async () => (await claim()).holder === r.wideHolder,
      20_000,
      'the wide release to take its claim back',
    );
    await until(
      async () => (await r.call(r.widePool, 'GET')) === 'ok',
      30_000,
      'the wide release to serve again',
    );
    expect(await r.call(r.teamPool, 'GET')).toBe('key_unknown');
    expect(await claim()).toEqual({ holder: r.wideHolder, transitions: INT32_MAX });
    expect(r.chargesForwarded()).toBe(2);
    expect(refusedWrites()).toEqual([]);
  });
});
