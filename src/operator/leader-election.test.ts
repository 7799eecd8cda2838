import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../test/env/wait-for.ts';
import { silentLogger } from '../telemetry/logger.ts';
import {
  checkLeaseTimings,
  createLeaderElector,
  LEASE_FAILURES_BEFORE_PROBLEM,
  type LeaderElector,
  LeaseError,
  type LeaseRecord,
  type LeaseStore,
  MAX_LEASE_TRANSITIONS,
  nextLeaseTransitions,
  writableMicroTime,
} from './leader-election.ts';

/** A Lease in memory with resourceVersion compare-and-swap, like the API server's. */
function memoryLease() {
  let record: LeaseRecord | undefined;
  let rv = 0;
  const store: LeaseStore = {
    async read() {
      return record && { ...record, resourceVersion: String(rv) };
    },
    async create(r) {
      if (record) return undefined;
      record = { ...r };
      rv++;
      return { ...record, resourceVersion: String(rv) };
    },
    async replace(r) {
      if (!record || r.resourceVersion !== String(rv)) return undefined;
      record = { ...r };
      rv++;
      return { ...record, resourceVersion: String(rv) };
    },
  };
  return {
    store,
    holder: () => record?.holderIdentity,
    steal: (id: string) => {
      record = { ...record, holderIdentity: id };
      rv++;
    },
  };
}

const electors: LeaderElector[] = [];
afterEach(async () => {
  while (electors.length > 0) await electors.pop()!.stop();
});

const TIMINGS = { leaseDurationMs: 1_000, renewDeadlineMs: 300, retryPeriodMs: 20 };

function elector(store: LeaseStore, identity: string) {
  const events: string[] = [];
  const e = createLeaderElector({
    store,
    identity,
    ...TIMINGS,
    log: silentLogger(),
    onStartedLeading: () => events.push('started'),
    onStoppedLeading: () => events.push('stopped'),
  });
  electors.push(e);
  return { e, events };
}

describe('leader election', () => {
  it('lets exactly one of two candidates lead', async () => {
    const lease = memoryLease();
    const a = elector(lease.store, 'a');
    let bReads = 0;
    const counting: LeaseStore = {
      ...lease.store,
      read: () => {
        bReads++;
        return lease.store.read();
      },
    };
    const b = elector(counting, 'b');
    a.e.start();
    await waitFor(() => expect(a.e.isLeader()).toBe(true));
    b.e.start();
    // b has tried several times by now, and must still be waiting.
    await waitFor(() => expect(bReads).toBeGreaterThanOrEqual(5));
    expect(lease.holder()).toBe('a');
    expect(b.e.isLeader()).toBe(false);
    expect(b.events).toEqual([]);
  });

  it('hands over at once when the leader stops, because it releases the Lease', async () => {
    const lease = memoryLease();
    const a = elector(lease.store, 'a');
    const b = elector(lease.store, 'b');
    a.e.start();
    await waitFor(() => expect(a.e.isLeader()).toBe(true));
    b.e.start();
    const stoppedAt = Date.now();
    await a.e.stop();
    expect(a.events).toEqual(['started', 'stopped']);
    await waitFor(() => expect(b.e.isLeader()).toBe(true));
    expect(Date.now() - stoppedAt).toBeLessThan(TIMINGS.leaseDurationMs);
    expect(lease.holder()).toBe('b');
  });

  it('takes over from a leader that vanished once the lease duration has passed', async () => {
    const lease = memoryLease();
    await lease.store.create({
      holderIdentity: 'ghost',
      leaseDurationSeconds: 1,
      renewTime: 'x',
      acquireTime: 'x',
    });
    const b = elector(lease.store, 'b');
    const started = Date.now();
    b.e.start();
    await waitFor(() => expect(b.e.isLeader()).toBe(true), { timeout: 3_000 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  });

  it('steps down when another holder shows up in the Lease (a conflict on renew)', async () => {
    const lease = memoryLease();
    const a = elector(lease.store, 'a');
    a.e.start();
    await waitFor(() => expect(a.e.isLeader()).toBe(true));
    lease.steal('intruder');
    await waitFor(() => expect(a.events).toEqual(['started', 'stopped']));
    expect(a.e.isLeader()).toBe(false);
  });

  it('takes the Lease although a standby attempt never answers (a request on a connection gone silent)', async () => {
    const lease = memoryLease();
    let reads = 0;
    const stuckOnce: LeaseStore = {
      ...lease.store,
      // The first read hangs for good, as one sent on a dead connection does; later ones, on new
      // connections, answer.
      read: () => (++reads === 1 ? new Promise(() => {}) : lease.store.read()),
    };
    const b = elector(stuckOnce, 'b');
    const started = Date.now();
    b.e.start();
    await waitFor(() => expect(b.e.isLeader()).toBe(true), { timeout: 3_000 });
    // The renew deadline (300 ms) bounds the stuck attempt; then a retry period.
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(reads).toBeGreaterThanOrEqual(2);
  });

  it('steps down when it cannot renew before the deadline', async () => {
    const lease = memoryLease();
    let down = false;
    const flaky: LeaseStore = {
      read: () => (down ? Promise.reject(new Error('apiserver unreachable')) : lease.store.read()),
      create: (r) => lease.store.create(r),
      replace: (r) => lease.store.replace(r),
    };
    const a = elector(flaky, 'a');
    a.e.start();
    await waitFor(() => expect(a.e.isLeader()).toBe(true));
    down = true;
    // isLeader() turns false by the monotonic deadline, possibly a tick before the renew loop
    // notices and says 'stopped': wait for the event, then check both agree.
    await waitFor(() => expect(a.events).toEqual(['started', 'stopped']));
    expect(a.e.isLeader()).toBe(false);
  });
});

describe('leadership by the monotonic clock', () => {
  // Sixth round: after SIGCONT a paused leader counted itself leader until its next renew failed.
  it('is over once the renew deadline has passed since the last renewal, before the renew loop runs', async () => {
    const lease = memoryLease();
    let mono = 1_000;
    const e = createLeaderElector({
      store: lease.store,
      identity: 'a',
      ...TIMINGS,
      log: silentLogger(),
      onStartedLeading: () => {},
      onStoppedLeading: () => {},
      monotonic: () => mono,
    });
    electors.push(e);
    e.start();
    await waitFor(() => expect(e.isLeader()).toBe(true));
    mono += TIMINGS.renewDeadlineMs - 1;
    expect(e.isLeader()).toBe(true);
    mono += 1; // as a process resumed after a pause sees it: no renewal ran meanwhile
    expect(e.isLeader()).toBe(false);
    // The next renewal, sent now, makes it leader again for another deadline.
    await waitFor(() => expect(e.isLeader()).toBe(true));
  });

  // Ninth round: what a leader vouches for is bounded by when it last reached the API server.
  it('says how long ago the last successful renewal was sent, and not a failed one', async () => {
    const lease = memoryLease();
    let mono = 1_000;
    let failing = false;
    let failed = 0;
    const store: LeaseStore = {
      ...lease.store,
      read: () => {
        if (!failing) return lease.store.read();
        failed++;
        return Promise.reject(new Error('timeout'));
      },
    };
    const e = createLeaderElector({
      store,
      identity: 'a',
      ...TIMINGS,
      log: silentLogger(),
      onStartedLeading: () => {},
      onStoppedLeading: () => {},
      monotonic: () => mono,
    });
    electors.push(e);
    expect(e.sinceRenewalMs()).toBe(Number.POSITIVE_INFINITY);
    e.start();
    await waitFor(() => expect(e.isLeader()).toBe(true));
    expect(e.sinceRenewalMs()).toBe(0);
    failing = true;
    mono += 150;
    await waitFor(() => expect(failed).toBeGreaterThanOrEqual(2));
    expect(e.sinceRenewalMs()).toBe(150);
  });
});

describe('a standby whose wall clock steps', () => {
  // Eighth round: a standby judged the leader's Lease expired by its wall clock; stepped back 600 s
  // just after the leader died, it stayed standby (a deleted key's reads were served meanwhile).
  function standby(store: LeaseStore, offset: () => number) {
    const e = createLeaderElector({
      store,
      identity: 'b',
      ...TIMINGS,
      log: silentLogger(),
      onStartedLeading: () => {},
      onStoppedLeading: () => {},
      clock: () => Date.now() + offset(),
    });
    electors.push(e);
    return e;
  }

  it('takes over from a vanished leader after the lease duration though its clock stepped back', async () => {
    const lease = memoryLease();
    await lease.store.create({
      holderIdentity: 'ghost',
      leaseDurationSeconds: 1,
      renewTime: 'x',
      acquireTime: 'x',
    });
    let reads = 0;
    const stepping: LeaseStore = {
      ...lease.store,
      read: () => {
        reads++;
        return lease.store.read();
      },
    };
    // Stepped back after its second look at ghost's record, which has not changed since the first.
    const b = standby(stepping, () => (reads >= 2 ? -600_000 : 0));
    b.start();
    await waitFor(() => expect(b.isLeader()).toBe(true), { timeout: 3_000 });
  });

  it("does not take a renewing leader's Lease though its clock stepped forward", async () => {
    const lease = memoryLease();
    const a = elector(lease.store, 'a');
    a.e.start();
    await waitFor(() => expect(a.e.isLeader()).toBe(true));
    let reads = 0;
    const counting: LeaseStore = {
      ...lease.store,
      read: () => {
        reads++;
        return lease.store.read();
      },
    };
    // Stepped forward after its first look, between two of the leader's renewals.
    const b = standby(counting, () => (reads >= 1 ? 600_000 : 0));
    b.start();
    // Three lease durations of attempts (a retry period apart), every one of them 'held'.
    await waitFor(() => expect(reads).toBeGreaterThanOrEqual(150), { timeout: 10_000 });
    expect(b.isLeader()).toBe(false);
    expect(lease.holder()).toBe('a');
  });
});

describe('the leader term', () => {
  // A proxy takes a lower snapshot version only from a newer term (ADR 0005, sixth round).
  it('rises with every acquisition, a restart under the same identity included, and holds across renewals', async () => {
    const lease = memoryLease();
    const first = elector(lease.store, 'a');
    expect(first.e.term()).toBeUndefined();
    first.e.start();
    await waitFor(() => expect(first.e.term()).toBe(0));
    const renewals = lease.store.read();
    await waitFor(async () =>
      expect((await lease.store.read())?.renewTime).not.toBe((await renewals)?.renewTime),
    );
    expect(first.e.term()).toBe(0);
    await first.e.stop();
    expect(first.e.term()).toBeUndefined();
    const restarted = elector(lease.store, 'a');
    restarted.e.start();
    await waitFor(() => expect(restarted.e.term()).toBe(1));
  });

  it('stops rising at the int32 ceiling the API server stores, so the Lease can still be taken (thirteenth round)', async () => {
    // As the API server: leaseTransitions past int32 is refused (400). Someone who may write the
    // Lease set it to the ceiling: +1 would leave the release without a leader for good.
    const lease = memoryLease();
    const strict: LeaseStore = {
      ...lease.store,
      replace: async (r) => {
        if ((r.leaseTransitions ?? 0) > MAX_LEASE_TRANSITIONS)
          throw new LeaseError('cannot update Lease keybrake/keybrake-operator: status 400', false);
        return lease.store.replace(r);
      },
    };
    await lease.store.create({
      holderIdentity: '',
      leaseDurationSeconds: 1,
      leaseTransitions: MAX_LEASE_TRANSITIONS,
    });
    const a = elector(strict, 'a');
    a.e.start();
    await waitFor(() => expect(a.e.term()).toBe(MAX_LEASE_TRANSITIONS));
  });

  it('takes its own Lease back after a restart though someone wrote it an acquireTime the API server cannot take back (thirteenth round)', async () => {
    // As the API server: a MicroTime it reads back as year 10000 is refused (400) when written. Kept
    // over this identity's term as read, every renewal of the restarted leader was refused.
    const lease = memoryLease();
    const strict: LeaseStore = {
      ...lease.store,
      replace: async (r) => {
        if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/.test(r.acquireTime ?? ''))
          throw new LeaseError('cannot update Lease keybrake/keybrake-operator: status 400', false, 400);
        return lease.store.replace(r);
      },
    };
    await lease.store.create({
      holderIdentity: 'a',
      leaseDurationSeconds: 1,
      acquireTime: '10000-01-01T00:59:59.999999Z',
      renewTime: '2026-12-02T00:00:00.000000Z',
      leaseTransitions: 3,
    });
    const a = elector(strict, 'a');
    a.e.start();
    await waitFor(() => expect(a.e.isLeader()).toBe(true));
    expect((await lease.store.read())?.acquireTime).toMatch(/^20\d\d-/);
  });

  it('releases its Lease at stop though someone wrote it an acquireTime the API server cannot take back (thirteenth round)', async () => {
    // Probe fixes13y finding 4: the release wrote the Lease back as read, acquireTime included; as
    // the API server refuses a MicroTime it reads back as year 10000 (400), the release failed and a
    // standby waited the whole lease duration instead of taking over at once. Rewritten after the
    // last renewal: every read from the moment the leader is told to stop shows it.
    const lease = memoryLease();
    const refused: (string | undefined)[] = [];
    let rewritten = false;
    const strict: LeaseStore = {
      ...lease.store,
      read: async () => {
        const r = await lease.store.read();
        return r && rewritten ? { ...r, acquireTime: '10000-01-01T00:59:59.999999Z' } : r;
      },
      replace: async (r) => {
        if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/.test(r.acquireTime ?? '')) {
          refused.push(r.acquireTime);
          throw new LeaseError('cannot update Lease keybrake/keybrake-operator: status 400', false, 400);
        }
        return lease.store.replace(r);
      },
    };
    const a = elector(strict, 'a');
    a.e.start();
    await waitFor(() => expect(a.e.isLeader()).toBe(true));
    rewritten = true;
    await a.e.stop();
    const released = await lease.store.read();
    expect(released?.holderIdentity).toBe('');
    expect(released?.leaseDurationSeconds).toBe(1);
    expect(released?.acquireTime).toMatch(/^20\d\d-/);
    expect(refused).toEqual([]);
  });

  it.each([
    ['2026-12-02T07:37:12.479000Z', '2026-12-02T07:37:12.479000Z'],
    // As the API server reads it back: kept whole (its microseconds are a claim's run epoch).
    ['2026-12-02T07:37:12.479999Z', '2026-12-02T07:37:12.479999Z'],
    ['2020-01-01T01:00:00+01:00', '2020-01-01T00:00:00.000000Z'],
    ['9999-12-31T23:59:59.999000Z', '9999-12-31T23:59:59.999000Z'],
    ['10000-01-01T00:59:59.999999Z', undefined],
    ['9999-12-31T23:59:59.999999-01:00', undefined],
    ['-0001-12-31T23:30:00.000000Z', undefined],
    ['0000-01-01T00:30:00+01:00', undefined],
    ['1969-12-31T23:59:59.999000Z', undefined],
    ['not a time', undefined],
    ['', undefined],
    [undefined, undefined],
  ])('writableMicroTime(%s) is %s', (text, expected) => {
    expect(writableMicroTime(text)).toBe(expected);
  });

  it.each([
    [undefined, true, 1],
    [0, false, 0],
    [41, true, 42],
    [MAX_LEASE_TRANSITIONS - 1, true, MAX_LEASE_TRANSITIONS],
    [MAX_LEASE_TRANSITIONS, true, MAX_LEASE_TRANSITIONS],
    [MAX_LEASE_TRANSITIONS, false, MAX_LEASE_TRANSITIONS],
    [2 ** 40, false, MAX_LEASE_TRANSITIONS],
    [-5, true, 1],
    [1.5, false, 0],
    [Number.NaN, true, 1],
  ])('nextLeaseTransitions(%s, taken %s) is %s', (current, taken, expected) => {
    expect(nextLeaseTransitions(current, taken)).toBe(expected);
  });
});

describe('checkLeaseTimings', () => {
  it.each([
    ['client-go defaults are fine', 15_000, 10_000, 2_000, undefined],
    ['short test timings are fine', 3_000, 2_000, 500, undefined],
    [
      'a renew deadline as long as the lease is refused',
      10_000,
      10_000,
      2_000,
      'lease duration must be longer than the renew deadline',
    ],
    [
      'a retry period too close to the deadline is refused',
      15_000,
      2_000,
      2_000,
      'renew deadline must exceed 1.2 × the retry period',
    ],
  ])('%s', (_n, leaseDurationMs, renewDeadlineMs, retryPeriodMs, expected) => {
    expect(checkLeaseTimings({ leaseDurationMs, renewDeadlineMs, retryPeriodMs })).toBe(expected);
  });
});

describe('leader election problems, for /readyz', () => {
  const failing = (error: Error): LeaseStore => ({
    read: async () => undefined,
    create: async () => {
      throw error;
    },
    replace: async () => undefined,
  });

  it('names a missing Lease namespace at once, and never leads', async () => {
    const a = elector(
      failing(new LeaseError('Lease namespace "keybrake-system" does not exist: create it', true)),
      'a',
    );
    expect(a.e.problem()).toBeUndefined();
    a.e.start();
    await waitFor(() => expect(a.e.problem()).toContain('Lease namespace "keybrake-system" does not exist'));
    expect(a.e.isLeader()).toBe(false);
  });

  it(`reports a transient error only after ${LEASE_FAILURES_BEFORE_PROBLEM} failed attempts in a row, and forgets it once the Lease answers`, async () => {
    const lease = memoryLease();
    let down = true;
    let attempts = 0;
    const seen: (string | undefined)[] = [];
    const flaky: LeaseStore = {
      read: async () => {
        attempts++;
        if (down) throw new LeaseError('cannot read Lease ns/x: status 500', false);
        return lease.store.read();
      },
      create: (r) => lease.store.create(r),
      replace: (r) => lease.store.replace(r),
    };
    const a = elector(flaky, 'a');
    a.e.start();
    await waitFor(() => {
      seen.push(a.e.problem());
      expect(attempts).toBeGreaterThanOrEqual(LEASE_FAILURES_BEFORE_PROBLEM + 1);
    });
    expect(a.e.problem()).toBe('cannot read Lease ns/x: status 500');
    expect(seen[0]).toBeUndefined();
    down = false;
    await waitFor(() => expect(a.e.isLeader()).toBe(true));
    expect(a.e.problem()).toBeUndefined();
  });
});
