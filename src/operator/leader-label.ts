import { setTimeout as sleep } from 'node:timers/promises';
import {
  CoreV1Api,
  type KubeConfig,
  Observable,
  type ObservableMiddleware,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { type BackoffOptions, backoffDelay } from '../backoff.ts';
import type { Log } from '../telemetry/logger.ts';

/**
 * The label the `keybrake-operator` Service selects on: only the leader's Pod carries "true", so
 * proxies' snapshot streams and acks always reach the leader (docs/kubernetes.md, Readiness).
 */
export const LEADER_LABEL = 'keybrake.dev/leader';

/** The operator's own Pod, from `--pod-name` / `--pod-namespace` or the downward-API env vars. */
export interface PodRef {
  readonly namespace: string;
  readonly name: string;
}

/**
 * Which Pod to label: flags first, then POD_NAME / POD_NAMESPACE (the chart's downward API), the
 * namespace finally defaulting to the Lease's. undefined (no name): a local run, nothing to label.
 */
export function resolvePodRef(
  flags: { podName?: string | undefined; podNamespace?: string | undefined },
  env: NodeJS.ProcessEnv,
  leaseNamespace: string,
): PodRef | undefined {
  const name = flags.podName || env.POD_NAME;
  if (!name) return undefined;
  return { name, namespace: flags.podNamespace || env.POD_NAMESPACE || leaseNamespace };
}

/** Writes the label value on the own Pod; rejects on any failure. Aborted by `signal` (timeouts). */
export type PodLabelPatcher = (value: 'true' | 'false', signal: AbortSignal) => Promise<void>;

/** Wiring of the label writer: the patch function (real API or a fake) and its bounds. */
export interface LeaderLabelOptions {
  readonly patch: PodLabelPatcher;
  readonly log: Log;
  /** `namespace/name`, for logs. */
  readonly pod: string;
  /** Per request. Default 5 s. */
  readonly requestTimeoutMs?: number;
  /** Backoff between failed attempts. Default 250 ms doubling to 10 s. */
  readonly backoff?: BackoffOptions;
}

/** Keeps the own Pod's leader label in step with the elector (leader-election callbacks → Pod). */
export interface LeaderLabel {
  /** Records whether this replica leads; written in the background, the latest value wins. */
  set(leading: boolean): void;
  /** Resolves once the Pod shows the latest value (tests, shutdown). */
  settled(): Promise<void>;
  /** Sets "false", waits for it at most `timeoutMs`, then stops retrying. Never rejects. */
  close(timeoutMs?: number): Promise<void>;
}

/**
 * One writer, so writes never overtake each other: a flip true → false while "true" is in flight
 * is written after it, never before. Starts at "false" because a restarted container keeps its Pod
 * and with it a "true" from before the restart. Failures are retried with backoff and logged, never
 * thrown: the label steers traffic, the operator's work does not depend on it.
 */
export function createLeaderLabel(opts: LeaderLabelOptions): LeaderLabel {
  const requestTimeoutMs = opts.requestTimeoutMs ?? 5_000;
  const backoff = opts.backoff ?? { initialMs: 250, maxMs: 10_000 };
  const stopped = new AbortController();
  let desired: 'true' | 'false' = 'false';
  let written: 'true' | 'false' | undefined;
  let running: Promise<void> | undefined;
  let waiters: Array<() => void> = [];

  const wakeWaiters = () => {
    if (written !== desired && !stopped.signal.aborted) return;
    const ready = waiters;
    waiters = [];
    for (const w of ready) w();
  };

  const run = async () => {
    let failures = 0;
    while (written !== desired && !stopped.signal.aborted) {
      const value = desired;
      try {
        await opts.patch(value, AbortSignal.any([stopped.signal, AbortSignal.timeout(requestTimeoutMs)]));
        written = value;
        failures = 0;
        opts.log.info({ pod: opts.pod, [LEADER_LABEL]: value }, 'leader label set');
      } catch (err) {
        if (stopped.signal.aborted) break;
        failures++;
        // Once per streak and then every tenth try: a missing RBAC rule should not flood the log.
        if (failures === 1 || failures % 10 === 0)
          opts.log.warn(
            {
              pod: opts.pod,
              [LEADER_LABEL]: value,
              failures,
              error: err instanceof Error ? err.message.split('\n')[0] : String(err),
            },
            'cannot set the leader label on the pod',
          );
        try {
          await sleep(backoffDelay(failures, backoff), undefined, { signal: stopped.signal });
        } catch {
          // closed
        }
      }
    }
  };

  const kick = () => {
    if (running || written === desired || stopped.signal.aborted) {
      wakeWaiters();
      return;
    }
    running = run().finally(() => {
      running = undefined;
      // A set() that came in while the loop was finishing would otherwise wait for the next one.
      kick();
    });
  };

  kick();
  return {
    set(leading) {
      desired = leading ? 'true' : 'false';
      kick();
    },
    settled: () =>
      new Promise<void>((resolve) => {
        waiters.push(resolve);
        wakeWaiters();
      }),
    async close(timeoutMs = 2_000) {
      desired = 'false';
      kick();
      const done = new Promise<void>((resolve) => {
        waiters.push(resolve);
        wakeWaiters();
      });
      await Promise.race([done, sleep(timeoutMs, undefined, { ref: false })]);
      stopped.abort();
      await running;
      wakeWaiters();
    },
  };
}

/** Hands an AbortSignal to the generated client's fetch, so a timed-out patch cannot land later. */
function abortable(signal: AbortSignal): ObservableMiddleware {
  return {
    pre: (context) => {
      context.setSignal(signal);
      return new Observable(Promise.resolve(context));
    },
    post: (response) => new Observable(Promise.resolve(response)),
  };
}

/** Merge patch of the own Pod's metadata.labels (the generated client defaults to JSON Patch). */
export function kubernetesPodLabelPatcher(kc: KubeConfig, pod: PodRef): PodLabelPatcher {
  const api = kc.makeApiClient(CoreV1Api);
  return async (value, signal) => {
    const options = setHeaderOptions('Content-Type', PatchStrategy.MergePatch, {
      middleware: [abortable(signal)],
      middlewareMergeStrategy: 'append',
    });
    await api.patchNamespacedPod(
      { name: pod.name, namespace: pod.namespace, body: { metadata: { labels: { [LEADER_LABEL]: value } } } },
      options,
    );
  };
}
