// Stopped runs on the snapshot stream (ADR 0010): the operator's server and the proxy's follower in one
// process over real TLS, with an injected authenticator. Proxies without Redis learn stops this way.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ServingTls, servingTls } from '../../test/env/tls.ts';
import { fixedClock, systemClock } from '../clock.ts';
import { SnapshotHolder } from '../snapshot/holder.ts';
import { MAX_STOPPED_RUNS_PER_KEY, STOP_SWEEP_ON_REFUSAL_MS, type StoppedRun } from '../snapshot/run-keys.ts';
import type { Snapshot } from '../snapshot/types.ts';
import { silentLogger } from '../telemetry/logger.ts';
import { followSnapshots } from './follower.ts';
import { parseStreamMessage, WATCH_PATH } from './protocol.ts';
import { createSnapshotServer } from './server.ts';
import type { Authenticator } from './token-review.ts';

const log = silentLogger();
let dir: string;
let tls: ServingTls;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'keybrake-stops-'));
  tls = await servingTls(dir);
  writeFileSync(join(dir, 'token'), 'good\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const authenticate: Authenticator = async (bearer) =>
  bearer === 'good' ? { ok: true, user: 'keybrake-system/proxy' } : { ok: false, status: 401, message: 'no' };

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function server(opts: { leader?: boolean; stopAckTimeoutMs?: number; handled?: string[] } = {}) {
  const s = createSnapshotServer({
    authenticate,
    isLeader: () => opts.leader ?? true,
    heartbeatMs: 60_000,
    log,
    stopAckTimeoutMs: opts.stopAckTimeoutMs ?? 5_000,
    extraRoutes: {
      prefix: '/v1/runs',
      handle: (req, res) => {
        opts.handled?.push(`${req.method} ${req.url}`);
        res.writeHead(204).end();
      },
    },
  });
  const url = await s.listen({ host: '127.0.0.1', port: 0, tls });
  cleanups.push(() => s.close());
  s.publish({ version: 1, compiledAt: Date.now(), keys: new Map() });
  return { s, url };
}

function follower(url: string, id: string) {
  const holder = new SnapshotHolder(systemClock);
  const stopped: StoppedRun[] = [];
  const f = followSnapshots({
    url,
    tokenFile: join(dir, 'token'),
    ca: tls.ca,
    holder,
    proxyId: id,
    log,
    backoff: { initialMs: 10, maxMs: 50 },
    onStoppedRuns: (runs) => stopped.push(...runs),
  });
  cleanups.push(() => f.close());
  return { holder, stopped };
}

async function until(what: string, check: () => boolean, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

const run = (runId: string, until = Date.now() + 60_000): StoppedRun => ({ scope: 'uid-1', runId, until });

// Fourth probe round: the operator kept every stop of a made-up run id (and sent it to every proxy).
describe("the operator's bound on live stops", () => {
  it(`says when a key has ${MAX_STOPPED_RUNS_PER_KEY} live stops, keeps every one, and counts only live ones`, async () => {
    const clock = fixedClock(Date.now());
    const s = createSnapshotServer({ authenticate, isLeader: () => true, heartbeatMs: 60_000, log, clock });
    cleanups.push(() => s.close());
    const until = clock.now() + 60_000;
    const runs = Array.from({ length: MAX_STOPPED_RUNS_PER_KEY - 1 }, (_, i) => run(`r${i}`, until));
    await s.stopRuns(runs);
    expect(s.stopBoundReached('uid-1', 'stop')).toBeUndefined();
    // A stop relayed from Redis is never refused (it was taken already), nor is any dropped.
    await s.stopRuns([run('last', until + 1), run('relayed', until + 1)]);
    expect(s.stopBoundReached('uid-1', 'stop')).toBe('key');
    expect(s.stopBoundReached('uid-2', 'stop')).toBeUndefined();
    expect(s.isStopped('uid-1', 'r0')).toBe(true);
    expect(s.isStopped('uid-1', 'relayed')).toBe(true);
    // Once the first ones expire, only the two later ones count.
    clock.set(until);
    expect(s.stopBoundReached('uid-1', 'stop')).toBeUndefined();
    expect(s.isStopped('uid-1', 'last')).toBe(true);
  });

  // Seventh round: every check that found a bound swept all stops (up to 200 000), so a caller
  // refused and asking again at once cost the operator that walk each time; serve's sweeps once a second.
  it('sweeps expired stops for a refusal at most once a second', async () => {
    const clock = fixedClock(Date.now());
    const s = createSnapshotServer({ authenticate, isLeader: () => true, heartbeatMs: 60_000, log, clock });
    cleanups.push(() => s.close());
    const soon = clock.now() + 100;
    await s.stopRuns(Array.from({ length: MAX_STOPPED_RUNS_PER_KEY }, (_, i) => run(`r${i}`, soon)));
    expect(s.stopBoundReached('uid-1', 'stop')).toBe('key'); // swept now: all still live
    clock.set(soon + 400); // expired, but within a second of that sweep
    expect(s.stopBoundReached('uid-1', 'stop')).toBe('key');
    clock.set(soon - 100 + STOP_SWEEP_ON_REFUSAL_MS);
    expect(s.stopBoundReached('uid-1', 'stop')).toBeUndefined();
  });

  // Seventh round: the process bound refused every key's stops and starts once one key's made-up
  // stops had filled it, so a supervisor could not stop a run still going.
  it("never refuses a key's stop for other keys' stops, and starts no run of a key holding its share", async () => {
    const clock = fixedClock(Date.now());
    const s = createSnapshotServer({ authenticate, isLeader: () => true, heartbeatMs: 60_000, log, clock });
    cleanups.push(() => s.close());
    const until = clock.now() + 60_000;
    const stopsOf = (scope: string, n: number): StoppedRun[] =>
      Array.from({ length: n }, (_, i) => ({ scope, runId: `r${i}`, until }));
    for (let k = 0; k < 10; k++) await s.stopRuns(stopsOf(`normal-${k}`, 9_500));
    await s.stopRuns(stopsOf('adversary', MAX_STOPPED_RUNS_PER_KEY));
    expect(s.stopBoundReached('adversary', 'stop')).toBe('key');
    // 105 000 live stops: the victim stops and starts runs; a key holding its share only stops them.
    expect(s.stopBoundReached('victim', 'stop')).toBeUndefined();
    expect(s.stopBoundReached('victim', 'start')).toBeUndefined();
    expect(s.stopBoundReached('normal-0', 'stop')).toBeUndefined();
    expect(s.stopBoundReached('normal-0', 'start')).toBe('share');
    // Past the ceiling (20 keys at their own bound) no stop is taken.
    for (let k = 0; k < 10; k++) await s.stopRuns(stopsOf(`full-${k}`, MAX_STOPPED_RUNS_PER_KEY));
    expect(s.stopBoundReached('victim', 'stop')).toBe('process');
  });
});

describe('stopped runs on the snapshot stream', () => {
  it('reach every connected proxy; stopRuns resolves once each has acknowledged', async () => {
    const { s, url } = await server();
    const a = follower(url, 'a');
    const b = follower(url, 'b');
    await until(
      'both proxies connected with the snapshot',
      () => a.holder.current !== undefined && b.holder.current !== undefined && s.connected().length === 2,
    );
    const result = await s.stopRuns([run('r1')]);
    expect(result).toEqual({ proxies: 2, acknowledged: 2 });
    expect(a.stopped.map((r) => r.runId)).toEqual(['r1']);
    expect(b.stopped.map((r) => r.runId)).toEqual(['r1']);
    expect(s.isStopped('uid-1', 'r1')).toBe(true);
    expect(s.isStopped('uid-1', 'r2')).toBe(false);
    const metrics = await s.registry.metrics();
    expect(metrics).toMatch(/^keybrake_run_stop_propagation_seconds_count 1$/m);
  });

  it('are sent to a proxy that connects later, live ones only, and a stop already known is not sent again', async () => {
    const { s, url } = await server();
    await s.stopRuns([run('live'), run('gone', Date.now() - 1)]);
    const late = follower(url, 'late');
    await until('the late proxy to hear the live stop', () => late.stopped.length > 0);
    expect(late.stopped.map((r) => r.runId)).toEqual(['live']);
    expect(await s.stopRuns([run('live', Date.now() + 1_000)])).toEqual({ proxies: 1, acknowledged: 1 });
    expect(late.stopped).toHaveLength(1);
  });

  // Seventh round: a new proxy applied its first table, and so served calls, before the stops that
  // followed it on the stream; a stopped run's key could be admitted in between.
  it('reach a proxy that connects later before its first table, so it never serves without them', async () => {
    const { s, url } = await server();
    await s.stopRuns([run('live')]);
    const late = follower(url, 'late');
    const stopsWhenApplied: string[][] = [];
    late.holder.onApply(() => stopsWhenApplied.push(late.stopped.map((r) => r.runId)));
    await until('the late proxy to apply its first table', () => late.holder.current !== undefined);
    expect(stopsWhenApplied[0]).toEqual(['live']);
  });

  it('resolves at the ack timeout with the acknowledgements it has, when a stream never acknowledges', async () => {
    const { s, url } = await server({ stopAckTimeoutMs: 300 });
    const dispatcher = new Agent({ connect: { ca: tls.ca } });
    cleanups.push(() => dispatcher.close());
    // A stream reader that reads but never acknowledges.
    const res = await request(`${url}${WATCH_PATH}`, {
      dispatcher,
      headers: { authorization: 'Bearer good', 'keybrake-proxy-id': 'mute' },
    });
    const lines: string[] = [];
    res.body.setEncoding('utf8');
    res.body.on('data', (d: string) => lines.push(...d.split('\n').filter(Boolean)));
    cleanups.push(async () => res.body.destroy());
    await until('the mute stream', () => s.connected().length === 1);
    const started = Date.now();
    expect(await s.stopRuns([run('unacked')])).toEqual({ proxies: 1, acknowledged: 0 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    await until('the stop line', () => lines.some((l) => l.includes('stopped-runs')));
    const message = parseStreamMessage(lines.find((l) => l.includes('stopped-runs'))!);
    expect(message).toMatchObject({ type: 'stopped-runs', runs: [{ scope: 'uid-1', runId: 'unacked' }] });
  });

  it('route the run API to the leader only: a standby answers 503 first', async () => {
    const handled: string[] = [];
    const leader = await server({ handled });
    const standby = await server({ leader: false, handled });
    const dispatcher = new Agent({ connect: { ca: tls.ca } });
    cleanups.push(() => dispatcher.close());
    expect((await request(`${leader.url}/v1/runs`, { method: 'POST', dispatcher })).statusCode).toBe(204);
    const refused = await request(`${standby.url}/v1/runs/a/b/c`, { method: 'DELETE', dispatcher });
    expect(refused.statusCode).toBe(503);
    // Eleventh round: closed after the answer, so that the client's retry opens a new connection,
    // which the Service routes to the leader, rather than reaching this standby again.
    expect(refused.headers['connection']).toBe('close');
    await refused.body.dump();
    expect((await request(`${leader.url}/v1/runsx`, { dispatcher })).statusCode).toBe(404);
    expect(handled).toEqual(['POST /v1/runs']);
  });
});

describe('stopped runs to a slow proxy', () => {
  it('are all delivered once its socket drains, none dropped for a newer snapshot', async () => {
    const s = createSnapshotServer({
      authenticate,
      isLeader: () => true,
      heartbeatMs: 60_000,
      log,
      stopAckTimeoutMs: 100,
    });
    const url = await s.listen({ host: '127.0.0.1', port: 0 });
    cleanups.push(() => s.close());
    const { promise: response, resolve } = Promise.withResolvers<import('node:http').IncomingMessage>();
    const req = httpRequest(`${url}${WATCH_PATH}`, { headers: { authorization: 'Bearer good' } }, resolve);
    req.end();
    cleanups.push(async () => req.destroy());
    const res = await response;
    res.pause();
    await until('the stream', () => s.connected().length === 1);
    const filler = (version: number): Snapshot => ({
      version,
      compiledAt: 0,
      keys: new Map(
        Array.from({ length: 2_000 }, (_, i) => [
          i.toString(16).padStart(64, '0'),
          {
            uid: `u${i}`,
            namespace: 'agents',
            name: `filler-${i}-${'x'.repeat(200)}`,
            vendor: 'stripe' as const,
            tokenFingerprint: 'kb_stripe_…x',
            upstream: { kind: 'bearer' as const, token: 'sk_test_x' },
            suspended: false,
            policy: { ref: 'a/p', limits: {}, timezone: 'UTC', readsWhenStoreDown: false },
          },
        ]),
      ),
    });
    // Snapshots interleaved with stops, far more than the socket buffers hold.
    const stops: Promise<unknown>[] = [];
    for (let v = 1; v <= 10; v++) {
      s.publish(filler(v));
      stops.push(s.stopRuns([run(`slow-${v}`)]));
    }
    await Promise.all(stops);
    const lines: string[] = [];
    let buffered = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      buffered += chunk;
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        lines.push(buffered.slice(0, nl));
        buffered = buffered.slice(nl + 1);
      }
    });
    res.resume();
    const stopped = () =>
      lines.flatMap((l) => {
        const m = parseStreamMessage(l);
        return m?.type === 'stopped-runs' ? m.runs.map((r) => r.runId) : [];
      });
    await until('every stop', () => stopped().length >= 10, 10_000);
    expect(new Set(stopped())).toEqual(new Set(Array.from({ length: 10 }, (_, i) => `slow-${i + 1}`)));
  });
});

describe('parseStreamMessage for stopped runs', () => {
  it.each([
    [
      'a run id outside the charset',
      '{"type":"stopped-runs","version":1,"runs":[{"scope":"s","runId":"a b","until":1}]}',
    ],
    ['a missing until', '{"type":"stopped-runs","version":1,"runs":[{"scope":"s","runId":"r"}]}'],
    ['runs that are not a list', '{"type":"stopped-runs","version":1,"runs":{}}'],
    ['an empty scope', '{"type":"stopped-runs","version":1,"runs":[{"scope":"","runId":"r","until":1}]}'],
  ])('refuses %s', (_name, line) => {
    expect(parseStreamMessage(line)).toBeUndefined();
  });

  it('reads a well-formed one', () => {
    expect(
      parseStreamMessage(
        '{"type":"stopped-runs","version":5,"runs":[{"scope":"s","runId":"r/1","until":9}]}',
      ),
    ).toEqual({ type: 'stopped-runs', version: 5, runs: [{ scope: 's', runId: 'r/1', until: 9 }] });
  });
});
