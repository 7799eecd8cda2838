import { deny } from '../../decision/reasons.ts';
import type { Stage } from '../context.ts';
import { keyName } from './audit.ts';

/**
 * The refusal of every call once the audit stream has failed (EPIPE, ENOSPC): the proxy is draining
 * to exit (runtime.ts), and a record written now goes to stderr only, so nothing more is forwarded.
 * `shutting_down`, since that is what the proxy is doing: the caller retries on another replica.
 */
export const AUDIT_FAILED_MESSAGE =
  'This proxy cannot write its audit log, so it takes no new call and is shutting down; nothing was forwarded. Retry on another replica.';

/**
 * Fail closed on an audit stream that does not keep up (DESIGN.md §7: one record per call): once
 * the audit sink holds its bound, a call goes ahead only while its key holds less than its share of
 * that bound (src/telemetry/audit-shares.ts), so a stdout nobody reads refuses calls instead of
 * growing the proxy until it is killed with every record it held, and the key whose records filled
 * it is refused before a key that wrote little. Right after authenticate, so the refusal's record
 * names the key, and before anything is parsed, looked up or forwarded.
 */
export const auditBacklog: Stage = (ctx, deps) =>
  deps.audit.failure !== undefined
    ? deny('shutting_down', AUDIT_FAILED_MESSAGE)
    : deps.audit.admits(keyName(ctx.key!))
      ? undefined
      : deny(
          'audit_backlog',
          "Audit records are not being written out fast enough (stdout is read too slowly or not at all), and this key's records hold at least its share of those waiting, so its calls are refused until they are written; retry shortly.",
        );
