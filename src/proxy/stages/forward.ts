import { performance } from 'node:perf_hooks';
import { type Denial, isDenial } from '../../decision/reasons.ts';
import { startChildSpan } from '../../telemetry/tracing.ts';
import type { CallContext, PipelineDeps } from '../context.ts';
import { upstreamHeaders } from '../upstreams.ts';

/**
 * Sends the call upstream with the real credential swapped in. A timeout or a dropped connection
 * may still have moved money, so a failure here denies without releasing the reservation.
 */
export async function forward(ctx: CallContext, deps: PipelineDeps): Promise<Denial | undefined> {
  const req = ctx.req!;
  const span = startChildSpan(ctx.span, 'keybrake.forward');
  const t0 = performance.now();
  const res = await deps.upstreams.forward({
    vendor: ctx.vendor!,
    ...(req.subHost !== undefined ? { subHost: req.subHost } : {}),
    method: req.method,
    pathAndQuery: req.query ? `${req.path}?${req.query}` : req.path,
    headers: upstreamHeaders(ctx.call.headers, ctx.adapter!.upstreamAuthorization(ctx.key!.upstream)),
    body: ctx.call.body,
  });
  ctx.upstreamMs = performance.now() - t0;
  span.end();
  if (isDenial(res)) return res;
  ctx.upstream = res;
  return undefined;
}
