// A real three-master Redis Cluster on loopback for the e2e suites: proves the counter keys of one
// vault key share a slot (no CROSSSLOT) and that the store follows MOVED redirections.
import type { ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, rawCommand, requireBinary, spawnRedis, stopProcess, waitFor } from './redis.ts';

/** A running cluster: the `redis+cluster://` URL the store takes and the node ports. */
export interface RedisClusterHandle {
  readonly url: string;
  readonly ports: readonly number[];
  stop(): Promise<void>;
}

const run = promisify(execFile);

export async function startRedisCluster(size = 3): Promise<RedisClusterHandle> {
  requireBinary('redis-server', 'redis-server');
  requireBinary('redis-cli', 'redis-tools');
  const dir = await mkdtemp(join(tmpdir(), 'keybrake-redis-cluster-'));
  const ports: number[] = [];
  const children: ChildProcess[] = [];
  const stop = async () => {
    await Promise.all(children.map((c) => stopProcess(c, 'SIGKILL')));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < size; i++) {
      const port = await freePort(true);
      ports.push(port);
      children.push(
        await spawnRedis(
          port,
          [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            `nodes-${port}.conf`,
            '--cluster-node-timeout',
            '5000',
          ],
          dir,
        ),
      );
    }
    await run(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...ports.map((p) => `127.0.0.1:${p}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ],
      { timeout: 30_000 },
    );
    for (const port of ports) {
      await waitFor(
        `cluster_state:ok on port ${port}`,
        async () => (await rawCommand(port, 'CLUSTER INFO')).includes('cluster_state:ok'),
        30_000,
      );
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: `redis+cluster://${ports.map((p) => `127.0.0.1:${p}`).join(',')}`, ports, stop };
}
