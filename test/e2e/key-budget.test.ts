// What one vault key's calls may hold at the upstreams (ADR 0007 §8, fifth round). A key's share of a
// host's connections bounded what it had on them, not what waited for them: one agent, connected
// throughout, pipelined 2 048 customer updates with 250 000-byte descriptions from one address while
// the vendor held each forwarded call 25 s; they waited in the key's queue with their bodies, and the
// proxy grew from 185 to 1 278 MB (the chart allows 512 Mi). A real `keybrake serve` before a Stripe
// stand-in that holds customer calls until the test lets them go (promises and events, no sleeps).
import type Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { useDelayedServe } from './fixtures/delayed-serve.ts';
import { gate, outcome } from './fixtures/outcomes.ts';
import { mintKeys, stripeVia } from './fixtures/replicas.ts';

/** What one vault key may hold of a host's 128 connections (defaultConnectionsPerKey). */
const KEY_SHARE = 32;
/** Its calls at the upstreams at once (defaultBudget): its share, and three times as many waiting. */
const KEY_CALLS = 4 * KEY_SHARE;
/** The request bodies they may hold: its share's worth of the largest body (--max-body 256 KiB). */
const KEY_BYTES = KEY_SHARE * 256 * 1024;
/** Long enough that no call waiting for a connection gives up while a test runs. */
const UPSTREAM_TIMEOUT = '20s';

const { files, keys } = mintKeys([
  { name: 'agent', limits: { perDayUsd: '100' } },
  { name: 'victim', limits: { perDayUsd: '100' } },
]);

/** The outcome of each call, and which of them have settled, in order: `first` once `count` have. */
function settling<T>(calls: readonly Promise<T>[], count: number) {
  const settled: number[] = [];
  const enough = gate();
  const outcomes = calls.map((call, i) =>
    outcome(call).then((o) => {
      settled.push(i);
      if (settled.length === count) enough.open();
      return o;
    }),
  );
  return { outcomes, settled, first: enough.promise };
}

describe("what one key's calls may hold at the upstreams", () => {
  const { stripe, proxy } = useDelayedServe(files, ['--upstream-timeout', UPSTREAM_TIMEOUT]);

  const client = (key: keyof typeof keys): Stripe => stripeVia(proxy(), keys[key].token);

  /** Holds the agent's customer calls at the stand-in; the others pass. `there` once `count` are held. */
  function holdAgent(count: number) {
    const s = stripe();
    const released = gate();
    const there = gate();
    const held: string[] = [];
    s.onReadHead = async (id) => {
      if (!id.startsWith('cus_slow')) return;
      held.push(id);
      if (held.length === count) there.open();
      await released.promise;
    };
    return { held, there: there.promise, release: released.open };
  }

  /** The customer ids of `method` calls the stand-in received. */
  const forwarded = (method: string) =>
    stripe()
      .requests.filter((r) => r.method === method)
      .map((r) => r.path.split('/').pop());

  it("refuses at once, unsent, the key's calls past its count while its others wait, and answers another key's", async () => {
    const EXTRA = 6;
    const agent = holdAgent(KEY_SHARE);
    try {
      const reads = settling(
        Array.from({ length: KEY_CALLS + EXTRA }, (_, i) =>
          client('agent').customers.retrieve(`cus_slow${i}`),
        ),
        EXTRA,
      );
      await agent.there;
      // The key's share is on connections and held; as many wait for them. The calls past those are
      // answered while every other one is still held or waiting (a wait lasts the upstream timeout).
      await reads.first;
      const refusedIds = reads.settled.map((i) => `cus_slow${i}`);
      const refused = await Promise.all(reads.settled.map((i) => reads.outcomes[i]!));
      for (const answer of refused) {
        expect(answer).toMatchObject({
          ok: false,
          error: {
            statusCode: 502,
            code: 'upstream_unavailable',
            message: expect.stringContaining(`already has ${KEY_CALLS} calls at the stripe API`),
          },
        });
      }
      expect(await outcome(client('victim').customers.retrieve('cus_victim'))).toMatchObject({
        ok: true,
        value: { id: 'cus_victim' },
      });
      expect(reads.settled).toHaveLength(EXTRA);
      expect(agent.held).toHaveLength(KEY_SHARE);

      agent.release();
      const all = await Promise.all(reads.outcomes);
      expect(all.filter((o) => o.ok)).toHaveLength(KEY_CALLS);
      // Refused means never sent, not sent later.
      const sent = forwarded('GET');
      expect(sent.filter((id) => id?.startsWith('cus_slow'))).toHaveLength(KEY_CALLS);
      expect(sent.filter((id) => refusedIds.includes(id!))).toEqual([]);
    } finally {
      agent.release();
      stripe().onReadHead = undefined;
    }
  });

  it("refuses at once, unsent, the key's calls whose bodies its calls have no room for, as the probe's 250 000-byte updates", async () => {
    const description = 'x'.repeat(250_000);
    const bodyBytes = Buffer.byteLength(`description=${description}`);
    // The key's share on connections, and one more waiting: the rest have no room.
    const admitted = Math.floor(KEY_BYTES / bodyBytes);
    expect(admitted).toBe(KEY_SHARE + 1);
    const CALLS = admitted + 7;
    stripe().requests.length = 0;
    const agent = holdAgent(KEY_SHARE);
    try {
      const updates = settling(
        Array.from({ length: CALLS }, (_, i) =>
          client('agent').customers.update(`cus_slow_big${i}`, { description }),
        ),
        CALLS - admitted,
      );
      await agent.there;
      await updates.first;
      const refusedIds = updates.settled.map((i) => `cus_slow_big${i}`);
      for (const i of updates.settled) {
        expect(await updates.outcomes[i]).toMatchObject({
          ok: false,
          error: {
            statusCode: 502,
            code: 'upstream_unavailable',
            message: expect.stringContaining(`more than ${KEY_BYTES} bytes of request bodies`),
          },
        });
      }
      expect(
        await outcome(client('victim').customers.update('cus_victim', { description: 'still served' })),
      ).toMatchObject({ ok: true, value: { id: 'cus_victim' } });
      expect(updates.settled).toHaveLength(CALLS - admitted);

      agent.release();
      const all = await Promise.all(updates.outcomes);
      expect(all.filter((o) => o.ok)).toHaveLength(admitted);
      const sent = stripe().requests.filter((r) => r.method === 'POST' && r.path.includes('cus_slow_big'));
      expect(sent).toHaveLength(admitted);
      expect(sent.every((r) => r.body.length === bodyBytes)).toBe(true);
      expect(forwarded('POST').filter((id) => refusedIds.includes(id!))).toEqual([]);
    } finally {
      agent.release();
      stripe().onReadHead = undefined;
    }
  });
});
