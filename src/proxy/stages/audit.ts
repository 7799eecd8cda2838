import { METHODS } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Reason } from '../../decision/reasons.ts';
import { ObjectMemo } from '../../memo.ts';
import { formatUsd, MICROS_PER_USD } from '../../money/micro-usd.ts';
import type { CompiledKey } from '../../snapshot/types.ts';
import { type AuditRecord, isoTimestamp, recordedPath } from '../../telemetry/audit.ts';
import { traceIdOf } from '../../telemetry/tracing.ts';
import {
  type BasicUser,
  type TokenPrefixes,
  tokenPrefixesOf,
  withoutPresented,
  withoutTokenShapes,
} from '../../tokens/redact.ts';
import type { CallContext, PipelineDeps } from '../context.ts';

/**
 * The step every call ends with, whichever stage decided it: metrics, the call span's attributes,
 * and one audit record (DESIGN.md §7). Run ids go to the span and the record, never to a metric label.
 */
export function audit(ctx: CallContext, deps: PipelineDeps, reason: Reason): void {
  const durationMs = performance.now() - ctx.startedMs;
  const decision = reason === 'ok' ? 'allow' : 'deny';
  const vendor = ctx.vendor ?? 'none';
  const upstream = ctx.upstream;
  // An answer cut off after its head still has the vendor's status on record.
  const upstreamStatus = upstream?.status ?? ctx.cutStatus;
  const record = deps.metrics.record;
  record.call(
    vendor,
    reason,
    upstream !== null ? ctx.upstreamMs / 1000 : undefined,
    (durationMs - ctx.upstreamMs) / 1000,
  );
  const key = ctx.key;
  if (key && ctx.countedMicros > 0) {
    record.spend(key.namespace, key.name, vendor, ctx.countedMicros / MICROS_PER_USD);
  }
  const costUsd = usd(ctx.countedMicros);
  const prefixes = tokenPrefixesOf(deps.snapshots.current);
  const authorization = ctx.call.headers.authorization;
  // What the vendor's authentication reads as a credential: once routed, a Twilio user name is not one.
  const basicUser = ctx.adapter?.basicUser ?? 'credential';
  const runId = ctx.runId === null ? null : recorded(ctx.runId, authorization, basicUser, prefixes);
  const vaultKey = key ? keyName(key) : null;
  // A span that records nothing (no SDK, or not sampled) would drop the attributes: not built then.
  if (ctx.span.isRecording()) {
    ctx.span.setAttributes({
      'keybrake.vendor': vendor,
      'keybrake.decision': decision,
      'keybrake.reason': reason,
      'keybrake.operation': ctx.op?.id ?? ctx.operationId ?? '',
      'keybrake.vault_key': vaultKey ?? '',
      'keybrake.cost_usd': costUsd,
      ...(runId ? { 'keybrake.run_id': runId } : {}),
      ...(upstreamStatus !== null ? { 'http.response.status_code': upstreamStatus } : {}),
    });
  }
  ctx.span.end();
  const line: AuditRecord = {
    ts: isoTimestamp(),
    event: 'keybrake.call',
    vaultKey,
    vendor: ctx.vendor,
    method: KNOWN_METHODS.has(ctx.method) ? ctx.method : UNREAD_METHOD,
    // Credentials out of the whole path first: a cut could leave part of one that no longer matches.
    path: recordedPath(recorded(ctx.path, authorization, basicUser, prefixes)),
    operation: ctx.op?.id ?? ctx.operationId,
    runId,
    decision,
    reason,
    costUsd,
    upstreamStatus,
    upstreamRequestId: ctx.upstreamRequestId,
    durationMs: Math.round(durationMs * 1000) / 1000,
    traceId: traceIdOf(ctx.span),
  };
  deps.audit.write(line);
}

/**
 * The caller's text as a record may hold it (ADR 0007 §1): every credential Authorization presents
 * taken out by value (a token the user brought has no shape to find, and a call may be refused before
 * its key is known; a Basic user name only where it may be one, see presentedCredentials), then every
 * Keybrake key shape, each replaced by its fingerprint. Done here,
 * where every call ends, rather than by each stage or HTTP-layer refusal that can stop one.
 */
function recorded(
  text: string,
  authorization: string | string[] | undefined,
  basicUser: BasicUser,
  prefixes: TokenPrefixes,
): string {
  return withoutTokenShapes(withoutPresented(text, authorization, basicUser), prefixes);
}

/**
 * The methods node's parser takes. Any other method is from a request line node refused, read back
 * from its bytes (server.ts): the caller's text, a pasted token too, so it is not recorded.
 */
const KNOWN_METHODS: ReadonlySet<string> = new Set(METHODS);
/** What is recorded instead: the same as for a request line that could not be read at all. */
const UNREAD_METHOD = '';

/** `namespace/name`, built once per compiled key (a snapshot's keys live as long as it does). */
const KEY_NAMES = new ObjectMemo<CompiledKey, string>('audit key name');

/** A key as its records name it (`vaultKey`): the audit sink accounts its backlog by this name. */
export function keyName(key: CompiledKey): string {
  let name = KEY_NAMES.get(key);
  if (name === undefined) {
    name = `${key.namespace}/${key.name}`;
    KEY_NAMES.set(key, name);
  }
  return name;
}

/** formatUsd, with the two amounts that repeat call after call (nothing, the last price) kept. */
let lastMicros = 0;
let lastUsd = formatUsd(0);

function usd(micros: number): string {
  if (micros === 0) return '0.00';
  if (micros !== lastMicros) {
    lastUsd = formatUsd(micros);
    lastMicros = micros;
  }
  return lastUsd;
}
