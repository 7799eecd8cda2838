// `keybrake operator` against a real kube-apiserver: token minting, status conditions, Events,
// status writes only on change, and leader election between two operator processes.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { injectedControlPlane } from '../env/control-plane/inject.ts';
import { installCrds } from '../env/k8s-system.ts';
import { type KeybrakeProcess, startKeybrake } from '../env/keybrake.ts';
import { servingTls } from '../env/tls.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const cp = injectedControlPlane();
const ns = `op-${randomUUID().slice(0, 8)}`;
const UPSTREAM_KEY = 'sk_test_operator_upstream_not_real';
const running: KeybrakeProcess[] = [];

type Obj = {
  metadata: {
    uid: string;
    generation?: number;
    resourceVersion: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { kind: string; name: string; uid: string; controller?: boolean }[];
  };
  data?: Record<string, string>;
  status?: {
    conditions?: {
      type: string;
      status: string;
      reason: string;
      message: string;
      observedGeneration?: number;
    }[];
    tokenFingerprint?: string;
    capPerDayUsd?: string;
    observedGeneration?: number;
  };
};

async function kubectl(args: string[], input?: string): Promise<string> {
  const r = await cp.kubectl(args, input === undefined ? {} : { input });
  expect(r.code, `kubectl ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}
const apply = (yaml: string) => kubectl(['apply', '-n', ns, '-f', '-'], yaml);
async function get(kind: string, name: string): Promise<Obj | undefined> {
  const r = await cp.kubectl(['get', kind, name, '-n', ns, '-o', 'json']);
  return r.code === 0 ? (JSON.parse(r.stdout) as Obj) : undefined;
}
const ready = (o: Obj | undefined) => o?.status?.conditions?.find((c) => c.type === 'Ready');

/** Polls until the object's Ready condition has `reason` (the operator's writes are asynchronous). */
async function waitForReason(kind: string, name: string, reason: string): Promise<Obj> {
  return vi.waitFor(
    async () => {
      const o = await get(kind, name);
      expect(ready(o)?.reason).toBe(reason);
      return o!;
    },
    { timeout: 20_000, interval: 100 },
  );
}

async function events(name: string): Promise<{ reason: string; message: string; type: string }[]> {
  const out = await kubectl([
    'get',
    'events',
    '-n',
    ns,
    '--field-selector',
    `involvedObject.name=${name}`,
    '-o',
    'json',
  ]);
  return (JSON.parse(out) as { items: { reason: string; message: string; type: string }[] }).items;
}

async function startOperator(
  identity: string,
  transport = ['--insecure-http'],
  lease = 'keybrake-operator',
): Promise<KeybrakeProcess> {
  const p = await startKeybrake([
    'operator',
    '--kubeconfig',
    cp.kubeconfigPath,
    '--namespace',
    ns,
    ...transport,
    // The proxies' ServiceAccount (the TLS test creates it); the operator starts with none other.
    '--proxy-service-account',
    `${ns}/proxy`,
    '--lease-name',
    lease,
    '--listen',
    '127.0.0.1:0',
    '--admin-listen',
    '127.0.0.1:0',
    '--lease-namespace',
    ns,
    '--identity',
    identity,
    '--lease-duration',
    '3s',
    '--renew-deadline',
    '2s',
    '--retry-period',
    '500ms',
    '--status-interval',
    '1s',
  ]);
  running.push(p);
  return p;
}

const policy = (name: string, endpoints = ['POST /v1/payment_intents', 'GET /v1/**']) => `
apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: ${name} }
spec:
  vendor: stripe
  limits: { perDayUsd: "200" }
  allow:
    endpoints: ${JSON.stringify(endpoints)}
`;
const vaultKey = (name: string, policyName: string, upstream = 'stripe-upstream') => `
apiVersion: keybrake.dev/v1alpha1
kind: VaultKey
metadata: { name: ${name} }
spec:
  vendor: stripe
  policyRef: { name: ${policyName} }
  upstreamSecretRef: { name: ${upstream}, key: apiKey }
  tokenSecretRef: { name: ${name}-token }
`;

let leader: KeybrakeProcess;

beforeAll(async () => {
  await installCrds(kubectl, join(ROOT, 'crds'));
  await kubectl(['create', 'namespace', ns]);
  await apply(`${policy('support-bot')}
---
apiVersion: v1
kind: Secret
metadata:
  name: stripe-upstream
  labels: { keybrake.dev/secret: "true" }
stringData: { apiKey: ${UPSTREAM_KEY} }
---
${vaultKey('good', 'support-bot')}`);
  leader = await startOperator('op-a');
  await leader.waitForLog((l) => l.msg === 'leading', 20_000);
});

afterAll(async () => {
  if (process.env.DEBUG_OPERATOR) for (const p of running) console.error(p.output());
  await Promise.all(running.map((p) => p.stop()));
  await cp.kubectl(['delete', 'namespace', ns, '--wait=false']);
});

describe('keybrake operator', () => {
  it('mints the vault token into an owned, labelled Secret and never prints it', async () => {
    const key = await waitForReason('vaultkey', 'good', 'Active');
    const secret = (await get('secret', 'good-token'))!;
    expect(secret.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'VaultKey', name: 'good', uid: key.metadata.uid, controller: true }),
    ]);
    expect(secret.metadata.labels).toMatchObject({ 'keybrake.dev/secret': 'true' });
    const token = Buffer.from(secret.data!.token!, 'base64').toString('utf8');
    expect(token).toMatch(/^kb_stripe_[0-9A-Za-z]{39}$/);
    expect(secret.metadata.annotations?.['keybrake.dev/token-fingerprint']).toBe(
      key.status?.tokenFingerprint,
    );
    expect(key.status?.tokenFingerprint).toBe(`kb_stripe_…${token.slice(-4)}`);
    expect(leader.output()).not.toContain(token);
    expect(leader.output()).not.toContain(UPSTREAM_KEY);
    expect(ready(key)).toMatchObject({ status: 'True', observedGeneration: key.metadata.generation });
    expect(key.status?.observedGeneration).toBe(key.metadata.generation);
    expect(key.status?.capPerDayUsd).toBe('200.00');
    await vi.waitFor(
      async () => expect((await events('good')).map((e) => e.reason)).toContain('TokenMinted'),
      {
        timeout: 10_000,
      },
    );
  });

  it('keeps a user-provided token as it is', async () => {
    await apply(`
apiVersion: v1
kind: Secret
metadata:
  name: byo-token
  labels: { keybrake.dev/secret: "true" }
stringData: { token: user_provided_token_0123456789abcdef }
---
${vaultKey('byo', 'support-bot').replace('byo-token', 'byo-token')}`);
    const key = await waitForReason('vaultkey', 'byo', 'Active');
    expect(key.status?.tokenFingerprint).toBe('…cdef');
    const secret = (await get('secret', 'byo-token'))!;
    expect(Buffer.from(secret.data!.token!, 'base64').toString('utf8')).toBe(
      'user_provided_token_0123456789abcdef',
    );
    expect(secret.metadata.ownerReferences).toBeUndefined();
    expect(secret.metadata.annotations?.['keybrake.dev/token-fingerprint']).toBeUndefined();
  });

  // Found by a tester: a key naming an ordinary Secret had the operator label it and write a token
  // field into it; a second key then served the other upstream key it held (third round).
  it('leaves an unlabelled Secret a key names untouched, and says why', async () => {
    const other = 'sk_test_another_upstream_not_real';
    await apply(`
apiVersion: v1
kind: Secret
metadata: { name: prod2 }
stringData: { apiKey: ${other} }
---
${vaultKey('lure', 'support-bot').replace('lure-token }', 'prod2, key: tok }')}`);
    const key = await waitForReason('vaultkey', 'lure', 'TokenSecretMissing');
    await vi.waitFor(
      async () => {
        const k = (await get('vaultkey', 'lure'))!;
        expect(ready(k)?.message).toContain(
          'Secret ' + ns + '/prod2 exists but lacks the label keybrake.dev/secret: "true"',
        );
      },
      { timeout: 20_000, interval: 100 },
    );
    await vi.waitFor(
      async () =>
        expect(await events('lure')).toContainEqual(
          expect.objectContaining({ type: 'Warning', message: expect.stringContaining('prod2 exists but') }),
        ),
      { timeout: 10_000 },
    );
    const secret = (await get('secret', 'prod2'))!;
    expect(secret.metadata.labels).toBeUndefined();
    expect(secret.metadata.ownerReferences).toBeUndefined();
    expect(Object.keys(secret.data!)).toEqual(['apiKey']);
    expect(key.status?.tokenFingerprint).toBeUndefined();
    expect((await events('lure')).map((e) => e.reason)).not.toContain('TokenMinted');
  });

  it('says why a key whose policy does not exist is not ready, with a Warning event', async () => {
    await apply(vaultKey('orphan', 'no-such-policy'));
    const key = await waitForReason('vaultkey', 'orphan', 'PolicyNotFound');
    expect(ready(key)).toMatchObject({ status: 'False', observedGeneration: key.metadata.generation });
    expect(ready(key)?.message).toContain('no-such-policy');
    await vi.waitFor(
      async () =>
        expect(await events('orphan')).toContainEqual(
          expect.objectContaining({
            type: 'Warning',
            reason: 'Invalid',
            message: expect.stringContaining('PolicyNotFound'),
          }),
        ),
      { timeout: 10_000 },
    );
    expect(await get('secret', 'orphan-token')).toBeUndefined();
  });

  it('reports a missing upstream Secret without re-writing the status of keys that did not change', async () => {
    const before = await waitForReason('vaultkey', 'good', 'Active');
    await apply(vaultKey('no-upstream', 'support-bot', 'missing-upstream'));
    await waitForReason('vaultkey', 'no-upstream', 'UpstreamSecretMissing');
    // The other key's status write happened after the change was seen, so an unneeded re-patch of
    // `good` would have happened by now.
    const after = (await get('vaultkey', 'good'))!;
    expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
    expect(ready(after)?.reason).toBe('Active');
  });

  it('marks a policy with a bad glob Invalid and its keys PolicyInvalid, while other keys stay Active', async () => {
    const before = await waitForReason('vaultkey', 'good', 'Active');
    await apply(`${policy('broken', ['POST /v1/refunds**'])}
---
${vaultKey('uses-broken', 'broken')}`);
    const p = await waitForReason('spendpolicy', 'broken', 'Invalid');
    expect(ready(p)?.status).toBe('False');
    expect(ready(p)?.message).toContain('**');
    const k = await waitForReason('vaultkey', 'uses-broken', 'PolicyInvalid');
    expect(ready(k)?.message).toContain('broken');
    const good = (await get('vaultkey', 'good'))!;
    expect(ready(good)?.reason).toBe('Active');
    expect(good.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
    const sp = (await get('spendpolicy', 'support-bot'))!;
    expect(ready(sp)).toMatchObject({ status: 'True', reason: 'Valid' });
  });

  it('records a Revoked event when a VaultKey is deleted', async () => {
    await apply(vaultKey('short-lived', 'support-bot'));
    await waitForReason('vaultkey', 'short-lived', 'Active');
    await kubectl(['delete', 'vaultkey', 'short-lived', '-n', ns]);
    await leader.waitForLog((l) => l.msg === 'revoked' && l.vaultKey === `${ns}/short-lived`);
    await vi.waitFor(
      async () => expect((await events('short-lived')).map((e) => e.reason)).toContain('Revoked'),
      {
        timeout: 10_000,
      },
    );
  });

  it('keeps a second operator on standby and hands over when the leader stops', async () => {
    const standby = await startOperator('op-b');
    await standby.waitForLog((l) => l.msg === 'standby', 10_000);
    const admin = (p: KeybrakeProcess) => fetch(`${p.urls.admin}/readyz`).then((r) => r.status);
    expect(await admin(standby)).toBe(503);
    expect(await admin(leader)).toBe(200);

    const stoppedAt = Date.now();
    await leader.stop();
    await standby.waitForLog((l) => l.msg === 'leading', 10_000);
    // The leader released the Lease on shutdown: no need to wait out the 3 s lease duration.
    expect(Date.now() - stoppedAt).toBeLessThan(3_000);
    expect(await admin(standby)).toBe(200);
    const lease = JSON.parse(
      await kubectl(['get', 'lease', 'keybrake-operator', '-n', ns, '-o', 'json']),
    ) as {
      spec: { holderIdentity: string };
    };
    expect(lease.spec.holderIdentity).toBe('op-b');

    // The new leader keeps reconciling: a new key gets its token.
    await apply(vaultKey('after-failover', 'support-bot'));
    await waitForReason('vaultkey', 'after-failover', 'Active');
  });

  it('takes over from a leader that died without releasing the Lease, after the lease duration', async () => {
    const current = running.find((p) => p.child.exitCode === null && p.output().includes('"msg":"leading"'))!;
    const next = await startOperator('op-c');
    await next.waitForLog((l) => l.msg === 'standby', 10_000);
    const killedAt = Date.now();
    current.child.kill('SIGKILL');
    await next.waitForLog((l) => l.msg === 'leading', 15_000);
    const took = Date.now() - killedAt;
    expect(took).toBeGreaterThanOrEqual(2_500);
    expect(took).toBeLessThan(8_000);
  });

  it('serves snapshots over TLS to a ServiceAccount token bound to the audience, and refuses others', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keybrake-op-tls-'));
    try {
      const tls = await servingTls(dir);
      const op = await startOperator(
        'op-tls',
        ['--tls-cert', tls.certFile, '--tls-key', tls.keyFile],
        'keybrake-operator-tls',
      );
      await op.waitForLog((l) => l.msg === 'leading', 10_000);
      expect(op.urls.main).toMatch(/^https:\/\//);
      await kubectl(['create', 'serviceaccount', 'proxy', '-n', ns]);
      await kubectl(['create', 'serviceaccount', 'stranger', '-n', ns]);
      const token = async (sa: string, audience: string) =>
        (await kubectl(['create', 'token', sa, '-n', ns, '--audience', audience])).trim();
      const dispatcher = new Agent({ connect: { ca: tls.ca } });
      const watch = async (bearer: string) => {
        const res = await request(`${op.urls.main}/v1/snapshots/watch`, {
          dispatcher,
          headers: { authorization: `Bearer ${bearer}`, 'keybrake-proxy-id': 'test-proxy' },
        });
        if (res.statusCode !== 200) {
          await res.body.dump();
          return { status: res.statusCode, first: undefined };
        }
        const reader = res.body[Symbol.asyncIterator]();
        let text = '';
        while (!text.includes('\n')) text += String((await reader.next()).value);
        res.body.destroy();
        return { status: 200, first: JSON.parse(text.split('\n')[0]!) as { type: string; version: number } };
      };
      expect((await watch(await token('proxy', 'other'))).status).toBe(401);
      expect((await watch(await token('stranger', 'keybrake'))).status).toBe(403);
      const ok = await watch(await token('proxy', 'keybrake'));
      expect(ok.status).toBe(200);
      expect(ok.first).toMatchObject({ type: 'snapshot', version: expect.any(Number) });
      await dispatcher.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
