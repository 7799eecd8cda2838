import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, silentLogger } from '../telemetry/logger.ts';
import { LeaseError, type LeaseRecord, type LeaseStore } from './leader-election.ts';
import {
  createNamespaceClaims,
  LONGEST_CLAIM_FACTOR,
  SHOWN_HOLDER_CHARS,
  shownHolder,
} from './namespace-claims.ts';

const INT32_MAX = 2_147_483_647;

const RFC3339 = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|([+-])(\d\d):(\d\d))$/;

/**
 * A MicroTime as the API server takes and stores it: any RFC 3339 time with a four-digit year and an
 * offset is taken, and stored as its instant in UTC with microseconds, whatever year that gives
 * (9999-12-31T23:59:59.999999-01:00 is stored as 10000-01-01T00:59:59.999999Z, which it then refuses
 * as input: observed on kube-apiserver, thirteenth round). undefined for a time it refuses.
 */
function apiMicroTime(text: string): string | undefined {
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  const offsetMin = m[8] === 'Z' ? 0 : (m[9] === '-' ? -1 : 1) * (Number(m[10]) * 60 + Number(m[11]));
  const d = new Date(0);
  d.setUTCFullYear(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  d.setUTCHours(Number(m[4]), Number(m[5]) - offsetMin, Number(m[6]));
  const y = d.getUTCFullYear();
  const year = y < 0 ? `-${String(-y).padStart(4, '0')}` : String(y).padStart(4, '0');
  const two = (n: number) => String(n).padStart(2, '0');
  const micros = (m[7] ?? '').padEnd(6, '0').slice(0, 6);
  return `${year}-${two(d.getUTCMonth() + 1)}-${two(d.getUTCDate())}T${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}.${micros}Z`;
}

/**
 * Claim Leases in memory, one per namespace, with resourceVersion compare-and-swap like the API
 * server's: one counter for all, as etcd's revision, so a Lease recreated never repeats a version.
 * A spec the API server would refuse (its int32 fields out of range, a MicroTime it does not parse)
 * is refused with a 400, as kubernetesLeaseStore reports it (thirteenth round: a take-back writing
 * 2^31; an acquireTime as the API server reads it back, year 10000), and MicroTimes are stored as it
 * stores them.
 */
function memoryLeases() {
  const leases = new Map<string, { record: LeaseRecord; rv: number }>();
  let revision = 0;
  let failing = false;
  const int32 = (v: number | undefined, min: number) =>
    v === undefined || (Number.isInteger(v) && v >= min && v <= INT32_MAX);
  const put = (namespace: string, r: LeaseRecord): LeaseRecord => {
    const times = [r.acquireTime, r.renewTime].map((t) => (t === undefined ? t : apiMicroTime(t)));
    const badTime = [r.acquireTime, r.renewTime].some((t, i) => t !== undefined && times[i] === undefined);
    if (!int32(r.leaseTransitions, 0) || !int32(r.leaseDurationSeconds, 1) || badTime)
      throw new LeaseError(`cannot update Lease ${namespace}/keybrake-claim: status 400`, false, 400);
    const { resourceVersion: _sent, ...sent } = r;
    const record = {
      ...sent,
      ...(times[0] !== undefined && { acquireTime: times[0] }),
      ...(times[1] !== undefined && { renewTime: times[1] }),
    };
    leases.set(namespace, { record, rv: ++revision });
    return { ...record, resourceVersion: String(revision) };
  };
  const storeFor = (namespace: string): LeaseStore => ({
    async read() {
      if (failing) throw new LeaseError('cannot read Lease: status 500', false);
      const l = leases.get(namespace);
      return l && { ...l.record, resourceVersion: String(l.rv) };
    },
    async create(r) {
      if (failing) throw new LeaseError('cannot create Lease: status 500', false);
      if (leases.has(namespace)) return undefined;
      return put(namespace, r);
    },
    async replace(r) {
      if (failing) throw new LeaseError('cannot update Lease: status 500', false);
      const l = leases.get(namespace);
      if (!l || r.resourceVersion !== String(l.rv)) return undefined;
      return put(namespace, r);
    },
  });
  return {
    storeFor,
    holder: (namespace: string) => leases.get(namespace)?.record.holderIdentity,
    /** The spec as it stands, to write back later (a tenant's copy). */
    spec: (namespace: string) => ({ ...leases.get(namespace)!.record }),
    /** A tenant allowed to write Leases in the namespace: kubectl patch (merge) or replace. */
    edit: (namespace: string, patch: Partial<LeaseRecord>) => {
      put(namespace, { ...leases.get(namespace)!.record, ...patch });
    },
    /** A tenant's kubectl delete lease keybrake-claim. */
    remove: (namespace: string) => {
      leases.delete(namespace);
    },
    fail: (on: boolean) => {
      failing = on;
    },
  };
}

const CLAIM_MS = 45_000;
const DEADLINE_MS = 10_000;
/**
 * Seconds after which a leader that created a claim at 0 and renews it every 2 s (even seconds) has
 * read its own renewals unbroken for a claim duration and its renew deadline: it takes the claim
 * back from then on (twelfth round, probe fixes12k).
 */
const ESTABLISHED_S = (CLAIM_MS + DEADLINE_MS) / 1_000 + 2;

/** One release's claims over shared Leases, on a clock the test moves. */
function release(name: string, leases: ReturnType<typeof memoryLeases>, clock: { t: number }) {
  return createNamespaceClaims({
    storeFor: leases.storeFor,
    release: name,
    claimDurationMs: CLAIM_MS,
    renewDeadlineMs: DEADLINE_MS,
    clock: () => 1_800_000_000_000 + clock.t,
    monotonic: () => clock.t,
    log: silentLogger(),
  });
}

describe('namespace claims', () => {
  it('serves a namespace from one release only: the first to create its claim', async () => {
    const leases = memoryLeases();
    const clock = { t: 0 };
    const cluster = release('keybrake/keybrake-operator', leases, clock);
    const team = release('team/team-keybrake-operator', leases, clock);
    // Both start at once: both read no Lease, one create wins, the other gets AlreadyExists.
    const [a, b] = await Promise.all([cluster.sync(['tenant-a'], true), team.sync(['tenant-a'], true)]);
    expect([a, b]).toEqual([true, false]);
    expect(cluster.serves('tenant-a')).toBe(true);
    expect(team.serves('tenant-a')).toBe(false);
    await team.sync(['tenant-a'], true);
    expect(team.serves('tenant-a')).toBe(false);
    expect(team.elsewhere()).toEqual(new Map([['tenant-a', 'keybrake/keybrake-operator']]));
    expect(leases.holder('tenant-a')).toBe('keybrake/keybrake-operator');
  });

  it('keeps a namespace while its leader renews, whatever time passes', async () => {
    const leases = memoryLeases();
    const clock = { t: 0 };
    const cluster = release('keybrake/keybrake-operator', leases, clock);
    const team = release('team/team-keybrake-operator', leases, clock);
    await cluster.sync(['tenant-a'], true);
    for (let i = 0; i < 60; i++) {
      clock.t += 2_000;
      await cluster.sync(['tenant-a'], true);
      await team.sync(['tenant-a'], true);
      expect(cluster.serves('tenant-a')).toBe(true);
      expect(team.serves('tenant-a')).toBe(false);
    }
  });

  it('passes an unrenewed claim on only after its duration, counted from when the other release saw it change', async () => {
    const leases = memoryLeases();
    const clock = { t: 0 };
    const cluster = release('keybrake/keybrake-operator', leases, clock);
    await cluster.sync(['tenant-a'], true);
    clock.t = 100_000;
    // A release started long after the last renewal has seen nothing change yet: it waits it out.
    const team = release('team/team-keybrake-operator', leases, clock);
    await team.sync(['tenant-a'], true);
    clock.t += CLAIM_MS - 1;
    expect(await team.sync(['tenant-a'], true)).toBe(false);
    expect(team.serves('tenant-a')).toBe(false);
    clock.t += 1;
    expect(await team.sync(['tenant-a'], true)).toBe(true);
    expect(team.serves('tenant-a')).toBe(true);
    expect(leases.holder('tenant-a')).toBe('team/team-keybrake-operator');
    // The former holder, back, finds it taken.
    expect(cluster.serves('tenant-a')).toBe(false);
    await cluster.sync(['tenant-a'], true);
    expect(cluster.serves('tenant-a')).toBe(false);
  });

  it('stops serving, when it cannot renew, before any other release may take the namespace', async () => {
    const leases = memoryLeases();
    const clock = { t: 0 };
    const cluster = release('keybrake/keybrake-operator', leases, clock);
    const team = release('team/team-keybrake-operator', leases, clock);
    await cluster.sync(['tenant-a'], true);
    await team.sync(['tenant-a'], true);
    leases.fail(true);
    clock.t += DEADLINE_MS - 1;
    await cluster.sync(['tenant-a'], true);
    expect(cluster.serves('tenant-a')).toBe(true);
    clock.t += 1;
    expect(await cluster.sync(['tenant-a'], true)).toBe(true);
    expect(cluster.serves('tenant-a')).toBe(false);
    leases.fail(false);
    // Not yet the other's: the claim is its duration old only by then.
    clock.t = CLAIM_MS - 1;
    await team.sync(['tenant-a'], true);
    expect(team.serves('tenant-a')).toBe(false);
  });

  it('lets a standby serve what its own leader renews, and never writes', async () => {
    const leases = memoryLeases();
    const clock = { t: 0 };
    const leader = release('keybrake/keybrake-operator', leases, clock);
    const standby = release('keybrake/keybrake-operator', leases, clock);
    // A standby alone claims nothing.
    expect(await standby.sync(['tenant-a'], false)).toBe(false);
    expect(leases.holder('tenant-a')).toBeUndefined();
    await leader.sync(['tenant-a'], true);
    await standby.sync(['tenant-a'], false);
    expect(standby.serves('tenant-a')).toBe(true);
    // Its leader gone quiet, the standby's view lapses with the renew deadline.
    clock.t += DEADLINE_MS;
    await standby.sync(['tenant-a'], false);
    expect(standby.serves('tenant-a')).toBe(false);
    // Leading now (a failover well within the claim's duration): it renews its release's claim.
    await standby.sync(['tenant-a'], true);
    expect(standby.serves('tenant-a')).toBe(true);
  });

  it('claims only namespaces that hold keys, and lets go of one that no longer does', async () => {
    const leases = memoryLeases();
    const clock = { t: 0 };
    const cluster = release('keybrake/keybrake-operator', leases, clock);
    await cluster.sync(['tenant-a', 'tenant-b'], true);
    expect(cluster.serves('tenant-b')).toBe(true);
    expect(await cluster.sync(['tenant-a'], true)).toBe(true);
    expect(cluster.serves('tenant-b')).toBe(false);
    const team = release('team/team-keybrake-operator', leases, clock);
    await team.sync(['tenant-b'], true);
    clock.t += CLAIM_MS;
    await team.sync(['tenant-b'], true);
    expect(team.serves('tenant-b')).toBe(true);
  });
});

describe('a claim moved or deleted by hand (a tenant allowed to write Leases in its namespace)', () => {
  const WIDE = 'claims-wide/keybrake-operator';
  const TEAM = 'claims-team/keybrake-operator';

  /** Both releases' leaders over one tenant namespace, the wide one holding its claim and serving. */
  async function twoReleases() {
    const leases = memoryLeases();
    const clock = { t: 0 };
    const wide = release(WIDE, leases, clock);
    const team = release(TEAM, leases, clock);
    await wide.sync(['tenant'], true);
    await team.sync(['tenant'], true);
    expect(wide.serves('tenant')).toBe(true);
    /** Who serves, each second: each leader syncs every 2 s, wide on even seconds and team on odd ones. */
    const timeline: { t: number; wide: boolean; team: boolean }[] = [];
    const run = async (seconds: number) => {
      for (let i = 0; i < seconds; i++) {
        clock.t += 1_000;
        await (Math.round(clock.t / 1_000) % 2 === 0 ? wide : team).sync(['tenant'], true);
        timeline.push({ t: clock.t, wide: wide.serves('tenant'), team: team.serves('tenant') });
      }
    };
    /** The first second from `from` at which only `who` serves, with no second where both did. */
    const servedFrom = (who: 'wide' | 'team', from: number) => {
      expect(timeline.filter((s) => s.wide && s.team)).toEqual([]);
      return timeline.find((s) => s.t >= from && s[who])?.t;
    };
    return { leases, clock, wide, team, run, timeline, servedFrom };
  }

  /** The wide leader's first look (even seconds) after `t`. */
  const wideLookAfter = (t: number) => t + (Math.round(t / 1_000) % 2 === 0 ? 2_000 : 1_000);

  it.each([
    ['moved to the other release', 'wide', { holderIdentity: TEAM }],
    ['moved to the other release', 'team', { holderIdentity: TEAM }],
    ['released (holder emptied)', 'wide', { holderIdentity: '' }],
    ['released (holder emptied)', 'team', { holderIdentity: '' }],
  ] as const)(
    '%s, %s looking first: the holder takes it back at its next look, the other never serves (twelfth round)',
    async (_n, first, patch) => {
      const { leases, clock, wide, team, run, timeline, servedFrom } = await twoReleases();
      // Held and renewed unbroken long enough to take it back: wide on even seconds, team on odd ones.
      await run(ESTABLISHED_S);
      if ((Math.round(clock.t / 1_000) % 2 === 0) !== (first === 'team')) await run(1);
      const patchedAt = clock.t;
      leases.edit('tenant', patch);
      await run(2);
      // The team's leader adopted nothing handed to it; the wide one took its claim back.
      expect(leases.holder('tenant')).toBe(WIDE);
      expect(wide.elsewhere()).toEqual(new Map());
      await run(3 * (CLAIM_MS / 1_000));
      expect(timeline.filter((s) => s.t > patchedAt && s.team)).toEqual([]);
      expect(team.serves('tenant')).toBe(false);
      expect(team.elsewhere()).toEqual(new Map([['tenant', WIDE]]));
      // Served again by the wide release a claim duration after the look that found the change.
      expect(servedFrom('wide', wideLookAfter(patchedAt))).toBe(wideLookAfter(patchedAt) + CLAIM_MS);
    },
  );

  it('deleted by hand, whichever leader looks first: the holder recreates it, the other never serves (twelfth round)', async () => {
    for (const first of ['team', 'wide'] as const) {
      const { leases, clock, wide, run, timeline, servedFrom } = await twoReleases();
      await run(CLAIM_MS / 1_000);
      if ((Math.round(clock.t / 1_000) % 2 === 0) !== (first === 'team')) await run(1);
      const deletedAt = clock.t;
      leases.remove('tenant');
      await run(1);
      // The team's leader, first or not, leaves it to the release it saw hold it.
      expect(leases.holder('tenant')).toBe(first === 'team' ? undefined : WIDE);
      await run(1);
      expect(leases.holder('tenant')).toBe(WIDE);
      expect(wide.serves('tenant')).toBe(false);
      await run(3 * (CLAIM_MS / 1_000));
      expect(timeline.filter((s) => s.t > deletedAt && s.team)).toEqual([]);
      // Served again a claim duration after the wide leader saw it gone.
      expect(servedFrom('wide', wideLookAfter(deletedAt))).toBe(wideLookAfter(deletedAt) + CLAIM_MS);
    }
  });

  it('deleted at once each time its holder recreates it: the other release recreating it never serves', async () => {
    const { leases, clock, wide, team, timeline } = await twoReleases();
    for (let i = 0; i < CLAIM_MS / 1_000; i++) {
      clock.t += 1_000;
      await (i % 2 === 0 ? wide : team).sync(['tenant'], true);
    }
    // A tenant watching the Lease deletes every claim the wide leader writes; the team's leader,
    // waiting the wide one's claim out, recreates it then: taken back by the wide leader's next look.
    for (let i = 0; i < 6 * (CLAIM_MS / 1_000); i++) {
      clock.t += 1_000;
      if (i % 2 === 0) {
        await wide.sync(['tenant'], true);
        leases.remove('tenant');
      } else await team.sync(['tenant'], true);
      timeline.push({ t: clock.t, wide: wide.serves('tenant'), team: team.serves('tenant') });
      expect(team.serves('tenant')).toBe(false);
    }
    expect(timeline.filter((s) => s.wide && s.team)).toEqual([]);
  });

  it('a dead holder still fails over: a claim deleted or handed over by hand passes after its duration, served a claim duration later', async () => {
    for (const change of ['deleted', 'handed over'] as const) {
      const { leases, clock, wide, team } = await twoReleases();
      // The wide release's operators are gone (its last renewal at t=0, seen by the team at once).
      clock.t += 2_000;
      if (change === 'deleted') leases.remove('tenant');
      else leases.edit('tenant', { holderIdentity: TEAM });
      for (; clock.t < CLAIM_MS; clock.t += 1_000) {
        await team.sync(['tenant'], true);
        expect(leases.holder('tenant')).toBe(change === 'deleted' ? undefined : TEAM);
        expect(team.serves('tenant')).toBe(false);
      }
      clock.t = CLAIM_MS;
      await team.sync(['tenant'], true);
      const tookAt = clock.t;
      expect(leases.holder('tenant')).toBe(TEAM);
      clock.t = tookAt + CLAIM_MS - 1;
      expect(await team.sync(['tenant'], true)).toBe(false);
      clock.t = tookAt + CLAIM_MS;
      expect(await team.sync(['tenant'], true)).toBe(true);
      expect(team.serves('tenant')).toBe(true);
      // The wide release, back, finds its claim taken over: it does not take it back.
      await wide.sync(['tenant'], true);
      expect(wide.serves('tenant')).toBe(false);
      expect(leases.holder('tenant')).toBe(TEAM);
    }
  });

  it('a release started while the claim is gone creates it and serves at once, until the holder takes it back at its next look; they never trade it back and forth', async () => {
    const { leases, clock, wide, run, timeline } = await twoReleases();
    await run(ESTABLISHED_S + 1);
    // A third release, started just now, looks first at a claim a tenant has just deleted.
    leases.remove('tenant');
    const late = release('late/keybrake-operator', leases, clock);
    clock.t += 500;
    await late.sync(['tenant'], true);
    expect(late.serves('tenant')).toBe(true);
    expect(wide.serves('tenant')).toBe(true);
    clock.t += 500;
    await wide.sync(['tenant'], true);
    expect(leases.holder('tenant')).toBe(WIDE);
    expect(wide.serves('tenant')).toBe(false);
    const tookBackAt = clock.t;
    for (let i = 0; i < 3 * (CLAIM_MS / 1_000); i++) {
      clock.t += 1_000;
      await late.sync(['tenant'], true);
      await wide.sync(['tenant'], true);
      expect(late.serves('tenant')).toBe(false);
      expect(leases.holder('tenant')).toBe(WIDE);
      timeline.push({ t: clock.t, wide: wide.serves('tenant'), team: false });
    }
    expect(timeline.find((s) => s.t > tookBackAt && s.wide)?.t).toBe(tookBackAt + CLAIM_MS);
  });

  it('deleted by hand while both leaders sync at once: one recreates it, and nobody serves for a claim duration', async () => {
    const { leases, clock, wide, team } = await twoReleases();
    leases.remove('tenant');
    clock.t += 2_000;
    const sawAt = clock.t;
    await Promise.all([team.sync(['tenant'], true), wide.sync(['tenant'], true)]);
    const winner = leases.holder('tenant') === TEAM ? team : wide;
    const loser = winner === team ? wide : team;
    for (; clock.t < sawAt + CLAIM_MS; clock.t += 2_000) {
      await Promise.all([team.sync(['tenant'], true), wide.sync(['tenant'], true)]);
      expect([wide.serves('tenant'), team.serves('tenant')]).toEqual([false, false]);
    }
    clock.t = sawAt + CLAIM_MS;
    expect(await winner.sync(['tenant'], true)).toBe(true);
    await loser.sync(['tenant'], true);
    expect([winner.serves('tenant'), loser.serves('tenant')]).toEqual([true, false]);
  });

  it('shown each release its own last write before each of its looks, neither serves', async () => {
    // The spec each leader last wrote is written back by hand just before that leader reads it: the
    // holder, times and transitions are all its own, only the resourceVersion tells.
    const { leases, clock, wide, team } = await twoReleases();
    let wideSpec = leases.spec('tenant');
    leases.edit('tenant', { holderIdentity: TEAM });
    for (const end = clock.t + 3 * CLAIM_MS; clock.t < end; ) {
      clock.t += 1_000;
      await team.sync(['tenant'], true);
      const teamSpec = leases.spec('tenant');
      leases.edit('tenant', wideSpec);
      clock.t += 1_000;
      await wide.sync(['tenant'], true);
      wideSpec = leases.spec('tenant');
      leases.edit('tenant', teamSpec);
      expect([wide.serves('tenant'), team.serves('tenant')]).toEqual([false, false]);
    }
  });

  it('a claim duration shortened by hand lets nobody take the claim early', async () => {
    // Set after each renewal of the wide leader, looked at twice by the team's before the next one.
    const { leases, clock, wide, team } = await twoReleases();
    for (let i = 0; i < 10; i++) {
      leases.edit('tenant', { leaseDurationSeconds: 1 });
      clock.t += 500;
      await team.sync(['tenant'], true);
      clock.t += 1_000;
      await team.sync(['tenant'], true);
      expect(leases.holder('tenant')).toBe(WIDE);
      clock.t += 500;
      await wide.sync(['tenant'], true);
    }
  });

  it.each([
    ['the other release', TEAM],
    ['nobody', 'nobody/else'],
  ] as const)(
    'moved to %s with leaseTransitions at the int32 ceiling: the holder takes it back all the same, the other never serves (thirteenth round)',
    async (_n, to) => {
      // The take-back wrote leaseTransitions + 1 = 2^31, which the API server refuses (400) at every
      // round: the hold lapsed, and the other release adopted the claim and served from its counters.
      const { leases, clock, wide, run, timeline, servedFrom } = await twoReleases();
      await run(ESTABLISHED_S);
      const patchedAt = clock.t;
      leases.edit('tenant', { holderIdentity: to, leaseTransitions: INT32_MAX });
      await run(3 * (CLAIM_MS / 1_000));
      expect(leases.holder('tenant')).toBe(WIDE);
      expect(leases.spec('tenant').leaseTransitions).toBe(INT32_MAX);
      expect(timeline.filter((s) => s.t > patchedAt && s.team)).toEqual([]);
      expect(servedFrom('wide', wideLookAfter(patchedAt))).toBe(wideLookAfter(patchedAt) + CLAIM_MS);
      expect(wide.serves('tenant')).toBe(true);
    },
  );

  it('named nobody with leaseTransitions at the int32 ceiling, it is taken after a lapse by a holder restarted meanwhile (thirteenth round)', async () => {
    const { leases, clock } = await twoReleases();
    clock.t += 2_000;
    leases.edit('tenant', { holderIdentity: 'nobody/else', leaseTransitions: INT32_MAX });
    // The operator restarts: its first look finds another's claim, waited out as a lapse, then taken.
    const restarted = release(WIDE, leases, clock);
    for (const end = clock.t + 3 * CLAIM_MS; clock.t < end; clock.t += 2_000)
      await restarted.sync(['tenant'], true);
    expect(leases.holder('tenant')).toBe(WIDE);
    expect(restarted.serves('tenant')).toBe(true);
  });

  /**
   * The tenant's one write while the holder's leader is away (a restart, a failover): nobody renews
   * the claim then, and the holder's name is left alone. The API server stores this acquireTime as
   * 10000-01-01T00:59:59.999999Z and refuses that when written back (thirteenth round, probe
   * fixes13k findings 1 and 2: the new leader kept it, every claim write was a 400, its hold lapsed
   * to the other release, which served the namespace from its own counters).
   */
  const YEAR_10000 = '9999-12-31T23:59:59.999999-01:00';

  it.each([
    ['a restart of its operator (a first look)', 'restart'],
    ['a failover to its standby', 'failover'],
  ] as const)(
    "an acquireTime the API server stores but refuses back, written during %s: the holder's new leader renews with its own, serves on, and the other release never takes it (thirteenth round)",
    async (_n, how) => {
      const { leases, clock, wide, team, run } = await twoReleases();
      const standby = release(WIDE, leases, clock);
      await standby.sync(['tenant'], false);
      await run(ESTABLISHED_S);
      await standby.sync(['tenant'], false);
      expect(standby.serves('tenant')).toBe(true);
      const epoch = wide.epoch('tenant');
      // The old leader stops here; the tenant patches once, nothing more.
      leases.edit('tenant', { acquireTime: YEAR_10000 });
      expect(leases.spec('tenant').acquireTime).toBe('10000-01-01T00:59:59.999999Z');
      const leader = how === 'restart' ? release(WIDE, leases, clock) : standby;
      const timeline: { t: number; wide: boolean; team: boolean }[] = [];
      for (let i = 0; i < (4 * CLAIM_MS) / 1_000; i++) {
        clock.t += 1_000;
        await (i % 2 === 0 ? leader : team).sync(['tenant'], true);
        timeline.push({ t: clock.t, wide: leader.serves('tenant'), team: team.serves('tenant') });
      }
      expect(leases.holder('tenant')).toBe(WIDE);
      expect(timeline.filter((x) => x.team)).toEqual([]);
      // Served from its first look on: nobody else wrote the holder, so nobody else served.
      expect(timeline.every((x) => x.wide)).toBe(true);
      // Renewed under an acquireTime of its own: a new epoch (the runs end, which fails closed).
      const acquired = leases.spec('tenant').acquireTime!;
      expect(acquired).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
      expect(leader.epoch('tenant')).toBeDefined();
      expect(leader.epoch('tenant')).not.toBe(epoch);
    },
  );

  it('a renewal the API server refuses as invalid for a value carried over is sent once more with its own acquireTime, not refused every round (thirteenth round)', async () => {
    // An API server that refuses an acquireTime this process reads as well-formed (any refusal of a
    // carried-over value, whatever the next one is): the hold must not lapse on it.
    const leases = memoryLeases();
    const clock = { t: 0 };
    const refused = '2020-01-01T00:00:00.000000Z';
    const strict = (ns: string): LeaseStore => {
      const inner = leases.storeFor(ns);
      return {
        ...inner,
        async replace(r) {
          if (r.acquireTime === refused) throw new LeaseError('cannot update Lease: status 422', false, 422);
          return inner.replace(r);
        },
      };
    };
    const first = release(WIDE, leases, clock);
    await first.sync(['tenant'], true);
    clock.t += 2_000;
    leases.edit('tenant', { acquireTime: refused });
    const restarted = createNamespaceClaims({
      storeFor: strict,
      release: WIDE,
      claimDurationMs: CLAIM_MS,
      renewDeadlineMs: DEADLINE_MS,
      clock: () => 1_800_000_000_000 + clock.t,
      monotonic: () => clock.t,
      log: silentLogger(),
    });
    for (let i = 0; i < 5; i++, clock.t += 2_000) {
      await restarted.sync(['tenant'], true);
      expect(restarted.serves('tenant')).toBe(true);
    }
    expect(leases.spec('tenant').acquireTime).not.toBe(refused);
  });

  it('a huge holderIdentity a tenant writes is logged cut to SHOWN_HOLDER_CHARS, by the holder and by the other release (thirteenth round)', async () => {
    const leases = memoryLeases();
    const clock = { t: 0 };
    let logged = 0;
    const logs = (name: string) =>
      createNamespaceClaims({
        storeFor: leases.storeFor,
        release: name,
        claimDurationMs: CLAIM_MS,
        renewDeadlineMs: DEADLINE_MS,
        clock: () => 1_800_000_000_000 + clock.t,
        monotonic: () => clock.t,
        log: createLogger({
          level: 'info',
          destination: new Writable({
            write(chunk: Buffer, _e, done) {
              logged += chunk.length;
              done();
            },
          }),
        }),
      });
    const wide = logs(WIDE);
    const team = logs(TEAM);
    for (; clock.t <= ESTABLISHED_S * 1_000 + 2_000; clock.t += 1_000)
      await (Math.round(clock.t / 1_000) % 2 === 0 ? wide : team).sync(['tenant'], true);
    const before = logged;
    const writes = 10;
    const length = 1_000_000;
    for (let i = 0; i < writes; i++) {
      leases.edit('tenant', { holderIdentity: `x${i}`.padEnd(length, 'x') });
      clock.t += 1_000;
      await (Math.round(clock.t / 1_000) % 2 === 0 ? wide : team).sync(['tenant'], true);
      clock.t += 1_000;
      await (Math.round(clock.t / 1_000) % 2 === 0 ? wide : team).sync(['tenant'], true);
    }
    await new Promise<void>((done) => setImmediate(done));
    // Both looked after every write, and the holder took each back (3 lines); each line is short.
    expect(leases.holder('tenant')).toBe(WIDE);
    expect(logged - before).toBeLessThan(writes * 10 * 1_024);
    expect(shownHolder('y'.repeat(300))).toBe(`${'y'.repeat(SHOWN_HOLDER_CHARS)}… (300 characters)`);
    expect(shownHolder(TEAM)).toBe(TEAM);
  });

  it('given leaseDurationSeconds 2^31-1 by hand before its hold is established, the holder waits at most LONGEST_CLAIM_FACTOR claim durations, the Lease left or deleted by an admin (thirteenth round)', async () => {
    for (const admin of ['leaves it', 'deletes it'] as const) {
      // One release, renewing every 2 s since t=0: 20 s in, not yet established (57 s).
      const leases = memoryLeases();
      const clock = { t: 0 };
      const wide = release(WIDE, leases, clock);
      for (; clock.t <= 20_000; clock.t += 2_000) await wide.sync(['tenant'], true);
      expect(wide.serves('tenant')).toBe(true);
      const patchedAt = clock.t;
      leases.edit('tenant', { holderIdentity: 'nobody/else', leaseDurationSeconds: INT32_MAX });
      // Seen at the next round, waited out at most LONGEST_CLAIM_FACTOR claim durations, taken (or
      // recreated) and served a claim duration after (recreated) or at once (taken over a lapse).
      const bound = patchedAt + (LONGEST_CLAIM_FACTOR + 1) * CLAIM_MS + 4_000;
      for (; clock.t <= bound; clock.t += 2_000) {
        await wide.sync(['tenant'], true);
        if (admin === 'deletes it' && clock.t === patchedAt + 10_000) leases.remove('tenant');
      }
      expect([admin, leases.holder('tenant')]).toEqual([admin, WIDE]);
      expect(wide.serves('tenant')).toBe(true);
    }
  });

  it("waits another release's longer claim duration out in full, up to LONGEST_CLAIM_FACTOR times its own (thirteenth round)", async () => {
    for (const factor of [3, 10]) {
      const leases = memoryLeases();
      const clock = { t: 0 };
      // A release configured with a longer lease or proxy staleness renews once, then is gone.
      const slow = createNamespaceClaims({
        storeFor: leases.storeFor,
        release: 'slow/keybrake-operator',
        claimDurationMs: factor * CLAIM_MS,
        renewDeadlineMs: DEADLINE_MS,
        clock: () => 1_800_000_000_000 + clock.t,
        monotonic: () => clock.t,
        log: silentLogger(),
      });
      await slow.sync(['tenant'], true);
      const team = release(TEAM, leases, clock);
      const waited = Math.min(factor, LONGEST_CLAIM_FACTOR) * CLAIM_MS;
      for (; clock.t < waited; clock.t += 1_000) {
        await team.sync(['tenant'], true);
        expect([factor, leases.holder('tenant')]).toEqual([factor, 'slow/keybrake-operator']);
      }
      await team.sync(['tenant'], true);
      expect([factor, leases.holder('tenant')]).toEqual([factor, TEAM]);
    }
  });

  it('a claim handed over by hand while the namespace had no keys is no first look when they come back', async () => {
    const { leases, clock, wide, team } = await twoReleases();
    // The team release's scope loses the namespace's keys for a round, and it forgets its claim state.
    clock.t += 2_000;
    await team.sync([], true);
    leases.edit('tenant', { holderIdentity: TEAM });
    clock.t += 2_000;
    await team.sync(['tenant'], true);
    expect(team.serves('tenant')).toBe(false);
    expect(wide.serves('tenant')).toBe(true);
  });

  it('a namespace whose keys come back to its holder is served at once if nobody wrote its claim meanwhile, a claim duration later if someone did', async () => {
    const { leases, clock, wide } = await twoReleases();
    clock.t += 2_000;
    await wide.sync([], true);
    expect(wide.serves('tenant')).toBe(false);
    clock.t += 4_000;
    expect(await wide.sync(['tenant'], true)).toBe(true);
    expect(wide.serves('tenant')).toBe(true);
    clock.t += 2_000;
    await wide.sync([], true);
    leases.edit('tenant', { renewTime: '2021-06-01T00:00:00.000000Z' }); // by hand
    clock.t += 4_000;
    const backAt = clock.t;
    expect(await wide.sync(['tenant'], true)).toBe(false);
    expect(wide.serves('tenant')).toBe(false);
    clock.t = backAt + CLAIM_MS;
    expect(await wide.sync(['tenant'], true)).toBe(true);
  });

  it('handed to the other release and re-written there for 110 s, it stays with its holder once the tenant stops: no taking back and forth, and a new leader of the holder keeps it (twelfth round, probe fixes12k)', async () => {
    const { leases, clock, team, run, timeline } = await twoReleases();
    await run(ESTABLISHED_S);
    // A tenant re-writes the holder to the team release right after every write (~15 ms later in
    // the probe), so the team's leader never sees the wide one's take-backs: it adopts the claim a
    // claim duration on, and its own writes are re-written too.
    const raceFrom = clock.t;
    leases.edit('tenant', { holderIdentity: TEAM });
    await run(0);
    for (let i = 0; i < 110; i++) {
      await run(1);
      leases.edit('tenant', { holderIdentity: TEAM });
    }
    expect(timeline.filter((s) => s.t > raceFrom && s.team)).toEqual([]);
    // The tenant stops. Nobody else writes: the claim settles with the wide release and stays.
    const holders: (string | undefined)[] = [];
    for (let i = 0; i < 3 * (CLAIM_MS / 1_000); i++) {
      await run(1);
      holders.push(leases.holder('tenant'));
    }
    expect(holders.slice(2)).toEqual(Array(holders.length - 2).fill(WIDE));
    // The wide release's leader restarts (a rolling update): its new leader holds and serves it, the
    // team release never does.
    const restarted = release(WIDE, leases, clock);
    for (let i = 0; i < 3 * (CLAIM_MS / 1_000); i++) {
      clock.t += 1_000;
      await (Math.round(clock.t / 1_000) % 2 === 0 ? restarted : team).sync(['tenant'], true);
      expect(team.serves('tenant')).toBe(false);
    }
    expect(leases.holder('tenant')).toBe(WIDE);
    expect(restarted.serves('tenant')).toBe(true);
  });

  it("a standby does not trust a claim handed to its release by hand, nor does it as the release's new leader", async () => {
    const { leases, clock, team } = await twoReleases();
    const teamStandby = release(TEAM, leases, clock);
    await teamStandby.sync(['tenant'], false);
    leases.edit('tenant', { holderIdentity: TEAM });
    clock.t += 2_000;
    const sawAt = clock.t;
    await teamStandby.sync(['tenant'], false);
    expect(teamStandby.serves('tenant')).toBe(false);
    // The team's leader is gone; its standby leads, well within the claim duration.
    clock.t += 2_000;
    await teamStandby.sync(['tenant'], true);
    expect(teamStandby.serves('tenant')).toBe(false);
    // Handed over while it last saw the wide release hold it (whose operators are gone here): adopted
    // only once the wide release's last renewal is a claim duration old, and served a claim duration on.
    clock.t = CLAIM_MS;
    await teamStandby.sync(['tenant'], true);
    expect(teamStandby.serves('tenant')).toBe(false);
    clock.t = Math.max(sawAt, CLAIM_MS) + CLAIM_MS;
    await teamStandby.sync(['tenant'], true);
    expect(teamStandby.serves('tenant')).toBe(true);
    expect(team.serves('tenant')).toBe(false);
  });
});

describe("a claim's epoch, mixed into its namespace's run secrets (twelfth round)", () => {
  it('stays while the release renews it, across a change of leader, and is the same on its standby', async () => {
    const leases = memoryLeases();
    const clock = { t: 0 };
    const leader = release('keybrake/keybrake-operator', leases, clock);
    const standby = release('keybrake/keybrake-operator', leases, clock);
    await leader.sync(['tenant-a'], true);
    const epoch = leader.epoch('tenant-a');
    expect(epoch).toBeDefined();
    for (let i = 0; i < 5; i++) {
      clock.t += 2_000;
      await leader.sync(['tenant-a'], true);
      await standby.sync(['tenant-a'], false);
    }
    expect(leader.epoch('tenant-a')).toBe(epoch);
    expect(standby.epoch('tenant-a')).toBe(epoch);
    // The standby leads now: it renews the claim, keeping the epoch (runs survive a failover).
    clock.t += 2_000;
    await standby.sync(['tenant-a'], true);
    clock.t += 2_000;
    await standby.sync(['tenant-a'], true);
    expect(standby.serves('tenant-a')).toBe(true);
    expect(standby.epoch('tenant-a')).toBe(epoch);
  });

  it('stays across a failover whose old leader was paused mid-round: it writes nothing once it resumes past its deadline (twelfth round, probe fixes12k)', async () => {
    const leases = memoryLeases();
    const clock = { t: 0 };
    // The old leader's reads: the one in flight as it is paused returns after its successor took over.
    let oldLeads = true;
    let pauseOnRead = false;
    let renewedBySuccessor: string | undefined;
    const old = createNamespaceClaims({
      storeFor: (ns) => {
        const inner = leases.storeFor(ns);
        return {
          ...inner,
          async read() {
            const r = await inner.read();
            if (!pauseOnRead) return r;
            // SIGSTOP here; the standby leads and renews; SIGCONT: its read answers the renewal.
            oldLeads = false;
            clock.t += 15_000;
            await standby.sync([ns], true);
            renewedBySuccessor = leases.spec(ns).renewTime;
            return inner.read();
          },
        };
      },
      release: 'keybrake/keybrake-operator',
      claimDurationMs: CLAIM_MS,
      renewDeadlineMs: DEADLINE_MS,
      clock: () => 1_800_000_000_000 + clock.t,
      monotonic: () => clock.t,
      log: silentLogger(),
    });
    const standby = release('keybrake/keybrake-operator', leases, clock);
    await old.sync(['tenant-a'], () => oldLeads);
    for (let i = 0; i < 5; i++) {
      clock.t += 2_000;
      await old.sync(['tenant-a'], () => oldLeads);
      await standby.sync(['tenant-a'], false);
    }
    const epoch = old.epoch('tenant-a');
    const renewed = leases.spec('tenant-a').renewTime;
    // Its round begins as leader (its elector's view then); the read is in flight as it is paused.
    clock.t += 2_000;
    pauseOnRead = true;
    await old.sync(['tenant-a'], () => oldLeads);
    pauseOnRead = false;
    // It wrote nothing over its successor's renewal: the claim is as the new leader left it.
    expect(leases.spec('tenant-a').renewTime).not.toBe(renewed);
    expect(leases.spec('tenant-a').renewTime).toBe(renewedBySuccessor);
    const afterTakeover = leases.spec('tenant-a');
    expect(Date.parse(afterTakeover.acquireTime!)).toBe(Number(epoch!.split('\n')[1]));
    // The new leader goes on serving the namespace under the same epoch: its runs survive.
    for (let i = 0; i < 3; i++) {
      clock.t += 2_000;
      await standby.sync(['tenant-a'], true);
      await old.sync(['tenant-a'], () => oldLeads);
      expect(standby.serves('tenant-a')).toBe(true);
      expect(standby.epoch('tenant-a')).toBe(epoch);
      expect(old.epoch('tenant-a')).toBe(epoch);
    }
  });

  it("keeps the acquireTime its leader last saw when a sibling's write lands over its own: the runs go on (twelfth round, probe fixes12k)", async () => {
    const leases = memoryLeases();
    const clock = { t: 0 };
    const a = release('keybrake/keybrake-operator', leases, clock);
    const b = release('keybrake/keybrake-operator', leases, clock);
    await a.sync(['tenant-a'], true);
    await b.sync(['tenant-a'], false);
    const epoch = a.epoch('tenant-a');
    // b leads now; a, whose round began as leader with no newer view of its elector, writes once more.
    clock.t += 15_000;
    await b.sync(['tenant-a'], true);
    clock.t += 1;
    await a.sync(['tenant-a'], true);
    clock.t += 2_000;
    await b.sync(['tenant-a'], true);
    await a.sync(['tenant-a'], false);
    // Neither write chose a new acquireTime: the epoch, and so every run key, stays.
    expect(b.epoch('tenant-a')).toBe(epoch);
    expect(a.epoch('tenant-a')).toBe(epoch);
    clock.t += CLAIM_MS;
    await b.sync(['tenant-a'], true);
    expect(b.serves('tenant-a')).toBe(true);
    expect(b.epoch('tenant-a')).toBe(epoch);
  });

  it('stays across a failover right after its leader took the namespace over, before the standby looked again (fifteenth round, CI: run-stop-release-move)', async () => {
    const leases = memoryLeases();
    const clock = { t: 0 };
    const first = release('first/keybrake-operator', leases, clock);
    const a = release('second/keybrake-operator', leases, clock);
    const b = release('second/keybrake-operator', leases, clock);
    await first.sync(['tenant-a'], true);
    await a.sync(['tenant-a'], true);
    // The first release is uninstalled; the second's leader and standby look every 2 s, the standby
    // a second after the leader (so it saw the first release's claim a second later).
    clock.t = 1_000;
    await b.sync(['tenant-a'], false);
    while (leases.holder('tenant-a') !== 'second/keybrake-operator') {
      clock.t += 1_000;
      await b.sync(['tenant-a'], false);
      clock.t += 1_000;
      await a.sync(['tenant-a'], true);
    }
    // The leader took the lapsed claim over and minted runs under it; it is stopped at once (a
    // rolling update, a crash), before its standby's next look, which is as leader.
    const epoch = a.epoch('tenant-a');
    expect(epoch).toBeDefined();
    const acquired = leases.spec('tenant-a').acquireTime;
    for (let i = 0; i < CLAIM_MS / 2_000 + 2; i++) {
      clock.t += 500;
      await b.sync(['tenant-a'], true);
      clock.t += 1_500;
    }
    expect(b.serves('tenant-a')).toBe(true);
    expect(leases.spec('tenant-a').acquireTime).toBe(acquired);
    expect(b.epoch('tenant-a')).toBe(epoch);
  });

  it("is new when a claim is handed to its release by hand while its leader looks, past the other holder's lapse", async () => {
    const leases = memoryLeases();
    const clock = { t: 0 };
    const first = release('first/keybrake-operator', leases, clock);
    const a = release('second/keybrake-operator', leases, clock);
    await first.sync(['tenant-a'], true);
    await a.sync(['tenant-a'], true);
    clock.t = CLAIM_MS - 1_000;
    await a.sync(['tenant-a'], true);
    // A tenant names the second release, with the first's acquireTime, a second before the lapse.
    leases.edit('tenant-a', { holderIdentity: 'second/keybrake-operator' });
    const handed = leases.spec('tenant-a').acquireTime;
    for (let i = 0; i < CLAIM_MS / 2_000 + 2; i++) {
      clock.t += 2_000;
      await a.sync(['tenant-a'], true);
    }
    expect(a.serves('tenant-a')).toBe(true);
    expect(leases.spec('tenant-a').acquireTime).not.toBe(handed);
  });

  it('is new when another release takes the namespace: the runs minted under the first are not its', async () => {
    const leases = memoryLeases();
    const clock = { t: 0 };
    const first = release('keybrake/keybrake-operator', leases, clock);
    const team = release('team/team-keybrake-operator', leases, clock);
    await first.sync(['tenant-a'], true);
    const before = first.epoch('tenant-a');
    await team.sync(['tenant-a'], true);
    expect(team.epoch('tenant-a')).toBeUndefined();
    clock.t += CLAIM_MS + 1;
    await team.sync(['tenant-a'], true);
    expect(team.serves('tenant-a')).toBe(true);
    expect(team.epoch('tenant-a')).toBeDefined();
    expect(team.epoch('tenant-a')).not.toBe(before);
    expect(first.epoch('tenant-a')).toBe(before);
    await first.sync(['tenant-a'], true);
    expect(first.epoch('tenant-a')).toBeUndefined();
  });

  it('is new when the claim was rewritten by hand, never the acquireTime someone else wrote', async () => {
    const leases = memoryLeases();
    const clock = { t: 0 };
    const cluster = release('keybrake/keybrake-operator', leases, clock);
    await cluster.sync(['tenant-a'], true);
    const epoch = cluster.epoch('tenant-a');
    clock.t += 2_000;
    // A tenant sets an earlier acquireTime on the claim its release holds (an earlier hold's).
    leases.edit('tenant-a', { acquireTime: '2020-01-01T00:00:00.000000Z' });
    await cluster.sync(['tenant-a'], true);
    expect(cluster.serves('tenant-a')).toBe(false);
    expect(leases.spec('tenant-a').acquireTime).not.toBe('2020-01-01T00:00:00.000000Z');
    clock.t += CLAIM_MS;
    expect(await cluster.sync(['tenant-a'], true)).toBe(true);
    expect(cluster.serves('tenant-a')).toBe(true);
    expect(cluster.epoch('tenant-a')).not.toBe(epoch);
    expect(cluster.epoch('tenant-a')).not.toContain(String(Date.parse('2020-01-01T00:00:00Z')));
  });

  it('is new when the claim was deleted and recreated', async () => {
    const leases = memoryLeases();
    const clock = { t: 0 };
    const cluster = release('keybrake/keybrake-operator', leases, clock);
    await cluster.sync(['tenant-a'], true);
    const epoch = cluster.epoch('tenant-a');
    clock.t += 2_000;
    leases.remove('tenant-a');
    await cluster.sync(['tenant-a'], true);
    clock.t += CLAIM_MS;
    await cluster.sync(['tenant-a'], true);
    expect(cluster.serves('tenant-a')).toBe(true);
    expect(cluster.epoch('tenant-a')).not.toBe(epoch);
  });
});

describe('a release renamed in its claims (twelfth round: operator.leaseName named them)', () => {
  it('takes a claim under its former name for its own: served at once, rewritten under its name', async () => {
    const leases = memoryLeases();
    const clock = { t: 0 };
    const before = release('keybrake-system/custom-lease', leases, clock);
    await before.sync(['tenant-a'], true);
    const epoch = before.epoch('tenant-a');
    clock.t += 2_000;
    // Restarted as the chart renders it now: --claim-holder the operator's name, the Lease unchanged.
    const after = createNamespaceClaims({
      storeFor: leases.storeFor,
      release: 'keybrake-system/keybrake-operator',
      formerNames: ['keybrake-system/custom-lease'],
      claimDurationMs: CLAIM_MS,
      renewDeadlineMs: DEADLINE_MS,
      clock: () => 1_800_000_000_000 + clock.t,
      monotonic: () => clock.t,
      log: silentLogger(),
    });
    const other = release('team/team-keybrake-operator', leases, clock);
    await other.sync(['tenant-a'], true);
    expect(await after.sync(['tenant-a'], true)).toBe(true);
    expect(after.serves('tenant-a')).toBe(true);
    expect(after.elsewhere()).toEqual(new Map());
    expect(leases.holder('tenant-a')).toBe('keybrake-system/keybrake-operator');
    // Its acquireTime kept; the epoch names the release, so run keys minted under the former name
    // (before --claim-holder, once) end, and none minted from here on does at a later rename.
    const renamed = after.epoch('tenant-a');
    expect(renamed?.split('\n')[1]).toBe(epoch?.split('\n')[1]);
    for (let i = 0; i < 3 * (CLAIM_MS / 2_000); i++) {
      clock.t += 1_000;
      await other.sync(['tenant-a'], true);
      clock.t += 1_000;
      await after.sync(['tenant-a'], true);
      expect([after.serves('tenant-a'), other.serves('tenant-a')]).toEqual([true, false]);
    }
    expect(after.epoch('tenant-a')).toBe(renamed);
  });
});
