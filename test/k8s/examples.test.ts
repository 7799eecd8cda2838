// examples/kubernetes/ against the real API server: every object is accepted by a server-side dry run
// (built-in kinds and Keybrake's CRDs, admission included), Keybrake's own checker accepts the
// resources, and the MCP Deployments are wired to what the chart installs: the vault tokens from the
// VaultKeys' token Secrets, the vendor Services of a `keybrake` release in keybrake-system, the
// preload where the init container puts it.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { injectedControlPlane } from '../env/control-plane/inject.ts';
import { installCrds } from '../env/k8s-system.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const DIR = join(ROOT, 'examples/kubernetes');
const cp = injectedControlPlane();

// biome-ignore lint/suspicious/noExplicitAny: arbitrary Kubernetes object bodies
type K8sObject = { kind: string; metadata: { name: string; namespace?: string }; [field: string]: any };
const objects: K8sObject[] = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .flatMap((f) => parseAllDocuments(readFileSync(join(DIR, f), 'utf8')).map((d) => d.toJS() as K8sObject));
const byKind = (kind: string) => objects.filter((o) => o.kind === kind);
const values = parseYaml(readFileSync(join(ROOT, 'charts/keybrake/values.yaml'), 'utf8')) as {
  proxy: { vendors: Record<string, { port: number }> };
};
const appVersion = (
  parseYaml(readFileSync(join(ROOT, 'charts/keybrake/Chart.yaml'), 'utf8')) as { appVersion: string }
).appVersion;

async function kubectl(...args: string[]): Promise<string> {
  const r = await cp.kubectl(args);
  expect(r.code, `kubectl ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

beforeAll(async () => {
  await installCrds((args) => kubectl(...args), join(ROOT, 'charts/keybrake/crds'));
  // A server-side dry run does not create the namespace the other objects need.
  await cp.kubectl(['create', 'namespace', 'agents']);
});

describe('examples/kubernetes', () => {
  it('is accepted whole by the API server (kubectl apply --dry-run=server)', async () => {
    const out = await kubectl('apply', '--dry-run=server', '-f', DIR);
    const applied = out.trim().split('\n');
    expect(applied).toHaveLength(objects.length);
    for (const line of applied) expect(line).toMatch(/ (created|configured|unchanged) \(server dry run\)$/);
    expect(
      byKind('Deployment')
        .map((d) => d.metadata.name)
        .sort(),
    ).toEqual(['resend-mcp', 'stripe-mcp']);
  });

  it("passes Keybrake's own checker (keybrake policy-check)", () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'cmd/keybrake.ts'), 'policy-check', DIR], {
      encoding: 'utf8',
    });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toContain('2 SpendPolicy, 2 VaultKey');
  });

  const container = (name: string) =>
    byKind('Deployment').find((d) => d.metadata.name === name)!.spec.template.spec;
  const env = (name: string) =>
    Object.fromEntries(
      (container(name).containers[0].env as { name: string; value?: string; valueFrom?: unknown }[]).map(
        (e) => [e.name, e.value ?? e.valueFrom],
      ),
    );
  const tokenSecret = (vaultKey: string) => {
    const ref = byKind('VaultKey').find((k) => k.metadata.name === vaultKey)!.spec.tokenSecretRef;
    return { secretKeyRef: { name: ref.name, key: ref.key } };
  };

  it('gives resend-mcp the minted vault token and the Keybrake resend Service as RESEND_BASE_URL', () => {
    expect(env('resend-mcp')).toMatchObject({
      RESEND_API_KEY: tokenSecret('support-bot-resend'),
      RESEND_BASE_URL: `http://keybrake-resend.keybrake-system.svc:${values.proxy.vendors['resend']!.port}`,
    });
    expect(container('resend-mcp').containers[0].args).toContain('npx -y resend-mcp@2.22.0');
  });

  it('gives @stripe/mcp 0.2.5 the minted vault token, and the preload an init container copies from the Keybrake image', () => {
    const spec = container('stripe-mcp');
    expect(env('stripe-mcp')).toMatchObject({
      STRIPE_SECRET_KEY: tokenSecret('support-bot-stripe'),
      NODE_OPTIONS: '--require /keybrake/redirect.cjs',
      KEYBRAKE_STRIPE_URL: `http://keybrake-stripe.keybrake-system.svc:${values.proxy.vendors['stripe']!.port}`,
    });
    const init = spec.initContainers[0];
    expect(init.image).toBe(`ghcr.io/keybrake/keybrake:${appVersion}`);
    expect(init.command).toEqual(['cp', '/app/src/preload/redirect.cjs', '/keybrake/redirect.cjs']);
    // The Keybrake image ships src/ at /app (Dockerfile), so that file exists there.
    expect(readFileSync(join(ROOT, 'Dockerfile'), 'utf8')).toMatch(/WORKDIR \/app[\s\S]*COPY src \.\/src/);
    const mounts = (c: { volumeMounts: { name: string; mountPath: string }[] }) =>
      c.volumeMounts.filter((m) => m.name === 'keybrake-preload').map((m) => m.mountPath);
    expect(mounts(init)).toEqual(['/keybrake']);
    expect(mounts(spec.containers[0])).toEqual(['/keybrake']);

    const command = (spec.containers[0].args as string[]).find((a) => a.includes('@stripe/mcp'))!;
    expect(command).toContain('npx -y @stripe/mcp@0.2.5 ');
    // 0.2.5 keeps only the last action given for a product: one tool per product.
    const tools = /--tools=(\S+)/.exec(command)![1]!.split(',');
    const products = tools.map((t) => t.split('.')[0]);
    expect(new Set(products).size).toBe(products.length);
  });
});
