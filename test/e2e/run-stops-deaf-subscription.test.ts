// A `serve --redis` replica whose stopped-runs subscription answers but delivers nothing (eleventh
// round, MEDIUM): a relay passed every reply between replica B and Redis, PINGs included, and
// dropped pub/sub message pushes (a middlebox that mangles pub/sub, a Sentinel split brain leaving
// the subscription on a deposed master, a Cluster bus partition). A run stopped on replica A kept
// reading through B, 15 of 15 reads in 15 s at --redis-timeout 1s, since B's check of its
// subscription was a PING. Here B notices the subscription delivers nothing, refuses the run's key
// 503 meanwhile, reads the stops once it delivers again, and nothing of the stopped run reaches the
// recording upstream through B.
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StripeEmulator, startStripeEmulator } from '../../src/emulators/stripe.ts';
import { type KeybrakeProcess, manifestDir } from '../env/keybrake.ts';
import { type RedisServer, startRedis, waitFor } from '../env/redis.ts';
import { dropPushes } from '../env/resp-pushes.ts';
import { startTcpRelay, type TcpRelay } from '../env/tcp-relay.ts';
import { mintKeys, startReplicas, UPSTREAM_KEY } from './fixtures/replicas.ts';

/** One call with `token` on a Stripe listener: `<status> <reason>`. */
async function call(base: string, token: string, method: 'GET' | 'POST' = 'GET'): Promise<string> {
  const res = await request(`${base}/v1/customers${method === 'GET' ? '?limit=1' : ''}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(method === 'POST' ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
    },
    ...(method === 'POST' ? { body: 'name=deaf' } : {}),
    headersTimeout: 20_000,
  });
  await res.body.dump();
  const reason = /reason=([a-z_]+)/.exec(String(res.headers['keybrake-decision'] ?? ''))?.[1];
  return `${res.statusCode} ${reason}`;
}

const NOT_DELIVERING = /^stopped-runs subscription connected but not delivering/;

describe('a serve --redis replica whose stopped-runs subscription answers but delivers nothing', () => {
  let redis: RedisServer;
  let emulator: StripeEmulator;
  let manifests: Awaited<ReturnType<typeof manifestDir>>;
  let relay: TcpRelay;
  let dropping = false;
  let dropped = 0;
  let a: KeybrakeProcess | undefined;
  let b: KeybrakeProcess | undefined;
  const { files, keys } = mintKeys([{ name: 'bot', limits: { perRunUsd: '5', perDayUsd: '100' } }]);

  beforeAll(async () => {
    [redis, emulator, manifests] = await Promise.all([
      startRedis(),
      startStripeEmulator({ validKeys: [UPSTREAM_KEY] }),
      manifestDir(files),
    ]);
    relay = await startTcpRelay(
      { host: '127.0.0.1', port: redis.port },
      {
        toClient: dropPushes(
          () => dropping,
          () => dropped++,
        ),
      },
    );
    const common = { manifests: manifests.dir, upstream: emulator.url };
    [[a], [b]] = await Promise.all([
      startReplicas(1, { ...common, redis: redis.url }),
      startReplicas(1, { ...common, redis: `redis://${relay.address}` }),
    ]);
    for (const p of [a!, b!])
      await waitFor('a replica to be ready', async () => {
        const res = await request(`${p.urls['admin']}/readyz`);
        await res.body.dump();
        return res.statusCode === 200;
      });
  });

  afterAll(async () => {
    await Promise.allSettled([a?.stop(), b?.stop()]);
    await Promise.allSettled([relay?.close(), emulator?.close(), redis?.stop(), manifests?.remove()]);
  });

  it('forwards nothing of a run stopped elsewhere while its subscription delivers nothing, nor after', async () => {
    const admin = a!.urls['admin']!;
    const started = await request(`${admin}/v1/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${keys.bot.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ key: 'agents/bot', runId: 'deaf-1' }),
    });
    expect(started.statusCode).toBe(201);
    const { token } = (await started.body.json()) as { token: string };
    const viaA = a!.urls['stripe']!;
    const viaB = b!.urls['stripe']!;
    expect(await call(viaB, token)).toBe('200 ok');

    // Deaf: every reply still reaches B, PONGs included; no message does. B's store answers all along.
    const noticed = b!.waitForNextLog((l) => NOT_DELIVERING.test(String(l.msg)), 20_000);
    dropping = true;
    await noticed;
    const stopped = await request(`${admin}/v1/runs/agents/bot/deaf-1`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${keys.bot.token}` },
    });
    const stop = (await stopped.body.json()) as { scope?: string };
    expect(stopped.statusCode).toBe(200);
    expect(stop.scope).toBe('every process sharing the counter store');
    const before = emulator.requests.length;

    expect(await call(viaA, token)).toBe('401 key_unknown');
    for (let i = 0; i < 5; i++)
      expect(await call(viaB, token), `read ${i}`).toBe('503 counter_store_unavailable');
    expect(await call(viaB, token, 'POST')).toBe('503 counter_store_unavailable');
    expect(emulator.requests.slice(before)).toEqual([]);
    expect(dropped).toBeGreaterThan(0);
    // Only run keys are unknown: B's store answers, so a vault key's calls go on.
    expect(await call(viaB, keys.bot.token)).toBe('200 ok');
    const afterVault = emulator.requests.length;

    // It delivers again: B reads the stops before it admits a run key, then knows the stop.
    const delivering = b!.waitForNextLog(
      (l) => l.msg === 'stopped-runs subscription delivering again; reading the stops',
      20_000,
    );
    dropping = false;
    await delivering;
    const answers: string[] = [];
    await waitFor(
      'B to know the stop',
      async () => {
        answers.push(await call(viaB, token));
        return answers.at(-1) === '401 key_unknown';
      },
      20_000,
    );
    expect(answers.filter((s) => s !== '503 counter_store_unavailable' && s !== '401 key_unknown')).toEqual(
      [],
    );
    expect(await call(viaB, token, 'POST')).toBe('401 key_unknown');
    expect(emulator.requests.slice(afterVault)).toEqual([]);
  });
});
