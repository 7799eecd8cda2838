import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StripeEmulator, startStripeEmulator } from '../../src/emulators/stripe.ts';
import { type KeybrakeProcess, manifestDir } from '../env/keybrake.ts';
import { type RedisServer, startRedis } from '../env/redis.ts';
import { dropPushes } from '../env/resp-pushes.ts';
import { startTcpRelay, type TcpRelay } from '../env/tcp-relay.ts';
import { mintKeys, startReplicas, UPSTREAM_KEY } from './fixtures/replicas.ts';
import {
  answersUntilUnknown,
  decision,
  startRun,
  stopRun,
  untilReady,
} from './fixtures/run-stop-replicas.ts';

const call = (base: string, token: string, method: 'GET' | 'POST' = 'GET') =>
  decision(base, token, method, 'deaf');

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
    await untilReady([a!, b!]);
  });

  afterAll(async () => {
    await Promise.allSettled([a?.stop(), b?.stop()]);
    await Promise.allSettled([relay?.close(), emulator?.close(), redis?.stop(), manifests?.remove()]);
  });

  it('forwards nothing of a run stopped elsewhere while its subscription delivers nothing, nor after', async () => {
    const admin = a!.urls['admin']!;
    const started = await startRun(admin, keys.bot.token, 'agents/bot', 'deaf-1');
    expect(started.status).toBe(201);
    const { token } = started;
    const viaA = a!.urls['stripe']!;
    const viaB = b!.urls['stripe']!;
    expect(await call(viaB, token)).toBe('200 ok');

    // Deaf: every reply still reaches B, PONGs included; no message does. B's store answers all along.
    const noticed = b!.waitForNextLog((l) => NOT_DELIVERING.test(String(l.msg)), 20_000);
    dropping = true;
    await noticed;
    const stopped = await stopRun(admin, keys.bot.token, 'agents/bot', 'deaf-1');
    expect(stopped.status).toBe(200);
    expect(stopped.scope).toBe('every process sharing the counter store');
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
    const answers = await answersUntilUnknown(viaB, token);
    expect(answers.filter((s) => s !== '503 counter_store_unavailable' && s !== '401 key_unknown')).toEqual(
      [],
    );
    expect(await call(viaB, token, 'POST')).toBe('401 key_unknown');
    expect(emulator.requests.slice(afterVault)).toEqual([]);
  });
});
