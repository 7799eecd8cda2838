// The TokenReview authenticator against a real kube-apiserver: audience-bound ServiceAccount tokens
// minted with kubectl, and a proxy following the snapshot server with one.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../src/clock.ts';
import { followSnapshots } from '../../src/distribution/follower.ts';
import { createSnapshotServer } from '../../src/distribution/server.ts';
import { createTokenReviewAuthenticator } from '../../src/distribution/token-review.ts';
import { SnapshotHolder } from '../../src/snapshot/holder.ts';
import { silentLogger } from '../../src/telemetry/logger.ts';
import { injectedControlPlane } from '../env/control-plane/inject.ts';
import { servingTls } from '../env/tls.ts';

const cp = injectedControlPlane();
const kc = new KubeConfig();
kc.loadFromFile(cp.kubeconfigPath);
const namespace = `tokenreview-${randomUUID().slice(0, 8)}`;
const PROXY_SA = `${namespace}/keybrake-proxy`;

async function kubectl(...args: string[]): Promise<string> {
  const result = await cp.kubectl(args);
  expect(result.code, `kubectl ${args.join(' ')}: ${result.stderr}`).toBe(0);
  return result.stdout;
}

const mint = async (sa: string, audience: string) =>
  (await kubectl('create', 'token', sa, '-n', namespace, '--audience', audience)).trim();

beforeAll(async () => {
  await kubectl('create', 'namespace', namespace);
  await kubectl('create', 'serviceaccount', 'keybrake-proxy', '-n', namespace);
  await kubectl('create', 'serviceaccount', 'intruder', '-n', namespace);
});

afterAll(async () => {
  await cp.kubectl(['delete', 'namespace', namespace, '--wait=false']);
});

/** The client address the tokens are presented from. */
const FROM = '10.0.0.5';

describe('createTokenReviewAuthenticator', () => {
  const auth = () =>
    createTokenReviewAuthenticator(kc, { audience: 'keybrake', allowedServiceAccounts: [PROXY_SA] });

  it('accepts the proxy ServiceAccount token minted for the keybrake audience', async () => {
    expect(await auth()(await mint('keybrake-proxy', 'keybrake'), FROM)).toEqual({
      ok: true,
      user: PROXY_SA,
    });
  });

  it('refuses a token minted for another audience with 401', async () => {
    expect(await auth()(await mint('keybrake-proxy', 'vault'), FROM)).toMatchObject({
      ok: false,
      status: 401,
    });
  });

  it('refuses a token that is not a token with 401', async () => {
    expect(await auth()('not-a-jwt', FROM)).toMatchObject({ ok: false, status: 401 });
  });

  it('refuses a ServiceAccount outside the allowed list with 403', async () => {
    const result = await auth()(await mint('intruder', 'keybrake'), FROM);
    expect(result).toEqual({
      ok: false,
      status: 403,
      message: `ServiceAccount ${namespace}/intruder may not follow snapshots`,
    });
  });

  // Eighth round: an empty list admitted every ServiceAccount with a token for the audience.
  it('refuses every ServiceAccount when the list is empty, with 403', async () => {
    const none = createTokenReviewAuthenticator(kc, { audience: 'keybrake', allowedServiceAccounts: [] });
    expect(await none(await mint('intruder', 'keybrake'), FROM)).toEqual({
      ok: false,
      status: 403,
      message: `ServiceAccount ${namespace}/intruder may not follow snapshots`,
    });
  });
});

describe('a proxy following the snapshot server with its ServiceAccount token', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'keybrake-tokenreview-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is admitted, receives the snapshot and acknowledges it', async () => {
    const tls = await servingTls(dir);
    const log = silentLogger();
    const server = createSnapshotServer({
      authenticate: createTokenReviewAuthenticator(kc, { allowedServiceAccounts: [PROXY_SA] }),
      isLeader: () => true,
      log,
    });
    const url = await server.listen({ host: '127.0.0.1', port: 0, tls });
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, await mint('keybrake-proxy', 'keybrake'));
    const holder = new SnapshotHolder(systemClock);
    const follower = followSnapshots({ url, tokenFile, ca: tls.ca, holder, proxyId: 'proxy-0', log });
    try {
      server.publish({ version: 7, compiledAt: Date.now(), keys: new Map() });
      await vi.waitFor(() => expect(holder.current?.version).toBe(7), { timeout: 10_000 });
      await vi.waitFor(() =>
        expect(server.connected()).toEqual([{ proxyId: 'proxy-0', user: PROXY_SA, ackedVersion: 7 }]),
      );
    } finally {
      await follower.close();
      await server.close();
    }
  });
});
