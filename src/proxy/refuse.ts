import type { Denial } from '../decision/reasons.ts';
import { type IncomingCall, newContext, type PipelineDeps } from './context.ts';
import { type Answer, denied } from './respond.ts';
import { audit } from './stages/audit.ts';
import { route } from './stages/route.ts';

/**
 * Answers a call the HTTP layer stops before the pipeline runs: a request node could not parse, one
 * that did not arrive within --client-timeout, one that comes in while the proxy drains. It is
 * answered like any denial of the pipeline (DESIGN.md §4, ADR 0007 §9): in the vendor's error shape
 * when the listener or the path prefix names the vendor (Stripe's otherwise), with the decision
 * header, and audited and counted by the same audit step. Only the route is read, for the vendor and
 * the path; nothing else of the request is looked at.
 */
export function refuseCall(call: IncomingCall, deps: PipelineDeps, denial: Denial): Answer {
  const ctx = newContext(call);
  route(ctx, deps);
  const answer = denied(ctx.vendor ? deps.vendors[ctx.vendor] : undefined, denial);
  audit(ctx, deps, answer.reason);
  return answer;
}
