import { type Denial, deny, isDenial } from '../../decision/reasons.ts';
import type { CostLookup, Parties } from '../../vendors/types.ts';
import type { CallContext, PipelineDeps, Stage } from '../context.ts';
import { parseJson } from '../parse-json.ts';
import { upstreamHeaders } from '../upstreams.ts';

/** Which operation this is, its class and its cost, from the vendor's catalog; may deny. */
export const price: Stage = (ctx) => {
  const op = ctx.adapter!.price(ctx.req!, ctx.params!, ctx.key!);
  if (isDenial(op)) return op;
  ctx.op = op;
  return undefined;
};

/**
 * Prices a call whose amount lives upstream (a refund without amount, a capture). It is an upstream
 * read with the real key, so the pipeline runs it only after the checks that need no lookup, and
 * before those that need the amount and parties it finds.
 */
export const lookUpCost: Stage = (ctx, deps) =>
  ctx.op!.lookup ? priceUpstream(ctx, deps, ctx.op!.lookup) : undefined;

/** One GET with the real key and the caller's account headers (Stripe-Account), failing closed. */
async function priceUpstream(
  ctx: CallContext,
  deps: PipelineDeps,
  lookup: CostLookup,
): Promise<Denial | undefined> {
  const { adapter, req, op } = ctx;
  const {
    'content-type': _type,
    'idempotency-key': _idem,
    ...rest
  } = upstreamHeaders(ctx.call.headers, adapter!.upstreamAuthorization(ctx.key!.upstream));
  const res = await deps.upstreams.forward({
    vendor: ctx.vendor!,
    ...(req!.subHost !== undefined ? { subHost: req!.subHost } : {}),
    method: 'GET',
    pathAndQuery: lookup.path,
    headers: rest,
  });
  if (isDenial(res)) return res;
  const body = res.status === 200 ? parseJson(res.body) : undefined;
  const cost = body === undefined ? undefined : lookup.price(body);
  if (cost === undefined) {
    return deny(
      'price_unknown',
      `Keybrake could not determine the amount of this ${op!.id} call, so it is not allowed.`,
    );
  }
  const found = lookup.parties?.(body) ?? {};
  const parties = { ...op!.parties };
  for (const [name, values] of Object.entries(found) as [keyof Parties, string[]][]) {
    parties[name] = [...new Set([...parties[name], ...values])];
  }
  const { lookup: _done, ...priced } = op!;
  ctx.op = { ...priced, costMicros: cost, parties };
  return undefined;
}
