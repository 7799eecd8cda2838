// vitest globalSetup for the `k8s` project: one control plane for the whole run, handed to test files via
// provide/inject (test workers are separate processes, so they get paths and URLs, not objects).
//
//   import { inject } from 'vitest';
//   import { connectControlPlane } from '../env/control-plane/control-plane.ts';
//   const cp = connectControlPlane({
//     kubeconfigPath: inject('kubeconfig'), server: inject('k8sServer'), binDir: inject('k8sBinDir'),
//   });
import type { TestProject } from 'vitest/node';
import type { ControlPlane } from './control-plane.ts';

// Loads vitest's declarations so the augmentation below has something to merge into.
export type { ProvidedContext } from 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Path of an admin kubeconfig (system:masters) with embedded certificates. */
    kubeconfig: string;
    /** Directory holding etcd, kube-apiserver, kubectl and helm. */
    k8sBinDir: string;
    /** The apiserver URL. */
    k8sServer: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  const cp = await startProvider();
  console.error(`[k8s] control plane at ${cp.server} ready in ${Date.now() - started} ms`);
  project.provide('kubeconfig', cp.kubeconfigPath);
  project.provide('k8sBinDir', cp.binDir);
  project.provide('k8sServer', cp.server);
  return async () => {
    const stopping = Date.now();
    await cp.stop();
    console.error(`[k8s] control plane stopped in ${Date.now() - stopping} ms`);
  };
}

// KEYBRAKE_K8S_PROVIDER=testcontainers runs k3s in Docker instead (developers with an engine only).
async function startProvider(): Promise<ControlPlane> {
  const provider = process.env['KEYBRAKE_K8S_PROVIDER'] ?? 'local';
  switch (provider) {
    case 'local': {
      const { startControlPlane } = await import('./control-plane.ts');
      return startControlPlane();
    }
    case 'testcontainers': {
      const { startK3sControlPlane } = await import('./testcontainers.ts');
      return startK3sControlPlane();
    }
    default:
      throw new Error(`KEYBRAKE_K8S_PROVIDER must be "local" or "testcontainers", got "${provider}"`);
  }
}
