// A retry with the same Idempotency-Key is free only up to what its first attempt counted (ADR 0007
// §4, sixth round): a confirm is priced from the payment intent Stripe holds, so the same request
// can cost more the second time. The tester's run: the first confirm of a $1 intent got no usable
// answer ($1 counted, its idempotency record kept), the intent was raised to $90, and the same
// confirm again went out as a free replay: Stripe charged $90, the audit said $0.00, and a $99
// charge then fitted under the $100 cap. Against the real `keybrake serve`, with the memory store and
// with two replicas on one Redis (the retry through the other replica), before a Stripe stand-in.
// The first attempt is answered 500 here, which leaves it counted and its record kept as a dropped
// connection does, but releases its lease at once (a dropped call's lease lapses only after the
// upstream timeout; the pipeline suite takes that path on an injected clock).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KeybrakeProcess, manifestDir, serveArgs, startKeybrake } from '../env/keybrake.ts';
import { type DelayedStripe, startDelayedStripe } from './fixtures/delayed-stripe.ts';
import { outcome } from './fixtures/outcomes.ts';
import { startRedisReplicas } from './fixtures/redis-replicas.ts';
import { mintKeys, stripeVia, UPSTREAM_KEY } from './fixtures/replicas.ts';

const LIMITS = { perCallUsd: '100', perDayUsd: '100' };

/** What each run needs: the stand-in, the proxy of the first attempt and the one of the retry. */
interface Setup {
  readonly stripe: DelayedStripe;
  readonly first: KeybrakeProcess;
  readonly retry: KeybrakeProcess;
  stop(): Promise<void>;
}

/** One `keybrake serve` on its memory store: both attempts go to it. */
async function memoryStore(files: Record<string, string>): Promise<Setup> {
  const stripe = await startDelayedStripe({ upstreamKey: UPSTREAM_KEY });
  const dir = await manifestDir(files);
  const proxy = await startKeybrake(serveArgs(dir.dir, { stripe: stripe.url })).catch(async (err) => {
    await Promise.allSettled([stripe.close(), dir.remove()]);
    throw err;
  });
  return {
    stripe,
    first: proxy,
    retry: proxy,
    stop: async () => {
      await proxy.stop();
      await Promise.allSettled([stripe.close(), dir.remove()]);
    },
  };
}

/** Two replicas on one Redis: the retry goes to the replica that did not see the first attempt. */
async function redisStore(files: Record<string, string>): Promise<Setup> {
  const replicas = await startRedisReplicas(files);
  return {
    stripe: replicas.stripe,
    first: replicas.proxies[0]!,
    retry: replicas.proxies[1]!,
    stop: () => replicas.stop(),
  };
}

describe.each([
  ['the memory store', memoryStore],
  ['Redis, across two replicas', redisStore],
])('a confirm retried with the same Idempotency-Key, on %s', (_store, start) => {
  const { files, keys } = mintKeys([
    { name: 'raised', limits: LIMITS },
    { name: 'same', limits: LIMITS },
  ]);
  let setup: Setup | undefined;

  beforeAll(async () => {
    setup = await start(files);
  });

  afterAll(async () => {
    await setup?.stop();
  });

  const confirm = (proxy: KeybrakeProcess, key: keyof typeof keys, id: string, idempotencyKey?: string) =>
    outcome(
      stripeVia(proxy, keys[key].token).paymentIntents.confirm(
        id,
        { payment_method: 'pm_card_visa' },
        idempotencyKey !== undefined ? { idempotencyKey } : {},
      ),
    );

  /** Runs `call` and returns its outcome with the cost its audit record counted. */
  const audited = async <T>(
    proxy: KeybrakeProcess,
    key: keyof typeof keys,
    path: string,
    call: () => Promise<T>,
  ) => {
    const from = proxy.audit.length;
    const result = await call();
    const record = await proxy.waitForAudit(
      (r) => proxy.audit.indexOf(r) >= from && r.vaultKey === keys[key].scope && r.path === path,
    );
    return { result, costUsd: record.costUsd };
  };

  it('is counted in full at the raised price, and the cap then refuses what no longer fits', async () => {
    const s = setup!.stripe;
    s.intent('pi_r1', 100);
    s.failNextConfirm('pi_r1');
    const path = '/v1/payment_intents/pi_r1/confirm';
    const failed = await audited(setup!.first, 'raised', path, () =>
      confirm(setup!.first, 'raised', 'pi_r1', 'k-abc-1'),
    );
    expect(failed).toMatchObject({ result: { ok: false, error: { statusCode: 500 } }, costUsd: '1.00' });

    const update = stripeVia(setup!.first, keys.raised.token).paymentIntents.update('pi_r1', {
      amount: 9_000,
    });
    expect(await outcome(update)).toMatchObject({ ok: true, value: { amount: 9_000 } });

    const retried = await audited(setup!.retry, 'raised', path, () =>
      confirm(setup!.retry, 'raised', 'pi_r1', 'k-abc-1'),
    );
    expect(retried).toMatchObject({
      result: { ok: true, value: { amount_received: 9_000 } },
      costUsd: '90.00',
    });
    expect(s.executed.filter((e) => e.id === 'pi_r1')).toEqual([{ id: 'pi_r1', amount: 9_000 }]);

    // $91 counted of $100: a $99 charge no longer fits, and never reaches Stripe.
    s.intent('pi_big', 9_900);
    expect(await confirm(setup!.retry, 'raised', 'pi_big')).toMatchObject({
      ok: false,
      error: { statusCode: 403, code: 'daily_cap_exceeded' },
    });
    expect(
      s.requests.filter((r) => r.method === 'POST' && r.path.startsWith('/v1/payment_intents/pi_big')),
    ).toEqual([]);
    expect(s.executed.some((e) => e.id === 'pi_big')).toBe(false);
  });

  it('still passes free at the price its first attempt was counted at', async () => {
    const s = setup!.stripe;
    s.intent('pi_same', 100);
    s.failNextConfirm('pi_same');
    const path = '/v1/payment_intents/pi_same/confirm';
    const failed = await audited(setup!.first, 'same', path, () =>
      confirm(setup!.first, 'same', 'pi_same', 'k-same-1'),
    );
    expect(failed).toMatchObject({ result: { ok: false }, costUsd: '1.00' });

    const replayed = await audited(setup!.retry, 'same', path, () =>
      confirm(setup!.retry, 'same', 'pi_same', 'k-same-1'),
    );
    expect(replayed).toMatchObject({ result: { ok: true }, costUsd: '0.00' });
    expect(s.executed.filter((e) => e.id === 'pi_same')).toEqual([{ id: 'pi_same', amount: 100 }]);
  });
});
