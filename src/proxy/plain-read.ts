import type { Operation } from '../vendors/types.ts';

/**
 * Whether a call only reads: the catalog's `read` class, moving and costing nothing. What the
 * pipeline still lets through when it cannot know the policy or the counters are current (a stale
 * table, a counter store down): a free write or a destructive call is not a read, since either
 * changes the account for good (fifth and eighth round probes deleted and rewrote customers so).
 */
export function isPlainRead(op: Operation): boolean {
  return op.class === 'read' && !op.movesMoney && op.costMicros === 0;
}
