import { deny } from '../../decision/reasons.ts';
import type { Stage } from '../context.ts';

/**
 * Fail closed on an audit stream that does not keep up (DESIGN.md §7: one record per call): a call
 * goes ahead only while the audit sink holds less than its bound, so a stdout nobody reads refuses
 * calls instead of growing the proxy until it is killed with every record it held. Right after
 * authenticate, so the refusal's record names the key, and before anything is parsed, looked up or
 * forwarded.
 */
export const auditBacklog: Stage = (_ctx, deps) =>
  deps.audit.admits()
    ? undefined
    : deny(
        'audit_backlog',
        'Audit records are not being written out fast enough (stdout is read too slowly or not at all), so calls are refused until they are; retry shortly.',
      );
