// The keybrake.dev/leader Pod label the operator Service selects on, against a real kube-apiserver:
// two real `keybrake operator` processes, each told its own Pod (one by flags, one by the downward-API
// env vars the chart sets). The Pods are stored, never run (no kubelet): only their labels matter.
import { randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { injectedControlPlane } from '../env/control-plane/inject.ts';
import { installCrds } from '../env/k8s-system.ts';
import { type KeybrakeProcess, startKeybrake } from '../env/keybrake.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const LABEL = 'keybrake.dev/leader';
const cp = injectedControlPlane();
const ns = `leader-label-${randomUUID().slice(0, 8)}`;
const running: KeybrakeProcess[] = [];

async function kubectl(args: string[], input?: string): Promise<string> {
  const r = await cp.kubectl(args, input === undefined ? {} : { input });
  expect(r.code, `kubectl ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

/** A Pod as the Deployment would create it; `leader` pre-sets the label (a restarted container's Pod). */
const pod = (name: string, leader?: string) => `
apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  labels: { app.kubernetes.io/component: operator${leader ? `, ${LABEL}: "${leader}"` : ''} }
spec:
  containers: [{ name: operator, image: ghcr.io/keybrake/keybrake:test }]
`;

/** Every Pod of the namespace → its leader label (undefined when absent). */
async function labels(): Promise<Record<string, string | undefined>> {
  const out = await kubectl(['get', 'pods', '-n', ns, '-o', 'json']);
  const pods = JSON.parse(out) as {
    items: { metadata: { name: string; labels?: Record<string, string> } }[];
  };
  return Object.fromEntries(pods.items.map((p) => [p.metadata.name, p.metadata.labels?.[LABEL]]));
}

/** Polls until the Pods' leader labels are exactly `expected` (the writes are asynchronous). */
function waitForLabels(expected: Record<string, string | undefined>): Promise<void> {
  return vi.waitFor(async () => expect(await labels()).toEqual(expected), { timeout: 15_000, interval: 100 });
}

async function startOperator(identity: string, podArgs: string[], env: NodeJS.ProcessEnv = {}) {
  const p = await startKeybrake(
    [
      'operator',
      '--kubeconfig',
      cp.kubeconfigPath,
      '--namespace',
      ns,
      '--insecure-http',
      '--proxy-service-account',
      `${ns}/keybrake-proxy`,
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
      '250ms',
      ...podArgs,
    ],
    { env },
  );
  running.push(p);
  return p;
}

beforeAll(async () => {
  await installCrds(kubectl, join(ROOT, 'crds'));
  await kubectl(['create', 'namespace', ns]);
  // Pod b says "true" from a previous life: its operator must reset it before anything else.
  await kubectl(['apply', '-n', ns, '-f', '-'], `${pod('operator-a')}---${pod('operator-b', 'true')}`);
});

afterAll(async () => {
  if (process.env.DEBUG_OPERATOR) for (const p of running) console.error(p.output());
  await Promise.all(running.map((p) => p.stop()));
  await cp.kubectl(['delete', 'namespace', ns, '--wait=false']);
});

describe('the keybrake.dev/leader label on the operator Pods', () => {
  let a: KeybrakeProcess;
  let b: KeybrakeProcess;

  it('is "true" on the leader\'s Pod (named by --pod-name / --pod-namespace)', async () => {
    a = await startOperator('op-a', ['--pod-name', 'operator-a', '--pod-namespace', ns]);
    await a.waitForLog((l) => l.msg === 'leading', 20_000);
    await waitForLabels({ 'operator-a': 'true', 'operator-b': 'true' });
  });

  it('is reset to "false" by a standby that starts on a Pod still labelled "true" (POD_NAME / POD_NAMESPACE)', async () => {
    b = await startOperator('op-b', [], { POD_NAME: 'operator-b', POD_NAMESPACE: ns });
    await b.waitForLog((l) => l.msg === 'standby', 10_000);
    await waitForLabels({ 'operator-a': 'true', 'operator-b': 'false' });
    const selected = await kubectl(['get', 'pods', '-n', ns, '-l', `${LABEL}=true`, '-o', 'name']);
    expect(selected.trim()).toBe('pod/operator-a');
  });

  it('moves to the new leader when the leader stops with SIGTERM, "false" on the old one', async () => {
    await a.stop();
    expect(a.output()).toContain('"msg":"leader label set"');
    await b.waitForLog((l) => l.msg === 'leading', 10_000);
    await waitForLabels({ 'operator-a': 'false', 'operator-b': 'true' });
  });

  it('is "false" once the last operator has stopped', async () => {
    await b.stop();
    await waitForLabels({ 'operator-a': 'false', 'operator-b': 'false' });
  });
});

describe('without a Pod name (local runs)', () => {
  it('labels nothing and says so at start-up', async () => {
    const c = await startOperator('op-c', ['--lease-name', 'keybrake-operator-local'], {
      POD_NAME: '',
      POD_NAMESPACE: '',
    });
    expect(c.output()).toContain('"pod":"none"');
    await c.waitForLog((l) => l.msg === 'leading', 20_000);
    await c.stop();
    expect(c.output()).not.toContain('leader label');
  });
});
