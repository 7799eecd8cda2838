import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { snapshotServing, stripeParentKey } from '../../test/fixtures/stripe-parent-key.ts';
import { fixedClock } from '../clock.ts';
import type { RunStopStore } from '../counters/store.ts';
import type { Caller, RunAccess } from '../distribution/access-review.ts';
import type { StopBound, StoppedRun } from '../snapshot/run-keys.ts';
import { silentLogger } from '../telemetry/logger.ts';
import { verifyRunToken } from '../tokens/run-token.ts';
import { newToken } from '../tokens/token.ts';
import { createOperatorRunsApi } from './runs-api.ts';

const NOW = Date.parse('2026-11-26T12:00:00Z');
const VAULT = newToken('stripe');
const key = stripeParentKey('bot', VAULT, {}, { perRunMicros: 5_000_000 });
const snapshot = snapshotServing(VAULT, key, NOW);

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (closers.length) await closers.pop()!();
});

/** A ServiceAccount token as long as real ones are (the short ones above are too short to be one). */
const LONG_RUNNER = 'runner-token.0123456789abcdef';

async function start(
  opts: {
    allowed?: (c: Caller, a: RunAccess) => boolean;
    bound?: (action: 'stop' | 'start') => StopBound | undefined;
    stopStore?: RunStopStore;
    /** Asked after the reviews and after the stop's acks (default: leads throughout). */
    isLeader?: () => boolean;
    /** Called as the access review runs, before it answers (a leadership change meanwhile). */
    duringReview?: () => void;
    /** Called as the stop is sent to the streams, before they acknowledge. */
    duringStop?: () => void;
    /** The stream's answer to a stop (default: 3 proxies, all acknowledged). */
    streamed?: { proxies: number; acknowledged: number };
    /** Whether a key missing from the table is still to be served after a failover (default: never). */
    pendingKey?: (namespace: string, name: string) => boolean;
  } = {},
) {
  const reviews: RunAccess[] = [];
  const stops: StoppedRun[] = [];
  const api = createOperatorRunsApi({
    snapshot: () => snapshot,
    reviewCaller: async (bearer) =>
      bearer === 'runner-token' || bearer === 'intruder-token' || bearer === LONG_RUNNER
        ? {
            ok: true,
            caller: { username: `system:serviceaccount:agents:${bearer.split('-')[0]}`, groups: [] },
          }
        : { ok: false, status: 401, message: 'token not authenticated' },
    reviewAccess: async (caller, access) => {
      reviews.push(access);
      opts.duringReview?.();
      return opts.allowed ? opts.allowed(caller, access) : caller.username.endsWith(':runner');
    },
    server: {
      stopRuns: async (runs) => {
        stops.push(...runs);
        opts.duringStop?.();
        return opts.streamed ?? { proxies: 3, acknowledged: 3 };
      },
      isStopped: (scope, runId) => stops.some((s) => s.scope === scope && s.runId === runId),
      stopBoundReached: (_scope, action) => opts.bound?.(action),
    },
    ...(opts.stopStore ? { stopStore: opts.stopStore } : {}),
    isLeader: opts.isLeader ?? (() => true),
    ...(opts.pendingKey ? { pendingKey: opts.pendingKey } : {}),
    clock: fixedClock(NOW),
    log: silentLogger(),
  });
  const server = createServer((req, res) => void api(req, res));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  closers.push(() => new Promise((r) => server.close(() => r())));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const call = async (method: 'POST' | 'DELETE', path: string, bearer?: string, body?: unknown) => {
    const res = await request(`${base}${path}`, {
      method,
      headers: bearer ? { authorization: `Bearer ${bearer}` } : {},
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    return {
      status: res.statusCode,
      body: (await res.body.json()) as Record<string, unknown>,
      connection: res.headers['connection'],
    };
  };
  return { call, reviews, stops };
}

describe("the operator's run API", () => {
  it('mints for a caller RBAC allows to create vaultkeys/runs of that key', async () => {
    const { call, reviews } = await start();
    const res = await call('POST', '/v1/runs', 'runner-token', {
      key: 'agents/bot',
      cap: '2',
      ttl: '10m',
      runId: 'job-1',
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      runId: 'job-1',
      vaultKey: 'agents/bot',
      vendor: 'stripe',
      capUsd: '2.00',
    });
    expect(
      verifyRunToken(res.body.token as string, { tokenPrefix: 'kb_stripe_', runSecret: key.runSecret! }),
    ).toMatchObject({
      runId: 'job-1',
      capMicros: 2_000_000,
    });
    expect(reviews).toEqual([{ verb: 'create', namespace: 'agents', name: 'bot' }]);
  });

  it.each<[string, 'POST' | 'DELETE', string, string | undefined, unknown, number, string]>([
    ['no bearer token', 'POST', '/v1/runs', undefined, { key: 'agents/bot' }, 401, 'unauthenticated'],
    ['an unknown token', 'POST', '/v1/runs', 'nope', { key: 'agents/bot' }, 401, 'unauthenticated'],
    [
      'a caller RBAC does not allow',
      'POST',
      '/v1/runs',
      'intruder-token',
      { key: 'agents/bot' },
      403,
      'forbidden',
    ],
    [
      'a key that is not served',
      'POST',
      '/v1/runs',
      'runner-token',
      { key: 'agents/ghost' },
      404,
      'key_unknown',
    ],
    ['a malformed body', 'POST', '/v1/runs', 'runner-token', '{', 400, 'invalid_request'],
    // From the second review: a run id goes into every record and span of the run.
    [
      'a run id carrying a Keybrake key',
      'POST',
      '/v1/runs',
      'runner-token',
      { key: 'agents/bot', runId: `r-${newToken('stripe')}` },
      400,
      'invalid_request',
    ],
    [
      'a stop of a run id carrying a Keybrake key',
      'DELETE',
      `/v1/runs/agents/bot/r-${newToken('stripe')}`,
      'runner-token',
      undefined,
      400,
      'invalid_request',
    ],
    [
      'a cap above perRunUsd',
      'POST',
      '/v1/runs',
      'runner-token',
      { key: 'agents/bot', cap: '6' },
      422,
      'cap_too_high',
    ],
    [
      'a stop by a caller RBAC does not allow',
      'DELETE',
      '/v1/runs/agents/bot/r1',
      'intruder-token',
      undefined,
      403,
      'forbidden',
    ],
    [
      'a stop without a token',
      'DELETE',
      '/v1/runs/agents/bot/r1',
      undefined,
      undefined,
      401,
      'unauthenticated',
    ],
  ])('refuses %s', async (_name, method, path, bearer, body, status, error) => {
    const { call, stops } = await start();
    const res = await call(method, path, bearer, body);
    expect(res.status).toBe(status);
    expect(res.body).toMatchObject({ error });
    expect(stops).toEqual([]);
  });

  it('checks delete on vaultkeys/runs to stop, pushes the stop to every proxy and answers with their acknowledgements', async () => {
    const { call, reviews, stops } = await start();
    const res = await call('DELETE', '/v1/runs/agents/bot/ci%2Fjob', 'runner-token');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ runId: 'ci/job', proxies: 3, acknowledged: 3, redis: 'none' });
    expect(reviews).toEqual([{ verb: 'delete', namespace: 'agents', name: 'bot' }]);
    expect(stops).toEqual([{ scope: key.uid, runId: 'ci/job', until: NOW + 7 * 24 * 3_600_000 }]);
    const again = await call('POST', '/v1/runs', 'runner-token', { key: 'agents/bot', runId: 'ci/job' });
    expect(again).toMatchObject({ status: 409, body: { error: 'run_stopped' } });
  });

  // Fourth probe round: stops of made-up run ids were taken without limit, each kept for 7 days by
  // the operator, every proxy and Redis.
  it('refuses a new stop, and a mint, with 429 once the key has too many live stops, stopping nothing', async () => {
    const { call, stops } = await start({ bound: () => 'key' });
    const res = await call('DELETE', '/v1/runs/agents/bot/made-up', 'runner-token');
    expect(res).toMatchObject({
      status: 429,
      body: {
        error: 'too_many_stopped_runs',
        message: expect.stringMatching(/^This vault key already has 10000 stopped runs/),
      },
    });
    expect(stops).toEqual([]);
    expect(await call('POST', '/v1/runs', 'runner-token', { key: 'agents/bot' })).toMatchObject({
      status: 429,
      body: { error: 'too_many_stopped_runs' },
    });
  });

  // Seventh round: one key's made-up stops filled the process bound, and every other key's stops
  // were refused with its starts; a key holding its share of a full process now only starts no run.
  it('refuses a mint of a key holding its share of the stops, and takes its stops', async () => {
    const { call, stops } = await start({ bound: (action) => (action === 'start' ? 'share' : undefined) });
    expect(await call('POST', '/v1/runs', 'runner-token', { key: 'agents/bot' })).toMatchObject({
      status: 429,
      body: {
        error: 'too_many_stopped_runs',
        message: expect.stringMatching(
          /^This process holds at least 100000 stopped runs .*Its runs can still be stopped\./,
        ),
      },
    });
    expect((await call('DELETE', '/v1/runs/agents/bot/going', 'runner-token')).status).toBe(200);
    expect(stops.map((r) => r.runId)).toEqual(['going']);
  });

  it('answers 429 when Redis holds the bound already, saying the proxies have the stop all the same', async () => {
    const { call, stops } = await start({
      stopStore: { stopRun: async () => 'too_many', watchStoppedRuns: () => ({ close: async () => {} }) },
    });
    const res = await call('DELETE', '/v1/runs/agents/bot/r1', 'runner-token');
    expect(res).toMatchObject({
      status: 429,
      body: {
        error: 'too_many_stopped_runs',
        message: expect.stringContaining('The run is stopped on the proxies connected now only.'),
      },
    });
    expect(stops).toHaveLength(1);
  });

  it('lets RBAC tell start from stop: a caller allowed only to create cannot stop', async () => {
    const { call } = await start({ allowed: (_c, a) => a.verb === 'create' });
    expect((await call('POST', '/v1/runs', 'runner-token', { key: 'agents/bot' })).status).toBe(201);
    expect((await call('DELETE', '/v1/runs/agents/bot/r1', 'runner-token')).status).toBe(403);
  });
});

// Eleventh round: the listener asks whether this replica leads before the handler runs, but the
// reviews are round trips to the apiserver. An operator that lost the Lease during one took the stop
// into its own memory (no streams: `proxies: 0`) and answered 200; no proxy and no later leader knew it.
describe("the operator's run API when the Lease passes to another replica meanwhile", () => {
  const losing = () => {
    let leads = true;
    return {
      isLeader: () => leads,
      lose: () => {
        leads = false;
      },
    };
  };

  it('answers a stop 503 not leader, handing nothing to the streams, when the lead is lost during the reviews', async () => {
    const l = losing();
    const { call, stops } = await start({ isLeader: l.isLeader, duringReview: l.lose });
    const res = await call('DELETE', '/v1/runs/agents/bot/agent-7', 'runner-token');
    // Closed after the answer: the retry must open a connection the Service routes to the leader.
    expect(res).toMatchObject({ status: 503, body: { error: 'not leader' }, connection: 'close' });
    expect(stops).toEqual([]);
  });

  it('answers a start 503 not leader when the lead is lost during the reviews', async () => {
    const l = losing();
    const { call } = await start({ isLeader: l.isLeader, duringReview: l.lose });
    const res = await call('POST', '/v1/runs', 'runner-token', { key: 'agents/bot', runId: 'agent-8' });
    expect(res).toMatchObject({ status: 503, body: { error: 'not leader' } });
    expect(res.body).not.toHaveProperty('token');
  });

  it('answers 503 when the lead is lost while the proxies acknowledge and Redis holds no record', async () => {
    const l = losing();
    const { call } = await start({
      isLeader: l.isLeader,
      duringStop: l.lose,
      streamed: { proxies: 1, acknowledged: 0 },
    });
    const res = await call('DELETE', '/v1/runs/agents/bot/agent-9', 'runner-token');
    expect(res).toMatchObject({ status: 503, body: { error: 'not leader' } });
  });

  it('answers 200 when the lead is lost while the proxies acknowledge but Redis recorded the stop (the next leader reads it)', async () => {
    const l = losing();
    const { call } = await start({
      isLeader: l.isLeader,
      duringStop: l.lose,
      streamed: { proxies: 1, acknowledged: 0 },
      stopStore: { stopRun: async () => 'stopped', watchStoppedRuns: () => ({ close: async () => {} }) },
    });
    const res = await call('DELETE', '/v1/runs/agents/bot/agent-10', 'runner-token');
    expect(res).toMatchObject({ status: 200, body: { redis: 'recorded' } });
  });

  // Twelfth round: a stop Redis did not record answered 200 `"redis":"failed"`, which the CLI never
  // read; after a failover the new leader and every proxy started later admitted the stopped key.
  it('answers a stop Redis did not record 503 counter_store_unavailable (retryable), the streams still told', async () => {
    let redisUp = false;
    const { call, stops } = await start({
      stopStore: {
        stopRun: async () => {
          if (!redisUp) throw new Error('Connection is closed.');
          return 'stopped';
        },
        watchStoppedRuns: () => ({ close: async () => {} }),
      },
    });
    const res = await call('DELETE', '/v1/runs/agents/bot/agent-11', 'runner-token');
    expect(res).toMatchObject({
      status: 503,
      body: { error: 'counter_store_unavailable', message: expect.stringContaining('retry') },
    });
    expect(stops.map((s) => s.runId)).toEqual(['agent-11']);
    // Retried once Redis answers: recorded, 200.
    redisUp = true;
    const retried = await call('DELETE', '/v1/runs/agents/bot/agent-11', 'runner-token');
    expect(retried).toMatchObject({ status: 200, body: { redis: 'recorded' } });
  });
});

// Eleventh round: right after a failover the new leader's table may leave out a namespace until its
// claim is confirmed; its run API said 404 "No such vault key is served" for keys every proxy served.
describe("the operator's run API before its table serves a key's namespace", () => {
  it('answers 503 not_ready (retryable) for a key it is about to serve, to start and to stop', async () => {
    const { call, stops } = await start({ pendingKey: (ns, name) => ns === 'agents' && name === 'ghost' });
    const post = await call('POST', '/v1/runs', 'runner-token', { key: 'agents/ghost' });
    const del = await call('DELETE', '/v1/runs/agents/ghost/r1', 'runner-token');
    for (const res of [post, del])
      expect(res).toMatchObject({
        status: 503,
        body: { error: 'not_ready', message: expect.stringContaining('namespace agents') },
      });
    expect(stops).toEqual([]);
    // A key it is not about to serve is still unknown.
    const other = await call('POST', '/v1/runs', 'runner-token', { key: 'agents/other' });
    expect(other).toMatchObject({ status: 404, body: { error: 'key_unknown' } });
  });
});

// Third probe round: a run id holding the token the caller presented was minted, and written to the
// logs and into the run key.
describe("the operator's run API and the caller's token", () => {
  it('refuses a run id that carries the bearer token presented', async () => {
    const { call, reviews } = await start();
    const post = await call('POST', '/v1/runs', LONG_RUNNER, {
      key: 'agents/bot',
      runId: `x-${LONG_RUNNER}`,
    });
    const del = await call('DELETE', `/v1/runs/agents/bot/x-${LONG_RUNNER}`, LONG_RUNNER);
    for (const res of [post, del]) {
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ error: 'invalid_request' });
      expect(JSON.stringify(res.body)).not.toContain(LONG_RUNNER);
    }
    expect(reviews).toEqual([]);
  });
});
