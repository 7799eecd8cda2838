import { performance } from 'node:perf_hooks';
import { type Denial, deny, isDenial } from '../../decision/reasons.ts';
import { startChildSpan } from '../../telemetry/tracing.ts';
import type { CallContext, PipelineDeps } from '../context.ts';
import { carriesCredential, unscannableBody } from '../credential-scan.ts';
import { errorText } from '../error-text.ts';
import { recordableRequestId } from '../request-id.ts';
import {
  responseTooLargeMessage,
  UnsentDenial,
  upstreamAuthorization,
  upstreamHeaders,
} from '../upstreams.ts';

/**
 * Sends the call upstream with the real credential swapped in. A timeout or a dropped connection
 * may still have moved money, so a failure here denies without releasing the reservation; so do an
 * answer over --max-response-body and one that carries the upstream credential, which the caller
 * never sees (the vendor did act on those calls).
 */
export async function forward(ctx: CallContext, deps: PipelineDeps): Promise<Denial | undefined> {
  const req = ctx.req!;
  const key = ctx.key!;
  const span = startChildSpan(ctx.span, 'keybrake.forward');
  const t0 = performance.now();
  const host = ctx.op?.upstreamHost ?? req.subHost;
  const res = await deps.upstreams.forward({
    vendor: ctx.vendor!,
    ...(host !== undefined ? { subHost: host } : {}),
    method: req.method,
    pathAndQuery: req.query ? `${req.path}?${req.query}` : req.path,
    headers: upstreamHeaders(ctx.call.headers, upstreamAuthorization(ctx.adapter!, key.upstream)),
    body: ctx.call.body,
  });
  ctx.upstreamMs = performance.now() - t0;
  span.end();
  if (res instanceof UnsentDenial) {
    // Nothing left this proxy: the call is not sent, and its reservation is given back.
    ctx.sent = false;
    await releaseUnsent(ctx, deps);
    return res;
  }
  if (isDenial(res)) return res;
  // Kept on the context either way: the audit record names the vendor's status. Its request id is
  // taken only from an answer not withheld for what it carries, and only once scanned itself.
  ctx.upstream = res;
  const requestId = recordableRequestId(res, ctx.adapter!.requestIdHeader, key.upstream);
  if (res.overLimit !== undefined) {
    ctx.upstreamRequestId = requestId;
    return deny('upstream_response_too_large', responseTooLargeMessage(ctx.vendor!, res.overLimit));
  }
  const unscannable = unscannableBody(res);
  if (unscannable !== undefined) {
    return deny(
      'credential_in_response',
      `The ${ctx.vendor} API answered with ${unscannable}, which Keybrake did not ask for and cannot check for credentials, so it withheld the answer. The call may have taken effect.`,
    );
  }
  if (carriesCredential(res, key.upstream)) {
    return deny(
      'credential_in_response',
      `The ${ctx.vendor} API's answer contained this key's upstream credential, so Keybrake withheld it. The call may have taken effect.`,
    );
  }
  ctx.upstreamRequestId = requestId;
  return undefined;
}

/** Settles the reservation of a call that never left this proxy to 0 (the store keeps it when a replay of it went out meanwhile). */
async function releaseUnsent(ctx: CallContext, deps: PipelineDeps): Promise<void> {
  const reservation = ctx.reservation;
  if (!reservation || reservation.money.length === 0) {
    ctx.countedMicros = 0;
    return;
  }
  try {
    const outcome = await deps.counters.settle(reservation, 0);
    ctx.countedMicros = outcome === 'kept' ? ctx.op!.costMicros : 0;
  } catch (err) {
    // Failing to release over-counts, the safe side; the reservation stands.
    deps.metrics.counterStoreErrors.inc();
    deps.log.warn({ err: errorText(err) }, 'could not release an unsent call; it stays counted');
  }
}
