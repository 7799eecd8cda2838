// The Helm chart (charts/keybrake) offline: lint, render, and values.schema.json, with helm alone (the
// `chart` vitest project never waits for the kube-apiserver build). test/k8s/chart.test.ts installs
// the same value sets on a real API server.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { parseFlags } from '../../../src/cli/args.ts';
import { proxyServiceAccounts } from '../../../src/cli/flag-values.ts';
import { OPERATOR_FLAGS } from '../../../src/cli/operator.ts';
import { PROXY_FLAGS } from '../../../src/cli/proxy.ts';
import { fixedClock } from '../../../src/clock.ts';
import { MemoryCounterStore } from '../../../src/counters/memory-store.ts';
import { createSnapshotServer } from '../../../src/distribution/server.ts';
import { adminLimits, listenerLimits } from '../../../src/listener/limits.ts';
import { KEY_SPEND_METRICS, operatorMetrics } from '../../../src/operator/metrics.ts';
import { createAdminListener } from '../../../src/proxy/admin.ts';
import { SnapshotHolder } from '../../../src/snapshot/holder.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import { createProxyMetrics } from '../../../src/telemetry/metrics.ts';
import { injectedHelm } from '../../env/control-plane/helm.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const CHART = join(ROOT, 'charts/keybrake');
const NAMESPACE = 'keybrake-system';
const REDIS = 'redis.url=redis://redis:6379';
const MONITORING = [
  '--api-versions',
  'monitoring.coreos.com/v1/ServiceMonitor',
  '--api-versions',
  'monitoring.coreos.com/v1/PrometheusRule',
];

const helm = injectedHelm();

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  // Rendered manifests are checked structurally; `any` keeps the assertions readable.
  // biome-ignore lint/suspicious/noExplicitAny: arbitrary Kubernetes object bodies
  [field: string]: any;
}

/** `helm template` with `--set` values (and extra flags); fails the test with helm's output. */
async function render(sets: string[], extra: string[] = []): Promise<K8sObject[]> {
  const args = [
    'template',
    'keybrake',
    CHART,
    '--namespace',
    NAMESPACE,
    ...sets.flatMap((s) => ['--set', s]),
  ];
  const result = await helm([...args, ...extra]);
  expect(result.code, `helm ${args.join(' ')}:\n${result.stderr}`).toBe(0);
  return parseAllDocuments(result.stdout)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

/** `helm template` that must fail: resolves with helm's stderr. */
async function refused(sets: string[], extra: string[] = []): Promise<string> {
  const result = await helm([
    'template',
    'keybrake',
    CHART,
    '-n',
    NAMESPACE,
    ...sets.flatMap((s) => ['--set', s]),
    ...extra,
  ]);
  expect(result.code, `rendered although it should not:\n${result.stdout.slice(0, 500)}`).not.toBe(0);
  return result.stderr;
}

/**
 * The `helm install` commands of a Markdown file, as helm's arguments after `helm` (continuation
 * lines joined, a trailing comment dropped), the chart path made absolute.
 */
function helmInstalls(markdown: string): string[][] {
  const lines = markdown.replace(/\\\n\s*/g, ' ').split('\n');
  return lines
    .filter((line) => line.startsWith('helm install '))
    .map((line) =>
      line
        .replace(/\s+#.*$/, '')
        .trim()
        .split(/\s+/)
        .slice(1)
        .map((arg) => (arg === 'charts/keybrake' ? CHART : arg)),
    );
}

function find(objects: K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} in ${objects.map((o) => `${o.kind}/${o.metadata.name}`)}`);
  return found;
}

function container(deployment: K8sObject) {
  return deployment.spec.template.spec.containers[0] as {
    args: string[];
    env: { name: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[];
    ports: { name: string; containerPort: number }[];
    readinessProbe: { httpGet: { path: string; port: string } };
    lifecycle?: { preStop: Record<string, unknown> };
    volumeMounts: { name: string; mountPath: string }[];
  };
}

describe('helm lint', () => {
  it.each([
    ['an external Redis', [REDIS]],
    ['the try-it-out Redis', ['redis.deploy=true']],
    ['everything on', ['redis.deploy=true', 'networkPolicy.enabled=true', 'proxy.autoscaling.enabled=true']],
  ])('lints clean in strict mode with %s', async (_name, sets) => {
    const result = await helm(['lint', '--strict', CHART, ...sets.flatMap((s) => ['--set', s])]);
    expect(result.code, result.stdout + result.stderr).toBe(0);
  });
});

describe('values.schema.json', () => {
  const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8'));
  const values = parseYaml(readFileSync(join(CHART, 'values.yaml'), 'utf8'));

  /** The schema node for a path of property names, or undefined when the schema does not describe it. */
  const nodeAt = (path: string[]) => {
    // biome-ignore lint/suspicious/noExplicitAny: walking a JSON schema
    let node: any = schema;
    for (const key of path) {
      node =
        node?.properties?.[key] ??
        (typeof node?.additionalProperties === 'object' ? node.additionalProperties : undefined);
      if (!node) return undefined;
    }
    return node;
  };
  /** Every leaf and every object of values.yaml, as property paths. */
  const paths = (value: unknown, prefix: string[] = []): string[][] => {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return [prefix];
    const entries = Object.entries(value as Record<string, unknown>);
    return [prefix, ...entries.flatMap(([k, v]) => paths(v, [...prefix, k]))];
  };

  it('describes every value of values.yaml, with a type or an enum', () => {
    const all = paths(values).filter((p) => p.length > 0);
    expect(all.length).toBeGreaterThan(100);
    const undescribed = all.filter((p) => {
      const node = nodeAt(p);
      return !node || (node.type === undefined && node.enum === undefined && node.oneOf === undefined);
    });
    expect(undescribed.map((p) => p.join('.'))).toEqual([]);
  });

  it('refuses unknown keys in every object it describes field by field', () => {
    const open: string[] = [];
    // biome-ignore lint/suspicious/noExplicitAny: walking a JSON schema
    const walk = (node: any, path: string) => {
      if (node?.properties) {
        if (node.additionalProperties !== false) open.push(path || '(root)');
        for (const [k, v] of Object.entries(node.properties)) walk(v, `${path}.${k}`);
      }
    };
    walk(schema, '');
    expect(open).toEqual([]);
  });

  it('accepts the default values.yaml once Redis is named', async () => {
    await render([REDIS]);
  });

  it.each([
    ['a duration without a unit', ['maxStaleness=30'], "at '/maxStaleness'"],
    ['a misspelt unit', ['operator.retryPeriod=2sec'], "at '/operator/retryPeriod'"],
    ['a drain timeout without a unit', ['proxy.drainTimeout=25'], "at '/proxy/drainTimeout'"],
    ['a replica count that is no number', ['proxy.replicas=two'], "at '/proxy/replicas'"],
    ['a port out of range', ['proxy.port=70000'], "at '/proxy/port'"],
    ['a Redis URL of another scheme', ['redis.url=http://redis:6379'], "at '/redis/url'"],
    ['an upstream that is no URL', ['proxy.upstreams.stripe=api.stripe.com'], "at '/proxy/upstreams/stripe'"],
    [
      'an upstream for an unknown vendor',
      ['proxy.upstreams.paypal=https://api.paypal.com'],
      "'paypal' not allowed",
    ],
    ['an unknown Service type', ['service.type=Ingress'], "at '/service/type'"],
    ['an unknown readiness path', ['operator.readinessPath=/ready'], "at '/operator/readinessPath'"],
    ['an unknown pull policy', ['image.pullPolicy=Sometimes'], "at '/image/pullPolicy'"],
    [
      'a projected token shorter than Kubernetes allows',
      ['proxy.tokenExpirationSeconds=60'],
      "at '/proxy/tokenExpirationSeconds'",
    ],
    [
      'a scrape interval without a unit',
      ['metrics.serviceMonitor.interval=30'],
      "at '/metrics/serviceMonitor/interval'",
    ],
    [
      'a namespace that is no DNS label',
      ['operator.watchNamespaces={Agents_1}'],
      "at '/operator/watchNamespaces/0'",
    ],
    ['a misspelt top-level key', ['maxStalenes=30s'], "additional properties 'maxStalenes' not allowed"],
    ['a misspelt nested key', ['proxy.replica=2'], "additional properties 'replica' not allowed"],
    [
      'the old seconds-only value names',
      ['operator.leaseDurationSeconds=20'],
      "'leaseDurationSeconds' not allowed",
    ],
    [
      'a CPU target of zero',
      ['proxy.autoscaling.targetCPUUtilizationPercentage=0'],
      "at '/proxy/autoscaling/targetCPUUtilizationPercentage'",
    ],
    [
      'no vendor at all',
      [
        'proxy.vendors.stripe.enabled=false',
        'proxy.vendors.twilio.enabled=false',
        'proxy.vendors.resend.enabled=false',
      ],
      "at '/proxy/vendors'",
    ],
  ])('refuses %s, naming the value', async (_name, sets, message) => {
    expect(await refused(['redis.deploy=true', ...sets])).toContain(message);
  });

  it.each([
    ['redis.deploy with redis.url', ['redis.deploy=true', REDIS], "at '/redis/url'"],
    [
      'redis.deploy with redis.existingSecret',
      ['redis.deploy=true', 'redis.existingSecret=mine'],
      "at '/redis/existingSecret'",
    ],
    [
      'redis.url with redis.existingSecret',
      [REDIS, 'redis.existingSecret=mine'],
      "at '/redis/existingSecret'",
    ],
  ])('refuses %s (one source of counters)', async (_name, sets, message) => {
    expect(await refused(sets)).toContain(message);
  });

  it('keeps explaining the renamed lease values past the schema', async () => {
    expect(
      await refused(['redis.deploy=true', 'operator.leaseDurationSeconds=20'], ['--skip-schema-validation']),
    ).toContain('operator.leaseDurationSeconds was replaced by operator.leaseDuration');
  });
});

describe('checks across values (the template)', () => {
  // Fourth probe round: the default values failed with the schema's `at '/redis/url': minLength: got
  // 0, want 1` alone; the options were only in a schema comment helm never shows.
  it.each([
    ['three proxy replicas without Redis (the default)', [], 'proxy.replicas is 3', 'proxy.replicas=1'],
    ['two proxy replicas without Redis', ['proxy.replicas=2'], 'proxy.replicas is 2', 'proxy.replicas=1'],
    [
      'an autoscaler that may add a second replica without Redis',
      ['proxy.replicas=1', 'proxy.autoscaling.enabled=true'],
      'proxy.autoscaling.maxReplicas is 10',
      'proxy.autoscaling.maxReplicas=1',
    ],
  ])('refuses %s, saying what to set', async (_name, sets, count, single) => {
    const stderr = await refused(sets);
    expect(stderr).toContain(`redis.url is required when more than one proxy replica can run (${count})`);
    for (const option of [
      'redis.url=redis://<host>:6379',
      'redis.existingSecret=',
      'redis.deploy=true',
      single,
    ])
      expect(stderr).toContain(option);
    expect(stderr).not.toContain('minLength');
  });

  it.each([
    ['README.md', 2],
    ['docs/kubernetes.md', 3],
  ])('renders every `helm install` of %s as written', async (file, count) => {
    const commands = helmInstalls(readFileSync(join(ROOT, file), 'utf8'));
    expect(commands).toHaveLength(count);
    for (const args of commands) {
      const result = await helm(['template', ...args.slice(1)]);
      expect(result.code, `helm ${args.join(' ')}:\n${result.stderr}`).toBe(0);
    }
  });

  it('refuses an autoscaler whose minimum exceeds its maximum', async () => {
    expect(
      await refused([
        'redis.deploy=true',
        'proxy.autoscaling.enabled=true',
        'proxy.autoscaling.minReplicas=5',
        'proxy.autoscaling.maxReplicas=3',
      ]),
    ).toContain('proxy.autoscaling.minReplicas (5) must not exceed proxy.autoscaling.maxReplicas (3)');
  });

  it('refuses a drain that cannot finish within the grace period', async () => {
    expect(await refused(['redis.deploy=true', 'proxy.drainTimeout=40s'])).toContain(
      'proxy.preStopSleepSeconds (5) + proxy.drainTimeout (40s) must fit in proxy.terminationGracePeriodSeconds (30)',
    );
  });

  // Fourth probe round: each rendered with rc=0 and the second listener's EADDRINUSE crash-looped the Pod.
  it.each([
    [
      'the router on a vendor port',
      ['proxy.port=8081'],
      'proxy.port and proxy.vendors.stripe.port are both 8081',
    ],
    [
      'the admin port on the router port',
      ['proxy.adminPort=8080'],
      'proxy.port and proxy.adminPort are both 8080',
    ],
    [
      'two vendors on one port',
      ['proxy.vendors.stripe.port=8082'],
      'proxy.vendors.stripe.port and proxy.vendors.twilio.port are both 8082',
    ],
    [
      "the operator's snapshot port on its admin port",
      ['operator.port=9090'],
      'operator.port and operator.adminPort are both 9090',
    ],
  ])('refuses %s, naming both values', async (_name, sets, message) => {
    const stderr = await refused(['redis.deploy=true', ...sets]);
    expect(stderr).toContain(message);
    expect(stderr).toContain('EADDRINUSE');
  });

  it("renders a disabled vendor's port taken by another listener: it binds nothing", async () => {
    const objects = await render([
      'redis.deploy=true',
      'proxy.vendors.stripe.enabled=false',
      'proxy.port=8081',
    ]);
    const proxy = container(find(objects, 'Deployment', 'keybrake-proxy'));
    expect(proxy.ports.map((p) => p.containerPort).sort()).toEqual([8081, 8082, 8083, 9090]);
  });

  it.each([
    ['metrics.serviceMonitor.enabled', 'ServiceMonitor'],
    ['metrics.prometheusRule.enabled', 'PrometheusRule'],
  ])('refuses %s where the Prometheus Operator CRDs are missing, saying so', async (value, kind) => {
    const message = await refused(['redis.deploy=true', `${value}=true`]);
    expect(message).toContain(
      `${value} needs the Prometheus Operator's CRDs (monitoring.coreos.com/v1 ${kind})`,
    );
  });
});

describe('rendering', () => {
  it('renders one proxy replica without Redis (memory counters) and no proxy PDB', async () => {
    const objects = await render(['proxy.replicas=1']);
    const proxy = find(objects, 'Deployment', 'keybrake-proxy');
    expect(proxy.spec.replicas).toBe(1);
    expect(container(proxy).env.map((e) => e.name)).not.toContain('KEYBRAKE_REDIS');
    expect(
      objects.some((o) => o.kind === 'PodDisruptionBudget' && o.metadata.name === 'keybrake-proxy'),
    ).toBe(false);
  });

  it("gives the proxy, and only the proxy, the chart's NODE_OPTIONS (none when emptied)", async () => {
    const nodeOptions = (objects: K8sObject[], name: string) =>
      container(find(objects, 'Deployment', name)).env.filter((e) => e.name === 'NODE_OPTIONS');
    const byDefault = await render([REDIS]);
    expect(nodeOptions(byDefault, 'keybrake-proxy')).toEqual([
      { name: 'NODE_OPTIONS', value: '--max-semi-space-size=16' },
    ]);
    expect(nodeOptions(byDefault, 'keybrake-operator')).toEqual([]);
    expect(nodeOptions(await render([REDIS, 'proxy.nodeOptions=']), 'keybrake-proxy')).toEqual([]);
    expect(
      nodeOptions(
        await render([REDIS, 'proxy.nodeOptions=--max-semi-space-size=8 --max-old-space-size=384']),
        'keybrake-proxy',
      ),
    ).toEqual([{ name: 'NODE_OPTIONS', value: '--max-semi-space-size=8 --max-old-space-size=384' }]);
    // Flags only, each --name or --name=value: a forgotten dash fails the install, not the pod's start.
    expect(await refused([REDIS, 'proxy.nodeOptions=max-semi-space-size=16'])).toContain('nodeOptions');
  });

  it("names the release in its namespace claims by the operator's name, whatever operator.leaseName says", async () => {
    // Twelfth round: the claims' holder was <namespace>/<leaseName>, so a helm upgrade of leaseName
    // made the release take its own claims for another release's (every key key_unknown ~45 s).
    for (const sets of [[REDIS], [REDIS, 'operator.leaseName=keybrake-renamed']]) {
      const args = container(find(await render(sets), 'Deployment', 'keybrake-operator')).args;
      expect(args).toContain('--claim-holder=$(POD_NAMESPACE)/keybrake-operator');
      expect(args).toContain(`--lease-name=${sets.length > 1 ? 'keybrake-renamed' : 'keybrake-operator'}`);
    }
  });

  it('renders the operator with TLS, leader election in the release namespace and probes on the admin port', async () => {
    const objects = await render([REDIS]);
    const operator = find(objects, 'Deployment', 'keybrake-operator');
    expect(operator.spec.replicas).toBe(2);
    const c = container(operator);
    expect(c.args[0]).toBe('operator');
    expect(c.args).toEqual(
      expect.arrayContaining([
        '--tls-cert=/etc/keybrake/tls/tls.crt',
        '--tls-key=/etc/keybrake/tls/tls.key',
        '--lease-namespace=$(POD_NAMESPACE)',
        '--identity=$(POD_NAME)',
        '--pod-name=$(POD_NAME)',
        '--pod-namespace=$(POD_NAMESPACE)',
        '--listen=0.0.0.0:8443',
        `--proxy-service-account=${NAMESPACE}/keybrake-proxy`,
        '--token-audience=keybrake',
      ]),
    );
    // The operator refuses to start without the proxies' ServiceAccount, or with one it cannot read.
    const { values } = parseFlags(c.args.slice(1), OPERATOR_FLAGS, {});
    expect(proxyServiceAccounts(values['proxy-service-account'] as string[])).toEqual([
      `${NAMESPACE}/keybrake-proxy`,
    ]);
    expect(c.env).toEqual(
      expect.arrayContaining([
        { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      ]),
    );
    // Bare /readyz means "is the leader": as the readiness probe it would stall rollouts. The probe
    // asks /readyz?standby=ok: a healthy standby is ready, a missing Lease namespace is not.
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz?standby=ok', port: 'admin' });
    expect(c.ports).toEqual(expect.arrayContaining([{ name: 'admin', containerPort: 9090 }]));
    expect(operator.spec.template.spec.volumes).toEqual(
      expect.arrayContaining([{ name: 'tls', secret: { secretName: 'keybrake-operator-tls' } }]),
    );
  });

  it('renders proxies that follow the operator with an audience-bound projected token', async () => {
    const objects = await render([
      REDIS,
      'maxStaleness=45s',
      'proxy.upstreams.stripe=https://stripe.internal',
    ]);
    const proxy = find(objects, 'Deployment', 'keybrake-proxy');
    expect(proxy.spec.replicas).toBe(3);
    const spec = proxy.spec.template.spec;
    expect(spec.automountServiceAccountToken).toBe(false);
    expect(spec.serviceAccountName).toBe('keybrake-proxy');
    const c = container(proxy);
    expect(c.args).toEqual(
      expect.arrayContaining([
        'proxy',
        `--operator=https://keybrake-operator.${NAMESPACE}.svc:8443`,
        '--operator-ca=/etc/keybrake/ca/ca.crt',
        '--token-file=/var/run/secrets/keybrake/token',
        '--vendor-port=stripe=0.0.0.0:8081',
        '--vendor-port=twilio=0.0.0.0:8082',
        '--vendor-port=resend=0.0.0.0:8083',
        '--upstream=stripe=https://stripe.internal',
        '--max-staleness=45s',
      ]),
    );
    expect(c.args.join(' ')).not.toContain('redis://');
    expect(c.env).toContainEqual({
      name: 'KEYBRAKE_REDIS',
      valueFrom: { secretKeyRef: { name: 'keybrake-redis', key: 'url' } },
    });
    const token = spec.volumes.find((v: { name: string }) => v.name === 'operator-token');
    expect(token.projected.sources).toEqual([
      { serviceAccountToken: { audience: 'keybrake', expirationSeconds: 3600, path: 'token' } },
    ]);
    const ca = spec.volumes.find((v: { name: string }) => v.name === 'operator-ca');
    expect(ca.secret.items).toEqual([{ key: 'ca.crt', path: 'ca.crt' }]);
    // Readiness is the snapshot's freshness: Redis is not part of it (it would drain every replica).
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'admin' });
  });

  it("matches the pod's shutdown to the proxy's drain: preStop sleep, --drain-timeout, grace period", async () => {
    const objects = await render([REDIS, 'proxy.drainTimeout=20s', 'proxy.preStopSleepSeconds=3']);
    const proxy = find(objects, 'Deployment', 'keybrake-proxy');
    const c = container(proxy);
    expect(c.args).toContain('--drain-timeout=20s');
    expect(c.lifecycle?.preStop).toEqual({ sleep: { seconds: 3 } });
    expect(proxy.spec.template.spec.terminationGracePeriodSeconds).toBe(30);
  });

  it('uses an exec sleep where the kubelet has no sleep action (Kubernetes before 1.30)', async () => {
    const objects = await render([REDIS], ['--kube-version', '1.29.0']);
    expect(container(find(objects, 'Deployment', 'keybrake-proxy')).lifecycle?.preStop).toEqual({
      exec: { command: ['sleep', '5'] },
    });
  });

  it('passes every duration with its unit (the CLI reads a bare number as milliseconds)', async () => {
    const objects = await render([REDIS]);
    expect(container(find(objects, 'Deployment', 'keybrake-operator')).args).toEqual(
      expect.arrayContaining([
        '--lease-duration=15s',
        '--renew-deadline=10s',
        '--retry-period=2s',
        // A namespace claim passes to another release only once this one's proxies are stale.
        '--proxy-max-staleness=30s',
      ]),
    );
    expect(container(find(objects, 'Deployment', 'keybrake-proxy')).args).toEqual(
      expect.arrayContaining(['--max-staleness=30s', '--drain-timeout=25s']),
    );
  });

  it('renders a Service per vendor on its own port, the prefix router, the operator and PDBs for both', async () => {
    const objects = await render([REDIS]);
    const port = (name: string) =>
      find(objects, 'Service', name).spec.ports.map((p: { name: string; port: number }) => [p.name, p.port]);
    expect(port('keybrake-stripe')).toEqual([['stripe', 8081]]);
    expect(port('keybrake-twilio')).toEqual([['twilio', 8082]]);
    expect(port('keybrake-resend')).toEqual([['resend', 8083]]);
    expect(port('keybrake-proxy')).toEqual([
      ['http', 8080],
      ['metrics', 9090],
    ]);
    expect(port('keybrake-operator')).toEqual([
      ['snapshots', 8443],
      ['metrics', 9090],
    ]);
    expect(find(objects, 'Service', 'keybrake-operator').spec.selector).toEqual({
      'app.kubernetes.io/name': 'keybrake',
      'app.kubernetes.io/instance': 'keybrake',
      'app.kubernetes.io/component': 'operator',
      'keybrake.dev/leader': 'true',
    });
    expect(find(objects, 'Service', 'keybrake-proxy').spec.selector).not.toHaveProperty(
      'keybrake.dev/leader',
    );
    // Every operator's metrics, the standby's too: a headless Service without the leader selector.
    const metrics = find(objects, 'Service', 'keybrake-operator-metrics');
    expect(metrics.spec.clusterIP).toBe('None');
    expect(metrics.spec.selector).not.toHaveProperty('keybrake.dev/leader');
    expect(find(objects, 'PodDisruptionBudget', 'keybrake-proxy').spec.maxUnavailable).toBe(1);
    expect(find(objects, 'PodDisruptionBudget', 'keybrake-operator').spec).toMatchObject({
      maxUnavailable: 1,
      selector: { matchLabels: { 'app.kubernetes.io/component': 'operator' } },
    });
    expect(objects.some((o) => o.kind === 'NetworkPolicy')).toBe(false);
    expect(objects.some((o) => o.kind === 'HorizontalPodAutoscaler')).toBe(false);
  });

  it('scales the proxies with a CPU HorizontalPodAutoscaler that owns the replica count', async () => {
    const objects = await render([
      REDIS,
      'proxy.autoscaling.enabled=true',
      'proxy.autoscaling.minReplicas=2',
      'proxy.autoscaling.maxReplicas=12',
      'proxy.autoscaling.targetCPUUtilizationPercentage=60',
    ]);
    const hpa = find(objects, 'HorizontalPodAutoscaler', 'keybrake-proxy');
    expect(hpa.spec).toEqual({
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'keybrake-proxy' },
      minReplicas: 2,
      maxReplicas: 12,
      metrics: [
        {
          type: 'Resource',
          resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 60 } },
        },
      ],
    });
    expect(find(objects, 'Deployment', 'keybrake-proxy').spec).not.toHaveProperty('replicas');
    expect(find(objects, 'PodDisruptionBudget', 'keybrake-proxy')).toBeDefined();
  });

  it('runs a try-it-out Redis with redis.deploy, and hands its URL to both components through a Secret', async () => {
    const objects = await render(['redis.deploy=true']);
    const redis = find(objects, 'Deployment', 'keybrake-redis');
    expect(redis.metadata).toMatchObject({
      annotations: { 'keybrake.dev/not-for-production': expect.stringContaining('redis.url in production') },
    });
    expect(redis.spec.replicas).toBe(1);
    expect(redis.spec.template.spec.containers[0].args).toEqual([
      '/etc/redis/redis.conf',
      '--save',
      '',
      '--appendonly',
      'no',
      '--maxmemory-policy',
      'noeviction',
    ]);
    expect(find(objects, 'Service', 'keybrake-redis').spec.ports).toEqual([
      { name: 'redis', port: 6379, targetPort: 'redis', appProtocol: 'redis' },
    ]);
    // A password of its own (found by an audit: without one any pod could FLUSHALL every cap away),
    // read by redis-server from a mounted file and by its probe from the environment, never an arg.
    const secret = find(objects, 'Secret', 'keybrake-redis').stringData;
    expect(secret.password).toMatch(/^[A-Za-z0-9]{40}$/);
    expect(secret).toEqual({
      url: `redis://:${secret.password}@keybrake-redis.${NAMESPACE}.svc:6379`,
      password: secret.password,
      'redis.conf': `requirepass ${secret.password}\n`,
    });
    const pod = redis.spec.template.spec;
    expect(JSON.stringify(pod.containers[0].args)).not.toContain(secret.password);
    expect(pod.containers[0].env).toContainEqual({
      name: 'REDISCLI_AUTH',
      valueFrom: { secretKeyRef: { name: 'keybrake-redis', key: 'password' } },
    });
    expect(pod.volumes).toContainEqual({
      name: 'config',
      secret: { secretName: 'keybrake-redis', items: [{ key: 'redis.conf', path: 'redis.conf' }] },
    });
    for (const name of ['keybrake-proxy', 'keybrake-operator'])
      expect(container(find(objects, 'Deployment', name)).env).toContainEqual({
        name: 'KEYBRAKE_REDIS',
        valueFrom: { secretKeyRef: { name: 'keybrake-redis', key: 'url' } },
      });
  });

  it('rolls every operator and proxy pod when the Redis URL changes, and only then (each reads it once, at start)', async () => {
    const checksums = async (sets: string[]) => {
      const objects = await render(sets);
      return ['keybrake-operator', 'keybrake-proxy'].map(
        (name) => find(objects, 'Deployment', name).spec.template.metadata.annotations?.['checksum/redis'],
      );
    };
    const old = await checksums(['redis.url=redis://:s3cretPW@redis.db.svc:6379']);
    expect(old[0]).toMatch(/^[0-9a-f]{64}$/);
    expect(old[1]).toBe(old[0]);
    // The tester's upgrade: pods started later would count in another Redis than the running ones.
    const moved = await checksums(['redis.url=redis://:NEWpw@redis2.db.svc:6379']);
    expect(moved[0]).not.toBe(old[0]);
    expect(moved[1]).toBe(moved[0]);
    expect(await checksums(['redis.url=redis://:s3cretPW@redis.db.svc:6379'])).toEqual(old);
    // redis.deploy's password is new on every `helm template` render (no lookup): no roll for it.
    const deployed = await checksums(['redis.deploy=true']);
    expect(await checksums(['redis.deploy=true'])).toEqual(deployed);
    expect(deployed[0]).not.toBe(old[0]);
    // Another existing Secret or key rolls; a change inside it is the user's to roll (documented).
    const existing = await checksums(['redis.existingSecret=redis-url']);
    expect(await checksums(['redis.existingSecret=redis-url-2'])).not.toEqual(existing);
    expect(await checksums(['redis.existingSecret=redis-url', 'redis.existingSecretKey=other'])).not.toEqual(
      existing,
    );
  });

  it('uses an existing Secret for the Redis URL and creates none', async () => {
    const objects = await render(['redis.existingSecret=redis-url', 'redis.existingSecretKey=connection']);
    expect(objects.some((o) => o.kind === 'Secret' && o.metadata.name === 'keybrake-redis')).toBe(false);
    expect(container(find(objects, 'Deployment', 'keybrake-proxy')).env).toContainEqual({
      name: 'KEYBRAKE_REDIS',
      valueFrom: { secretKeyRef: { name: 'redis-url', key: 'connection' } },
    });
  });

  it('restricts the operator snapshot port to proxy pods, and proxy egress to DNS, the operator, Redis and the vendors', async () => {
    const objects = await render(['redis.deploy=true', 'networkPolicy.enabled=true']);
    const ingress = find(objects, 'NetworkPolicy', 'keybrake-operator');
    const snapshots = ingress.spec.ingress.find(
      (r: { ports: { port: string }[] }) => r.ports[0]?.port === 'snapshots',
    );
    expect(snapshots.from).toEqual([
      {
        podSelector: {
          matchLabels: {
            'app.kubernetes.io/name': 'keybrake',
            'app.kubernetes.io/instance': 'keybrake',
            'app.kubernetes.io/component': 'proxy',
          },
        },
      },
    ]);
    const egress = find(objects, 'NetworkPolicy', 'keybrake-proxy');
    expect(egress.spec.policyTypes).toEqual(['Egress']);
    expect(egress.spec.podSelector.matchLabels['app.kubernetes.io/component']).toBe('proxy');
    const rules = egress.spec.egress as { to: Record<string, unknown>[]; ports: { port: number }[] }[];
    const portsOf = (i: number) => rules[i]!.ports.map((p) => p.port);
    expect(rules).toHaveLength(4);
    expect(rules[0]!.to).toEqual([
      { namespaceSelector: {}, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } },
    ]);
    expect(portsOf(0)).toEqual([53, 53]);
    expect(rules[1]!.to).toEqual([
      {
        podSelector: { matchLabels: expect.objectContaining({ 'app.kubernetes.io/component': 'operator' }) },
      },
    ]);
    expect(portsOf(1)).toEqual([8443]);
    expect(rules[2]!.to).toEqual([
      { podSelector: { matchLabels: expect.objectContaining({ 'app.kubernetes.io/component': 'redis' }) } },
    ]);
    expect(portsOf(2)).toEqual([6379]);
    expect(rules[3]!.to[0]).toMatchObject({
      ipBlock: { cidr: '0.0.0.0/0', except: expect.arrayContaining(['10.0.0.0/8']) },
    });
    expect(portsOf(3)).toEqual([443]);
  });

  // Found by an audit of the rendered chart: nothing restricted who reached the proxies' metrics
  // (every key's name and spend) or the try-it-out Redis (every counter).
  it('lets anyone reach the proxies vendor listeners, only scrapers their admin port, and only Keybrake Redis', async () => {
    const objects = await render([
      'redis.deploy=true',
      'networkPolicy.enabled=true',
      'proxy.vendors.twilio.enabled=false',
      'networkPolicy.metricsNamespaceSelector.matchLabels.team=monitoring',
    ]);
    const proxy = find(objects, 'NetworkPolicy', 'keybrake-proxy-ingress');
    expect(proxy.spec.policyTypes).toEqual(['Ingress']);
    expect(proxy.spec.ingress).toEqual([
      {
        ports: [
          { port: 'http', protocol: 'TCP' },
          { port: 'resend', protocol: 'TCP' },
          { port: 'stripe', protocol: 'TCP' },
        ],
      },
      {
        from: [{ namespaceSelector: { matchLabels: { team: 'monitoring' } } }],
        ports: [{ port: 'admin', protocol: 'TCP' }],
      },
    ]);
    const redis = find(objects, 'NetworkPolicy', 'keybrake-redis');
    expect(redis.spec.podSelector.matchLabels['app.kubernetes.io/component']).toBe('redis');
    expect(
      redis.spec.ingress[0].from.map(
        (f: { podSelector: { matchLabels: Record<string, string> } }) =>
          f.podSelector.matchLabels['app.kubernetes.io/component'],
      ),
    ).toEqual(['proxy', 'operator']);
    expect(redis.spec.ingress[0].ports).toEqual([{ port: 6379, protocol: 'TCP' }]);
  });

  it('refuses to restrict proxy egress without saying where an external Redis lives', async () => {
    expect(await refused([REDIS, 'networkPolicy.enabled=true'])).toContain(
      "at '/networkPolicy/proxyEgress/redis'",
    );
  });

  it('lets the proxies reach an external Redis named in networkPolicy.proxyEgress.redis', async () => {
    const objects = await render([
      REDIS,
      'networkPolicy.enabled=true',
      'networkPolicy.proxyEgress.redis[0].ipBlock.cidr=10.20.0.5/32',
    ]);
    const rules = find(objects, 'NetworkPolicy', 'keybrake-proxy').spec.egress;
    expect(rules).toContainEqual({
      to: [{ ipBlock: { cidr: '10.20.0.5/32' } }],
      ports: [{ port: 6379, protocol: 'TCP' }],
    });
  });

  it('grants Secret access per namespace instead of cluster-wide when operator.watchNamespaces is set', async () => {
    const objects = await render([REDIS, 'operator.watchNamespaces={agents,billing}']);
    const clusterRole = find(objects, 'ClusterRole', 'keybrake-operator');
    expect(clusterRole.rules.flatMap((r: { resources: string[] }) => r.resources)).toEqual(['tokenreviews']);
    const roles = objects.filter((o) => o.kind === 'Role' && o.metadata.name === 'keybrake-operator');
    expect(roles.map((r) => r.metadata.namespace)).toEqual(['agents', 'billing']);
    expect(roles[0]?.rules.flatMap((r: { resources: string[] }) => r.resources)).toContain('secrets');
    // Each namespace's claim (one release serves its keys): create, and get/update of that one Lease.
    expect(roles[0]?.rules).toEqual(
      expect.arrayContaining([
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
        {
          apiGroups: ['coordination.k8s.io'],
          resources: ['leases'],
          resourceNames: ['keybrake-claim'],
          verbs: ['get', 'update'],
        },
      ]),
    );
    expect(container(find(objects, 'Deployment', 'keybrake-operator')).args).toEqual(
      expect.arrayContaining(['--namespace=agents', '--namespace=billing']),
    );
  });

  it("lets the operator keep its revocation ledger in the release namespace, and elsewhere only each namespace's own", async () => {
    const objects = await render([REDIS]);
    const role = find(objects, 'Role', 'keybrake-operator-leader-election');
    expect(role.metadata.namespace).toBe(NAMESPACE);
    expect(role.rules).toContainEqual({
      apiGroups: [''],
      resources: ['configmaps'],
      verbs: ['get', 'create', 'update'],
    });
    // Tenant namespaces (tenth round): create, and get/update of the namespace's own ledger by name;
    // no list, watch or delete, and no other ConfigMap.
    const clusterRole = find(objects, 'ClusterRole', 'keybrake-operator');
    const configMapRules = clusterRole.rules.filter((r: { resources: string[] }) =>
      r.resources.includes('configmaps'),
    );
    expect(configMapRules).toEqual([
      { apiGroups: [''], resources: ['configmaps'], verbs: ['create'] },
      {
        apiGroups: [''],
        resources: ['configmaps'],
        resourceNames: [
          'keybrake-revocations',
          ...Array.from({ length: 15 }, (_, i) => `keybrake-revocations-${i + 2}`),
        ],
        verbs: ['get', 'update'],
      },
    ]);
  });

  it.each([
    ['operator', OPERATOR_FLAGS],
    ['proxy', PROXY_FLAGS],
  ] as const)(
    'renders %s arguments the real CLI accepts (flag names cannot drift)',
    async (component, flags) => {
      const objects = await render([
        REDIS,
        'proxy.upstreams.stripe=https://stripe.internal',
        'operator.watchNamespaces={a}',
      ]);
      const [command, ...argv] = container(find(objects, 'Deployment', `keybrake-${component}`)).args;
      expect(command).toBe(component);
      expect(() => parseFlags(argv, flags, {})).not.toThrow();
    },
  );

  it('leaves a vendor out when it is disabled', async () => {
    const objects = await render([REDIS, 'proxy.vendors.twilio.enabled=false']);
    expect(objects.some((o) => o.metadata.name === 'keybrake-twilio')).toBe(false);
    expect(container(find(objects, 'Deployment', 'keybrake-proxy')).args.join(' ')).not.toContain('twilio=');
  });
});

/** Every metric name Keybrake exports, read from the registries the proxy and the operator build. */
async function exportedMetricNames(): Promise<Set<string>> {
  const proxy = createProxyMetrics({ snapshotAgeSeconds: () => 1 });
  const admin = createAdminListener({
    limits: adminLimits(listenerLimits({ upstreamTimeoutMs: 30_000 })),
    log: silentLogger(),
    metrics: proxy,
    snapshots: new SnapshotHolder(fixedClock(0)),
    counters: new MemoryCounterStore({ clock: fixedClock(0) }),
  });
  const operator = new Registry();
  operatorMetrics(operator);
  const server = createSnapshotServer({
    authenticate: async () => ({ ok: false, status: 401, reason: 'test' }) as never,
    isLeader: () => false,
    log: silentLogger(),
    registry: operator,
  });
  void server;
  await admin.close();
  // The per-key series are rendered apart from the operator's registry (renderKeySpend).
  const names = new Set<string>(KEY_SPEND_METRICS.map((m) => m.name));
  for (const registry of [proxy.registry, operator])
    for (const m of await registry.getMetricsAsJSON()) {
      names.add(m.name);
      if (m.type === ('histogram' as never))
        for (const s of ['_bucket', '_sum', '_count']) names.add(m.name + s);
    }
  return names;
}

const metricNamesIn = (text: string) => new Set([...text.matchAll(/\bkeybrake_[a-z_]+\b/g)].map((m) => m[0]));

describe('monitoring (ServiceMonitor, PrometheusRule, Grafana dashboard)', () => {
  const sets = [
    'redis.deploy=true',
    'metrics.serviceMonitor.enabled=true',
    'metrics.prometheusRule.enabled=true',
    'metrics.grafanaDashboard.enabled=true',
    'metrics.serviceMonitor.labels.release=prom',
  ];

  it('scrapes the proxies and every operator through their metrics ports, with their own namespace label kept', async () => {
    const objects = await render(sets, MONITORING);
    const monitor = find(objects, 'ServiceMonitor', 'keybrake');
    expect(monitor.metadata.labels).toMatchObject({ release: 'prom' });
    expect(monitor.spec.endpoints).toEqual([
      { port: 'metrics', path: '/metrics', interval: '30s', scrapeTimeout: '10s', honorLabels: true },
    ]);
    const selected = objects.filter(
      (o) =>
        o.kind === 'Service' &&
        Object.entries(monitor.spec.selector.matchLabels).every(([k, v]) => o.metadata.labels?.[k] === v),
    );
    expect(selected.map((s) => s.metadata.name).sort()).toEqual([
      'keybrake-operator-metrics',
      'keybrake-proxy',
    ]);
    for (const s of selected) expect(s.spec.ports.map((p: { name: string }) => p.name)).toContain('metrics');
  });

  it('alerts on the counter store, stale snapshots, slow revocations, denial spikes and caps, using only metrics Keybrake exports', async () => {
    const objects = await render(sets, MONITORING);
    const rule = find(objects, 'PrometheusRule', 'keybrake');
    const rules = rule.spec.groups[0].rules as { alert: string; expr: string }[];
    expect(rules.map((r) => r.alert)).toEqual([
      'KeybrakeCounterStoreDown',
      'KeybrakeCounterStoreErrors',
      'KeybrakeSnapshotStale',
      'KeybrakeNoOperatorLeader',
      'KeybrakeRevokePropagationSlow',
      'KeybrakeDenialSpike',
      'KeybrakeDailyCapReached',
      'KeybrakeCapDenials',
    ]);
    const exported = await exportedMetricNames();
    const used = metricNamesIn(rules.map((r) => r.expr).join('\n'));
    expect([...used].filter((n) => !exported.has(n))).toEqual([]);
    // Half of maxStaleness (30s): warned before proxies start answering policy_stale.
    expect(rules.find((r) => r.alert === 'KeybrakeSnapshotStale')!.expr).toContain('> 15');
  });

  it('ships a dashboard of calls and denials by reason, spend against caps, latency, snapshot age and propagation', async () => {
    const objects = await render(sets, MONITORING);
    const map = find(objects, 'ConfigMap', 'keybrake-dashboard');
    expect(map.metadata.labels).toMatchObject({ grafana_dashboard: '1' });
    const dashboard = JSON.parse(map.data['keybrake.json']) as {
      uid: string;
      panels: { type: string; title: string; targets?: { expr: string }[] }[];
    };
    expect(dashboard.uid).toBe('keybrake');
    const titles = dashboard.panels.filter((p) => p.type !== 'row').map((p) => p.title);
    for (const t of [
      'Denials by reason',
      'Spent today against the daily cap',
      'Added latency (Keybrake overhead)',
      'Snapshot age per proxy',
    ])
      expect(titles).toContain(t);
    const exprs = dashboard.panels.flatMap((p) => p.targets ?? []).map((t) => t.expr);
    const used = metricNamesIn(exprs.join('\n'));
    const exported = await exportedMetricNames();
    expect([...used].filter((n) => !exported.has(n))).toEqual([]);
    for (const contract of [
      'keybrake_calls_total',
      'keybrake_spend_usd_total',
      'keybrake_overhead_seconds_bucket',
      'keybrake_snapshot_age_seconds',
      'keybrake_revoke_propagation_seconds_bucket',
    ])
      expect(used).toContain(contract);
  });
});
