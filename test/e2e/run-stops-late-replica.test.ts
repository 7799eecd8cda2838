// A `keybrake serve --redis` replica started after `run stop` (ADR 0010, seventh round): a tester's
// replica 3 answered /readyz 200 and forwarded the stopped run's reads and free writes until it had
// read the index of stops (16 ms with 4 stops, 340 ms with 90 004). Here the index holds 50 000 other
// stops, so the read takes a while, and the stopped run's key is used from the moment the new
// replica's port opens until it is ready: nothing reaches the recording upstream.
import { Redis } from 'ioredis';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STOPPED_RUNS_INDEX } from '../../src/counters/keys.ts';
import { type StripeEmulator, startStripeEmulator } from '../../src/emulators/stripe.ts';
import { type KeybrakeProcess, manifestDir } from '../env/keybrake.ts';
import { type RedisServer, startRedis } from '../env/redis.ts';
import { mintKeys, startReplicas, UPSTREAM_KEY } from './fixtures/replicas.ts';

const OTHER_STOPS = 50_000;
/** Calls the new replica must have answered (besides being ready) before the loop ends. */
const CALLS = 20;

/** One call with `token` on a Stripe listener: `<status> <reason>`. */
async function call(base: string, token: string, method: 'GET' | 'POST'): Promise<string> {
  const res = await request(`${base}/v1/customers${method === 'GET' ? '?limit=1' : ''}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(method === 'POST' ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
    },
    ...(method === 'POST' ? { body: 'name=late' } : {}),
  });
  await res.body.dump();
  const reason = /reason=([a-z_]+)/.exec(String(res.headers['keybrake-decision'] ?? ''))?.[1];
  return `${res.statusCode} ${reason}`;
}

async function readyz(admin: string): Promise<number> {
  const res = await request(`${admin}/readyz`);
  await res.body.dump();
  return res.statusCode;
}

describe('a serve --redis replica started after a run was stopped', () => {
  let redis: RedisServer;
  let emulator: StripeEmulator;
  let manifests: Awaited<ReturnType<typeof manifestDir>>;
  let first: KeybrakeProcess[] = [];
  const { files, keys } = mintKeys([{ name: 'bot', limits: { perRunUsd: '20' } }]);

  beforeAll(async () => {
    [redis, emulator, manifests] = await Promise.all([
      startRedis(),
      startStripeEmulator({ validKeys: [UPSTREAM_KEY] }),
      manifestDir(files),
    ]);
    first = await startReplicas(1, { manifests: manifests.dir, redis: redis.url, upstream: emulator.url });
  });

  afterAll(async () => {
    await Promise.allSettled(first.map((p) => p.stop()));
    await Promise.allSettled([emulator?.close(), redis?.stop(), manifests?.remove()]);
  });

  it("refuses the stopped run's reads and free writes from its first call, forwarding nothing, and is ready once it has read the stops", async () => {
    const admin = first[0]!.urls['admin']!;
    const started = await request(`${admin}/v1/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${keys.bot.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ key: 'agents/bot', runId: 'late-1' }),
    });
    expect(started.statusCode).toBe(201);
    const { token } = (await started.body.json()) as { token: string };
    const stopped = await request(`${admin}/v1/runs/agents/bot/late-1`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${keys.bot.token}` },
    });
    await stopped.body.dump();
    expect(stopped.statusCode).toBe(200);
    // The steady state of a busy installation: every `run exec` leaves a stop for 7 days.
    const inspect = new Redis(redis.port, '127.0.0.1');
    try {
      const until = Date.now() + 3_600_000;
      for (let i = 0; i < OTHER_STOPS; i += 5_000) {
        const members: (string | number)[] = [];
        for (let j = i; j < i + 5_000; j++)
          members.push(until, JSON.stringify({ scope: 'agents/others', runId: `exec-${j}` }));
        await inspect.zadd(STOPPED_RUNS_INDEX, ...members);
      }
    } finally {
      inspect.disconnect();
    }
    const forwarded = () => emulator.requests.filter((r) => r.path.startsWith('/v1/customers')).length;
    const before = forwarded();

    const [late] = await startReplicas(1, {
      manifests: manifests.dir,
      redis: redis.url,
      upstream: emulator.url,
    });
    try {
      const stripe = late!.urls['stripe']!;
      const answers: string[] = [];
      let ready = false;
      while (!ready || answers.length < CALLS) {
        const [read, write, status] = await Promise.all([
          call(stripe, token, 'GET'),
          call(stripe, token, 'POST'),
          readyz(late!.urls['admin']!),
        ]);
        answers.push(read, write);
        ready ||= status === 200;
      }
      expect(forwarded()).toBe(before);
      // Refused as not known yet while the stops were read, then as the stopped run it is.
      expect(answers.filter((a) => a !== '503 counter_store_unavailable' && a !== '401 key_unknown')).toEqual(
        [],
      );
      expect(await call(stripe, token, 'GET')).toBe('401 key_unknown');
      expect(await call(stripe, keys.bot.token, 'GET')).toBe('200 ok');
    } finally {
      await late!.stop();
    }
  });
});
