import { describe, expect, it } from 'vitest';
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
