// An operator whose Lease namespace does not exist must not be a silent standby: its readiness fails
// with a message naming the namespace (both /readyz forms), its log says the same once, and it leads
// as soon as the namespace appears.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { injectedControlPlane } from '../env/control-plane/inject.ts';
import { get, installCrds, until } from '../env/k8s-system.ts';
import { type KeybrakeProcess, startKeybrake } from '../env/keybrake.ts';

const cp = injectedControlPlane();
const watched = `lease-ns-${randomUUID().slice(0, 8)}`;
const missing = `keybrake-missing-${randomUUID().slice(0, 8)}`;
let operator: KeybrakeProcess;

async function kubectl(...args: string[]): Promise<string> {
  const r = await cp.kubectl(args);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

beforeAll(async () => {
  await installCrds((args) => kubectl(...args), join(import.meta.dirname, '../../charts/keybrake/crds'));
  await kubectl('create', 'namespace', watched);
  operator = await startKeybrake([
    'operator',
    '--kubeconfig',
    cp.kubeconfigPath,
    '--insecure-http',
    '--proxy-service-account',
    `${watched}/keybrake-proxy`,
    '--namespace',
    watched,
    '--listen',
    '127.0.0.1:0',
    '--admin-listen',
    '127.0.0.1:0',
    '--lease-namespace',
    missing,
    '--identity',
    'lonely',
    '--lease-duration',
    '3s',
    '--renew-deadline',
    '2s',
    '--retry-period',
    '250ms',
  ]);
});

afterAll(async () => {
  if (process.env.DEBUG_OPERATOR) console.error(operator?.output());
  await operator?.stop();
  await cp.kubectl(['delete', 'namespace', watched, missing, '--wait=false', '--ignore-not-found']);
});

describe('a missing Lease namespace', () => {
  it('fails readiness with a message naming the namespace, and says so once in the log', async () => {
    const problem = `Lease namespace "${missing}" does not exist`;
    const problems = async (path: string) => {
      const res = await get(`${operator.urls['admin']}${path}`);
      return {
        status: res.status,
        problems: (JSON.parse(res.body) as { problems?: string[] }).problems ?? [],
      };
    };
    await until(
      async () => (await problems('/readyz?standby=ok')).problems.some((p) => p.includes(problem)),
      20_000,
      'readiness naming the namespace',
    );
    expect(await problems('/readyz?standby=ok')).toEqual({
      status: 503,
      problems: [expect.stringContaining(`${problem}: create it (kubectl create namespace ${missing})`)],
    });
    expect(await problems('/readyz')).toEqual({ status: 503, problems: [expect.stringContaining(problem)] });
    expect((await get(`${operator.urls['admin']}/healthz`)).status).toBe(200);

    // Readiness may say it before the log line has come through the operator's stderr pipe.
    await operator.waitForLog((l) => String(l.msg).includes(problem), 5_000);
    const logged = operator
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level: number; msg: string })
      .filter((l) => l.msg.includes(problem));
    expect(logged.map((l) => l.level)).toEqual([50]);
  });

  it('leads once the namespace exists, and is ready', async () => {
    await kubectl('create', 'namespace', missing);
    await operator.waitForLog((l) => l.msg === 'leading', 20_000);
    await until(
      async () => (await get(`${operator.urls['admin']}/readyz?standby=ok`)).status === 200,
      10_000,
      'ready',
    );
    expect(JSON.parse((await get(`${operator.urls['admin']}/readyz`)).body)).toMatchObject({
      status: 'leading',
    });
  });
});
