import {
  type CustomObjectsApi,
  CustomObjectsApi as CustomObjectsApiClass,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { API_VERSION, type Condition, GROUP, VERSION } from '../api/v1alpha1/index.ts';
import type { ObjectStatus } from '../compiler/compile.ts';
import { mergeConditions } from '../compiler/conditions.ts';
import { sameJson } from '../equality.ts';
import { formatUsd } from '../money/micro-usd.ts';
import { PLURALS } from '../sources/kubernetes/labels.ts';
import { escapeForTerminal } from '../terminal-text.ts';

/** The field manager of every status this operator applies (`kubectl get vk -o yaml --show-managed-fields`). */
export const FIELD_MANAGER = 'keybrake-operator';

/**
 * The `.status` fields the operator always owns; spentTodayUsd and lastUsedAt only when a counter
 * store says something about them (StatusExtras), anything else in `.status` is left alone.
 */
const KEY_FIELDS = ['conditions', 'observedGeneration', 'tokenFingerprint', 'capPerDayUsd'] as const;
const POLICY_FIELDS = ['conditions', 'observedGeneration'] as const;

/** Every `.status` field the operator may write on an object of this kind. */
export function ownedFields(kind: 'VaultKey' | 'SpendPolicy'): readonly string[] {
  return kind === 'VaultKey' ? [...KEY_FIELDS, 'spentTodayUsd', 'lastUsedAt'] : POLICY_FIELDS;
}

/** What goes into one object's status besides the compiler's verdict. */
export interface StatusExtras {
  /**
   * Micro-USD spent today, when a counter store is configured: `undefined` leaves `spentTodayUsd`
   * as it is (no store), `null` clears it (the key is not served).
   */
  readonly spentTodayMicros?: number | null;
  /**
   * Epoch ms of the key's last reserved call, from the counter store; `undefined` (no store, or
   * nothing recorded) leaves `lastUsedAt` as it is: it is history, kept while the key is not served.
   */
  readonly lastUsedMs?: number;
}

/** A status change to write: the fields to apply, what differs, and what changed in the Ready condition. */
export interface StatusChange {
  /**
   * Every owned field the object should show, as server-side apply takes it: a field this manager
   * applied before and leaves out now is removed. Fields left alone (see StatusExtras) carry their
   * current value, so leaving them out cannot drop them.
   */
  readonly apply: Record<string, unknown>;
  /** What differs from the current status, merge-patch shaped (`null`: removed); logged with the write. */
  readonly patch: { status: Record<string, unknown> };
  /** The status after the write, as the operator will next compare against. */
  readonly status: Record<string, unknown>;
  /** The Ready condition when its status, reason or message changed; undefined otherwise. */
  readonly readyChanged?: Condition;
}

/**
 * Compiler verdict + spend → the status to write, compared with the current one (from the informer
 * cache). Pure. Returns undefined when nothing changed, so an idle cluster sees no writes at all;
 * lastTransitionTime is carried over while a condition's status holds (API conventions).
 */
export function statusChange(
  verdict: ObjectStatus,
  current: Record<string, unknown> | undefined,
  extras: StatusExtras = {},
): StatusChange | undefined {
  const previousConditions = Array.isArray(current?.conditions)
    ? (current.conditions as Condition[])
    : undefined;
  const conditions = mergeConditions(previousConditions, verdict.conditions.map(readable));
  const desired: Record<string, unknown> = {
    conditions,
    observedGeneration: verdict.generation ?? null,
  };
  const fields: string[] = [...(verdict.kind === 'VaultKey' ? KEY_FIELDS : POLICY_FIELDS)];
  if (verdict.kind === 'VaultKey') {
    desired.tokenFingerprint = verdict.tokenFingerprint ?? null;
    desired.capPerDayUsd = verdict.capPerDayUsd ?? null;
    if (extras.spentTodayMicros !== undefined) {
      fields.push('spentTodayUsd');
      desired.spentTodayUsd = extras.spentTodayMicros === null ? null : formatUsd(extras.spentTodayMicros);
    }
    const lastUsedAt = laterLastUse(extras.lastUsedMs, current?.lastUsedAt);
    if (lastUsedAt !== undefined) {
      fields.push('lastUsedAt');
      desired.lastUsedAt = lastUsedAt;
    }
  }
  const patch: Record<string, unknown> = {};
  for (const f of fields) {
    const want = desired[f] ?? null;
    const have = current?.[f] ?? null;
    if (!sameJson(want, have)) patch[f] = want;
  }
  if (Object.keys(patch).length === 0) return undefined;

  const status: Record<string, unknown> = { ...(current ?? {}) };
  for (const [f, v] of Object.entries(patch)) {
    if (v === null) delete status[f];
    else status[f] = v;
  }
  const apply: Record<string, unknown> = {};
  for (const f of ownedFields(verdict.kind)) if (status[f] !== undefined) apply[f] = status[f];
  const before = previousConditions?.find((c) => c.type === 'Ready');
  const after = conditions.find((c) => c.type === 'Ready');
  const readyChanged =
    after &&
    (!before ||
      before.status !== after.status ||
      before.reason !== after.reason ||
      before.message !== after.message)
      ? after
      : undefined;
  return { apply, patch: { status: patch }, status, ...(readyChanged && { readyChanged }) };
}

/**
 * A condition as `kubectl describe` and `kubectl get -o yaml` print it to a terminal: its message
 * with control and format characters spelt visibly (escapeForTerminal), as the operator's log shows
 * them. A message quotes what a tenant wrote (an unknown field's name, sixteenth round: a raw ESC
 * reached the status and the Warning Event).
 */
function readable(condition: Condition): Condition {
  const message = escapeForTerminal(condition.message);
  return message === condition.message ? condition : { ...condition, message };
}

/**
 * The lastUsedAt to write (RFC 3339, whole seconds like lastTransitionTime), or undefined to leave
 * the field alone: only a later time replaces the one shown, so a counter store that lost its
 * records (a Redis flush) or a replica's clock running behind never moves it backwards.
 */
export function laterLastUse(lastUsedMs: number | undefined, shown: unknown): string | undefined {
  if (lastUsedMs === undefined) return undefined;
  const seconds = new Date(Math.floor(lastUsedMs / 1000) * 1000);
  if (Number.isNaN(seconds.getTime())) return undefined;
  const before = typeof shown === 'string' ? Date.parse(shown) : Number.NaN;
  if (!Number.isNaN(before) && seconds.getTime() <= before) return undefined;
  return seconds.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Which object a status belongs to. */
export interface StatusRef {
  readonly kind: 'VaultKey' | 'SpendPolicy';
  readonly namespace: string;
  readonly name: string;
}

/**
 * Writes the owned `.status` fields of one object (the status subresource). Resolves true once
 * written, false when the object is gone.
 */
export type StatusApplier = (ref: StatusRef, status: Record<string, unknown>) => Promise<boolean>;

/**
 * Server-side apply of `/status` as field manager `keybrake-operator`, forced: the operator is the
 * only writer of these fields (cert-manager writes its status the same way). A field this operator
 * owns but another manager still holds (written by merge patch before the operator used apply) is
 * not removed by leaving it out, so such leftovers are cleared once with a merge patch.
 */
export function kubernetesStatusApplier(kc: KubeConfig): StatusApplier {
  const api: CustomObjectsApi = kc.makeApiClient(CustomObjectsApiClass);
  const apply = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);
  const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  return async (ref, status) => {
    const target = {
      group: GROUP,
      version: VERSION,
      namespace: ref.namespace,
      plural: PLURALS[ref.kind],
      name: ref.name,
    };
    try {
      const applied = (await api.patchNamespacedCustomObjectStatus(
        {
          ...target,
          body: {
            apiVersion: API_VERSION,
            kind: ref.kind,
            metadata: { name: ref.name, namespace: ref.namespace },
            status,
          },
          fieldManager: FIELD_MANAGER,
          force: true,
        },
        apply,
      )) as { status?: Record<string, unknown> };
      const leftovers = ownedFields(ref.kind).filter(
        (f) => status[f] === undefined && applied.status?.[f] !== undefined,
      );
      if (leftovers.length > 0) {
        const body = { status: Object.fromEntries(leftovers.map((f) => [f, null])) };
        await api.patchNamespacedCustomObjectStatus({ ...target, body, fieldManager: FIELD_MANAGER }, merge);
      }
      return true;
    } catch (err) {
      if ((err as { code?: number }).code === 404) return false;
      throw err;
    }
  };
}
