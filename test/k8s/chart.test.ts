// The Helm chart (charts/keybrake) against the real test control plane: `helm install` as the README
// says it (the try-it-out Redis), the CRDs it carries, the RBAC it grants, upgrade and uninstall, the
// value sets a real installation uses (HA, external Redis, Prometheus Operator monitoring, the
// try-it-out Redis) checked by the API server itself, and values the schema refuses. A bare control
// plane has no kubelet, so the Deployments are stored, not run; test/k8s/revoke.test.ts runs the real
// processes. Lint, template and schema tests need no API server: test/k8s/offline/chart.test.ts.
import { X509Certificate } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { injectedControlPlane } from '../env/control-plane/inject.ts';
import { installCrds } from '../env/k8s-system.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const CHART = join(ROOT, 'charts/keybrake');
const NAMESPACE = 'keybrake-system';
const MONITORING_CRDS = join(ROOT, 'test/k8s/fixtures/monitoring-crds.yaml');
// No operator runs here, so nothing is reconciled: the objects only have to be stored and listed.
const RESOURCES = `
apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: support-bot }
spec:
  vendor: stripe
  limits: { perDayUsd: "200" }
---
apiVersion: keybrake.dev/v1alpha1
kind: VaultKey
metadata: { name: support-bot-stripe }
spec:
  vendor: stripe
  policyRef: { name: support-bot }
  upstreamSecretRef: { name: stripe-live, key: apiKey }
  tokenSecretRef: { name: support-bot-stripe-token }
`;

const cp = injectedControlPlane();

async function ok(tool: 'kubectl' | 'helm', ...args: string[]): Promise<string> {
  const result = await cp[tool](args);
  expect(result.code, `${tool} ${args.join(' ')}:\n${result.stdout}${result.stderr}`).toBe(0);
  return result.stdout;
}

describe('helm install against the real API server, as the README says it', () => {
  const policyNamespace = 'chart-agents';

  let installOutput = '';

  beforeAll(async () => {
    // The first command a new user runs: no Redis of their own yet.
    installOutput = await ok(
      'helm',
      'install',
      'keybrake',
      CHART,
      '-n',
      NAMESPACE,
      '--create-namespace',
      '--set',
      'redis.deploy=true',
      '--wait=false',
    );
  });

  afterAll(async () => {
    await cp.helm(['uninstall', 'keybrake', '-n', NAMESPACE]);
    // Without a controller-manager a namespace stays Terminating; do not wait for it.
    await cp.kubectl([
      'delete',
      'namespace',
      policyNamespace,
      NAMESPACE,
      '--wait=false',
      '--ignore-not-found',
    ]);
  });

  it('prints NOTES telling how to point an MCP server at the vendor Services', () => {
    expect(installOutput).toContain('NOTES:');
    expect(installOutput).toContain(`http://keybrake-stripe.${NAMESPACE}.svc:8081`);
    expect(installOutput).toContain(`http://keybrake-resend.${NAMESPACE}.svc:8083`);
    expect(installOutput).toContain('kubectl delete vaultkey');
    // Fourth probe round: step 1 named the upstream Secret but not the label the operator selects on.
    expect(installOutput).toContain('keybrake.dev/secret: "true"');
    expect(installOutput).toContain(
      'kubectl label secret stripe-live -n <namespace> keybrake.dev/secret=true',
    );
  });

  it('says the try-it-out Redis is not for production', () => {
    expect(installOutput).toContain(
      'redis.deploy=true runs a single Redis for trying Keybrake out: NOT FOR PRODUCTION',
    );
  });

  it('installs the CRDs and they become Established', async () => {
    await ok(
      'kubectl',
      'wait',
      '--for=condition=established',
      '--timeout=60s',
      'crd/vaultkeys.keybrake.dev',
      'crd/spendpolicies.keybrake.dev',
    );
  });

  it('stores both Deployments (nothing runs: the control plane has no kubelet)', async () => {
    const out = await ok(
      'kubectl',
      'get',
      'deployments',
      '-n',
      NAMESPACE,
      '-o',
      'jsonpath={range .items[*]}{.metadata.name}={.spec.replicas}{"\\n"}{end}',
    );
    expect(out.trim().split('\n').sort()).toEqual([
      'keybrake-operator=2',
      'keybrake-proxy=3',
      'keybrake-redis=1',
    ]);
  });

  it('issues an operator certificate for the Service name, signed by the CA proxies trust', async () => {
    const read = async (key: string) =>
      Buffer.from(
        await ok(
          'kubectl',
          'get',
          'secret',
          'keybrake-operator-tls',
          '-n',
          NAMESPACE,
          '-o',
          `jsonpath={.data.${key.replace('.', '\\.')}}`,
        ),
        'base64',
      );
    const cert = new X509Certificate(await read('tls.crt'));
    const ca = new X509Certificate(await read('ca.crt'));
    expect(cert.subjectAltName).toContain(`DNS:keybrake-operator.${NAMESPACE}.svc`);
    expect(cert.checkHost(`keybrake-operator.${NAMESPACE}.svc`)).toBe(`keybrake-operator.${NAMESPACE}.svc`);
    expect(cert.checkIssued(ca)).toBe(true);
    expect(cert.verify(ca.publicKey)).toBe(true);
  });

  it('keeps the same CA and Redis password on helm upgrade, so running pods keep trusting and reaching', async () => {
    const ca = () =>
      ok(
        'kubectl',
        'get',
        'secret',
        'keybrake-operator-tls',
        '-n',
        NAMESPACE,
        '-o',
        'jsonpath={.data.ca\\.crt}',
      );
    const redisPassword = () =>
      ok('kubectl', 'get', 'secret', 'keybrake-redis', '-n', NAMESPACE, '-o', 'jsonpath={.data.password}');
    const before = await ca();
    const password = await redisPassword();
    expect(Buffer.from(password, 'base64').toString()).toMatch(/^[A-Za-z0-9]{40}$/);
    await ok(
      'helm',
      'upgrade',
      'keybrake',
      CHART,
      '-n',
      NAMESPACE,
      '--reuse-values',
      '--set',
      'maxStaleness=60s',
      '--wait=false',
    );
    expect(await ca()).toBe(before);
    expect(await redisPassword()).toBe(password);
  });

  it.each([
    ['list secrets in every namespace', ['list', 'secrets', '-A'], 'operator', 'yes'],
    ['create secrets (minted vault tokens)', ['create', 'secrets', '-n', 'agents'], 'operator', 'yes'],
    ['watch vaultkeys', ['watch', 'vaultkeys.keybrake.dev', '-A'], 'operator', 'yes'],
    [
      'patch vaultkey status',
      ['patch', 'vaultkeys.keybrake.dev', '--subresource=status', '-A'],
      'operator',
      'yes',
    ],
    ['not modify vaultkey specs', ['update', 'vaultkeys.keybrake.dev', '-A'], 'operator', 'no'],
    ['create tokenreviews', ['create', 'tokenreviews.authentication.k8s.io'], 'operator', 'yes'],
    ['create events', ['create', 'events', '-n', 'agents'], 'operator', 'yes'],
    ['update its Lease', ['update', 'leases.coordination.k8s.io', '-n', NAMESPACE], 'operator', 'yes'],
    [
      'not touch Leases elsewhere',
      ['update', 'leases.coordination.k8s.io', '-n', 'default'],
      'operator',
      'no',
    ],
    [
      'claim a tenant namespace (its keybrake-claim Lease)',
      ['update', 'leases.coordination.k8s.io/keybrake-claim', '-n', 'agents'],
      'operator',
      'yes',
    ],
    [
      'not update other Leases in a tenant namespace',
      ['update', 'leases.coordination.k8s.io/other', '-n', 'agents'],
      'operator',
      'no',
    ],
    ['label its own Pod (leader label)', ['patch', 'pods', '-n', NAMESPACE], 'operator', 'yes'],
    ['not patch Pods elsewhere', ['patch', 'pods', '-n', 'default'], 'operator', 'no'],
    ['not delete Pods', ['delete', 'pods', '-n', NAMESPACE], 'operator', 'no'],
    ['not delete secrets', ['delete', 'secrets', '-A'], 'operator', 'no'],
    [
      'keep its revocation ledger (ConfigMaps) in its namespace',
      ['update', 'configmaps', '-n', NAMESPACE],
      'operator',
      'yes',
    ],
    ['not touch ConfigMaps elsewhere', ['update', 'configmaps', '-n', 'default'], 'operator', 'no'],
    // Each namespace's own revocation ledger, by name only (tenth round, ADR 0009).
    [
      "read and write a namespace's own revocation ledger",
      ['update', 'configmaps/keybrake-revocations', '-n', 'default'],
      'operator',
      'yes',
    ],
    [
      "read a namespace's ledger shard",
      ['get', 'configmaps/keybrake-revocations-16', '-n', 'default'],
      'operator',
      'yes',
    ],
    ['not read other ConfigMaps', ['get', 'configmaps/app-config', '-n', 'default'], 'operator', 'no'],
    [
      "not delete a namespace's ledger",
      ['delete', 'configmaps/keybrake-revocations', '-n', 'default'],
      'operator',
      'no',
    ],
    ['(proxy) not read secrets', ['get', 'secrets', '-n', NAMESPACE], 'proxy', 'no'],
    ['(proxy) not read vaultkeys', ['list', 'vaultkeys.keybrake.dev', '-A'], 'proxy', 'no'],
  ])('RBAC lets the %s', async (_name, args, who, answer) => {
    const result = await cp.kubectl([
      'auth',
      'can-i',
      ...args,
      '--as',
      `system:serviceaccount:${NAMESPACE}:keybrake-${who}`,
    ]);
    expect(result.stdout.trim()).toBe(answer);
  });

  it('lists VaultKeys with the printer columns, by plural and by short name', async () => {
    await ok('kubectl', 'create', 'namespace', policyNamespace);
    const applied = await cp.kubectl(['apply', '-n', policyNamespace, '-f', '-'], { input: RESOURCES });
    expect(applied.code, applied.stderr).toBe(0);
    const header = (out: string) => out.split('\n')[0]?.trim().split(/\s+/);
    expect(header(await ok('kubectl', 'get', 'vaultkeys', '-A'))).toEqual([
      'NAMESPACE',
      'NAME',
      'POLICY',
      'VENDOR',
      'SPENT-TODAY',
      'CAP',
      'READY',
      'AGE',
    ]);
    const short = await ok('kubectl', 'get', 'vk', '-n', policyNamespace, '--no-headers');
    expect(short).toMatch(/^support-bot-stripe\s+support-bot\s+stripe\s/);
    const policies = await ok('kubectl', 'get', 'sp', '-n', policyNamespace, '-o', 'name');
    expect(policies.trim()).toBe('spendpolicy.keybrake.dev/support-bot');
  });

  it('uninstalls, leaving the CRDs (Helm never deletes crds/) and removing everything else', async () => {
    await ok('helm', 'uninstall', 'keybrake', '-n', NAMESPACE);
    const left = await ok(
      'kubectl',
      'get',
      'deployments,services,secrets,serviceaccounts',
      '-n',
      NAMESPACE,
      '-o',
      'name',
    );
    expect(left.trim()).toBe('');
    const clusterRole = await cp.kubectl(['get', 'clusterrole', 'keybrake-operator']);
    expect(clusterRole.code).not.toBe(0);
    await ok('kubectl', 'get', 'crd', 'vaultkeys.keybrake.dev');
  });
});

/**
 * Value sets as real installations use them: each is rendered, checked by the API server itself
 * (`kubectl apply --dry-run=server`: admission, schemas of the built-in kinds and of the CRDs), then
 * installed as its own release in its own namespace.
 */
describe('value sets, checked by the API server and installed', () => {
  const sets: { name: string; release: string; namespace: string; values: string[]; expect: string[] }[] = [
    {
      name: 'HA (autoscaled proxies, three operators, NetworkPolicies)',
      release: 'ha',
      namespace: 'chart-ha',
      values: [
        'redis.url=rediss://:secret@redis.example.com:6380',
        'operator.replicas=3',
        'proxy.autoscaling.enabled=true',
        'proxy.autoscaling.minReplicas=3',
        'proxy.autoscaling.maxReplicas=9',
        'networkPolicy.enabled=true',
        'networkPolicy.proxyEgress.redis[0].ipBlock.cidr=10.0.0.9/32',
      ],
      expect: [
        'HorizontalPodAutoscaler/ha-keybrake-proxy',
        'PodDisruptionBudget/ha-keybrake-proxy',
        'PodDisruptionBudget/ha-keybrake-operator',
        'NetworkPolicy/ha-keybrake-proxy',
        'NetworkPolicy/ha-keybrake-operator',
      ],
    },
    {
      name: 'an external Redis from an existing Secret',
      release: 'ext',
      namespace: 'chart-ext',
      values: ['redis.existingSecret=redis-conn', 'redis.existingSecretKey=url'],
      expect: ['Deployment/ext-keybrake-proxy', 'PodDisruptionBudget/ext-keybrake-proxy'],
    },
    {
      name: 'Prometheus Operator monitoring on (ServiceMonitor, PrometheusRule, dashboard)',
      release: 'mon',
      namespace: 'chart-mon',
      values: [
        'redis.url=redis://redis:6379',
        'metrics.serviceMonitor.enabled=true',
        'metrics.prometheusRule.enabled=true',
        'metrics.grafanaDashboard.enabled=true',
      ],
      expect: [
        'ServiceMonitor/mon-keybrake',
        'PrometheusRule/mon-keybrake',
        'ConfigMap/mon-keybrake-dashboard',
        'Service/mon-keybrake-operator-metrics',
      ],
    },
    {
      name: 'the try-it-out Redis with one proxy',
      release: 'try',
      namespace: 'chart-try',
      values: ['redis.deploy=true', 'proxy.replicas=1'],
      expect: ['Deployment/try-keybrake-redis', 'Service/try-keybrake-redis', 'Secret/try-keybrake-redis'],
    },
  ];

  beforeAll(async () => {
    // As helm would install them (crds/ of the chart), plus stand-ins for the Prometheus Operator's.
    await installCrds((args) => ok('kubectl', ...args), join(CHART, 'crds'));
    await ok('kubectl', 'apply', '--server-side', '-f', MONITORING_CRDS);
    await ok(
      'kubectl',
      'wait',
      '--for=condition=established',
      '--timeout=60s',
      'crd/servicemonitors.monitoring.coreos.com',
      'crd/prometheusrules.monitoring.coreos.com',
    );
    for (const set of sets) await ok('kubectl', 'create', 'namespace', set.namespace);
  });

  afterAll(async () => {
    for (const set of sets) await cp.helm(['uninstall', set.release, '-n', set.namespace]);
    await cp.kubectl([
      'delete',
      'namespace',
      ...sets.map((s) => s.namespace),
      '--wait=false',
      '--ignore-not-found',
    ]);
  });

  const flags = (values: string[]) => values.flatMap((v) => ['--set', v]);

  it.each(sets)('$name: the API server accepts every object (dry run)', async (set) => {
    // Against the cluster (not offline): helm sees the monitoring CRDs there, as a real install would.
    const rendered = await ok(
      'helm',
      'template',
      set.release,
      CHART,
      '-n',
      set.namespace,
      '--kube-version',
      '1.35.4',
      '--api-versions',
      'monitoring.coreos.com/v1/ServiceMonitor',
      '--api-versions',
      'monitoring.coreos.com/v1/PrometheusRule',
      ...flags(set.values),
    );
    const dry = await cp.kubectl(['apply', '--dry-run=server', '-n', set.namespace, '-f', '-'], {
      input: rendered,
    });
    expect(dry.code, dry.stderr).toBe(0);
    for (const object of set.expect)
      expect(dry.stdout).toContain(`${object.split('/')[1]} created (server dry run)`);
  });

  it.each(sets)('$name: installs', async (set) => {
    await ok(
      'helm',
      'install',
      set.release,
      CHART,
      '-n',
      set.namespace,
      '--wait=false',
      ...flags(set.values),
    );
    for (const object of set.expect) {
      const [kind, name] = object.split('/') as [string, string];
      await ok('kubectl', 'get', kind.toLowerCase(), name, '-n', set.namespace, '-o', 'name');
    }
  });
});

describe('helm install refuses values the schema does not allow', () => {
  const namespace = 'chart-refused';

  afterAll(async () => {
    await cp.kubectl(['delete', 'namespace', namespace, '--wait=false', '--ignore-not-found']);
  });

  it.each([
    ['a duration without a unit', ['redis.deploy=true', 'maxStaleness=30'], "at '/maxStaleness'"],
    [
      'a misspelt value',
      ['redis.deploy=true', 'proxy.replica=2'],
      "additional properties 'replica' not allowed",
    ],
    [
      'an upstream that is no URL',
      ['redis.deploy=true', 'proxy.upstreams.resend=resend.com'],
      "at '/proxy/upstreams/resend'",
    ],
  ])('refuses %s, naming the value, and installs nothing', async (_name, values, message) => {
    const release = 'refused';
    const result = await cp.helm([
      'install',
      release,
      CHART,
      '-n',
      namespace,
      '--create-namespace',
      ...values.flatMap((v) => ['--set', v]),
    ]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("values don't meet the specifications of the schema");
    expect(result.stderr).toContain(message);
    const listed = await ok('helm', 'list', '-n', namespace, '-a', '-q');
    expect(listed.trim()).toBe('');
  });

  // Fourth probe round: the schema refused the default values with `at '/redis/url': minLength`
  // alone; the template now refuses them, saying what to set.
  it('refuses the default values (three proxies without Redis), saying what to set, and installs nothing', async () => {
    const result = await cp.helm(['install', 'refused', CHART, '-n', namespace, '--create-namespace']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(
      'redis.url is required when more than one proxy replica can run (proxy.replicas is 3)',
    );
    const listed = await ok('helm', 'list', '-n', namespace, '-a', '-q');
    expect(listed.trim()).toBe('');
  });
});
