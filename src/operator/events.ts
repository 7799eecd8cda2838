import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { API_VERSION } from '../api/v1alpha1/index.ts';
import type { Log } from '../telemetry/logger.ts';

/** The object an Event is about (`kubectl describe vk <name>` lists it). */
export interface InvolvedObject {
  readonly kind: 'VaultKey' | 'SpendPolicy';
  readonly namespace: string;
  readonly name: string;
  readonly uid?: string;
}

/** Reasons the operator reports, one per thing a user would want to see in `kubectl describe`. */
export type EventReason = 'TokenMinted' | 'Invalid' | 'Revoked' | 'CapReached';

/** One Event to record. Messages never carry a token or an upstream credential. */
export interface OperatorEvent {
  readonly object: InvolvedObject;
  readonly type: 'Normal' | 'Warning';
  readonly reason: EventReason;
  readonly message: string;
}

/** Records Events; failures are logged, never thrown (an Event is a courtesy, not a reconcile step). */
export type EventSink = (event: OperatorEvent) => Promise<void>;

/** Core v1 Events are what `kubectl describe` and `kubectl get events` show by default. */
export function kubernetesEventSink(
  kc: KubeConfig,
  opts: { log: Log; instance: string; clock?: () => number },
): EventSink {
  const api = kc.makeApiClient(CoreV1Api);
  const now = opts.clock ?? Date.now;
  return async (e) => {
    const at = new Date(now());
    try {
      await api.createNamespacedEvent({
        namespace: e.object.namespace,
        body: {
          metadata: { generateName: `${e.object.name}.`, namespace: e.object.namespace },
          involvedObject: {
            apiVersion: API_VERSION,
            kind: e.object.kind,
            namespace: e.object.namespace,
            name: e.object.name,
            ...(e.object.uid !== undefined && { uid: e.object.uid }),
          },
          type: e.type,
          reason: e.reason,
          message: e.message.slice(0, 1024),
          source: { component: 'keybrake-operator' },
          reportingComponent: 'keybrake.dev/operator',
          reportingInstance: opts.instance.slice(0, 128),
          action: e.reason,
          firstTimestamp: at,
          lastTimestamp: at,
          count: 1,
        },
      });
    } catch (err) {
      opts.log.warn(
        {
          reason: e.reason,
          object: `${e.object.namespace}/${e.object.name}`,
          status: (err as { code?: number }).code,
        },
        'could not record an event',
      );
    }
  };
}
