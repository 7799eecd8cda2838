// A namespace's claim deleted or handed over by hand stays with the release that holds it, and a
// release whose operator.leaseName changes keeps its claims (twelfth round, ops probe, findings 2
// and 3). Found by a tester with two releases, each with its own counters: (2) a tenant allowed to
// delete Leases in its own namespace (RBAC cannot prevent it) deleted `keybrake-claim` until the
// other release's leader recreated it first (2 to 10 deletions): that release served the namespace
// from its own counters, $20 reached Stripe against a $10/day cap. (3) `helm upgrade --set
// operator.leaseName=…` renamed the release in its claims (`<namespace>/<leaseName>`), so it took
// its own claims for another release's: every key key_unknown for a claim duration, or the claims
// went to the other release. Now a release that last saw another hold the claim leaves a deleted
// or handed-over claim to it for the claim's duration (the holder, alive, recreates or takes it back
// within its round), and the chart names the release in its claims by its operator's name.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { injectedControlPlane } from '../env/control-plane/inject.ts';
import { until } from '../env/k8s-system.ts';
import { startTwoReleases, type TwoReleases } from './two-releases.ts';

const cp = injectedControlPlane();

let r: TwoReleases;

beforeAll(async () => {
  r = await startTwoReleases(cp, 'handmove', { teamSeesClaim: true });
});

afterAll(async () => {
  await r?.close();
});

describe('a claim deleted or handed over by hand (a tenant allowed to write Leases in its namespace)', () => {
  it('stays with the release that holds it: the other never serves the key, the cap holds at the upstream', async () => {
    // The wide leader takes its claim back only once it has read its own renewals unbroken for a
    // claim duration and its renew deadline (twelfth round, probe fixes12k: a hold aged through a
    // tenant's writes let two releases take it back from each other every round): the spend waits
    // until the claim is established.
    expect(await r.spendCapUntilEstablished()).toEqual(['ok', 'ok', 'daily_cap_exceeded']);
    // The tester's loop: delete the claim, see who recreated it, again (it moved within 2 to 10).
    const holders: string[] = [];
    for (let i = 0; i < 12; i++) {
      await r.kubectl(['delete', 'lease', 'keybrake-claim', '--ignore-not-found']);
      let holder = '';
      await until(
        async () => {
          holder = await r.claimHolder();
          return holder !== '';
        },
        20_000,
        'the claim to be recreated',
      );
      holders.push(holder);
    }
    expect(holders).toEqual(Array(12).fill(r.wideHolder));
    // And handed to the other release by hand, twice.
    for (let i = 0; i < 2; i++) {
      await r.kubectl([
        'patch',
        'lease',
        'keybrake-claim',
        '--type',
        'merge',
        '-p',
        JSON.stringify({ spec: { holderIdentity: r.teamHolder } }),
      ]);
      await until(
        async () => (await r.claimHolder()) === r.wideHolder,
        20_000,
        'the wide release to take its claim back',
      );
    }
    // The wide release serves the key again (a claim duration after the last change by hand) ...
    await until(
      async () => (await r.call(r.widePool, 'GET')) === 'ok',
      30_000,
      'the wide release to serve again',
    );
    // ... and the team's still does not: nothing more is forwarded, whoever is asked.
    expect([await r.call(r.teamPool, 'POST'), await r.call(r.teamPool, 'GET')]).toEqual([
      'key_unknown',
      'key_unknown',
    ]);
    expect(await r.call(r.widePool, 'POST')).toBe('daily_cap_exceeded');
    expect(r.chargesForwarded()).toBe(2);
    expect(await r.claimHolder()).toBe(r.wideHolder);
  });
});

describe('a release whose operator.leaseName changes (helm upgrade)', () => {
  /** The claim's holderIdentity and renewTime. */
  const claim = async () => {
    const got = await cp.kubectl(['-n', r.tenant, 'get', 'lease', 'keybrake-claim', '-o', 'json']);
    const spec = (JSON.parse(got.stdout) as { spec: { holderIdentity?: string; renewTime?: string } }).spec;
    return { holder: spec.holderIdentity ?? '', renewTime: spec.renewTime ?? '' };
  };
  /** Until operator `identity` leads and has renewed the claim twice, under `holder`. */
  const renewedBy = async (identity: string, holder: string) => {
    await r.wide.operators.get(identity)!.process.waitForLog((l) => l['msg'] === 'leading', 30_000);
    const seen = new Set<string>();
    await until(
      async () => {
        const c = await claim();
        if (c.holder === holder) seen.add(c.renewTime);
        return seen.size >= 3;
      },
      30_000,
      `operator ${identity} to renew the claim as ${holder}`,
    );
  };
  /** What operator `identity` logged about the tenant namespace's claim: nothing while it serves it. */
  const claimProblems = (identity: string) =>
    r.wide.operators
      .get(identity)!
      .process.output()
      .split('\n')
      .filter((l) => l.includes(`"namespace":"${r.tenant}"`) && /claim/.test(l));

  it('keeps its claims: the restarted operator renews and serves them at once, under the same name', async () => {
    await until(async () => (await r.call(r.widePool, 'GET')) === 'ok', 30_000, 'the wide release to serve');
    // As the chart renders a new operator.leaseName: another leader Lease, the same --claim-holder.
    await r.wide.operators.get('a')!.process.stop();
    await r.wide.startOperator('b', {}, ['--lease-name', 'keybrake-renamed', '--claim-holder', r.wideHolder]);
    await renewedBy('b', r.wideHolder);
    expect(claimProblems('b')).toEqual([]);
    expect(await r.call(r.widePool, 'GET')).toBe('ok');
  });

  it('takes the claims held under its former name (a custom leaseName upgraded to --claim-holder) for its own', async () => {
    await r.wide.operators.get('b')!.process.stop();
    // Before --claim-holder the release was named by its Lease: its claim as such a release wrote it.
    await r.kubectl([
      'patch',
      'lease',
      'keybrake-claim',
      '--type',
      'merge',
      '-p',
      JSON.stringify({ spec: { holderIdentity: `${r.wideHolder.split('/')[0]}/keybrake-renamed` } }),
    ]);
    await r.wide.startOperator('c', {}, ['--lease-name', 'keybrake-renamed', '--claim-holder', r.wideHolder]);
    await renewedBy('c', r.wideHolder);
    expect(claimProblems('c')).toEqual([]);
    await until(async () => (await r.call(r.widePool, 'GET')) === 'ok', 20_000, 'the release to serve');
    expect(await r.call(r.teamPool, 'GET')).toBe('key_unknown');
  });
});
