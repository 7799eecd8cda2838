// A `serve --redis` replica whose stopped-runs subscription is dropped again and again (eleventh
// round, MEDIUM): a relay in front of Redis reset the connection that had subscribed at its next
// byte, and again the new one when it subscribed. ioredis' own automatic resubscribe, sent with no
// catch, was rejected by the second drop (maxRetriesPerRequest 0): an unhandled rejection killed the
// process while a charge was at the vendor, and that charge was recorded nowhere. Here the replica
// lives through the drops, answers the charge once the vendor does, writes its audit record, and is
// ready again once the subscription holds.
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KeybrakeProcess, manifestDir } from '../env/keybrake.ts';
import { type RedisServer, startRedis, waitFor } from '../env/redis.ts';
import { startTcpRelay, type TcpRelay } from '../env/tcp-relay.ts';
import { mintKeys, startReplicas } from './fixtures/replicas.ts';

/** A Stripe-shaped upstream that records every request and holds each charge until `release()`. */
async function holdingUpstream(): Promise<{
  url: string;
  requests: string[];
  charged: Promise<void>;
  release(): void;
  close(): Promise<void>;
}> {
  const requests: string[] = [];
  const held: (() => void)[] = [];
  let released = false;
  let charged!: () => void;
  const arrived = new Promise<void>((resolve) => (charged = resolve));
  const server: Server = createServer((req: IncomingMessage, res) => {
    req.resume();
    req.on('end', () => {
      requests.push(`${req.method} ${req.url}`);
      const answer = () => {
        res.writeHead(200, { 'content-type': 'application/json', 'request-id': 'req_held' });
        res.end(JSON.stringify({ id: 'ch_held', object: 'charge', amount: 1000, currency: 'usd' }));
      };
      if (req.url === '/v1/charges' && !released) {
        held.push(answer);
        charged();
      } else answer();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    charged: arrived,
    release() {
      released = true;
      for (const answer of held.splice(0)) answer();
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('a serve --redis replica whose stopped-runs subscription is dropped again and again', () => {
  let redis: RedisServer;
  let upstream: Awaited<ReturnType<typeof holdingUpstream>>;
  let manifests: Awaited<ReturnType<typeof manifestDir>>;
  let relay: TcpRelay;
  let serve: KeybrakeProcess | undefined;
  const { files, keys } = mintKeys([{ name: 'payer', limits: { perCallUsd: '50', perDayUsd: '100' } }]);

  beforeAll(async () => {
    [redis, upstream, manifests] = await Promise.all([startRedis(), holdingUpstream(), manifestDir(files)]);
    // Only the subscription's connections send SUBSCRIBE: the store's own connection is never reset.
    relay = await startTcpRelay({ host: '127.0.0.1', port: redis.port }, { watch: /subscribe/i });
    [serve] = await startReplicas(1, {
      manifests: manifests.dir,
      upstream: upstream.url,
      redis: `redis://${relay.address}`,
    });
    await waitFor('serve to be ready', () => ready(serve!));
  });

  afterAll(async () => {
    relay?.stopResetting();
    upstream?.release();
    await serve?.stop();
    await Promise.allSettled([relay?.close(), upstream?.close(), redis?.stop(), manifests?.remove()]);
  });

  async function ready(p: KeybrakeProcess): Promise<boolean> {
    const res = await request(`${p.urls['admin']}/readyz`);
    await res.body.dump();
    return res.statusCode === 200;
  }

  it('lives through the drops and records the charge it had forwarded', async () => {
    const p = serve!;
    const exited = once(p.child, 'exit').then(([code, signal]) => {
      throw new Error(
        `serve exited (${code ?? signal}) while its subscription was dropped:\n${p.output().slice(-3000)}`,
      );
    });
    exited.catch(() => undefined);
    const charge = request(`${p.urls['stripe']}/v1/charges`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${keys.payer.token}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: 'amount=1000&currency=usd&source=tok_visa',
      headersTimeout: 60_000,
    });
    await Promise.race([upstream.charged, exited]);

    // The subscribed connection is reset at its next byte; each new one when it subscribes. The
    // third reset means the second came while a resubscribe was unanswered: the crash's moment.
    relay.resetWhoSent();
    await Promise.race([relay.resets(3), exited]);
    relay.stopResetting();
    upstream.release();

    const answered = await Promise.race([charge, exited]);
    await answered.body.dump();
    expect(answered.statusCode).toBe(200);
    const record = await p.waitForAudit((r) => r.path === '/v1/charges', 20_000);
    expect(record).toMatchObject({
      operation: 'stripe.charges.create',
      decision: 'allow',
      upstreamStatus: 200,
    });
    expect(upstream.requests.filter((r) => r === 'POST /v1/charges')).toHaveLength(1);
    await waitFor('serve to be ready again once its subscription holds', () => ready(p), 20_000);
    expect(p.child.exitCode).toBe(null);
  });
});
