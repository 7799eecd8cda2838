import { once } from 'node:events';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { operatorListenerLimits } from '../distribution/server.ts';
import { ADMIN_MAX_CONNECTIONS, listenerLimits } from '../listener/limits.ts';
import { silentLogger } from '../telemetry/logger.ts';
import { createOperatorAdmin } from './admin.ts';

describe('operator admin /readyz', () => {
  let app: ReturnType<typeof createOperatorAdmin> | undefined;
  afterEach(async () => {
    await app?.close();
  });
  const admin = (leader: boolean, problems: string[] = []) => {
    app = createOperatorAdmin({
      registry: new Registry(),
      isLeader: () => leader,
      version: () => 42,
      problems: () => problems,
      limits: operatorListenerLimits(),
      log: silentLogger(),
    });
    return app;
  };
  const get = async (a: ReturnType<typeof createOperatorAdmin>, url: string) => {
    const res = await a.inject({ method: 'GET', url });
    return { status: res.statusCode, body: res.json() as Record<string, unknown> };
  };

  it.each([
    ['the leader', true, '/readyz', 200, 'leading'],
    ['a standby', false, '/readyz', 503, 'standby'],
    ['a standby asked as the readiness probe asks', false, '/readyz?standby=ok', 200, 'standby'],
    ['the leader asked as the readiness probe asks', true, '/readyz?standby=ok', 200, 'leading'],
  ])('answers %s on %s', async (_n, leader, url, status, word) => {
    expect(await get(admin(leader), url)).toEqual({ status, body: { status: word, snapshotVersion: 42 } });
  });

  it('fails both forms with the problem, naming the missing Lease namespace', async () => {
    const problem = 'Lease namespace "keybrake-system" does not exist: create it';
    const a = admin(false, [problem]);
    for (const url of ['/readyz', '/readyz?standby=ok']) {
      expect(await get(a, url)).toEqual({
        status: 503,
        body: { status: 'not ready', problems: [problem], snapshotVersion: 42 },
      });
    }
    expect((await get(a, '/healthz')).status).toBe(200);
  });
});

describe('operator admin listener limits', () => {
  let app: ReturnType<typeof createOperatorAdmin> | undefined;
  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await app?.close();
  });

  /** Everything a raw connection from `from` that sent `first` receives until it is closed. */
  async function client(port: number, from: string, first: string) {
    const socket = connect({ port, host: '127.0.0.1', localAddress: from });
    sockets.push(socket);
    let received = '';
    socket.on('data', (d) => {
      received += d.toString('latin1');
    });
    const closed = new Promise<string>((resolve) => socket.once('close', () => resolve(received)));
    await once(socket, 'connect');
    if (first) socket.write(first);
    return { closed, isClosed: () => socket.destroyed };
  }

  it('answers a slow head with a 408 and holds one address to a quarter of its 256 connections', async () => {
    app = createOperatorAdmin({
      registry: new Registry(),
      isLeader: () => true,
      version: () => 1,
      limits: listenerLimits({ upstreamTimeoutMs: 0, clientTimeoutMs: 300 }),
      log: silentLogger(),
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as AddressInfo).port;

    const slow = await client(port, '127.0.0.1', 'GET /metrics HTTP/1.1\r\nHost: adm');
    expect(await slow.closed).toMatch(/^HTTP\/1\.1 408 /);

    const held = [];
    for (let i = 0; i < ADMIN_MAX_CONNECTIONS / 4; i++) held.push(await client(port, '127.0.0.2', 'G'));
    const extra = await client(port, '127.0.0.2', 'G');
    expect(await extra.closed).toBe('');
    expect(held.some((c) => c.isClosed())).toBe(false);
  });

  // Sixth round: a web page rebinding its own name to 127.0.0.1 names itself in Host. Eighth round:
  // bound to every address, it answered such a name on 127.0.0.1.
  it.each([
    ['bound to loopback', '127.0.0.1', (port: number) => `localhost:${port}`],
    ['bound to every address', '0.0.0.0', (port: number) => `127.0.0.1:${port}`],
  ])(
    '%s, answers /metrics on loopback only to a Host that is an address or localhost',
    async (_w, bind, ok) => {
      app = createOperatorAdmin({
        registry: new Registry(),
        isLeader: () => true,
        version: () => 1,
        limits: listenerLimits({ upstreamTimeoutMs: 0 }),
        log: silentLogger(),
      });
      await app.listen({ host: bind, port: 0 });
      const port = (app.server.address() as AddressInfo).port;
      const scrape = (host: string) =>
        client(port, '127.0.0.1', `GET /metrics HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);

      expect(await (await scrape('rebind.evil.example')).closed).toMatch(/^HTTP\/1\.1 421 /);
      expect(await (await scrape(ok(port))).closed).toMatch(/^HTTP\/1\.1 200 /);
    },
  );
});
