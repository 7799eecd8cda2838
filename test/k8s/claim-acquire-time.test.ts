// A namespace's claim given, while its holder's operator restarts, an acquireTime the API server
// stores but refuses when written back (thirteenth round, probe fixes13k, finding 1, HIGH). The API
// server takes 9999-12-31T23:59:59.999999-01:00, stores the instant and reads it back in UTC as
// 10000-01-01T00:59:59.999999Z, which it refuses (400) as input. The restarted operator, at its first
// look, kept the claim's acquireTime and wrote it back verbatim at every round: every write a 400, its
// hold lapsed, and the other release took the claim and served the namespace from its own counters
// (4 charges at the emulator against a $2/day cap). Now an acquireTime is kept only as the API server
// takes it back (writableMicroTime), and a renewal refused as invalid is sent again with the holder's
// own stamp. Charges are counted at the emulator.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { injectedControlPlane } from '../env/control-plane/inject.ts';
import { until } from '../env/k8s-system.ts';
import { startTwoReleases, type TwoReleases } from './two-releases.ts';

const cp = injectedControlPlane();

let r: TwoReleases;

/** The tenant namespace's claim as stored. */
const claim = async () => {
  const got = await cp.kubectl(['-n', r.tenant, 'get', 'lease', 'keybrake-claim', '-o', 'json']);
  if (got.code !== 0) return { holder: '', acquireTime: '', renewTime: '' };
  const spec = (
    JSON.parse(got.stdout) as { spec: { holderIdentity?: string; acquireTime?: string; renewTime?: string } }
  ).spec;
  return {
    holder: spec.holderIdentity ?? '',
    acquireTime: spec.acquireTime ?? '',
    renewTime: spec.renewTime ?? '',
  };
};

/** Lines of the wide release's operator `a` and of the team's about the tenant namespace's claim. */
const refusedWrites = () => r.wideLog('a').filter((l) => /cannot claim namespace/.test(l));
const teamTookIt = () =>
  r.team.operators
    .get('a')!
    .process.output()
    .split('\n')
    .filter((l) => l.includes(`"namespace":"${r.tenant}"`) && /took over|took back/.test(l));

beforeAll(async () => {
  r = await startTwoReleases(cp, 'claimacquire', { teamSeesClaim: true });
});

afterAll(async () => {
  await r?.close();
});

describe('a claim given an acquireTime the API server cannot take back while its holder restarts (thirteenth round)', () => {
  it('the restarted holder renews with its own, serves on, and the other release never takes the namespace: the cap holds at the upstream', async () => {
    expect(await r.spendCapUntilEstablished()).toEqual(['ok', 'ok', 'daily_cap_exceeded']);
    const operator = r.wide.operators.get('a')!;
    // The holder's operator restarts; the tenant patches once while nobody renews the claim.
    await operator.process.stop();
    await r.kubectl([
      'patch',
      'lease',
      'keybrake-claim',
      '--type',
      'merge',
      '-p',
      JSON.stringify({ spec: { acquireTime: '9999-12-31T23:59:59.999999-01:00' } }),
    ]);
    expect(await claim()).toMatchObject({
      holder: r.wideHolder,
      acquireTime: '10000-01-01T00:59:59.999999Z',
    });
    await r.wide.startOperator('a');
    await until(
      async () => {
        const now = await claim();
        return now.holder === r.wideHolder && /^\d{4}-/.test(now.acquireTime);
      },
      30_000,
      'the restarted operator to renew the claim under an acquireTime of its own',
    );
    const renewedFrom = Date.parse((await claim()).renewTime);
    await until(
      async () => (await r.call(r.widePool, 'GET')) === 'ok',
      30_000,
      'the wide release to serve again',
    );
    // Two claim durations (5 s each) of the holder's renewals, read off the claim itself: long
    // enough for the team release to take a claim left unrenewed, which it must not.
    await until(
      async () => Date.parse((await claim()).renewTime) - renewedFrom >= 10_000,
      60_000,
      'the holder to renew its claim for two claim durations',
    );
    expect((await claim()).holder).toBe(r.wideHolder);
    expect([await r.call(r.teamPool, 'POST'), await r.call(r.teamPool, 'GET')]).toEqual([
      'key_unknown',
      'key_unknown',
    ]);
    expect(await r.call(r.widePool, 'POST')).toBe('daily_cap_exceeded');
    expect(r.chargesForwarded()).toBe(2);
    expect(refusedWrites()).toEqual([]);
    expect(teamTookIt()).toEqual([]);
  });
});
