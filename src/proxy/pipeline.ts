import { Denial, deny } from '../decision/reasons.ts';
import { tokenPrefixesOf, withoutPresented, withoutTokenShapes } from '../tokens/redact.ts';
import {
  type CallContext,
  type CallResponse,
  type IncomingCall,
  newContext,
  type PipelineDeps,
  type Stage,
} from './context.ts';
import { DEFAULT_MAX_HELD_ANSWER_BYTES } from './defaults.ts';
import { errorText } from './error-text.ts';
import { HeldAnswers } from './held-answers.ts';
import { LeaseAccounts } from './lease-accounts.ts';
import { LeaseBackoff } from './lease-backoff.ts';
import { LookupReads } from './lookup-reads.ts';
import { ObjectLinks } from './object-links.ts';
import { type Answer, allowed, denied } from './respond.ts';
import { audit, keyName } from './stages/audit.ts';
import { auditBacklog } from './stages/audit-backlog.ts';
import { authenticate } from './stages/authenticate.ts';
import { authorizeAfterLookup, authorizeBeforeLookup } from './stages/authorize.ts';
import { forward } from './stages/forward.ts';
import { leaseBeforeForward, leaseBeforeLookup } from './stages/lease.ts';
import { noteLeaseOutcome } from './stages/lease-duty.ts';
import { parse } from './stages/parse.ts';
import { lookUpCost, price } from './stages/price.ts';
import { release } from './stages/release.ts';
import { reserve } from './stages/reserve.ts';
import { revalidate } from './stages/revalidate.ts';
import { route } from './stages/route.ts';
import { settle } from './stages/settle.ts';
import { staleness } from './stages/staleness.ts';
import { unreadAnswers } from './stages/unread-answers.ts';
import { withhold } from './stages/withhold.ts';
import { UnsentDenial } from './upstreams.ts';

/**
 * The request path, in order (DESIGN.md §4); release and audit follow every call, whichever stage
 * stopped it. The cost lookup reads upstream with the real key, so it waits until every check that
 * needs no lookup has passed, and the checks on what it finds come after it. Before it, the lease
 * stage counts the call rate and leases the objects the call locks (ADR 0007 §5, §8), so the price
 * it reads cannot change until the call is settled; a write that locks without a lookup takes its
 * leases after every check, before the forward, and a call that took them for its lookup renews them
 * there (a lookup may outlast their TTL).
 */
export const STAGES: readonly Stage[] = [
  route,
  authenticate,
  auditBacklog,
  unreadAnswers,
  parse,
  price,
  staleness,
  authorizeBeforeLookup,
  leaseBeforeLookup,
  lookUpCost,
  authorizeAfterLookup,
  revalidate,
  leaseBeforeForward,
  // Again: renewing leases waits on the store, and the table may change meanwhile. Reserve follows
  // in the same turn, so nothing can change between this check and the windows it counts in.
  revalidate,
  reserve,
  forward,
  settle,
  withhold,
];

/** Returns a function from one call to its response; it never throws. */
export function createPipeline(given: PipelineDeps): (call: IncomingCall) => Promise<CallResponse> {
  // Never unbounded: a pipeline not handed a lookup bound or a lease backoff has its own (ADR 0003,
  // fifth round; ADR 0007 §5, sixth round). One not handed the held answers has an empty count.
  const deps: PipelineDeps = {
    ...given,
    lookupReads: given.lookupReads ?? new LookupReads(given.clock),
    leaseBackoff: given.leaseBackoff ?? new LeaseBackoff(),
    objectLinks: given.objectLinks ?? new ObjectLinks(),
    leaseAccounts: given.leaseAccounts ?? new LeaseAccounts(given.clock),
    heldAnswers: given.heldAnswers ?? new HeldAnswers(DEFAULT_MAX_HELD_ANSWER_BYTES),
  };
  return async function handle(call) {
    const ctx = newContext(call);
    // Past twice its bound no call is handled, a refusal neither (its record alone may hold a 1 KiB
    // path, AUDIT_PATH_CHARS): the call waits, unanswered, until the stream has taken what it holds.
    const room = deps.audit.room();
    if (room) await room;
    let answer: Answer;
    try {
      const denial = await runStages(ctx, deps);
      answer = denial
        ? denied(adapterOf(ctx, deps), withoutKeys(denial, ctx, deps))
        : allowed(ctx.upstream!, keyName(ctx.key!));
    } catch (err) {
      deps.log.error({ err: errorText(err) }, 'pipeline failed');
      answer = denied(adapterOf(ctx, deps), deny('internal_error'));
    }
    // Before answering: a client's next call on the same object must not meet this call's lease,
    // and its key's next lease step must know how this one ended.
    if (ctx.leases) {
      noteLeaseOutcome(ctx, deps, answer.reason);
      await release(ctx, deps);
    }
    audit(ctx, deps, answer.reason);
    return answer;
  };
}

/** Runs the stages until one denies; past the last one the call was forwarded and settled. */
async function runStages(ctx: CallContext, deps: PipelineDeps): Promise<Denial | undefined> {
  for (let i = 0; i < STAGES.length; i++) {
    const stage = STAGES[i]!;
    // From here on the vendor may act even if no answer comes back (the release step reads this).
    if (stage === forward) ctx.sent = true;
    let outcome = stage(ctx, deps);
    // Only stages that did I/O are awaited: a needless await costs every call a microtask turn.
    if (outcome instanceof Promise) outcome = await outcome;
    // A call that never left this proxy (no connection could be made) was not sent after all.
    if (outcome instanceof UnsentDenial) ctx.sent = false;
    if (outcome) return outcome;
  }
  return undefined;
}

/**
 * A denial's message with every credential the call presents and every Keybrake key in it replaced
 * by its fingerprint, as the audit records them (ADR 0007 §1): messages quote the caller's parameter
 * names and values (a probe had `<token>=1&<token>=2` answered with the token), and this is the one
 * place every denial of the pipeline passes.
 */
function withoutKeys(denial: Denial, ctx: CallContext, deps: PipelineDeps): Denial {
  const { message } = denial;
  if (message === undefined) return denial;
  const clean = withoutTokenShapes(
    withoutPresented(message, ctx.call.headers.authorization),
    tokenPrefixesOf(deps.snapshots.current),
  );
  return clean === message ? denial : new Denial(denial.reason, clean, denial.operation);
}

/** Denials speak the vendor's error format once the vendor is known and enabled. */
function adapterOf(ctx: CallContext, deps: PipelineDeps) {
  return ctx.vendor ? deps.vendors[ctx.vendor] : undefined;
}
