import { type Denial, isDenial } from '../decision/reasons.ts';
import { tokenPrefixesOf } from '../tokens/redact.ts';
import { type CallContext, type IncomingCall, newContext, type PipelineDeps } from './context.ts';
import { type Answer, denied } from './respond.ts';
import { audit } from './stages/audit.ts';
import { findCaller, recordCaller } from './stages/authenticate.ts';
import { route } from './stages/route.ts';

/**
 * Answers a call the HTTP layer stops before the pipeline runs: a request node could not parse, one
 * that did not arrive within --client-timeout, one that comes in while the proxy drains. It is
 * answered like any denial of the pipeline (DESIGN.md §4, ADR 0007 §9): in the vendor's error shape
 * when the listener or the path prefix names the vendor (Stripe's otherwise), with the decision
 * header, and audited and counted by the same audit step. Only the route and the caller are read;
 * nothing else of the request is looked at.
 *
 * Undefined, with nothing written, while the audit sink holds its hard bound (AuditSink.full): the
 * request is then neither answered nor recorded, only counted (keybrake_audit_unrecorded_refusals_total),
 * and the HTTP layer closes its connection. The pipeline's calls wait for room there instead, but a
 * refusal cannot: it is written as node parses, and a client reconnecting at once made one per
 * request, 9 a connection, which took the backlog to 14 times its hard bound and the proxy to a
 * RangeError that lost every record it held, those of charges at the vendor too (thirteenth round).
 * Making them wait would hold each refused request until stdout is read, as many as connections
 * can be opened. Nothing such a request asks for is forwarded, so fail closed is to drop it counted.
 */
export function refuseCall(call: IncomingCall, deps: PipelineDeps, denial: Denial): Answer | undefined {
  if (deps.audit.full) {
    deps.metrics.unrecordedRefusals.inc({ reason: denial.reason });
    return undefined;
  }
  const ctx = newContext(call);
  route(ctx, deps);
  if (ctx.adapter !== null) identify(ctx, deps);
  const answer = denied(ctx.vendor ? deps.vendors[ctx.vendor] : undefined, denial);
  audit(ctx, deps, answer.reason);
  return answer;
}

/**
 * The key and run of a refused call, for its record (DESIGN.md §5, §7): found by authenticate's own
 * lookup (a digest and a Map lookup, a run key's MAC), and nothing of what a call does after it (no
 * parse, no price, no counters), so a refusal costs no more than that lookup. A credential that is no
 * key's leaves the record without one, as authenticate's key_unknown does.
 */
function identify(ctx: CallContext, deps: PipelineDeps): void {
  const snapshot = deps.snapshots.current;
  if (!snapshot) return;
  const caller = findCaller(ctx.adapter!, ctx.call.headers, snapshot, deps.clock.now(), deps.stoppedRuns);
  if (!isDenial(caller)) recordCaller(ctx, caller, tokenPrefixesOf(snapshot));
}
