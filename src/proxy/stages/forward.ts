import { performance } from 'node:perf_hooks';
import { type Denial, deny, isDenial } from '../../decision/reasons.ts';
import { startChildSpan } from '../../telemetry/tracing.ts';
import { presentedCredentials, tokenPrefixesOf } from '../../tokens/redact.ts';
import type { CallContext, PipelineDeps } from '../context.ts';
import { carriesCredential, unscannableBody } from '../credential-scan.ts';
import { type KeysToKeepOut, recordableRequestId } from '../request-id.ts';
import {
  CutAnswer,
  responseTooLargeMessage,
  UnsentDenial,
  upstreamAuthorization,
  upstreamHeaders,
} from '../upstreams.ts';
import { renewHeldLeases } from './lease.ts';
import { sendable } from './sendable.ts';
import { settleTo } from './settle.ts';

/**
 * Sends the call upstream with the real credential swapped in. A timeout or a dropped connection
 * may still have moved money, so a failure here denies without releasing the reservation; so do an
 * answer over --max-response-body and one that carries the upstream credential, which the caller
 * never sees (the vendor did act on those calls). A call refused when it got a connection
 * (sendable.ts), that waited too long for one, or whose client went away before it had one, was
 * never sent: its reservation is given back.
 */
export async function forward(ctx: CallContext, deps: PipelineDeps): Promise<Denial | undefined> {
  const req = ctx.req!;
  const key = ctx.key!;
  const span = startChildSpan(ctx.span, 'keybrake.forward');
  const t0 = performance.now();
  const host = ctx.op?.upstreamHost ?? req.subHost;
  const headers = upstreamHeaders(ctx.call.headers, upstreamAuthorization(ctx.adapter!, key.upstream));
  const res = await deps.upstreams.forward({
    vendor: ctx.vendor!,
    ...(host !== undefined ? { subHost: host } : {}),
    method: req.method,
    pathAndQuery: req.query ? `${req.path}?${req.query}` : req.path,
    headers: ctx.forwardsBody ? headers : withoutContentType(headers),
    body: ctx.forwardsBody ? ctx.call.body : NO_BODY,
    share: key.uid,
    ...(ctx.call.signal !== undefined ? { signal: ctx.call.signal } : {}),
    admit: (answerMs) => sendable(ctx, deps, answerMs),
    // A wait for the key's turn is the caller's to make long, and Redis may lose the leases meanwhile
    // (a restart, a flush, a failover, an eviction): the store vouches for them again first.
    ...(ctx.leases !== null ? { confirm: () => renewHeldLeases(ctx, deps) } : {}),
  });
  ctx.upstreamMs = performance.now() - t0;
  span.end();
  if (res instanceof UnsentDenial) {
    // Nothing left this proxy (the pipeline marks it unsent): its reservation is given back.
    if (ctx.reservation) await settleTo(ctx, deps, ctx.reservation, 0);
    else ctx.countedMicros = 0;
    return res;
  }
  if (res instanceof CutAnswer) {
    // The vendor's status and request id name the call it may have kept (tenth round: both were
    // dropped); the id as from a whole answer, only when what arrived of this one carries no credential.
    ctx.cutStatus = res.head.status;
    if (!carriesCredential(res.head, key.upstream))
      ctx.upstreamRequestId = recordableRequestId(
        res.head,
        ctx.adapter!.requestIdHeader,
        key.upstream,
        keysToKeepOut(ctx),
      );
    return res;
  }
  if (isDenial(res)) return res;
  // Kept on the context either way: the audit record names the vendor's status. Its request id is
  // taken only from an answer not withheld for what it carries, and only once scanned itself.
  ctx.upstream = res;
  const requestId = recordableRequestId(res, ctx.adapter!.requestIdHeader, key.upstream, keysToKeepOut(ctx));
  if (res.overLimit !== undefined) {
    ctx.upstreamRequestId = requestId;
    return deny('upstream_response_too_large', responseTooLargeMessage(ctx.vendor!, res.overLimit));
  }
  // Keybrake never forwards a range (upstreams.ts): a part of an answer is one it cannot read whole.
  if (res.status === 206) {
    return deny(
      'credential_in_response',
      `The ${ctx.vendor} API answered with part of its answer (206 Partial Content), which Keybrake did not ask for and cannot check whole for credentials, so it withheld the answer. The call may have taken effect.`,
    );
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

const NO_BODY = Buffer.alloc(0);

/**
 * The keys the vendor's request id may reflect from the call: the table's shapes, and what
 * Authorization presents, read as the audit stage reads it for the path (audit.ts `recorded`).
 */
function keysToKeepOut(ctx: CallContext): KeysToKeepOut {
  return {
    prefixes: tokenPrefixesOf(ctx.table ?? undefined),
    presented: presentedCredentials(ctx.call.headers.authorization, ctx.adapter?.basicUser ?? 'credential'),
  };
}

/** The headers of a call sent without the body it came with: none describes a body any more. */
function withoutContentType(headers: Record<string, string | string[]>): Record<string, string | string[]> {
  const { 'content-type': _dropped, ...rest } = headers;
  return rest;
}
