import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { connect, type Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { fixedClock } from '../clock.ts';
import type { CounterStore } from '../counters/store.ts';
import {
  ADMIN_MAX_CONNECTIONS,
  adminLimits,
  type ListenerLimits,
  listenerLimits,
} from '../listener/limits.ts';
import { MAX_SCRAPES_IN_FLIGHT } from '../listener/metrics-route.ts';
import { SnapshotHolder } from '../snapshot/holder.ts';
import { silentLogger } from '../telemetry/logger.ts';
import { createProxyMetrics } from '../telemetry/metrics.ts';
import { COUNTER_STORE_UP, createAdminListener } from './admin.ts';
import { StoppedRuns } from './runs.ts';

const LIMITS = adminLimits(listenerLimits({ upstreamTimeoutMs: 1_000 }));

/** A counter store whose health the test switches; only the health methods are used here. */
function switchableStore() {
  let up = true;
  const store = {
    healthy: async () => up,
    available: () => up,
  } as unknown as CounterStore;
  return { store, set: (u: boolean) => (up = u) };
}

describe('proxy admin listener', () => {
  const clock = fixedClock('2026-06-01T00:00:00Z');
  let app: ReturnType<typeof createAdminListener> | undefined;
  afterEach(async () => {
    await app?.close();
  });

  function setup(stopsReadiness?: () => string | undefined) {
    const snapshots = new SnapshotHolder(clock);
    const metrics = createProxyMetrics({ snapshotAgeSeconds: () => (snapshots.ageMs() ?? 0) / 1000 });
    const counters = switchableStore();
    app = createAdminListener({
      limits: LIMITS,
      log: silentLogger(),
      metrics,
      snapshots,
      counters: counters.store,
      maxStalenessMs: 30_000,
      ...(stopsReadiness ? { stopsReadiness } : {}),
      // Still: a render takes no time, so no scrape here is answered from an earlier one.
      monotonic: () => 0,
    });
    const readyz = async () => {
      const res = await app!.inject({ method: 'GET', url: '/readyz' });
      return { status: res.statusCode, body: res.json() as Record<string, unknown> };
    };
    const gauge = async () => {
      const text = (await app!.inject({ method: 'GET', url: '/metrics' })).body;
      return Number(new RegExp(`^${COUNTER_STORE_UP} (\\d+)$`, 'm').exec(text)?.[1]);
    };
    return { snapshots, counters, readyz, gauge };
  }

  it('is not ready before the first snapshot, and says so', async () => {
    const { readyz } = setup();
    expect(await readyz()).toMatchObject({
      status: 503,
      body: { problems: ['no policy snapshot received yet'] },
    });
  });

  it('stays ready while the counter store is down: readiness means a fresh snapshot, nothing else', async () => {
    const { snapshots, counters, readyz, gauge } = setup();
    snapshots.apply({ version: 7, compiledAt: clock.now(), keys: new Map() });
    expect(await readyz()).toEqual({
      status: 200,
      body: { status: 'ready', snapshotVersion: 7 },
    });
    expect(await gauge()).toBe(1);

    counters.set(false);
    expect(await readyz()).toEqual({
      status: 200,
      body: { status: 'ready', snapshotVersion: 7 },
    });
    expect(await gauge()).toBe(0);

    counters.set(true);
    expect(await gauge()).toBe(1);
  });

  // Sixth round: every scrape rendered anew, so concurrent scrapes multiplied a render's cost.
  it('renders once for scrapes that come together, and again only when that render is stale', async () => {
    const clock = fixedClock('2026-06-01T00:00:00Z');
    const monotonic = fixedClock(0);
    let pings = 0;
    // A render that takes 100 ms of the monotonic clock's time is shared for 900 ms after it.
    const store = {
      healthy: async () => {
        pings++;
        monotonic.advance(100);
        return true;
      },
    } as unknown as CounterStore;
    app = createAdminListener({
      limits: LIMITS,
      log: silentLogger(),
      metrics: createProxyMetrics({ snapshotAgeSeconds: () => 0 }),
      snapshots: new SnapshotHolder(clock),
      counters: store,
      monotonic: monotonic.now,
    });
    const scrape = () => app!.inject({ method: 'GET', url: '/metrics' });
    const answers = await Promise.all(Array.from({ length: MAX_SCRAPES_IN_FLIGHT }, scrape));
    expect(answers.map((r) => r.statusCode)).toEqual(answers.map(() => 200));
    const bodies = answers.map((r) => r.body);
    expect(pings).toBe(1);
    expect(new Set(bodies).size).toBe(1);
    expect(bodies[0]).toContain(`${COUNTER_STORE_UP} 1`);
    monotonic.advance(899);
    await scrape();
    expect(pings).toBe(1);
    monotonic.advance(1);
    await scrape();
    expect(pings).toBe(2);
  });

  // Seventh round: a new replica was ready, and admitted a stopped run's key, before reading the stops.
  it('is not ready while its stopped runs say so (a first read of the shared ones awaited)', async () => {
    let waiting: string | undefined = 'stopped runs not read from the counter store yet';
    const { snapshots, readyz } = setup(() => waiting);
    snapshots.apply({ version: 7, compiledAt: clock.now(), keys: new Map() });
    expect(await readyz()).toMatchObject({
      status: 503,
      body: { problems: ['stopped runs not read from the counter store yet'] },
    });
    waiting = undefined;
    expect(await readyz()).toMatchObject({ status: 200 });
  });

  it('is not ready once the snapshot is older than --max-staleness', async () => {
    const { snapshots, readyz } = setup();
    snapshots.apply({ version: 7, compiledAt: clock.now(), keys: new Map() });
    clock.advance(30_001);
    expect(await readyz()).toMatchObject({ status: 503, body: { problems: ['policy snapshot is stale'] } });
  });
});

/** A client connection from `from` (any 127/8 address reaches the loopback listener). */
async function client(port: number, from: string, first?: string, to = '127.0.0.1') {
  const socket: Socket = connect({ port, host: to, localAddress: from });
  let received = '';
  socket.on('data', (d: Buffer) => {
    received += d.toString('latin1');
  });
  socket.on('error', () => {});
  const closed = new Promise<string>((resolve) => socket.once('close', () => resolve(received)));
  await once(socket, 'connect');
  if (first !== undefined) socket.write(first);
  return { socket, closed, isClosed: () => socket.destroyed };
}

describe('proxy admin listener limits', () => {
  let app: ReturnType<typeof createAdminListener> | undefined;
  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await app?.close();
  });

  /** A listening admin listener (with the run API, whose POST reads a body) held to `limits`. */
  async function listening(limits: ListenerLimits = LIMITS, host = '127.0.0.1') {
    const clock = fixedClock('2026-06-01T00:00:00Z');
    const snapshots = new SnapshotHolder(clock);
    snapshots.apply({ version: 1, compiledAt: clock.now(), keys: new Map() });
    app = createAdminListener({
      limits,
      log: silentLogger(),
      metrics: createProxyMetrics({ snapshotAgeSeconds: () => 0 }),
      snapshots,
      counters: switchableStore().store,
      runs: { snapshots, stoppedRuns: new StoppedRuns(clock), clock, log: silentLogger() },
    });
    await app.listen({ host, port: 0 });
    const port = (app.server.address() as AddressInfo).port;
    const open = async (from: string, first?: string, to?: string) => {
      const c = await client(port, from, first, to);
      sockets.push(c.socket);
      return c;
    };
    return { port, open };
  }

  const short = { ...LIMITS, clientTimeoutMs: 300 };

  it('answers a run request whose body does not arrive within the client timeout with a 408, and closes it', async () => {
    const { open } = await listening(short);
    const slow = await open(
      '127.0.0.1',
      'POST /v1/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"cap":',
    );
    expect(await slow.closed).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('answers a head that does not arrive within the client timeout with a 408, and closes it', async () => {
    const { open } = await listening(short);
    const slow = await open('127.0.0.1', 'GET /readyz HTTP/1.1\r\nHost: adm');
    expect(await slow.closed).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('closes a connection that sends nothing within the first-byte timeout, without an answer', async () => {
    // A head may take 5 s here; a connection that has sent nothing is closed after 2.
    const { open } = await listening({ ...LIMITS, clientTimeoutMs: 5_000 });
    expect(await (await open('127.0.0.1')).closed).toBe('');
  });

  it('holds one client address to a quarter of its connections, and still answers the others', async () => {
    const { port, open } = await listening();
    const perSource = ADMIN_MAX_CONNECTIONS / 4;
    // Each has begun a request, so that none is closed for silence while the test runs.
    const held = [];
    for (let i = 0; i < perSource; i++) held.push(await open('127.0.0.2', 'G'));
    const extra = await open('127.0.0.2', 'G');
    expect(await extra.closed).toBe('');
    expect(held.some((c) => c.isClosed())).toBe(false);
    const res = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(res.status).toBe(200);
  });

  // From the review: serve's local clients, and a mesh sidecar's forwarded connections, all come
  // from one local address; a share there let any one of them shut out the rest.
  it('does not hold the local address to a share', async () => {
    const { open } = await listening();
    const held = [];
    for (let i = 0; i < ADMIN_MAX_CONNECTIONS / 4; i++) held.push(await open('127.0.0.1', 'G'));
    const past = await open(
      '127.0.0.1',
      'GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n',
    );
    expect(await past.closed).toMatch(/^HTTP\/1\.1 200 /);
    expect(held.some((c) => c.isClosed())).toBe(false);
  });

  // Sixth round: a web page the agent's browser opens can rebind its own name to 127.0.0.1 and read
  // /metrics and the run API's answers as same-origin; it names itself in Host.
  const ask = (host: string | undefined, path = '/metrics') =>
    host === undefined
      ? `GET ${path} HTTP/1.0\r\n\r\n`
      : `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;

  it.each([
    ['/metrics', 'rebind.evil.example'],
    ['/v1/runs/agents/bot/run-1', 'rebind.evil.example:9090'],
    ['/readyz', 'localhost.evil.example'],
  ])('on loopback, answers %s for a Host %s with 421 and nothing of the route', async (path, host) => {
    const { open } = await listening();
    const answer = await (await open('127.0.0.1', ask(host, path))).closed;
    expect(answer).toMatch(/^HTTP\/1\.1 421 /);
    expect(answer).toContain('DNS rebinding');
    expect(answer).not.toMatch(/keybrake_|snapshotVersion|run_/);
  });

  it.each([
    ['127.0.0.1 and the port', (port: number) => `127.0.0.1:${port}`],
    ['localhost and the port', (port: number) => `localhost:${port}`],
    ['[::1]', () => '[::1]'],
    ['no Host at all (HTTP/1.0)', () => undefined],
  ])('on loopback, answers a Host of %s', async (_what, host) => {
    const { port, open } = await listening();
    expect(await (await open('127.0.0.1', ask(host(port), '/readyz'))).closed).toMatch(/^HTTP\/1\.[01] 200 /);
  });

  // Eighth round: bound to every address, it answered a rebound name on 127.0.0.1 (full /metrics):
  // the check read the bind address, not the address the connection reached.
  it('bound to every address, answers a connection on loopback naming another host with 421', async () => {
    const { open } = await listening(LIMITS, '0.0.0.0');
    const answer = await (await open('127.0.0.1', ask('rebind.evil.example'))).closed;
    expect(answer).toMatch(/^HTTP\/1\.1 421 /);
    expect(answer).not.toMatch(/keybrake_/);
  });

  it.each([
    ['127.0.0.1 and the port', (port: number) => `127.0.0.1:${port}`],
    ['localhost and the port', (port: number) => `localhost:${port}`],
  ])('bound to every address, answers a connection on loopback naming %s', async (_what, host) => {
    const { port, open } = await listening(LIMITS, '0.0.0.0');
    expect(await (await open('127.0.0.1', ask(host(port)))).closed).toMatch(/^HTTP\/1\.1 200 /);
  });

  // A Pod's admin port, scraped through its Service name on the Pod's address (here by a mesh
  // sidecar forwarding from 127.0.0.6): no page can rebind a name to that from the agent's machine.
  // Needs an address of this machine's other than loopback.
  const external = Object.values(networkInterfaces())
    .flat()
    .find((i) => i?.family === 'IPv4' && !i.internal)?.address;
  it.skipIf(external === undefined)(
    'bound to every address, answers any Host on a connection from elsewhere to another address of the machine',
    async () => {
      const { open } = await listening(LIMITS, '0.0.0.0');
      const service = ask('keybrake-proxy.keybrake-system.svc:9090');
      expect(await (await open('127.0.0.6', service, external)).closed).toMatch(/^HTTP\/1\.1 200 /);
    },
  );

  // Eighth round: a page rebinding its name to the developer machine's LAN address read /metrics
  // there; the browser's connection comes from that same address.
  it.skipIf(external === undefined)(
    'bound to every address, answers 421 to this machine naming another host on its own other address',
    async () => {
      const { open } = await listening(LIMITS, '0.0.0.0');
      const answer = await (await open(external!, ask('rebind.evil.example'), external)).closed;
      expect(answer).toMatch(/^HTTP\/1\.1 421 /);
      expect(answer).not.toMatch(/keybrake_/);
    },
  );

  it(`holds ${ADMIN_MAX_CONNECTIONS} connections at most, whatever their addresses`, async () => {
    const { open } = await listening();
    const held = [];
    for (let i = 0; i < ADMIN_MAX_CONNECTIONS; i++) held.push(await open(`127.0.0.${10 + (i % 8)}`, 'G'));
    const extra = await open('127.0.0.99', 'G');
    expect(await extra.closed).toBe('');
    expect(held.some((c) => c.isClosed())).toBe(false);
  });
});
