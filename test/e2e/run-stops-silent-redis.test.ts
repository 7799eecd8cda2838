import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StripeEmulator, startStripeEmulator } from '../../src/emulators/stripe.ts';
import { type KeybrakeProcess, manifestDir } from '../env/keybrake.ts';
import { type RedisServer, startRedis } from '../env/redis.ts';
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
  decision(base, token, method, 'silent');

const NOT_ANSWERING = /^counter store connected but not answering/;

describe('a serve --redis replica whose link to Redis goes silent', () => {
  let redis: RedisServer;
  let emulator: StripeEmulator;
  let manifests: Awaited<ReturnType<typeof manifestDir>>;
  let relay: TcpRelay;
  let a: KeybrakeProcess | undefined;
  let b: KeybrakeProcess | undefined;
  // The default `readsWhenCountersDown: allow`: a vault key's reads pass while the store is silent.
  const { files, keys } = mintKeys([{ name: 'bot', limits: { perRunUsd: '5', perDayUsd: '100' } }]);

  beforeAll(async () => {
    [redis, emulator, manifests] = await Promise.all([
      startRedis(),
      startStripeEmulator({ validKeys: [UPSTREAM_KEY] }),
      manifestDir(files),
    ]);
    relay = await startTcpRelay({ host: '127.0.0.1', port: redis.port });
    const common = { manifests: manifests.dir, upstream: emulator.url };
    [[a], [b]] = await Promise.all([
      startReplicas(1, { ...common, redis: redis.url }),
      startReplicas(1, { ...common, redis: `redis://${relay.address}` }),
    ]);
    // Ready once each has read the stops (ADR 0011).
    await untilReady([a!, b!]);
  });

  afterAll(async () => {
    relay?.release();
    await Promise.allSettled([a?.stop(), b?.stop()]);
    await Promise.allSettled([relay?.close(), emulator?.close(), redis?.stop(), manifests?.remove()]);
  });

  it('forwards nothing of a run stopped elsewhere, while its Redis link is silent and once it carries bytes again', async () => {
    const admin = a!.urls['admin']!;
    const started = await startRun(admin, keys.bot.token, 'agents/bot', 'silent-1');
    expect(started.status).toBe(201);
    const { token } = started;
    const viaA = a!.urls['stripe']!;
    const viaB = b!.urls['stripe']!;
    expect(await call(viaB, token)).toBe('200 ok');

    // Silent: every byte between B and Redis held, nothing reset. Once B's store says it is not
    // answering (its money calls are refused from then on), A stops the run.
    const noticed = b!.waitForNextLog((l) => NOT_ANSWERING.test(String(l.msg)), 20_000);
    relay.hold();
    await noticed;
    const stopped = await stopRun(admin, keys.bot.token, 'agents/bot', 'silent-1');
    expect(stopped.status).toBe(200);
    expect(stopped.scope).toBe('every process sharing the counter store');
    const before = emulator.requests.length;

    expect(await call(viaA, token)).toBe('401 key_unknown');
    for (let i = 0; i < 5; i++)
      expect(await call(viaB, token), `read ${i}`).toBe('503 counter_store_unavailable');
    expect(await call(viaB, token, 'POST')).toBe('503 counter_store_unavailable');
    expect(emulator.requests.slice(before)).toEqual([]);
    // A vault key's reads go on (readsWhenCountersDown: allow): only run keys are unknown.
    expect(await call(viaB, keys.bot.token)).toBe('200 ok');
    const afterVault = emulator.requests.length;

    // The link carries bytes again: B refuses the run key until it has read the stops, then knows
    // the stop. No answer in between lets it through.
    const answering = b!.waitForNextLog((l) => l.msg === 'counter store answering again', 20_000);
    relay.release();
    await answering;
    const answers = await answersUntilUnknown(viaB, token);
    expect(answers.filter((s) => s !== '503 counter_store_unavailable' && s !== '401 key_unknown')).toEqual(
      [],
    );
    expect(await call(viaB, token, 'POST')).toBe('401 key_unknown');
    expect(emulator.requests.slice(afterVault)).toEqual([]);
    expect(await call(viaB, keys.bot.token)).toBe('200 ok');
  });
});
