import { performance } from 'node:perf_hooks';
import type { Reason } from '../../decision/reasons.ts';
import { formatUsd, MICROS_PER_USD } from '../../money/micro-usd.ts';
import type { AuditRecord } from '../../telemetry/audit.ts';
import { traceIdOf } from '../../telemetry/tracing.ts';
import type { CallContext, PipelineDeps } from '../context.ts';

/**
 * The step every call ends with, whichever stage decided it: metrics, the call span's attributes,
 * and one audit record (DESIGN.md §7). Run ids go to the span and the record, never to a metric label.
 */
export function audit(ctx: CallContext, deps: PipelineDeps, reason: Reason): void {
  const durationMs = performance.now() - ctx.startedMs;
  const { metrics } = deps;
  const decision = reason === 'ok' ? 'allow' : 'deny';
  const vendor = ctx.vendor ?? 'none';
  const upstreamStatus = ctx.upstream?.status ?? null;
  metrics.calls.inc({ vendor, decision, reason });
  if (upstreamStatus !== null) metrics.upstreamDuration.observe({ vendor }, ctx.upstreamMs / 1000);
  metrics.overhead.observe({ vendor }, (durationMs - ctx.upstreamMs) / 1000);
  if (ctx.key && ctx.countedMicros > 0) {
    metrics.spend.inc(
      { namespace: ctx.key.namespace, vault_key: ctx.key.name, vendor },
      ctx.countedMicros / MICROS_PER_USD,
    );
  }
  ctx.span.setAttributes({
    'keybrake.vendor': vendor,
    'keybrake.decision': decision,
    'keybrake.reason': reason,
    'keybrake.operation': ctx.op?.id ?? '',
    'keybrake.vault_key': ctx.key ? `${ctx.key.namespace}/${ctx.key.name}` : '',
    'keybrake.cost_usd': formatUsd(ctx.countedMicros),
    ...(ctx.runId ? { 'keybrake.run_id': ctx.runId } : {}),
    ...(upstreamStatus !== null ? { 'http.response.status_code': upstreamStatus } : {}),
  });
  ctx.span.end();
  deps.audit.write(auditRecord(ctx, reason, decision, durationMs, traceIdOf(ctx.span)));
}

function auditRecord(
  ctx: CallContext,
  reason: Reason,
  decision: AuditRecord['decision'],
  durationMs: number,
  traceId: string | null,
): AuditRecord {
  const upstream = ctx.upstream;
  return {
    ts: new Date().toISOString(),
    event: 'keybrake.call',
    vaultKey: ctx.key ? `${ctx.key.namespace}/${ctx.key.name}` : null,
    vendor: ctx.vendor,
    method: ctx.method,
    path: ctx.path,
    operation: ctx.op?.id ?? null,
    runId: ctx.runId,
    decision,
    reason,
    costUsd: formatUsd(ctx.countedMicros),
    upstreamStatus: upstream?.status ?? null,
    upstreamRequestId: upstream ? firstHeader(upstream.headers[ctx.adapter!.requestIdHeader]) : null,
    durationMs: Math.round(durationMs * 1000) / 1000,
    traceId,
  };
}

function firstHeader(v: string | string[] | undefined): string | null {
  if (v === undefined) return null;
  return Array.isArray(v) ? (v[0] ?? null) : v;
}
