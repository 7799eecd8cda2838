// vitest globalSetup for the `k8s` project: one control plane for the whole run, handed to test files via
// provide/inject (test workers are separate processes, so they get paths and URLs, not objects).
//
//   import { inject } from 'vitest';
//   import { connectControlPlane } from '../env/control-plane/control-plane.ts';
//   const cp = connectControlPlane({
//     kubeconfigPath: inject('kubeconfig'), server: inject('k8sServer'), binDir: inject('k8sBinDir'),
//   });
import type { TestProject } from 'vitest/node';
import { startControlPlane } from './control-plane.ts';

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
  // The testcontainers (k3s in Docker) provider was removed: see docs/adr/0012-testcontainers.md.
  const provider = process.env['KEYBRAKE_K8S_PROVIDER'];
  if (provider !== undefined && provider !== 'local')
    throw new Error(
      `KEYBRAKE_K8S_PROVIDER=${provider}: the only control plane is the local one (etcd + kube-apiserver built from Go modules); the testcontainers provider was removed (docs/adr/0012-testcontainers.md)`,
    );
  const started = Date.now();
  const cp = await startControlPlane();
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
