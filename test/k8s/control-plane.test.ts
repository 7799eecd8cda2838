// Smoke test of the shared test control plane (test/env/control-plane): real etcd + kube-apiserver,
// driven with the same kubectl, helm and @kubernetes/client-node the product and its tests use.
import { randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import {
  AuthenticationV1Api,
  CustomObjectsApi,
  KubeConfig,
  type KubernetesObject,
  type V1TokenReviewStatus,
  Watch,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { injectedControlPlane } from '../env/control-plane/inject.ts';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
const GROUP = 'smoke.keybrake.dev';

const cp = injectedControlPlane();
const kc = new KubeConfig();
kc.loadFromFile(cp.kubeconfigPath);
const namespace = `smoke-${randomUUID().slice(0, 8)}`;

async function kubectl(...args: string[]): Promise<string> {
  const result = await cp.kubectl(args);
  expect(result.code, `kubectl ${args.join(' ')}: ${result.stderr}`).toBe(0);
  return result.stdout;
}

beforeAll(async () => {
  await kubectl('create', 'namespace', namespace);
});

afterAll(async () => {
  // Without a controller-manager the namespace stays Terminating; do not wait for it.
  await cp.kubectl(['delete', 'namespace', namespace, '--wait=false']);
});

describe('test control plane', () => {
  it('serves a CRD and delivers watch events for its objects', async () => {
    await kubectl('apply', '-f', join(FIXTURES, 'smoke-crd.yaml'));
    await kubectl('wait', '--for', 'condition=established', '--timeout=60s', `crd/widgets.${GROUP}`);

    const name = `w-${randomUUID().slice(0, 8)}`;
    // Connected before the create, so the ADDED event must arrive through this watch.
    const { event, abort } = await watchFor(
      `/apis/${GROUP}/v1/namespaces/${namespace}/widgets`,
      'ADDED',
      name,
    );
    try {
      await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
        group: GROUP,
        version: 'v1',
        namespace,
        plural: 'widgets',
        body: { apiVersion: `${GROUP}/v1`, kind: 'Widget', metadata: { name }, spec: { size: 3 } },
      });
      const object = (await event) as KubernetesObject & { spec?: { size?: number } };
      expect(object.metadata?.name).toBe(name);
      expect(object.spec?.size).toBe(3);
    } finally {
      abort();
    }
  });

  it('issues service-account tokens that TokenReview accepts only for their audience', async () => {
    await kubectl('create', 'serviceaccount', 'agent', '-n', namespace);
    const token = (
      await kubectl('create', 'token', 'agent', '-n', namespace, '--audience', 'keybrake')
    ).trim();
    const accepted = await reviewToken(token, 'keybrake');
    expect(accepted.authenticated).toBe(true);
    expect(accepted.user?.username).toBe(`system:serviceaccount:${namespace}:agent`);
    expect(accepted.audiences).toEqual(['keybrake']);

    const otherToken = (
      await kubectl('create', 'token', 'agent', '-n', namespace, '--audience', 'other')
    ).trim();
    const rejected = await reviewToken(otherToken, 'keybrake');
    expect(rejected.authenticated ?? false).toBe(false);
  });

  it('runs helm against the cluster', async () => {
    const version = await cp.helm(['version', '--short']);
    expect(version.code, version.stderr).toBe(0);
    expect(version.stdout).toMatch(/^v3\.22\.0/);

    const chart = join(FIXTURES, 'smoke-chart');
    const lint = await cp.helm(['lint', chart]);
    expect(lint.code, lint.stdout + lint.stderr).toBe(0);
    // Client-side render: the default KubeVersion proves build.sh stamped helm with our Kubernetes minor.
    const rendered = await cp.helm(['template', 'demo', chart, '--namespace', namespace]);
    expect(rendered.code, rendered.stderr).toBe(0);
    expect(rendered.stdout).toContain('name: "demo-smoke"');
    expect(rendered.stdout).toContain('kubeVersion: "v1.35.0"');

    const install = await cp.helm(['install', 'demo', chart, '--namespace', namespace]);
    expect(install.code, install.stderr).toBe(0);
    const greeting = await kubectl(
      'get',
      'configmap',
      'demo-smoke',
      '-n',
      namespace,
      '-o',
      'jsonpath={.data.greeting}',
    );
    expect(greeting).toBe('hello');
  });
});

async function reviewToken(token: string, audience: string): Promise<V1TokenReviewStatus> {
  const review = await kc.makeApiClient(AuthenticationV1Api).createTokenReview({
    body: {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      spec: { token, audiences: [audience] },
    },
  });
  return review.status ?? {};
}

interface PendingEvent {
  /** Resolves with the first object named `name` that arrives with event type `phase`. */
  event: Promise<KubernetesObject>;
  abort(): void;
}

/** Opens a watch (resolves once connected) and returns a promise for the first matching event. */
async function watchFor(path: string, phase: string, name: string): Promise<PendingEvent> {
  const { promise: event, resolve, reject } = Promise.withResolvers<KubernetesObject>();
  const deadline = Date.now() + 30_000;
  for (;;) {
    let connected = false;
    let connectFailure: { error: unknown } | undefined;
    const controller = await new Watch(kc).watch(
      path,
      {},
      (type, object: KubernetesObject) => {
        if (type === phase && object.metadata?.name === name) resolve(object);
      },
      (error) => {
        if (!connected) connectFailure = { error };
        else reject(error ?? new Error(`watch closed before the ${phase} event for ${name}`));
      },
    );
    if (!connectFailure) {
      connected = true;
      const timer = setTimeout(() => reject(new Error(`no ${phase} event for ${name} within 30 s`)), 30_000);
      event.finally(() => clearTimeout(timer)).catch(() => {});
      return { event, abort: () => controller.abort() };
    }
    // A new CRD's watch cache starts a moment after it is Established; until then watches get 429.
    if (statusCode(connectFailure.error) !== 429 || Date.now() > deadline) throw connectFailure.error;
    await delay(100);
  }
}

function statusCode(error: unknown): number | undefined {
  return typeof error === 'object' &&
    error !== null &&
    'statusCode' in error &&
    typeof error.statusCode === 'number'
    ? error.statusCode
    : undefined;
}
