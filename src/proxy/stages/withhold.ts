import { isDenial } from '../../decision/reasons.ts';
import type { Stage } from '../context.ts';

/**
 * Takes out of the vendor's answer what the agent must not receive (VendorAdapter.withholdFromAnswer:
 * Stripe client secrets, the passwords in URLs), whatever its status: a Stripe card error
 * carries the payment intent too. The adapter is told the operation: what it withholds may depend on
 * what the call did (a Stripe Checkout Session's create keeps the url it priced).
 * After settle, which reads the answer as the vendor sent it: the call happened and stays counted,
 * whatever the agent gets. An answer the adapter cannot rewrite is withheld whole, like one that
 * carries the credential (forward.ts).
 */
export const withhold: Stage = (ctx) => {
  const take = ctx.adapter!.withholdFromAnswer;
  const res = ctx.upstream!;
  if (take === undefined) return undefined;
  const body = take(res.body, ctx.op);
  if (isDenial(body)) {
    // As for every answer withheld for what it carries (docs/security.md): no part of it is recorded.
    ctx.upstreamRequestId = null;
    return body;
  }
  if (body !== res.body) ctx.upstream = { ...res, body };
  return undefined;
};
