import { inject } from 'vitest';
import { type ControlPlaneClient, connectControlPlane } from './control-plane.ts';

/** In a `k8s` test file: kubectl and helm for the control plane that global-setup.ts started. */
export function injectedControlPlane(): ControlPlaneClient {
  return connectControlPlane({
    kubeconfigPath: inject('kubeconfig'),
    server: inject('k8sServer'),
    binDir: inject('k8sBinDir'),
  });
}
