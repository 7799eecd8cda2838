// An operator whose VaultKey informer can no longer watch (its ClusterRole narrowed, as a tester did)
// must not keep its proxies fresh: found in the eighth round, heartbeats kept every table fresh and
// 44 s after `kubectl delete vk` the deleted key's charge was forwarded with the real key. Now the
// proxies age their tables from when every informer was last current (ADR 0005, eighth round): past
// --max-staleness, money calls and writes are policy_stale with nothing reaching Stripe, reads pass,
// and the operator's /readyz names the informer. Its RBAC restored, the deletion is applied.
//
// The operator reaches the API server through a TCP relay so the test can end its open watches
// (reset, as an API server restart does) right after narrowing RBAC, instead of waiting for them to
// time out; the restarted VaultKey watch is then refused.
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StripeEmulator, startStripeEmulator } from '../../src/emulators/stripe.ts';
import { injectedControlPlane } from '../env/control-plane/inject.ts';
import { get, type K8sSystem, startK8sSystem, tenantKubectl, until } from '../env/k8s-system.ts';
import { startTcpRelay, type TcpRelay } from '../env/tcp-relay.ts';
import { charge, type Probe, probe, stripeUpstreamSecret, stripeVaultKey } from './fixtures.ts';

const cp = injectedControlPlane();
const SYSTEM_NS = 'lapse-system';
const TENANT = 'lapse-agents';
const REAL_KEY = 'sk_test_lapse_upstream_00000000000000000';
const MAX_STALENESS_MS = 3_000;
/** Slack over --max-staleness for a loaded shared machine: the 403 backoff, polls, process wake-ups. */
const MARGIN_MS = 5_000;

const MANIFESTS = `${stripeUpstreamSecret(REAL_KEY)}
---
apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: lapse }
spec:
  vendor: stripe
  limits: { perCallUsd: "50", perDayUsd: "1000" }
  allow:
    endpoints: ["POST /v1/charges", "POST /v1/customers", "GET /v1/**"]
---
${stripeVaultKey('lapse-bot', 'lapse')}`;

let stripe: StripeEmulator;
let relay: TcpRelay;
let system: K8sSystem;
let pool: Pool;
let token = '';
const { kubectl, mintedToken } = tenantKubectl(cp, TENANT);

async function admin(args: string[], input?: string): Promise<string> {
  const r = await cp.kubectl(args, input === undefined ? {} : { input });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** A write that moves no money: POST /v1/customers. */
async function createCustomer(): Promise<Probe> {
  const res = await pool.request({
    path: '/v1/customers',
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'email=lapse%40example.com',
  });
  await res.body.dump();
  const header = String(res.headers['keybrake-decision'] ?? '');
  return {
    status: res.statusCode,
    decision: header.split(';')[0]?.trim() ?? '',
    reason: /reason=([a-z_]+)/.exec(header)?.[1],
  };
}

const written = () => stripe.requests.filter((r) => r.method === 'POST').length;

async function readiness(): Promise<{ status: number; problems: string[] }> {
  const res = await get(`${system.operators.get('a')!.adminUrl}/readyz?standby=ok`);
  return { status: res.status, problems: (JSON.parse(res.body) as { problems?: string[] }).problems ?? [] };
}

type Rule = { apiGroups?: string[]; resources?: string[]; verbs?: string[] };
type ClusterRole = { metadata: Record<string, unknown>; rules: Rule[] };
let granted: ClusterRole;

beforeAll(async () => {
  stripe = await startStripeEmulator({ validKeys: [REAL_KEY] });
  const api = new URL(cp.server);
  relay = await startTcpRelay({ host: api.hostname, port: Number(api.port) });
  system = await startK8sSystem({
    cp,
    namespace: SYSTEM_NS,
    proxies: 1,
    upstreams: { stripe: stripe.url },
    operatorApiServer: `https://${relay.address}`,
    operatorArgs: ['--proxy-max-staleness', '3s'],
    proxyArgs: ['--max-staleness', '3s'],
  });
  await cp.kubectl(['create', 'namespace', TENANT]);
  await kubectl(['apply', '-f', '-'], MANIFESTS);
  token = await mintedToken('lapse-bot');
  pool = new Pool(system.proxies[0]!.vendorUrls['stripe']!, { connections: 2 });
  await until(async () => (await probe(pool, token)).status === 200, 20_000, 'the proxy to serve the key');
  granted = JSON.parse(await admin(['get', 'clusterrole', system.serviceAccounts.operator, '-o', 'json']));
});

afterAll(async () => {
  await pool?.close();
  await system?.stop();
  await relay?.close();
  await stripe?.close();
  await cp.kubectl(['delete', 'namespace', TENANT, SYSTEM_NS, '--wait=false', '--ignore-not-found']);
});

/** The operator's ClusterRole with `rules`, replaced whole (no resourceVersion: last write wins). */
async function replaceRules(rules: Rule[]): Promise<void> {
  const { resourceVersion: _, ...metadata } = granted.metadata;
  await admin(['replace', '-f', '-'], JSON.stringify({ ...granted, metadata, rules }));
}

describe('the VaultKey informer refused after its watch ends', () => {
  it('turns the proxy policy_stale for everything but reads within --max-staleness, and the operator not ready', async () => {
    await replaceRules(
      granted.rules.map((r) =>
        r.resources?.includes('vaultkeys')
          ? { ...r, resources: r.resources.filter((x) => x !== 'vaultkeys') }
          : r,
      ),
    );
    // The narrowed role is in force once the API server refuses the operator's own list.
    await until(
      async () =>
        (
          await cp.kubectl([
            'auth',
            'can-i',
            'watch',
            'vaultkeys.keybrake.dev',
            '--as',
            `system:serviceaccount:${SYSTEM_NS}:${system.serviceAccounts.operator}`,
          ])
        ).stdout.trim() === 'no',
      10_000,
      'the narrowed ClusterRole',
    );
    const lapsedAt = Date.now();
    relay.cut();
    await kubectl(['delete', 'vaultkey', 'lapse-bot']);

    // Charges poll until the first refusal; what reaches Stripe before it is within the bound.
    let first: Probe | undefined;
    await until(
      async () => {
        first = await charge(pool, token);
        return first.decision === 'deny';
      },
      MAX_STALENESS_MS + MARGIN_MS,
      'the proxy to refuse the deleted key’s charge',
    );
    expect(first).toMatchObject({ decision: 'deny', reason: 'policy_stale' });
    const staleAfter = Date.now() - lapsedAt;
    expect(staleAfter).toBeLessThan(MAX_STALENESS_MS + MARGIN_MS);
    console.error(`[informer-lapse] refused: the deleted key's charge policy_stale after ${staleAfter} ms`);

    const before = written();
    expect(await charge(pool, token)).toMatchObject({ decision: 'deny', reason: 'policy_stale' });
    expect(await createCustomer()).toMatchObject({ decision: 'deny', reason: 'policy_stale' });
    expect(written()).toBe(before);
    expect(await probe(pool, token)).toMatchObject({ status: 200, decision: 'allow' });

    await until(async () => (await readiness()).status === 503, 10_000, 'the operator not ready');
    expect((await readiness()).problems).toEqual([
      expect.stringMatching(/^informer VaultKey \(all namespaces\) has not been current for \d+ s \(403: /),
    ]);
  });

  it('its RBAC restored, is ready again and applies the deletion', async () => {
    await replaceRules(granted.rules);
    await until(async () => (await readiness()).status === 200, 30_000, 'the operator ready again');
    const before = written();
    await until(
      async () => (await charge(pool, token)).reason === 'key_unknown',
      10_000,
      'the deleted key to be unknown',
    );
    expect(await probe(pool, token)).toMatchObject({ decision: 'deny', reason: 'key_unknown' });
    expect(written()).toBe(before);
  });
});

// Found by a tester (eighth round) with a relay that silenced the operator's open connections to the
// API server (bytes dropped, no RST; new connections passed): the leader stepped down, then stayed in
// standby 107 s, its Lease read queued on the dead connection, and its watches counted as current.
describe('the connections to the API server going silent', () => {
  const leads = () =>
    system.operators
      .get('a')!
      .process.output()
      .split('\n')
      .filter((l) => l.includes('"msg":"leading"')).length;
  const informerLapse = (problems: string[]) =>
    problems
      .map((p) => /^informer .* has not been current for (\d+) s/.exec(p)?.[1])
      .find((n) => n !== undefined);

  it('makes the informers lapse from their last sign of life, and the operator leads again over new connections', async () => {
    await until(async () => (await readiness()).status === 200, 30_000, 'the operator ready');
    const led = leads();
    const connections = relay.connections();
    const silencedAt = Date.now();
    relay.silence();

    // Each watch asks for a timeout under 24 s and is given up 5 s past it: the lapse is counted
    // from its last event, so it is already that old when readiness first names it.
    let lapse: string | undefined;
    await until(
      async () => {
        lapse = informerLapse((await readiness()).problems);
        return lapse !== undefined;
      },
      40_000,
      'readiness to name a lapsed informer',
    );
    const namedAfter = Date.now() - silencedAt;
    expect(namedAfter).toBeLessThan(40_000);
    expect(Number(lapse)).toBeGreaterThanOrEqual(12);

    // Stepped down after its renew deadline (10 s), it takes the Lease back over a new connection.
    await until(async () => leads() > led, 45_000, 'the operator to lead again');
    const ledAfter = Date.now() - silencedAt;
    expect(ledAfter).toBeLessThan(45_000);
    await until(async () => (await readiness()).status === 200, 30_000, 'the informers current again');
    console.error(
      `[informer-lapse] silenced: a lapsed informer named after ${namedAfter} ms (lapse ${lapse} s), leading again after ${ledAfter} ms, ready after ${Date.now() - silencedAt} ms`,
    );
    expect(relay.connections()).toBeGreaterThan(connections);
    expect(await system.leaseHolder()).toBe('a');
  });
});

// Found by a tester (ninth round): the same silence with a VaultKey deleted 2.4 s into it. The silent
// watches counted as current, so the leader's heartbeats said lag 0 until it stepped down at its
// renew deadline, and its proxies aged their tables from then: the deleted key's charges were
// forwarded for 38 s with the default --max-staleness 30s (11–13 s here with 3s). Now what the leader
// vouches for goes no later than a retry period past its last Lease renewal (ADR 0005, ninth round).
describe('a VaultKey deleted while the connections to the API server are silent', () => {
  /** The chart's (client-go's) retry period, which the operator here runs with. */
  const RETRY_PERIOD_MS = 2_000;
  /**
   * Polls and wake-ups. Kept under MARGIN_MS (no 403 backoff here) so the test tells the bound from
   * its absence: without it the leader steps down 8–10 s into the silence, the refusal 3 s later.
   */
  const SILENT_MARGIN_MS = 3_000;
  let silentToken = '';

  it('is policy_stale within --max-staleness + the retry period of the silence, and nothing of it reaches Stripe until it is unknown', async () => {
    await kubectl(['apply', '-f', '-'], stripeVaultKey('silent-bot', 'lapse'));
    silentToken = await mintedToken('silent-bot');
    await until(async () => (await readiness()).status === 200, 30_000, 'the operator ready');
    await until(
      async () => (await probe(pool, silentToken)).status === 200,
      20_000,
      'the proxy to serve the key',
    );

    const silencedAt = Date.now();
    relay.silence();
    // Straight to the API server: the operator's watches, silent, never hear of it.
    await kubectl(['delete', 'vaultkey', 'silent-bot']);

    let first: Probe | undefined;
    await until(
      async () => {
        first = await charge(pool, silentToken);
        return first.decision === 'deny';
      },
      30_000,
      'the proxy to refuse the deleted key’s charge',
    );
    const staleAfter = Date.now() - silencedAt;
    console.error(
      `[informer-lapse] silenced: the deleted key's charge ${first?.reason} after ${staleAfter} ms`,
    );
    expect(first).toMatchObject({ decision: 'deny', reason: 'policy_stale' });
    expect(staleAfter).toBeLessThan(MAX_STALENESS_MS + RETRY_PERIOD_MS + SILENT_MARGIN_MS);

    // Refused from then on, through the step-down and the next term, until the deletion is seen.
    const before = written();
    const allowed: Probe[] = [];
    await until(
      async () => {
        const next = await charge(pool, silentToken);
        if (next.decision !== 'deny') allowed.push(next);
        return next.reason === 'key_unknown';
      },
      60_000,
      'the deletion to be applied',
    );
    expect(allowed).toEqual([]);
    expect(written()).toBe(before);
    console.error(`[informer-lapse] silenced: the deleted key unknown after ${Date.now() - silencedAt} ms`);
  });
});
