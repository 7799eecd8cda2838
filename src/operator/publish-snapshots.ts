import type { Gauge } from 'prom-client';
import type { Clock } from '../clock.ts';
import type { CompileRunner } from '../compiler/runner.ts';
import { nextSnapshotVersion } from '../distribution/protocol.ts';
import type { Snapshot } from '../snapshot/types.ts';
import type { KubernetesSourceUpdate } from '../sources/kubernetes/source.ts';
import type { Log } from '../telemetry/logger.ts';

/**
 * The operator's version stamp for the compile runner: wall-clock based and above whatever
 * distribution has already published or a proxy reported holding (`publishedVersion`), so a leader
 * whose clock runs behind its predecessor's is never ignored by the proxies.
 */
export function stampAbove(publishedVersion: () => number, clock: Clock): (previous: number) => number {
  return (previous) => nextSnapshotVersion(Math.max(previous, publishedVersion()), clock.now());
}

/** Where the publishing reconciler hands snapshots (the snapshot server) and what it records. */
export interface PublishDeps {
  readonly publish: (snapshot: Snapshot, changedAt: number) => void;
  readonly clock: Clock;
  readonly log: Log;
  readonly version?: Gauge;
}

/**
 * Publishing (compile runner → distribution): every compiled snapshot goes out at once, on a
 * standby too (its server answers no stream, but holds the latest for the moment it leads), because
 * a revocation is on the clock. Returns the detach function.
 */
export function publishSnapshots(
  runner: CompileRunner<KubernetesSourceUpdate>,
  deps: PublishDeps,
): () => void {
  return runner.publishTo(({ snapshot, update }) => {
    deps.publish(snapshot, update.changedAt);
    deps.version?.set(snapshot.version);
    deps.log.debug(
      { version: snapshot.version, keys: snapshot.keys.size, lagMs: deps.clock.now() - update.changedAt },
      'snapshot published',
    );
  });
}
