// The operator's snapshot listener is reachable from anywhere in the cluster (an agent's Pod too,
// unless a NetworkPolicy says otherwise): it holds its clients to the same limits as the proxy's
// listeners, over TLS as in production.
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as connectTcp, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ConnectionOptions, connect as connectTls } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ServingTls, servingTls } from '../../test/env/tls.ts';
import { listenerLimits } from '../listener/limits.ts';
import { silentLogger } from '../telemetry/logger.ts';
import { createSnapshotServer, type SnapshotServer } from './server.ts';

let dir: string;
let tls: ServingTls;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'keybrake-dist-limits-'));
  tls = await servingTls(dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const servers: SnapshotServer[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** A TLS snapshot server held to `limits` (the production default when absent); its port. */
async function listening(limits = listenerLimits({ upstreamTimeoutMs: 0, clientTimeoutMs: 300 })) {
  const server = createSnapshotServer({
    authenticate: async () => ({ ok: true, user: 'keybrake-system/keybrake-proxy' }),
    isLeader: () => true,
    heartbeatMs: 60_000,
    log: silentLogger(),
    limits,
  });
  servers.push(server);
  const url = await server.listen({ host: '127.0.0.1', port: 0, tls });
  return Number(new URL(url).port);
}

/** Everything a raw TCP connection from `from` receives until it is closed. */
async function tcpClient(port: number, from: string) {
  const socket = connectTcp({ port, host: '127.0.0.1', localAddress: from });
  sockets.push(socket);
  let received = '';
  socket.on('data', (d) => {
    received += d.toString('latin1');
  });
  socket.on('error', () => {});
  const closed = new Promise<string>((resolve) => socket.once('close', () => resolve(received)));
  await new Promise((resolve) => socket.once('connect', resolve));
  return { socket, closed, isClosed: () => socket.destroyed };
}

describe('operator snapshot listener limits', () => {
  it('answers a TLS client whose request head does not arrive within the client timeout with a 408', async () => {
    const port = await listening();
    const socket = connectTls({ port, host: '127.0.0.1', ca: tls.ca });
    socket.on('error', () => {});
    sockets.push(socket);
    let received = '';
    socket.on('data', (d) => {
      received += d.toString('latin1');
    });
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await new Promise((resolve) => socket.once('secureConnect', resolve));
    socket.write('GET /v1/watch HTTP/1.1\r\nHost: oper');
    await closed;
    expect(received).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('closes a connection that sends nothing, not even a TLS hello, without an answer', async () => {
    const port = await listening(listenerLimits({ upstreamTimeoutMs: 0, clientTimeoutMs: 5_000 }));
    const silent = await tcpClient(port, '127.0.0.1');
    expect(await silent.closed).toBe('');
  });

  it('holds one client address to its share of connections, and still serves the others', async () => {
    const limits = listenerLimits({ upstreamTimeoutMs: 0, maxConnections: 16 });
    const port = await listening(limits);
    // Each has sent a byte of its hello, so that none is closed for silence while the test runs.
    const held = [];
    for (let i = 0; i < limits.maxConnectionsPerSource; i++) {
      const c = await tcpClient(port, '127.0.0.2');
      c.socket.write('\x16');
      held.push(c);
    }
    const extra = await tcpClient(port, '127.0.0.2');
    expect(await extra.closed).toBe('');
    expect(held.some((c) => c.isClosed())).toBe(false);
    // Another address still completes a TLS handshake (tls.connect passes localAddress to net.connect;
    // its type leaves it out).
    const other = connectTls({
      port,
      host: '127.0.0.1',
      ca: tls.ca,
      localAddress: '127.0.0.3',
    } as ConnectionOptions);
    other.on('error', () => {});
    sockets.push(other);
    await new Promise((resolve, reject) => other.once('secureConnect', resolve).once('error', reject));
  });

  it('holds --max-connections at most, whatever the addresses', async () => {
    const limits = listenerLimits({ upstreamTimeoutMs: 0, maxConnections: 8, maxConnectionsPerSource: 8 });
    const port = await listening(limits);
    const held = [];
    for (let i = 0; i < 8; i++) {
      const c = await tcpClient(port, `127.0.0.${10 + (i % 4)}`);
      c.socket.write('\x16');
      held.push(c);
    }
    const extra = await tcpClient(port, '127.0.0.99');
    expect(await extra.closed).toBe('');
    expect(held.some((c) => c.isClosed())).toBe(false);
  });
});
