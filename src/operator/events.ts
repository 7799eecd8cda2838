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
export type EventReason = 'TokenMinted' | 'Invalid' | 'Revoked' | 'CapReached' | 'NotServed';

/** One Event to record. Messages never carry a token or an upstream credential. */
export interface OperatorEvent {
  readonly object: InvolvedObject;
  readonly type: 'Normal' | 'Warning';
  readonly reason: EventReason;
  readonly message: string;
}

/** Records Events; failures are logged, never thrown (an Event is a courtesy, not a reconcile step). */
export type EventSink = (event: OperatorEvent) => Promise<void>;

/** Only the leader records Events (DESIGN.md §3): a standby's sink drops them. */
export function leaderOnly(sink: EventSink, isLeading: () => boolean): EventSink {
  return (e) => (isLeading() ? sink(e) : Promise.resolve());
}

// What the operator tells `kubectl describe`, one builder per reason: the wording lives here only.

/** A VaultKey was deleted: from `version` on, no proxy accepts its token. */
export function revokedEvent(object: InvolvedObject, version: number): OperatorEvent {
  return {
    object,
    type: 'Normal',
    reason: 'Revoked',
    message: `VaultKey deleted: its token is refused by every proxy from snapshot version ${version} on.`,
  };
}

/** A vault token was minted into the key's token Secret (only its fingerprint is named). */
export function tokenMintedEvent(
  object: InvolvedObject,
  secret: { name: string; key: string },
  fingerprint: string,
): OperatorEvent {
  return {
    object,
    type: 'Normal',
    reason: 'TokenMinted',
    message: `Minted a vault token (${fingerprint}) into Secret ${secret.name}, key ${secret.key}.`,
  };
}

/** The object's Ready condition turned False for a reason that needs the user (not Expired/Suspended). */
export function invalidEvent(
  object: InvolvedObject,
  ready: { reason: string; message: string },
): OperatorEvent {
  return { object, type: 'Warning', reason: 'Invalid', message: `${ready.reason}: ${ready.message}` };
}

/** A key spent its daily cap: money-moving calls are refused until the day ends in `timezone`. */
export function capReachedEvent(
  object: InvolvedObject,
  spent: { usedUsd: string; capUsd: string; timezone: string },
): OperatorEvent {
  return {
    object,
    type: 'Warning',
    reason: 'CapReached',
    message: `Spent ${spent.usedUsd} USD today, the daily cap of ${spent.capUsd} USD: money-moving calls are refused until the day ends (${spent.timezone}).`,
  };
}

/**
 * The key's namespace is left out of this release's table (its proxies answer `key_unknown`) for a
 * reason its status does not show: the namespace's revocation ledger cannot be trusted or written
 * (eleventh round). `problem` names ConfigMaps and namespaces, never a token.
 */
export function notServedEvent(object: InvolvedObject, problem: string): OperatorEvent {
  return {
    object,
    type: 'Warning',
    reason: 'NotServed',
    message: `Not served by this release (key_unknown): ${problem}`,
  };
}

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
