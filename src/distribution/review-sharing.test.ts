// The TokenReviews of the operator's listener, the snapshot stream's and the run API's, under a flood
// of junk bearers from one client (sixth round: at 670 acks a second with distinct JWT-shaped bearers
// from one address, a new proxy's every watch over 15 s was a 503, and each 503 wrote a warning).
// Clients come from their own loopback addresses (127.0.0.2, 127.0.0.3), told apart as two Pods are.
import { once } from 'node:events';
import { Agent, createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import type { V1TokenReviewStatus } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../clock.ts';
import { createOperatorRunsApi } from '../operator/runs-api.ts';
import { createLogger } from '../telemetry/logger.ts';
import { RUNS_PATH } from '../tokens/run-api.ts';
import { createCallerReview } from './access-review.ts';
import { ACK_PATH, WATCH_PATH } from './protocol.ts';
import { createSnapshotServer, type SnapshotServer } from './server.ts';
import { createReviewingAuthenticator } from './token-review.ts';

const ATTACKER = '127.0.0.2';
const PROXY = '127.0.0.3';

/** A projected ServiceAccount token's shape for audience keybrake, naming `sub`; the signature is junk. */
const token = (sub: string) =>
  `eyJhbGciOiJSUzI1NiJ9.${Buffer.from(
    JSON.stringify({
      aud: ['keybrake'],
      exp: Math.floor(Date.now() / 1_000) + 3_600,
      iss: 'https://kubernetes.default.svc.cluster.local',
      'kubernetes.io': { namespace: 'keybrake-system', serviceaccount: { name: sub } },
      sub,
    }),
  ).toString('base64url')}.c2lnbmF0dXJl`;
const subOf = (t: string) => JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString()).sub as string;

const servers: SnapshotServer[] = [];
const runApis: Server[] = [];
const agents: Agent[] = [];
afterEach(async () => {
  for (const a of agents.splice(0)) a.destroy();
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await Promise.all(runApis.splice(0).map((s) => new Promise((closed) => s.close(closed))));
});

/** An apiserver that authenticates `sub`'s tokens alone, and records what it is asked to review. */
function apiserver(sub: string) {
  const reviewed: string[] = [];
  const review = async (t: string): Promise<V1TokenReviewStatus> => {
    reviewed.push(subOf(t));
    return subOf(t) === sub
      ? {
          authenticated: true,
          audiences: ['keybrake'],
          user: { username: `system:serviceaccount:agents:${sub}` },
        }
      : { authenticated: false, error: 'invalid bearer token' };
  };
  return { review, reviewed };
}

/** A logger that keeps its warnings. */
function warningLog() {
  const warnings: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) {
        const entry = JSON.parse(line);
        if (entry.level === 40) warnings.push(entry);
      }
      done();
    },
  });
  return { log: createLogger({ destination }), warnings };
}

/** The real snapshot server and authenticator (default budget and shares); its port. */
async function snapshotListener() {
  const { review, reviewed } = apiserver('keybrake-proxy');
  const { log, warnings } = warningLog();
  const server = createSnapshotServer({
    authenticate: createReviewingAuthenticator(review, { allowedServiceAccounts: ['agents/keybrake-proxy'] }),
    isLeader: () => true,
    heartbeatMs: 60_000,
    log,
  });
  servers.push(server);
  const url = new URL(await server.listen({ host: '127.0.0.1', port: 0 }));
  return { port: Number(url.port), reviewed, warnings };
}

/** The real run API and caller review (default budget and shares), RBAC saying no to all; its port. */
async function runApiListener() {
  const { review, reviewed } = apiserver('runner');
  const { log, warnings } = warningLog();
  const api = createOperatorRunsApi({
    snapshot: () => undefined,
    reviewCaller: createCallerReview(review),
    reviewAccess: async () => false,
    isLeader: () => true,
    server: {
      stopRuns: async () => ({ proxies: 0, acknowledged: 0 }),
      isStopped: () => false,
      stopBoundReached: () => undefined,
    },
    clock: systemClock,
    log,
  });
  const server = createServer((req, res) => void api(req, res));
  runApis.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as AddressInfo).port, reviewed, warnings };
}

/** What each POST carries: an ack, a run start. */
const BODIES: Record<string, unknown> = {
  [ACK_PATH]: { proxyId: 'p', version: 1 },
  [RUNS_PATH]: { key: 'agents/bot' },
};

/** One request over `agent` (bound to its client address); its status, a stream's body left unread. */
function call(port: number, agent: Agent, path: string, bearer: string, method = 'GET'): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, path, method, agent, headers: { authorization: `Bearer ${bearer}` } },
      (res) => {
        resolve(res.statusCode ?? 0);
        if (path === WATCH_PATH) res.destroy();
        else res.resume();
      },
    );
    req.on('error', reject);
    req.end(method === 'POST' ? JSON.stringify(BODIES[path]) : undefined);
  });
}

const agentFrom = (localAddress: string) => {
  const agent = new Agent({ keepAlive: true, maxSockets: 4, localAddress });
  agents.push(agent);
  return agent;
};

describe('the snapshot listener under a flood of junk bearers from one address', () => {
  it('still reviews a new proxy from another address, and writes one warning for the flood', async () => {
    const { port, reviewed, warnings } = await snapshotListener();
    const attacker = agentFrom(ATTACKER);
    const statuses: number[] = [];
    for (let i = 0; i < 100; i++) statuses.push(await call(port, attacker, ACK_PATH, `eyJh.${i}.x`, 'POST'));
    for (let i = 0; i < 150; i++)
      statuses.push(await call(port, attacker, ACK_PATH, token(`junk-${i}`), 'POST'));
    // Unparseable claims: 401 unreviewed; then the attacker's share (10) reviewed, 401; the rest 503.
    expect(statuses.filter((s) => s === 401)).toHaveLength(110);
    expect(statuses.filter((s) => s === 503)).toHaveLength(140);
    expect(reviewed).toHaveLength(10);

    expect(await call(port, agentFrom(PROXY), WATCH_PATH, token('keybrake-proxy'))).toBe(200);
    expect(reviewed.at(-1)).toBe('keybrake-proxy');

    const fromAttacker = warnings.filter((w) => w['source'] === ATTACKER);
    expect(fromAttacker.map((w) => [w['msg'], w['refused']])).toEqual([
      ['proxy refused', 1],
      ['cannot authenticate a proxy', 1],
    ]);
  });
});

describe('the run API under a flood of junk bearers from one address', () => {
  it('still reviews a runner from another address, and writes one warning for the flood', async () => {
    const { port, reviewed, warnings } = await runApiListener();
    const attacker = agentFrom(ATTACKER);
    const statuses: number[] = [];
    for (let i = 0; i < 100; i++)
      statuses.push(await call(port, attacker, RUNS_PATH, token(`junk-${i}`), 'POST'));
    expect(statuses.filter((s) => s === 401)).toHaveLength(10);
    expect(statuses.filter((s) => s === 503)).toHaveLength(90);
    expect(reviewed).toHaveLength(10);

    // Authenticated: RBAC's no is the answer.
    expect(await call(port, agentFrom(PROXY), RUNS_PATH, token('runner'), 'POST')).toBe(403);
    expect(reviewed.at(-1)).toBe('runner');

    const fromAttacker = warnings.filter((w) => w['source'] === ATTACKER);
    expect(fromAttacker.map((w) => [w['msg'], w['refused']])).toEqual([
      ['cannot review a run API caller', 1],
    ]);
  });
});
