// One key's stops must not refuse another key's (ADR 0010, seventh round): a tester let a busy fleet's
// `run exec`s leave 90 000 stops, had one agent stop 10 000 made-up runs of its own key, and every
// other key's `POST /v1/runs` and `DELETE` were refused 429 `too_many_stopped_runs`: a run still
// going could not be stopped, and its key went on working until its expiry. Here a `serve --redis`
// replica reads 99 999 such stops from Redis (stops heard count as its own), the victim starts a run,
// the adversary's last made-up stop fills the process's 100 000, and the victim stops its run (once
// stopped, nothing of it reaches the upstream) and starts another.
import { Redis } from 'ioredis';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STOPPED_RUNS_INDEX } from '../../src/counters/keys.ts';
import { type StripeEmulator, startStripeEmulator } from '../../src/emulators/stripe.ts';
import { MAX_STOPPED_RUNS, MAX_STOPPED_RUNS_PER_KEY } from '../../src/snapshot/run-keys.ts';
import { type KeybrakeProcess, manifestDir } from '../env/keybrake.ts';
import { type RedisServer, startRedis } from '../env/redis.ts';
import { mintKeys, startReplicas, UPSTREAM_KEY } from './fixtures/replicas.ts';

/** `<status> <reason>` of a GET /v1/customers with `token` on a Stripe listener. */
async function read(base: string, token: string): Promise<string> {
  const res = await request(`${base}/v1/customers?limit=1`, {
    headers: { authorization: `Bearer ${token}` },
  });
  await res.body.dump();
  const reason = /reason=([a-z_]+)/.exec(String(res.headers['keybrake-decision'] ?? ''))?.[1];
  return `${res.statusCode} ${reason}`;
}

describe('a replica holding 100 000 stops, one key at its own bound', () => {
  let redis: RedisServer;
  let emulator: StripeEmulator;
  let manifests: Awaited<ReturnType<typeof manifestDir>>;
  let proxy: KeybrakeProcess;
  const { files, keys } = mintKeys([
    { name: 'bot', limits: { perRunUsd: '20' } },
    { name: 'adversary', limits: { perRunUsd: '20' } },
  ]);

  beforeAll(async () => {
    [redis, emulator, manifests] = await Promise.all([
      startRedis(),
      startStripeEmulator({ validKeys: [UPSTREAM_KEY] }),
      manifestDir(files),
    ]);
    // Nine keys' `run exec`s, each key at its own bound, and all but one of the adversary's made-up runs.
    const inspect = new Redis(redis.port, '127.0.0.1');
    try {
      const until = Date.now() + 3_600_000;
      const seed = async (scope: string, count: number) => {
        for (let i = 0; i < count; i += 5_000) {
          const members: (string | number)[] = [];
          for (let j = i; j < Math.min(count, i + 5_000); j++)
            members.push(until, JSON.stringify({ scope, runId: `run-${j}` }));
          await inspect.zadd(STOPPED_RUNS_INDEX, ...members);
        }
      };
      for (let k = 0; k < 9; k++) await seed(`agents/normal-${k}`, MAX_STOPPED_RUNS_PER_KEY);
      await seed(keys.adversary.scope, MAX_STOPPED_RUNS_PER_KEY - 1);
      expect(await inspect.zcard(STOPPED_RUNS_INDEX)).toBe(MAX_STOPPED_RUNS - 1);
    } finally {
      inspect.disconnect();
    }
    [proxy] = (await startReplicas(1, {
      manifests: manifests.dir,
      redis: redis.url,
      upstream: emulator.url,
    })) as [KeybrakeProcess];
    // Ready once it has read every stop in the index (ADR 0011).
    for (;;) {
      const res = await request(`${proxy.urls['admin']}/readyz`);
      await res.body.dump();
      if (res.statusCode === 200) break;
    }
  });

  afterAll(async () => {
    await proxy?.stop();
    await Promise.allSettled([emulator?.close(), redis?.stop(), manifests?.remove()]);
  });

  const runs = (method: 'POST' | 'DELETE', token: string, path = '', body?: unknown) =>
    request(`${proxy.urls['admin']}/v1/runs${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });

  it("stops and starts another key's runs once one key's made-up stops have filled the process bound", async () => {
    const stripe = proxy.urls['stripe']!;
    const started = await runs('POST', keys.bot.token, '', { key: 'agents/bot', runId: 'going' });
    expect(started.statusCode).toBe(201);
    const { token } = (await started.body.json()) as { token: string };
    expect(await read(stripe, token)).toBe('200 ok');

    // The adversary's last made-up stop: 100 000 live stops. Past it, its own bound refuses it.
    for (const [runId, status] of [
      ['made-up-last', 200],
      ['one-more', 429],
    ] as const) {
      const res = await runs('DELETE', keys.adversary.token, `/agents/adversary/${runId}`);
      expect(res.statusCode).toBe(status);
      await res.body.dump();
    }

    const stopped = await runs('DELETE', keys.bot.token, '/agents/bot/going');
    expect(stopped.statusCode).toBe(200);
    await stopped.body.dump();
    const forwarded = () => emulator.requests.filter((r) => r.path.startsWith('/v1/customers')).length;
    const before = forwarded();
    expect(await read(stripe, token)).toBe('401 key_unknown');
    expect(forwarded()).toBe(before);

    const again = await runs('POST', keys.bot.token, '', { key: 'agents/bot' });
    expect(again.statusCode).toBe(201);
    await again.body.dump();
  });
});
