// Optional provider for developers WITH a Docker engine: k3s in a container instead of local etcd +
// kube-apiserver. Selected by KEYBRAKE_K8S_PROVIDER=testcontainers; CI never uses it (no engine there),
// so it is only typechecked, never run, in this repository's pipeline. kubectl and helm still come from
// the build.sh binaries so both providers drive the cluster with the same client versions.
//
// Differences from the local provider: k3s runs a controller-manager, scheduler and kubelet, so garbage
// collection happens and pods may start; tests written against the bare control plane must not rely on
// either behaviour being absent.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GenericContainer, Wait } from 'testcontainers';
import { type ControlPlane, connectControlPlane, ensureBinaries } from './control-plane.ts';

const API_PORT = 6443;
// Same minor as the local kube-apiserver. Override with KEYBRAKE_K3S_IMAGE (e.g. a mirror).
const DEFAULT_IMAGE = 'rancher/k3s:v1.35.4-k3s1';

export async function startK3sControlPlane(): Promise<ControlPlane> {
  const binDir = await ensureBinaries(process.env['KEYBRAKE_K8S_BIN_DIR']);
  const container = await new GenericContainer(process.env['KEYBRAKE_K3S_IMAGE'] ?? DEFAULT_IMAGE)
    .withPrivilegedMode()
    .withTmpFs({ '/run': 'rw', '/var/run': 'rw' })
    .withCommand(['server', '--disable=traefik,metrics-server,servicelb', '--tls-san=localhost'])
    .withExposedPorts(API_PORT)
    .withWaitStrategy(Wait.forLogMessage('Node controller sync successful'))
    .withStartupTimeout(180_000)
    .start();
  const dir = await mkdtemp(join(tmpdir(), 'keybrake-k3s-'));
  try {
    const server = `https://${container.getHost()}:${container.getMappedPort(API_PORT)}`;
    const kubeconfig = await container.exec(['cat', '/etc/rancher/k3s/k3s.yaml']);
    if (kubeconfig.exitCode !== 0) throw new Error(`cannot read k3s kubeconfig: ${kubeconfig.output}`);
    const kubeconfigPath = join(dir, 'kubeconfig');
    // k3s writes https://127.0.0.1:6443; the container port is mapped to a random host port.
    await writeFile(kubeconfigPath, kubeconfig.stdout.replace(/https:\/\/127\.0\.0\.1:6443/g, server), {
      mode: 0o600,
    });
    return {
      ...connectControlPlane({ kubeconfigPath, server, binDir }),
      async stop() {
        await container.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await container.stop();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
