import { deny } from '../../decision/reasons.ts';
import type { Stage } from '../context.ts';
import { keyName } from './audit.ts';

/**
 * Fail closed on an audit stream that does not keep up (DESIGN.md §7: one record per call): once
 * the audit sink holds its bound, a call goes ahead only while its key holds less than its share of
 * that bound (src/telemetry/audit-shares.ts), so a stdout nobody reads refuses calls instead of
 * growing the proxy until it is killed with every record it held, and the key whose records filled
 * it is refused before a key that wrote little. Right after authenticate, so the refusal's record
 * names the key, and before anything is parsed, looked up or forwarded.
 */
export const auditBacklog: Stage = (ctx, deps) =>
  deps.audit.admits(keyName(ctx.key!))
    ? undefined
    : deny(
        'audit_backlog',
        "Audit records are not being written out fast enough (stdout is read too slowly or not at all), and this key's records hold at least its share of those waiting, so its calls are refused until they are written; retry shortly.",
      );
