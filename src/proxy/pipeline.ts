import type { IncomingHttpHeaders } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Span } from '@opentelemetry/api';
import type { Clock } from '../clock.ts';
import { type CounterStore, CounterStoreUnavailableError, type Reservation } from '../counters/store.ts';
import {
  type Denial,
  type DenyReason,
  decisionHeader,
  deny,
  isDenial,
  REASONS,
  type Reason,
} from '../decision/reasons.ts';
import { formatUsd, MICROS_PER_USD } from '../money/micro-usd.ts';
import type { SnapshotHolder } from '../snapshot/holder.ts';
import type { CompiledKey, VendorName } from '../snapshot/types.ts';
import type { AuditRecord, AuditSink } from '../telemetry/audit.ts';
import type { Log } from '../telemetry/logger.ts';
import type { ProxyMetrics } from '../telemetry/metrics.ts';
import { startCallSpan, startChildSpan, traceIdOf } from '../telemetry/tracing.ts';
import type { Operation, ParseLimits, Parties, VendorAdapter, VendorRequest } from '../vendors/types.ts';
import { authenticate } from './stages/authenticate.ts';
import { authorize, checkEndpoint } from './stages/authorize.ts';
import { reserve } from './stages/reserve.ts';
import { type Route, route } from './stages/route.ts';
import { runIdOf } from './run-id.ts';
import { downstreamHeaders, type UpstreamResponse, type Upstreams, upstreamHeaders } from './upstreams.ts';

/** Everything the pipeline touches in the world, injected (DESIGN.md §9). */
export interface PipelineDeps {
  readonly snapshots: SnapshotHolder;
  readonly vendors: Partial<Record<VendorName, VendorAdapter>>;
  readonly upstreams: Upstreams;
  readonly counters: CounterStore;
  readonly clock: Clock;
  readonly audit: AuditSink;
  readonly metrics: ProxyMetrics;
  readonly log: Log;
  readonly parseLimits: ParseLimits;
  /** Money-moving calls are denied with policy_stale when the table is older than this. */
  readonly maxStalenessMs?: number;
}

/** A call as the HTTP layer hands it over. */
export interface IncomingCall {
  /** Set when the call arrived on a vendor's own listener port. */
  readonly portVendor?: VendorName;
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  /** The HTTP layer stopped reading a body over the size limit. */
  readonly bodyTooLarge?: boolean;
}

/** What the HTTP layer writes back. */
export interface CallResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[]>;
  readonly body: Buffer | string;
}

/** Audit fields filled in as the call moves through the stages. */
interface CallState {
  vendor: VendorName | null;
  key: CompiledKey | null;
  path: string;
  op: Operation | null;
  runId: string | null;
  countedMicros: number;
  upstreamStatus: number | null;
  upstreamRequestId: string | null;
  upstreamMs: number;
}

const DECISION_HEADER = 'keybrake-decision';

/**
 * route → authenticate → parse → price → authorize → reserve → forward → settle → audit.
 * Returns a function from one call to its response; it never throws.
 */
export function createPipeline(deps: PipelineDeps): (call: IncomingCall) => Promise<CallResponse> {
  const { clock, metrics } = deps;

  const render = (state: CallState, denial: Denial): CallResponse & { reason: Reason } => {
    const info = REASONS[denial.reason];
    const message = denial.message ?? info.message;
    const adapter = state.vendor ? deps.vendors[state.vendor] : undefined;
    const err = adapter
      ? adapter.error(denial.reason, message, info.status)
      : genericError(denial.reason, message);
    return {
      status: err.status,
      headers: { ...err.headers, [DECISION_HEADER]: decisionHeader(denial.reason) },
      body: err.body,
      reason: denial.reason,
    };
  };

  async function run(
    call: IncomingCall,
    state: CallState,
    span: Span,
  ): Promise<CallResponse & { reason: Reason }> {
    const r = route(call.url, call.portVendor);
    if (isDenial(r)) {
      state.vendor = call.portVendor ?? null;
      state.path = call.url.split('?', 1)[0] ?? '';
      return render(state, r);
    }
    state.vendor = r.vendor;
    state.path = r.path;
    const adapter = deps.vendors[r.vendor];
    if (!adapter)
      return render(state, deny('route_unknown', `Vendor ${r.vendor} is not enabled on this proxy.`));

    const snapshot = deps.snapshots.current;
    if (!snapshot)
      return render(state, deny('policy_stale', 'This proxy has not received a policy snapshot yet.'));
    const now = clock.now();
    const key = authenticate(adapter, call.headers, snapshot, now);
    if (isDenial(key)) return render(state, key);
    state.key = key;
    state.runId = runIdOf(call.headers) ?? null;

    const req = vendorRequest(call, r);
    if (call.bodyTooLarge)
      return render(
        state,
        deny('body_too_large', `The request body exceeds ${deps.parseLimits.maxBytes} bytes.`),
      );
    const params = adapter.parse(req, call.body, deps.parseLimits);
    if (isDenial(params)) return render(state, params);

    const classified = adapter.price(req, params, key);
    if (isDenial(classified)) return render(state, classified);
    let op: Operation = classified;
    state.op = op;

    const age = deps.snapshots.ageMs();
    if (
      op.movesMoney &&
      deps.maxStalenessMs !== undefined &&
      (age === undefined || age > deps.maxStalenessMs)
    ) {
      return render(
        state,
        deny(
          'policy_stale',
          `The policy snapshot is ${Math.round((age ?? 0) / 1000)} s old; money-moving calls are paused until it is refreshed.`,
        ),
      );
    }

    if (op.lookup) {
      // No upstream read for an endpoint the key may not call; the rest of the chain needs the
      // amount, customer and currency that only the looked-up object holds.
      const outside = checkEndpoint({ policy: key.policy, method: req.method, path: req.path, op });
      if (outside) return render(state, outside);
      const priced = await lookUpCost(deps, adapter, key, r, call.headers, op);
      if (isDenial(priced)) return render(state, priced);
      op = priced;
      state.op = op;
    }
    const denied = authorize({ policy: key.policy, method: req.method, path: req.path, op });
    if (denied) return render(state, denied);

    // Reserve: one store operation over every window. Fail closed for anything that moves money.
    let reservation: Reservation | undefined;
    const reserveSpan = startChildSpan(span, 'keybrake.reserve');
    try {
      const idem = header(call.headers, 'idempotency-key');
      const reserved = await reserve(
        deps.counters,
        key,
        op.costMicros,
        state.runId ?? undefined,
        idem,
        clock,
      );
      if (isDenial(reserved)) return render(state, reserved);
      reservation = reserved.replay ? undefined : reserved.reservation;
      state.countedMicros = reserved.replay ? 0 : op.costMicros;
    } catch (err) {
      metrics.counterStoreErrors.inc();
      if (!(err instanceof CounterStoreUnavailableError))
        deps.log.error({ err: errorText(err) }, 'counter store failed');
      if (op.movesMoney || op.costMicros > 0 || !key.policy.readsWhenStoreDown) {
        return render(state, deny('counter_store_unavailable'));
      }
    } finally {
      reserveSpan.end();
    }

    const forwardSpan = startChildSpan(span, 'keybrake.forward');
    const t0 = performance.now();
    const res = await deps.upstreams.forward({
      vendor: r.vendor,
      ...(r.subHost !== undefined ? { subHost: r.subHost } : {}),
      method: req.method,
      pathAndQuery: r.query ? `${r.path}?${r.query}` : r.path,
      headers: upstreamHeaders(call.headers, adapter.upstreamAuthorization(key.upstream)),
      body: call.body,
    });
    state.upstreamMs = performance.now() - t0;
    forwardSpan.end();
    // A timeout or a dropped connection may still have moved money: the reservation stays.
    if (isDenial(res)) return render(state, res);

    state.upstreamStatus = res.status;
    state.upstreamRequestId = firstHeader(res.headers[adapter.requestIdHeader]);
    if (reservation) state.countedMicros = await settle(deps, adapter, op, reservation, res);
    return {
      status: res.status,
      headers: { ...downstreamHeaders(res.headers), [DECISION_HEADER]: decisionHeader('ok') },
      body: res.body,
      reason: 'ok',
    };
  }

  return async function handle(call) {
    const started = performance.now();
    const span = startCallSpan(call.headers);
    const state: CallState = {
      vendor: call.portVendor ?? null,
      key: null,
      path: '',
      op: null,
      runId: null,
      countedMicros: 0,
      upstreamStatus: null,
      upstreamRequestId: null,
      upstreamMs: 0,
    };
    let response: CallResponse & { reason: Reason };
    try {
      response = await run(call, state, span);
    } catch (err) {
      deps.log.error({ err: errorText(err) }, 'pipeline failed');
      response = render(state, deny('internal_error'));
    }
    const durationMs = performance.now() - started;
    const decision = response.reason === 'ok' ? 'allow' : 'deny';
    const vendor = state.vendor ?? 'none';
    metrics.calls.inc({ vendor, decision, reason: response.reason });
    if (state.upstreamStatus !== null) metrics.upstreamDuration.observe({ vendor }, state.upstreamMs / 1000);
    metrics.overhead.observe({ vendor }, (durationMs - state.upstreamMs) / 1000);
    if (state.key && state.countedMicros > 0) {
      metrics.spend.inc(
        { namespace: state.key.namespace, vault_key: state.key.name, vendor },
        state.countedMicros / MICROS_PER_USD,
      );
    }
    span.setAttributes({
      'keybrake.vendor': vendor,
      'keybrake.decision': decision,
      'keybrake.reason': response.reason,
      'keybrake.operation': state.op?.id ?? '',
      'keybrake.vault_key': state.key ? `${state.key.namespace}/${state.key.name}` : '',
      'keybrake.cost_usd': formatUsd(state.countedMicros),
      ...(state.runId ? { 'keybrake.run_id': state.runId } : {}),
      ...(state.upstreamStatus !== null ? { 'http.response.status_code': state.upstreamStatus } : {}),
    });
    span.end();
    deps.audit.write(auditRecord(call, state, response.reason, durationMs, traceIdOf(span)));
    return response;
  };
}

function auditRecord(
  call: IncomingCall,
  state: CallState,
  reason: Reason,
  durationMs: number,
  traceId: string | null,
): AuditRecord {
  return {
    ts: new Date().toISOString(),
    event: 'keybrake.call',
    vaultKey: state.key ? `${state.key.namespace}/${state.key.name}` : null,
    vendor: state.vendor,
    method: call.method,
    path: state.path,
    operation: state.op?.id ?? null,
    runId: state.runId,
    decision: reason === 'ok' ? 'allow' : 'deny',
    reason,
    costUsd: formatUsd(state.countedMicros),
    upstreamStatus: state.upstreamStatus,
    upstreamRequestId: state.upstreamRequestId,
    durationMs: Math.round(durationMs * 1000) / 1000,
    traceId,
  };
}

function vendorRequest(call: IncomingCall, r: Route): VendorRequest {
  return {
    method: call.method,
    path: r.path,
    query: r.query,
    headers: call.headers,
    ...(r.subHost !== undefined ? { subHost: r.subHost } : {}),
  };
}

/**
 * Prices a call whose amount lives upstream (a refund without amount, a capture): one GET with the
 * real key and the caller's account headers (Stripe-Account), failing closed.
 */
async function lookUpCost(
  deps: PipelineDeps,
  adapter: VendorAdapter,
  key: CompiledKey,
  r: Route,
  headers: IncomingHttpHeaders,
  op: Operation,
): Promise<Operation | Denial> {
  const lookup = op.lookup!;
  const {
    'content-type': _type,
    'idempotency-key': _idem,
    ...rest
  } = upstreamHeaders(headers, adapter.upstreamAuthorization(key.upstream));
  const res = await deps.upstreams.forward({
    vendor: r.vendor,
    ...(r.subHost !== undefined ? { subHost: r.subHost } : {}),
    method: 'GET',
    pathAndQuery: lookup.path,
    headers: rest,
  });
  if (isDenial(res)) return res;
  const body = res.status === 200 ? parseJson(res.body) : undefined;
  const price = body === undefined ? undefined : lookup.price(body);
  if (price === undefined) {
    return deny(
      'price_unknown',
      `Keybrake could not determine the amount of this ${op.id} call, so it is not allowed.`,
    );
  }
  const found = lookup.parties?.(body) ?? {};
  const parties = { ...op.parties };
  for (const [name, values] of Object.entries(found) as [keyof Parties, string[]][]) {
    parties[name] = [...new Set([...parties[name], ...values])];
  }
  const { lookup: _done, ...priced } = op;
  return { ...priced, costMicros: price, parties };
}

/** Keep, adjust to the actual amount, or release when the vendor provably did nothing (4xx). */
async function settle(
  deps: PipelineDeps,
  adapter: VendorAdapter,
  op: Operation,
  reservation: Reservation,
  res: UpstreamResponse,
): Promise<number> {
  const reserved = op.costMicros;
  let actual = reserved;
  if (res.status >= 400 && res.status < 500) actual = 0;
  else if (res.status >= 200 && res.status < 300)
    actual = adapter.settle(op, res.status, parseJson(res.body)) ?? reserved;
  // A key without spend caps has no money window to adjust, but its calls still cost what they cost.
  if (actual === reserved || reservation.money.length === 0) return actual;
  try {
    await deps.counters.settle(reservation, actual);
    return actual;
  } catch (err) {
    // Failing to release over-counts, which is the safe side; the reservation stands.
    deps.metrics.counterStoreErrors.inc();
    deps.log.warn({ err: errorText(err) }, 'could not settle a reservation; it stays counted');
    return reserved;
  }
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return typeof v === 'string' && v.length > 0 && v.length <= 255 ? v : undefined;
}

function firstHeader(v: string | string[] | undefined): string | null {
  if (v === undefined) return null;
  return Array.isArray(v) ? (v[0] ?? null) : v;
}

function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/** Before a vendor is known (an unknown route) errors use Stripe's shape: the most common client. */
function genericError(reason: DenyReason, message: string) {
  return {
    status: REASONS[reason].status,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ error: { type: 'invalid_request_error', code: reason, message } }),
  };
}
