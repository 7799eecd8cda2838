// Two releases whose scopes overlap, on the test control plane: one watches every namespace, the
// other one tenant namespace. Found by a tester: both served the tenant's VaultKey, each fleet with
// its own counters, so $40 of refunds reached Stripe against a $20/day cap. Now the tenant namespace
// is claimed (Lease keybrake-claim) by the release that came first; the other fleet answers
// key_unknown until that claim lapses, and then takes it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { injectedControlPlane } from '../env/control-plane/inject.ts';
import { get, metric, until } from '../env/k8s-system.ts';
import { startTwoReleases, type TwoReleases } from './two-releases.ts';

const cp = injectedControlPlane();

let r: TwoReleases;

beforeAll(async () => {
  r = await startTwoReleases(cp, 'claims');
});

afterAll(async () => {
  await r?.close();
});

describe('two releases watching one namespace', () => {
  it('serve its key from one fleet only: the cap holds at the upstream', async () => {
    r.stripe.reset();
    const wideAnswers: string[] = [];
    const teamAnswers: string[] = [];
    for (let i = 0; i < 3; i++) {
      wideAnswers.push(await r.call(r.widePool, 'POST'));
      teamAnswers.push(await r.call(r.teamPool, 'POST'));
    }
    expect(r.chargesForwarded()).toBe(2);
    expect(wideAnswers).toEqual(['ok', 'ok', 'daily_cap_exceeded']);
    expect(teamAnswers).toEqual(['key_unknown', 'key_unknown', 'key_unknown']);
    expect(await r.claimHolder()).toBe(r.wideHolder);
    // Said loudly on the team's operator: an error log line and this gauge.
    const teamOperator = r.team.operators.get('a')!;
    const claimedElsewhere = async () =>
      metric(await get(`${teamOperator.adminUrl}/metrics`), 'keybrake_operator_namespaces_claimed_elsewhere');
    await until(async () => (await claimedElsewhere()) === 1, 5_000, 'the team release to report the claim');
  });

  it('passes the namespace to the other release once the first is gone and its claim has lapsed', async () => {
    await r.stopWide();
    await until(
      async () => (await r.call(r.teamPool, 'GET')) === 'ok',
      30_000,
      'the team release to take the key',
    );
    expect(await r.claimHolder()).toBe(r.teamHolder);
  });
});
