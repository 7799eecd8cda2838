import type { Condition } from '../api/v1alpha1/index.ts';

export type { Condition };

/** Why a VaultKey is or is not served: the `reason` of its Ready condition. */
export const KEY_REASONS = [
  'Active',
  'Expired',
  'Suspended',
  'Invalid',
  'PolicyNotFound',
  'PolicyInvalid',
  'VendorMismatch',
  'UpstreamSecretMissing',
  'UpstreamSecretInvalid',
  'TokenSecretMissing',
  'TokenInvalid',
  'TokenConflict',
  'TokenSecretStale',
  'TokenSecretImmutable',
  'TokenRevoked',
  // Marked for deletion, held by a finalizer (the operator, operator/deleting-status.ts).
  'Deleting',
] as const;
export type KeyReason = (typeof KEY_REASONS)[number];

/** The `reason` of a SpendPolicy's Ready condition. */
export const POLICY_REASONS = ['Valid', 'Invalid', 'Deleting'] as const;
export type PolicyReason = (typeof POLICY_REASONS)[number];

/** A Ready condition following the Kubernetes API conventions. */
export function readyCondition(
  ready: boolean,
  reason: KeyReason | PolicyReason,
  message: string,
  opts: { generation?: number; now: number },
): Condition {
  return {
    type: 'Ready',
    status: ready ? 'True' : 'False',
    reason,
    message,
    ...(opts.generation !== undefined && { observedGeneration: opts.generation }),
    lastTransitionTime: transitionTime(opts.now),
  };
}

// A compile stamps every status of its table with one `now`: format it once, not once per key.
let lastNow = Number.NaN;
let lastText = '';
function transitionTime(now: number): string {
  if (now !== lastNow) {
    lastText = new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z');
    lastNow = now;
  }
  return lastText;
}

/**
 * Carries `lastTransitionTime` over from the previous conditions when a condition's status did not
 * change, as the API conventions ask; the operator calls this before writing status.
 */
export function mergeConditions(
  previous: readonly Condition[] | undefined,
  next: readonly Condition[],
): Condition[] {
  return next.map((c) => {
    const old = previous?.find((p) => p.type === c.type);
    return old && old.status === c.status ? { ...c, lastTransitionTime: old.lastTransitionTime } : c;
  });
}
