import { describe, expect, it } from 'vitest';
import { fixedClock } from '../../clock.ts';
import { MemoryCounterStore } from '../../counters/memory-store.ts';
import { dayBucket, monthBucket } from '../../counters/windows.ts';
import type { CompiledLimits } from '../../snapshot/types.ts';
import { NO_PARTIES, type Operation, type VendorAdapter } from '../../vendors/types.ts';
import type { CallContext, PipelineDeps } from '../context.ts';
import { settle } from './settle.ts';

/** The settle stage over a call whose reservation counted no money window. */
async function settled(op: Operation, status: number, reports: number | undefined) {
  const asked: string[] = [];
  const adapter = {
    settle: (o: Operation) => {
      asked.push(o.id);
      return reports;
    },
  } as unknown as VendorAdapter;
  const ctx = {
    adapter,
    op,
    reservation: { scope: 'agents/k', money: [] },
    upstream: { status, headers: {}, body: Buffer.from('{"amount":100,"currency":"usd"}') },
    countedMicros: -1,
  } as unknown as CallContext;
  await settle(ctx, {} as PipelineDeps);
  return { asked, counted: ctx.countedMicros };
}

const op = (movesMoney: boolean, costMicros: number): Operation => ({
  id: movesMoney ? 'stripe.charges.create' : 'stripe.customers.list',
  class: movesMoney ? 'money' : 'read',
  movesMoney,
  costMicros,
  parties: NO_PARTIES,
});

describe('settle stage', () => {
  it('settles a call that moves money from what the vendor reports', async () => {
    expect(await settled(op(true, 5_000_000), 200, 1_000_000)).toEqual({
      asked: ['stripe.charges.create'],
      counted: 1_000_000,
    });
  });

  it('keeps the price of a call that moves no money, without asking the vendor adapter', async () => {
    expect(await settled(op(false, 0), 200, 7)).toEqual({ asked: [], counted: 0 });
  });

  it('counts nothing for a call the vendor refused (4xx), money or not', async () => {
    expect(await settled(op(true, 5_000_000), 402, 7)).toEqual({ asked: [], counted: 0 });
    expect(await settled(op(false, 0), 404, 7)).toEqual({ asked: [], counted: 0 });
  });
});

// Thirteenth round (probe fixmoney, finding 4): a money call reserved at $0 raises no money window,
// so when the vendor's answer said it moved more, the audit record and keybrake_spend_usd_total
// reported that while no cap ever counted it. Now it is counted in the windows it would have been
// reserved in, and what is reported is what the caps counted.
describe('settle stage: a $0 reservation the vendor reports above $0', () => {
  const NOW = Date.UTC(2026, 11, 2, 12);

  async function settledFromNothing(limits: CompiledLimits, reports: number, runId?: string) {
    const clock = fixedClock(NOW);
    const counters = new MemoryCounterStore({ clock, sweepIntervalMs: 0 });
    const adapter = { settle: () => reports } as unknown as VendorAdapter;
    const ctx = {
      adapter,
      op: op(true, 0),
      key: { uid: 'uid-1', policy: { ref: 'agents/p', limits, timezone: 'UTC', readsWhenStoreDown: false } },
      runId: runId ?? null,
      runKey: null,
      reservation: { scope: 'uid-1', money: [] },
      upstream: { status: 200, headers: {}, body: Buffer.from('{}') },
      countedMicros: 0,
    } as unknown as CallContext;
    await settle(ctx, { counters, clock } as unknown as PipelineDeps);
    const used = async (bucket: string) => counters.used('uid-1', bucket);
    return {
      counted: ctx.countedMicros,
      day: await used(dayBucket(NOW, 'UTC')),
      month: await used(monthBucket(NOW, 'UTC')),
      run: await used('run:r1'),
    };
  }

  it('counts what the vendor reports in the day and month caps, and reports that', async () => {
    expect(
      await settledFromNothing({ perDayMicros: 40_000_000, perMonthMicros: 900_000_000 }, 500_000_000),
    ).toEqual({
      counted: 500_000_000,
      day: 500_000_000,
      month: 500_000_000,
      run: 0,
    });
  });

  it("counts it in the call's run window when the policy caps runs", async () => {
    expect(await settledFromNothing({ perRunMicros: 40_000_000 }, 7_000_000, 'r1')).toMatchObject({
      counted: 7_000_000,
      run: 7_000_000,
    });
  });

  it('reports it on a key without spend caps, where there is nothing to count it in', async () => {
    expect(await settledFromNothing({ requestsPerMinute: 10 }, 7_000_000)).toEqual({
      counted: 7_000_000,
      day: 0,
      month: 0,
      run: 0,
    });
  });
});
