import { describe, expect, it } from 'vitest';
import { silentLogger } from '../telemetry/logger.ts';
import { LeaseError, type LeaseRecord, type LeaseStore } from './leader-election.ts';
import { createNamespaceClaims } from './namespace-claims.ts';

/** Claim Leases in memory, one per namespace, with resourceVersion compare-and-swap like the API server's. */
function memoryLeases() {
  const leases = new Map<string, { record: LeaseRecord; rv: number }>();
  let failing = false;
  const storeFor = (namespace: string): LeaseStore => ({
    async read() {
      if (failing) throw new LeaseError('cannot read Lease: status 500', false);
      const l = leases.get(namespace);
      return l && { ...l.record, resourceVersion: String(l.rv) };
    },
    async create(r) {
      if (failing) throw new LeaseError('cannot create Lease: status 500', false);
      if (leases.has(namespace)) return false;
      leases.set(namespace, { record: { ...r }, rv: 1 });
      return true;
    },
    async replace(r) {
      if (failing) throw new LeaseError('cannot update Lease: status 500', false);
      const l = leases.get(namespace);
      if (!l || r.resourceVersion !== String(l.rv)) return false;
      leases.set(namespace, { record: { ...r }, rv: l.rv + 1 });
      return true;
    },
  });
  return {
    storeFor,
    holder: (namespace: string) => leases.get(namespace)?.record.holderIdentity,
    fail: (on: boolean) => {
      failing = on;
    },
  };
}

const CLAIM_MS = 45_000;
const DEADLINE_MS = 10_000;

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
