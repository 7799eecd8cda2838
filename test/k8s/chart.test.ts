// The Helm chart (charts/keybrake) against the real test control plane: lint, render, install,
// the CRDs it carries, the RBAC it grants, upgrade and uninstall. A bare control plane has no kubelet,
// so the Deployments are stored, not run; test/k8s/revoke.test.ts runs the real processes.
import { X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { parseFlags } from '../../src/cli/args.ts';
import { OPERATOR_FLAGS } from '../../src/cli/operator.ts';
import { PROXY_FLAGS } from '../../src/cli/proxy.ts';
import { injectedControlPlane } from '../env/control-plane/inject.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const CHART = join(ROOT, 'charts/keybrake');
const NAMESPACE = 'keybrake-system';
const REDIS = 'redis.url=redis://redis:6379';
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

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  // Rendered manifests are checked structurally; `any` keeps the assertions readable.
  // biome-ignore lint/suspicious/noExplicitAny: arbitrary Kubernetes object bodies
  [field: string]: any;
}

async function ok(tool: 'kubectl' | 'helm', ...args: string[]): Promise<string> {
  const result = await cp[tool](args);
  expect(result.code, `${tool} ${args.join(' ')}:\n${result.stdout}${result.stderr}`).toBe(0);
  return result.stdout;
}

async function render(...sets: string[]): Promise<K8sObject[]> {
  const out = await ok(
    'helm',
    'template',
    'keybrake',
    CHART,
    '--namespace',
    NAMESPACE,
    ...sets.flatMap((s) => ['--set', s]),
  );
  return parseAllDocuments(out)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
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
    volumeMounts: { name: string; mountPath: string }[];
  };
}

describe('the chart carries the generated CRDs', () => {
  const topLevel = readdirSync(join(ROOT, 'crds')).sort();

  it('has the same CRD files as crds/', () => {
    expect(readdirSync(join(CHART, 'crds')).sort()).toEqual(topLevel);
  });

  it.each(topLevel)(
    'charts/keybrake/crds/%s equals crds/ byte for byte (copy it after write-crds.ts)',
    (file) => {
      expect(readFileSync(join(CHART, 'crds', file))).toEqual(readFileSync(join(ROOT, 'crds', file)));
    },
  );
});

describe('helm lint and template', () => {
  it('lints clean in strict mode', async () => {
    await ok('helm', 'lint', '--strict', CHART, '--set', REDIS);
  });

  it.each([
    ['the default three proxy replicas', []],
    ['proxy.replicas=2', ['--set', 'proxy.replicas=2']],
  ])('refuses to render %s without redis.url, saying why', async (_name, extra) => {
    const result = await cp.helm(['template', 'keybrake', CHART, '-n', NAMESPACE, ...extra]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('redis.url is required when proxy.replicas > 1');
  });

  it('renders one proxy replica without Redis (memory counters)', async () => {
    const objects = await render('proxy.replicas=1');
    const proxy = find(objects, 'Deployment', 'keybrake-proxy');
    expect(proxy.spec.replicas).toBe(1);
    expect(container(proxy).env.map((e) => e.name)).not.toContain('KEYBRAKE_REDIS');
    expect(objects.some((o) => o.kind === 'PodDisruptionBudget')).toBe(false);
  });

  it('renders the operator with TLS, leader election in the release namespace and probes on the admin port', async () => {
    const objects = await render(REDIS);
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
    // The operator labels its own Pod; the downward API tells it which one.
    expect(c.env).toEqual(
      expect.arrayContaining([
        { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      ]),
    );
    // /readyz on the operator means "is the leader": as a readiness probe it would stall rollouts.
    expect(c.readinessProbe.httpGet).toEqual({ path: '/healthz', port: 'admin' });
    expect(c.ports).toEqual(expect.arrayContaining([{ name: 'admin', containerPort: 9090 }]));
    expect(operator.spec.template.spec.volumes).toEqual(
      expect.arrayContaining([{ name: 'tls', secret: { secretName: 'keybrake-operator-tls' } }]),
    );
  });

  it('renders proxies that follow the operator with an audience-bound projected token', async () => {
    const objects = await render(REDIS, 'maxStaleness=45s', 'proxy.upstreams.stripe=https://stripe.internal');
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
    // The Redis URL can carry a password: an env var from a Secret, never an argument.
    expect(c.args.join(' ')).not.toContain('redis://');
    expect(c.env).toContainEqual({
      name: 'KEYBRAKE_REDIS',
      valueFrom: { secretKeyRef: { name: 'keybrake-redis', key: 'url' } },
    });
    const token = spec.volumes.find((v: { name: string }) => v.name === 'operator-token');
    expect(token.projected.sources).toEqual([
      { serviceAccountToken: { audience: 'keybrake', expirationSeconds: 3600, path: 'token' } },
    ]);
    // Proxies get the CA certificate only, never the operator's private key.
    const ca = spec.volumes.find((v: { name: string }) => v.name === 'operator-ca');
    expect(ca.secret.items).toEqual([{ key: 'ca.crt', path: 'ca.crt' }]);
  });

  it('passes every duration with its unit (the CLI reads a bare number as milliseconds)', async () => {
    const objects = await render(REDIS);
    expect(container(find(objects, 'Deployment', 'keybrake-operator')).args).toEqual(
      expect.arrayContaining(['--lease-duration=15s', '--renew-deadline=10s', '--retry-period=2s']),
    );
    expect(container(find(objects, 'Deployment', 'keybrake-proxy')).args).toContain('--max-staleness=30s');
  });

  it.each([
    ['a duration without a unit', 'maxStaleness=30', 'maxStaleness: "30" is not a duration with a unit'],
    ['a misspelt unit', 'operator.retryPeriod=2sec', 'operator.retryPeriod: "2sec" is not a duration'],
    [
      'the old seconds-only value names',
      'operator.leaseDurationSeconds=20',
      'operator.leaseDurationSeconds was replaced by operator.leaseDuration',
    ],
  ])('refuses to render %s, saying why', async (_name, set, message) => {
    const result = await cp.helm([
      'template',
      'keybrake',
      CHART,
      '-n',
      NAMESPACE,
      '--set',
      REDIS,
      '--set',
      set,
    ]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(message);
  });

  it('renders a Service per vendor on its own port, the prefix router, the operator and a PDB', async () => {
    const objects = await render(REDIS);
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
    // Snapshot streams and acks must reach the leader: the Service selects the Pod labelled as such.
    expect(find(objects, 'Service', 'keybrake-operator').spec.selector).toEqual({
      'app.kubernetes.io/name': 'keybrake',
      'app.kubernetes.io/instance': 'keybrake',
      'app.kubernetes.io/component': 'operator',
      'keybrake.dev/leader': 'true',
    });
    expect(find(objects, 'Service', 'keybrake-proxy').spec.selector).not.toHaveProperty(
      'keybrake.dev/leader',
    );
    expect(find(objects, 'PodDisruptionBudget', 'keybrake-proxy').spec.maxUnavailable).toBe(1);
    expect(objects.some((o) => o.kind === 'NetworkPolicy')).toBe(false);
  });

  it('restricts the operator snapshot port to proxy pods when networkPolicy.enabled', async () => {
    const objects = await render(REDIS, 'networkPolicy.enabled=true');
    const policy = find(objects, 'NetworkPolicy', 'keybrake-operator');
    expect(policy.spec.podSelector.matchLabels['app.kubernetes.io/component']).toBe('operator');
    const snapshots = policy.spec.ingress.find(
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
  });

  it('grants Secret access per namespace instead of cluster-wide when operator.watchNamespaces is set', async () => {
    const objects = await render(REDIS, 'operator.watchNamespaces={agents,billing}');
    const clusterRole = find(objects, 'ClusterRole', 'keybrake-operator');
    expect(clusterRole.rules.flatMap((r: { resources: string[] }) => r.resources)).toEqual(['tokenreviews']);
    const roles = objects.filter((o) => o.kind === 'Role' && o.metadata.name === 'keybrake-operator');
    expect(roles.map((r) => r.metadata.namespace)).toEqual(['agents', 'billing']);
    expect(roles[0]?.rules.flatMap((r: { resources: string[] }) => r.resources)).toContain('secrets');
    expect(container(find(objects, 'Deployment', 'keybrake-operator')).args).toEqual(
      expect.arrayContaining(['--namespace=agents', '--namespace=billing']),
    );
  });

  it.each([
    ['operator', OPERATOR_FLAGS],
    ['proxy', PROXY_FLAGS],
  ] as const)(
    'renders %s arguments the real CLI accepts (flag names cannot drift)',
    async (component, flags) => {
      const objects = await render(
        REDIS,
        'proxy.upstreams.stripe=https://stripe.internal',
        'operator.watchNamespaces={a}',
      );
      const [command, ...argv] = container(find(objects, 'Deployment', `keybrake-${component}`)).args;
      expect(command).toBe(component);
      expect(() => parseFlags(argv, flags, {})).not.toThrow();
    },
  );

  it('leaves a vendor out when it is disabled', async () => {
    const objects = await render(REDIS, 'proxy.vendors.twilio.enabled=false');
    expect(objects.some((o) => o.metadata.name === 'keybrake-twilio')).toBe(false);
    expect(container(find(objects, 'Deployment', 'keybrake-proxy')).args.join(' ')).not.toContain('twilio=');
  });
});

describe('helm install against the real API server', () => {
  const policyNamespace = 'chart-agents';

  let installOutput = '';

  beforeAll(async () => {
    installOutput = await ok(
      'helm',
      'install',
      'keybrake',
      CHART,
      '-n',
      NAMESPACE,
      '--create-namespace',
      '--set',
      REDIS,
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
    expect(out.trim().split('\n').sort()).toEqual(['keybrake-operator=2', 'keybrake-proxy=3']);
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

  it('keeps the same CA on helm upgrade, so running proxies keep trusting the operator', async () => {
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
    const before = await ca();
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
    );
    expect(await ca()).toBe(before);
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
    ['label its own Pod (leader label)', ['patch', 'pods', '-n', NAMESPACE], 'operator', 'yes'],
    ['not patch Pods elsewhere', ['patch', 'pods', '-n', 'default'], 'operator', 'no'],
    ['not delete Pods', ['delete', 'pods', '-n', NAMESPACE], 'operator', 'no'],
    ['not delete secrets', ['delete', 'secrets', '-A'], 'operator', 'no'],
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
