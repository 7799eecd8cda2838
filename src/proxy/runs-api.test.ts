import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { stripeParentKey } from '../../test/fixtures/stripe-parent-key.ts';
import { fixedClock } from '../clock.ts';
import type { RunStopStore } from '../counters/store.ts';
import { SnapshotHolder } from '../snapshot/holder.ts';
import {
  MAX_STOPPED_RUNS,
  MAX_STOPPED_RUNS_PER_KEY,
  STOPPED_RUNS_CEILING,
  type StoppedRun,
} from '../snapshot/run-keys.ts';
import type { CompiledKey } from '../snapshot/types.ts';
import { silentLogger } from '../telemetry/logger.ts';
import { verifyRunToken } from '../tokens/run-token.ts';
import { newToken, tokenDigest } from '../tokens/token.ts';
import { StoppedRuns } from './runs.ts';
import { registerRunRoutes } from './runs-api.ts';

const NOW = Date.parse('2026-11-26T12:00:00Z');
const BOT = newToken('stripe');
const OTHER = newToken('stripe');
/** A token the user brought: no Keybrake shape (docs/resources.md). */
const BROUGHT = 'foreign-agent-token-0123456789abcdefXYZ';

/** A parent key of the run API: a Stripe key with a run cap of $10. */
function key(name: string, token: string, extra: Partial<CompiledKey> = {}): CompiledKey {
  return stripeParentKey(name, token, extra, { perRunMicros: 10_000_000 });
}

async function api(opts: { stopStore?: RunStopStore; bot?: Partial<CompiledKey> } = {}) {
  const clock = fixedClock(NOW);
  const snapshots = new SnapshotHolder(clock);
  snapshots.apply({
    version: 1,
    compiledAt: NOW,
    keys: new Map([
      [tokenDigest(BOT), key('bot', BOT, opts.bot)],
      [tokenDigest(OTHER), key('other', OTHER)],
      [tokenDigest(BROUGHT), key('brought', BROUGHT)],
    ]),
  });
  const stoppedRuns = new StoppedRuns(clock);
  const app = Fastify();
  registerRunRoutes(app, {
    snapshots,
    stoppedRuns,
    clock,
    log: silentLogger(),
    ...(opts.stopStore ? { stopStore: opts.stopStore } : {}),
  });
  await app.ready();
  const start = (body: unknown, token = BOT) =>
    app.inject({
      method: 'POST',
      url: '/v1/runs',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      payload: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const stop = (path: string, token = BOT) =>
    app.inject({ method: 'DELETE', url: `/v1/runs/${path}`, headers: { authorization: `Bearer ${token}` } });
  return { app, start, stop, stoppedRuns, clock };
}

describe('POST /v1/runs on the admin listener', () => {
  it('mints a run key for the holder of the parent vault token', async () => {
    const { start } = await api();
    const res = await start({ key: 'agents/bot', cap: '5', ttl: '30m', runId: 'session-1' });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body).toMatchObject({
      runId: 'session-1',
      vaultKey: 'agents/bot',
      expiresAt: new Date(NOW + 30 * 60_000).toISOString(),
      capUsd: '5.00',
    });
    expect(body.token).toMatch(/^kb_stripe_r1_/);
    const k = key('bot', BOT);
    expect(verifyRunToken(body.token, { tokenPrefix: 'kb_stripe_', runSecret: k.runSecret! })).toMatchObject({
      runId: 'session-1',
      capMicros: 5_000_000,
      expiresAt: NOW + 30 * 60_000,
    });
  });

  it("names a run itself, defaults the TTL to an hour, and reports the policy's perRunUsd as the cap", async () => {
    const { start } = await api();
    const body = (await start({ key: 'agents/bot' })).json();
    expect(body.runId).toMatch(/^run-[0-9a-f]{20}$/);
    expect(body.expiresAt).toBe(new Date(NOW + 3_600_000).toISOString());
    expect(body.capUsd).toBe('10.00');
  });

  it("never outlives the parent's expiry", async () => {
    const { start } = await api({ bot: { expiresAt: NOW + 60_000 } });
    expect((await start({ key: 'agents/bot', ttl: '2h' })).json().expiresAt).toBe(
      new Date(NOW + 60_000).toISOString(),
    );
  });

  it.each<[string, unknown, string | undefined, number, string]>([
    ['no credentials', { key: 'agents/bot' }, '', 401, 'unauthenticated'],
    ['an unknown token', { key: 'agents/bot' }, newToken('stripe'), 401, 'unauthenticated'],
    ["another key's token", { key: 'agents/bot' }, OTHER, 403, 'forbidden'],
    ['a cap above perRunUsd', { key: 'agents/bot', cap: '11' }, undefined, 422, 'cap_too_high'],
    ['a malformed cap', { key: 'agents/bot', cap: 'lots' }, undefined, 400, 'invalid_request'],
    ['a TTL over 7 days', { key: 'agents/bot', ttl: '200h' }, undefined, 400, 'invalid_request'],
    ['a bad run id', { key: 'agents/bot', runId: 'has space' }, undefined, 400, 'invalid_request'],
    // From the second review: it went into the run key, its log line and every record of the run.
    [
      'a run id carrying a Keybrake key',
      { key: 'agents/bot', runId: `r-${OTHER}` },
      undefined,
      400,
      'invalid_request',
    ],
    ['an unknown field', { key: 'agents/bot', capUsd: '1' }, undefined, 400, 'invalid_request'],
    ['malformed JSON', '{"key":', undefined, 400, 'invalid_request'],
  ])('refuses %s', async (_name, body, token, status, error) => {
    const { start } = await api();
    const res = await start(body, token ?? BOT);
    expect(res.statusCode).toBe(status);
    expect(res.json()).toMatchObject({ error });
  });

  // A new-user walkthrough (fifth round) got only "Unsupported Media Type" for a body without it.
  it.each([
    ['no content type', undefined],
    ['a form', 'application/x-www-form-urlencoded'],
  ])('refuses a body sent with %s, naming the type it takes', async (_name, type) => {
    const { app } = await api();
    const res = await app.inject({
      method: 'POST',
      url: '/v1/runs',
      headers: { authorization: `Bearer ${BOT}`, ...(type ? { 'content-type': type } : {}) },
      payload: Buffer.from('{"key":"agents/bot"}'),
    });
    expect(res.statusCode).toBe(415);
    expect(res.json()).toEqual({
      error: 'invalid_request',
      message: 'The run API takes a JSON body: send it with content-type: application/json.',
    });
  });

  it('refuses a run token (a run cannot mint runs)', async () => {
    const { start } = await api();
    const child = (await start({ key: 'agents/bot' })).json().token as string;
    const res = await start({ key: 'agents/bot' }, child);
    expect(res.statusCode).toBe(403);
  });

  it('refuses a suspended parent', async () => {
    const { start } = await api({ bot: { suspended: true } });
    expect((await start({ key: 'agents/bot' })).json()).toMatchObject({ error: 'key_suspended' });
  });
});

describe('DELETE /v1/runs/<ns>/<name>/<runId> on the admin listener', () => {
  it('stops the run here and in the shared store, and a stopped run id cannot be minted again', async () => {
    const shared: StoppedRun[] = [];
    const { start, stop, stoppedRuns } = await api({
      stopStore: {
        stopRun: async (r) => {
          shared.push(r);
          return 'stopped';
        },
        watchStoppedRuns: () => ({ close: async () => {} }),
      },
    });
    const res = await stop('agents/bot/ci%2Fjob:7');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ runId: 'ci/job:7', vaultKey: 'agents/bot' });
    expect(stoppedRuns.has('agents/bot', 'ci/job:7')).toBe(true);
    expect(shared).toEqual([{ scope: 'agents/bot', runId: 'ci/job:7', until: NOW + 7 * 24 * 3_600_000 }]);
    expect((await start({ key: 'agents/bot', runId: 'ci/job:7' })).json()).toMatchObject({
      error: 'run_stopped',
    });
  });

  // From the third probe: a stop made while the parent was expired lapsed at once, and the run's key
  // worked again when the parent's expiry was moved back.
  it("lasts the longest lifetime of a run key, whatever the parent's expiry at the time", async () => {
    const shared: StoppedRun[] = [];
    const { stop } = await api({
      bot: { expiresAt: NOW - 1 },
      stopStore: {
        stopRun: async (r) => {
          shared.push(r);
          return 'stopped';
        },
        watchStoppedRuns: () => ({ close: async () => {} }),
      },
    });
    expect((await stop('agents/bot/rogue')).json()).toMatchObject({
      stoppedUntil: new Date(NOW + 7 * 24 * 3_600_000).toISOString(),
    });
    expect(shared).toEqual([{ scope: 'agents/bot', runId: 'rogue', until: NOW + 7 * 24 * 3_600_000 }]);
  });

  it('takes a run id with slashes as raw path segments too', async () => {
    const { stop, stoppedRuns } = await api();
    expect((await stop('agents/bot/ci/job')).statusCode).toBe(200);
    expect(stoppedRuns.has('agents/bot', 'ci/job')).toBe(true);
  });

  it('refuses a run id carrying a Keybrake key and stops nothing', async () => {
    const { stop, stoppedRuns } = await api();
    expect((await stop(`agents/bot/r-${OTHER}`)).statusCode).toBe(400);
    expect(stoppedRuns.size).toBe(0);
  });

  it("refuses another key's token and stops nothing", async () => {
    const { stop, stoppedRuns } = await api();
    expect((await stop('agents/bot/r1', OTHER)).statusCode).toBe(403);
    expect(stoppedRuns.size).toBe(0);
  });

  it('answers 503 when the stop could not be shared, having stopped it here', async () => {
    const { stop, stoppedRuns } = await api({
      stopStore: {
        stopRun: async () => Promise.reject(new Error('down')),
        watchStoppedRuns: () => ({ close: async () => {} }),
      },
    });
    const res = await stop('agents/bot/r1');
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ error: 'counter_store_unavailable' });
    expect(stoppedRuns.has('agents/bot', 'r1')).toBe(true);
  });
});

// Fourth probe round: stops of made-up run ids (any well-formed id answered 200) each cost memory
// on every replica and a Redis record for 7 days, without limit.
describe('the run API bounds live stops', () => {
  const UNTIL = NOW + 7 * 24 * 3_600_000;
  const fill = (stoppedRuns: StoppedRuns, scope: string, n: number, from = 0) => {
    for (let i = from; i < from + n; i++) stoppedRuns.add({ scope, runId: `made-up-${i}`, until: UNTIL });
  };

  it(`refuses a new stop with 429 once the key has ${MAX_STOPPED_RUNS_PER_KEY} live ones, recording nothing`, async () => {
    const shared: StoppedRun[] = [];
    const { stop, start, stoppedRuns } = await api({
      stopStore: {
        stopRun: async (r) => {
          shared.push(r);
          return 'stopped';
        },
        watchStoppedRuns: () => ({ close: async () => {} }),
      },
    });
    fill(stoppedRuns, 'agents/bot', MAX_STOPPED_RUNS_PER_KEY);
    const res = await stop('agents/bot/one-more');
    expect(res.statusCode).toBe(429);
    expect(res.json()).toEqual({
      error: 'too_many_stopped_runs',
      message: expect.stringMatching(
        /^This vault key already has 10000 stopped runs .*give the vault key a new token: .*only pauses them\)\.$/,
      ),
    });
    expect(stoppedRuns.has('agents/bot', 'one-more')).toBe(false);
    expect(stoppedRuns.size).toBe(MAX_STOPPED_RUNS_PER_KEY);
    expect(shared).toEqual([]);
    // A run that could not be stopped is not started either.
    expect((await start({ key: 'agents/bot' })).statusCode).toBe(429);
    // A run stopped already is stopped again (it costs nothing); every earlier stop is kept.
    expect((await stop('agents/bot/made-up-0')).statusCode).toBe(200);
    expect(stoppedRuns.has('agents/bot', `made-up-${MAX_STOPPED_RUNS_PER_KEY - 1}`)).toBe(true);
    // Another key is not held to this one's bound.
    expect((await stop('agents/other/r1', OTHER)).statusCode).toBe(200);
  });

  it('takes stops again as the old ones expire', async () => {
    const { stop, stoppedRuns, clock } = await api();
    fill(stoppedRuns, 'agents/bot', MAX_STOPPED_RUNS_PER_KEY);
    expect((await stop('agents/bot/later')).statusCode).toBe(429);
    clock.set(UNTIL);
    expect((await stop('agents/bot/later')).statusCode).toBe(200);
    expect(stoppedRuns.size).toBe(1);
  });

  it(`refuses a new stop once the process holds ${STOPPED_RUNS_CEILING} live ones over all keys`, async () => {
    const { stop, stoppedRuns } = await api();
    for (let k = 0; k < STOPPED_RUNS_CEILING / MAX_STOPPED_RUNS_PER_KEY; k++)
      fill(stoppedRuns, `agents/k${k}`, MAX_STOPPED_RUNS_PER_KEY);
    const res = await stop('agents/bot/r1');
    expect(res.statusCode).toBe(429);
    expect(res.json().message).toMatch(/^This process already holds 200000 stopped runs/);
    expect(stoppedRuns.has('agents/bot', 'r1')).toBe(false);
  });

  // Seventh round: ~90 000 stops left by a busy fleet's `run exec`s, then one key's 10 000 made-up
  // ones, and the process bound refused every other key's starts and stops: a run still going could
  // not be stopped, and its key worked on until its expiry.
  it("takes another key's stop and start past the process bound, and refuses only the start of a key holding its share", async () => {
    const { start, stop, stoppedRuns } = await api();
    const going = await start({ key: 'agents/bot', runId: 'going' });
    expect(going.statusCode).toBe(201);
    for (let k = 0; k < 9; k++) fill(stoppedRuns, `agents/normal-${k}`, MAX_STOPPED_RUNS_PER_KEY);
    // The adversary's made-up stops: all but the last few taken already, those through the API.
    fill(stoppedRuns, 'agents/other', MAX_STOPPED_RUNS_PER_KEY - 10);
    let made = MAX_STOPPED_RUNS_PER_KEY - 10;
    while ((await stop(`agents/other/made-up-${made}`, OTHER)).statusCode === 200) made++;
    expect(made).toBe(MAX_STOPPED_RUNS_PER_KEY);
    expect(stoppedRuns.size).toBe(MAX_STOPPED_RUNS);
    expect((await stop('agents/bot/going')).statusCode).toBe(200);
    expect(stoppedRuns.has('agents/bot', 'going')).toBe(true);
    expect((await start({ key: 'agents/bot' })).statusCode).toBe(201);
    // 11 keys hold 109 100 stops, the key 9 100 of them, over an equal share (100 000 / 11): no start.
    fill(stoppedRuns, 'agents/bot', 9_099, 1);
    const share = await start({ key: 'agents/bot' });
    expect(share.statusCode).toBe(429);
    expect(share.json()).toEqual({
      error: 'too_many_stopped_runs',
      message: expect.stringMatching(
        /^This process holds at least 100000 stopped runs .* this vault key at least an equal share of them: no new run of it can start here .*Its runs can still be stopped\./,
      ),
    });
    expect((await stop('agents/bot/still-going')).statusCode).toBe(200);
  });

  it('answers 429 when the shared store holds the bound already, saying the run is stopped here only', async () => {
    const { stop, stoppedRuns } = await api({
      stopStore: {
        stopRun: async () => 'too_many',
        watchStoppedRuns: () => ({ close: async () => {} }),
      },
    });
    const res = await stop('agents/bot/r1');
    expect(res.statusCode).toBe(429);
    expect(res.json()).toMatchObject({
      error: 'too_many_stopped_runs',
      message: expect.stringContaining('The run is stopped on this process only.'),
    });
    expect(stoppedRuns.has('agents/bot', 'r1')).toBe(true);
  });
});

// Third probe round: a run id holding the token presented (a brought one has no shape to find) was
// minted, and written to logs, the audit, spans and the run key; error bodies echoed the token.
describe('the run API keeps the presented token out of run ids and answers', () => {
  it('refuses a run id that carries the token presented, however shaped', async () => {
    const { start, stop } = await api();
    for (const res of [
      await start({ key: 'agents/brought', runId: `run-${BROUGHT}` }, BROUGHT),
      await stop(`agents/brought/run-${BROUGHT}`, BROUGHT),
    ]) {
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ error: 'invalid_request' });
      expect(res.body).not.toContain(BROUGHT);
    }
  });

  // Thirteenth round: `kb_stripe_<body>` (the checksum left off) was accepted as a run id; the
  // checksum is crc32 of the rest, so every record, span and the run key then carried the token.
  it('refuses a run id that carries a near miss of a token (its checksum left off, a character mistyped)', async () => {
    const { start } = await api();
    const typo = `${BOT.slice(0, 20)}${BOT[20] === 'Q' ? 'R' : 'Q'}${BOT.slice(21)}`;
    for (const runId of [BOT.slice(0, -6), typo]) {
      const res = await start({ key: 'agents/bot', runId }, BOT);
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ error: 'invalid_request' });
      expect(res.body).not.toContain(BOT.slice(0, -6));
    }
  });

  it('does not echo it as an unknown field', async () => {
    const { start } = await api();
    const res = await start({ key: 'agents/bot', [BOT]: 1 });
    expect(res.statusCode).toBe(400);
    expect(res.body).not.toContain(BOT);
  });
});
