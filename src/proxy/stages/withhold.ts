import { type Denial, isDenial } from '../../decision/reasons.ts';
import type { CallContext, Stage } from '../context.ts';

/**
 * Takes out of the vendor's answer what the agent must not receive (VendorAdapter.withholdFromAnswer:
 * Stripe client secrets, the passwords in URLs), whatever its status: a Stripe card error
 * carries the payment intent too. The adapter is told the operation: what it withholds may depend on
 * what the call did (a Stripe Checkout Session's create keeps the url it priced).
 * The head goes through the adapter's rules as well (withholdFromAnswerHead, sixteenth round, probe
 * catalog16 finding 1): a 307's `Location` is the same capability as its body's `redirect_to`, and a
 * client follows it unasked. The adapter is told the headers the agent sent: a value the vendor
 * echoes back in its own header (Stripe's Idempotency-Key) is the agent's, not the vendor's secret.
 * After settle, which reads the answer as the vendor sent it: the call happened and stays counted,
 * whatever the agent gets. An answer the adapter cannot rewrite is withheld whole, like one that
 * carries the credential (forward.ts).
 */
export const withhold: Stage = (ctx) => {
  const { withholdFromAnswer: take, withholdFromAnswerHead: takeFromHead } = ctx.adapter!;
  const res = ctx.upstream!;
  const body = take === undefined ? res.body : take(res.body, ctx.op);
  if (isDenial(body)) return withheldWhole(ctx, body);
  const headers = takeFromHead === undefined ? res.headers : takeFromHead(res.headers, ctx.call.headers);
  if (isDenial(headers)) return withheldWhole(ctx, headers);
  if (body !== res.body || headers !== res.headers) ctx.upstream = { ...res, body, headers };
  return undefined;
};

/** As for every answer withheld for what it carries (docs/security.md): no part of it is recorded. */
function withheldWhole(ctx: CallContext, denial: Denial): Denial {
  ctx.upstreamRequestId = null;
  return denial;
}
