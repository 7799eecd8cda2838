import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTcpRelay } from '../../../test/env/tcp-relay.ts';
import { type ServingTls, servingTls } from '../../../test/env/tls.ts';
import { poolConnections } from './connection-pool.ts';

// An HTTPS server answering like an API server's namespace list, counting TLS connections: the
// client library's own request path (makeApiClient → fetch with its dispatcher) is what is measured.
let dir: string;
let tls: ServingTls;
let server: Server;
let connections = 0;
let url: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kb-pool-'));
  tls = await servingTls(dir, 'localhost');
  server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    expect(req.headers.authorization).toBe('Bearer operator-token');
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ apiVersion: 'v1', kind: 'NamespaceList', metadata: {}, items: [] }));
  });
  server.on('secureConnection', () => connections++);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

function kubeConfig(server = url): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server, caData: Buffer.from(tls.ca).toString('base64') }],
    users: [{ name: 'u', token: 'operator-token' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

async function connectionsFor(kc: KubeConfig, calls: number): Promise<number> {
  const before = connections;
  const api = kc.makeApiClient(CoreV1Api);
  for (let i = 0; i < calls; i++) await api.listNamespace();
  return connections - before;
}

describe('poolConnections', () => {
  it('the library alone opens a TLS connection per request (what poolConnections is for)', async () => {
    expect(await connectionsFor(kubeConfig(), 5)).toBe(5);
  });

  it('sends the requests of every API client over a few kept connections', async () => {
    const kc = poolConnections(kubeConfig());
    // Back-to-back requests may find the first socket not yet handed back: undici opens a second.
    expect(await connectionsFor(kc, 10)).toBeLessThanOrEqual(2);
    expect(await connectionsFor(kc, 10)).toBe(0);
  });
});

describe('a connection to the API server that goes silent (no RST: a dead node, a dropped conntrack entry)', () => {
  it('fails the request on it within the headers timeout, and the next one goes over a new connection', async () => {
    const relay = await startTcpRelay({ host: '127.0.0.1', port: Number(new URL(url).port) });
    try {
      const kc = poolConnections(kubeConfig(`https://${relay.address}`), {
        headersTimeoutMs: 500,
        bodyTimeoutMs: 1_000,
      });
      const api = kc.makeApiClient(CoreV1Api);
      // Back-to-back requests may find the first socket not yet handed back (see above): a few, so
      // the one silenced is the kept connection the next request takes.
      for (let i = 0; i < 3; i++) await api.listNamespace();
      const kept = relay.connections();
      relay.silence();

      // Not a sleep: a bound on the answer, far below undici's 300 s default that held a standby's
      // Lease read for 107 s.
      const started = performance.now();
      const outcome = await Promise.race([
        api.listNamespace().then(
          () => `answered (${relay.connections() - kept} new connections)`,
          (err: unknown) => String((err as { cause?: { code?: string } }).cause?.code),
        ),
        delay(10_000, 'still waiting', { ref: false }),
      ]);
      expect(outcome).toBe('UND_ERR_HEADERS_TIMEOUT');
      expect(performance.now() - started).toBeLessThan(5_000);

      expect((await api.listNamespace()).items).toEqual([]);
      expect(relay.connections()).toBe(kept + 1);
    } finally {
      await relay.close();
    }
  });
});
