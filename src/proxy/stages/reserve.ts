import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Clock } from '../../clock.ts';
import {
  type CounterStore,
  CounterStoreUnavailableError,
  type IdempotencyRecord,
  type ReserveResult,
  type WindowKind,
} from '../../counters/store.ts';
import { windowsFor } from '../../counters/windows.ts';
import { type Denial, type DenyReason, deny, isDenial } from '../../decision/reasons.ts';
import { formatUsd } from '../../money/micro-usd.ts';
import type { CompiledKey, CompiledPolicy } from '../../snapshot/types.ts';
import { startChildSpan } from '../../telemetry/tracing.ts';
import type { RunGrant } from '../../tokens/run-token.ts';
import type { Operation, Params, VendorRequest } from '../../vendors/types.ts';
import { nominatedHeaders } from '../connection-list.ts';
import type { CallContext, PipelineDeps } from '../context.ts';
import { errorText } from '../error-text.ts';
import { isPlainRead } from '../plain-read.ts';
import { runStopped } from '../runs.ts';

const REFUSAL: Record<WindowKind, DenyReason> = {
  minute: 'rate_limited',
  day: 'daily_cap_exceeded',
  month: 'monthly_cap_exceeded',
  run: 'run_cap_exceeded',
};

const WINDOW_NAME: Record<WindowKind, string> = {
  minute: 'per-minute request limit',
  day: 'daily spend cap',
  month: 'monthly spend cap',
  run: 'spend cap for this run',
};

/** Idempotency records live as long as Stripe keeps its own (24 h). */
export const IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60;

/**
 * How the reserve stage words a refusal, by the window that refused (the lease stage words its own the
 * same way). A cost Keybrake looked up (`costLookedUp`) is not quoted: it is what the vendor answered
 * Keybrake's read of an object the key may not be allowed to read (authorize.ts, tenth round).
 */
export function refusal(
  kind: WindowKind,
  used: number,
  limit: number,
  costMicros: number,
  costLookedUp = false,
): Denial {
  const what = WINDOW_NAME[kind];
  const cost = costLookedUp
    ? "this call's amount, which Keybrake read from the object it acts on"
    : `this call $${formatUsd(costMicros)}`;
  const detail =
    kind === 'minute'
      ? `${what} of ${limit} reached`
      : `${what} of $${formatUsd(limit)} would be exceeded ($${formatUsd(used)} used, ${cost})`;
  return deny(REFUSAL[kind], `Keybrake: ${detail}.`);
}

/**
 * A money window found already spent before the call was priced (the lease step's ceilings, ADR 0003,
 * fifth round): the call's price was never looked up, so there is no amount to name.
 */
export function spentRefusal(kind: WindowKind, used: number, limit: number): Denial {
  return deny(
    REFUSAL[kind],
    `Keybrake: ${WINDOW_NAME[kind]} of $${formatUsd(limit)} is spent ($${formatUsd(used)} used), so this call was refused before its price was looked up.`,
  );
}

/**
 * Reserves every window of a call in one store operation; a refusal names the window. With
 * `rateCounted` the call-rate window was already counted by the lease stage (before the lookup)
 * and only the money windows remain.
 */
export async function reserveWindows(
  store: CounterStore,
  key: CompiledKey,
  costMicros: number,
  runId: string | undefined,
  idempotency: IdempotencyRecord | undefined,
  clock: Clock,
  rateCounted = false,
  runKey?: RunGrant,
  passesStoreDown = false,
  costLookedUp = false,
): Promise<Extract<ReserveResult, { ok: true }> | Denial> {
  const now = clock.now();
  const all = windowsFor(key.policy, costMicros, now, runId, runKey && { capMicros: runKey.capMicros });
  const windows = rateCounted ? all.filter((w) => w.kind !== 'minute') : all;
  if (windows.length === 0) {
    // Nothing to count, but only a read its policy lets through may pass while the store is down.
    if (!rateCounted && !passesStoreDown && !store.available()) {
      throw new CounterStoreUnavailableError('counter store is down and this call may not pass meanwhile');
    }
    return { ok: true, reservation: { scope: key.uid, money: [] }, replay: false };
  }
  const result = await store.reserve({
    scope: key.uid,
    windows,
    now,
    ...(idempotency !== undefined && costMicros > 0
      ? { idempotency: { ...idempotency, ttlSeconds: IDEMPOTENCY_TTL_SECONDS } }
      : {}),
    ...(runKey !== undefined ? { runKey: runKey.runId } : {}),
  });
  if (result.ok) return result;
  // Stopped on another replica, and this one has not heard yet: the script saw it (ADR 0010).
  if ('stopped' in result) return runStopped();
  return refusal(result.refused, result.used, result.limit, costMicros, costLookedUp);
}

/**
 * Whether a call may go on uncounted while the counter store cannot answer: only a plain read under
 * `readsWhenCountersDown: allow`. A fifth-round probe deleted customers and created them uncounted
 * and past `requestsPerMinute` while Redis was down.
 */
function passesStoreDown(op: Operation, policy: CompiledPolicy): boolean {
  return isPlainRead(op) && policy.readsWhenStoreDown;
}

/**
 * The reserve stage: one store operation over every window. Fail closed for everything but a read
 * its policy lets through without counters (`passesStoreDown`).
 */
export async function reserve(ctx: CallContext, deps: PipelineDeps): Promise<Denial | undefined> {
  const key = ctx.key!;
  const op = ctx.op!;
  const span = startChildSpan(ctx.span, 'keybrake.reserve');
  // One instant for the windows the call is counted in and for its fingerprint, which names them.
  const now = deps.clock.now();
  try {
    const reserved = await reserveWindows(
      deps.counters,
      key,
      op.costMicros,
      ctx.runId ?? undefined,
      op.costMicros > 0 ? replayRecord(ctx, now) : undefined,
      { now: () => now },
      ctx.rateCounted,
      ctx.runKey ?? undefined,
      passesStoreDown(op, key.policy),
      ctx.partiesBeforeLookup !== null,
    );
    if (isDenial(reserved)) return reserved;
    // A replay was counted the first time: nothing to count now, nothing to settle later.
    if (!reserved.replay) {
      ctx.reservation = reserved.reservation;
      ctx.countedMicros = op.costMicros;
    }
  } catch (err) {
    deps.metrics.counterStoreErrors.inc();
    if (!(err instanceof CounterStoreUnavailableError))
      deps.log.error({ err: errorText(err) }, 'counter store failed');
    if (!passesStoreDown(op, key.policy)) return deny('counter_store_unavailable');
  } finally {
    span.end();
  }
  return undefined;
}

/**
 * The idempotency record of this call (ADR 0007 §4), when a retry of it may be free: only for an
 * operation the vendor de-duplicates by `Idempotency-Key`, and only for a key that reaches the vendor
 * (one header, not nominated by `Connection`, which would drop it on the way).
 */
export function replayRecord(ctx: CallContext, now: number): IdempotencyRecord | undefined {
  const op = ctx.op;
  if (!ctx.adapter || !op || !ctx.adapter.honoursIdempotencyKey(op, ctx.req!)) return undefined;
  const key = idempotencyKey(ctx.call.headers);
  if (key === undefined) return undefined;
  const priced = { costMicros: op.costMicros, currencies: op.parties.currencies };
  const periods = calendarPeriods(ctx.key!.policy, op.costMicros, now);
  return {
    key,
    fingerprint: callFingerprint(ctx.key!.uid, ctx.runId, ctx.req!, ctx.params!, priced, periods),
  };
}

/**
 * The calendar windows a call made at `now` is counted in (`day:2026-12-01`, `month:2026-12`, those
 * its policy caps), as `windowsFor` names them for the reserve: part of "the same call" (eleventh
 * round, see callFingerprint).
 */
export function calendarPeriods(policy: CompiledPolicy, costMicros: number, now: number): string[] {
  return windowsFor(policy, costMicros, now, undefined)
    .filter((w) => w.kind === 'day' || w.kind === 'month')
    .map((w) => w.bucket);
}

/** The caller's Idempotency-Key, when it is one a store may keep and the vendor will see. */
function idempotencyKey(headers: IncomingHttpHeaders): string | undefined {
  const v = headers['idempotency-key'];
  if (typeof v !== 'string' || v.length === 0 || v.length > 255) return undefined;
  return nominatedHeaders(headers.connection).includes('idempotency-key') ? undefined : v;
}

/** Headers that choose the account a call acts on: part of "the same call". */
const ACCOUNT_HEADERS = ['stripe-account', 'stripe-context'] as const;

/** What Keybrake priced a call at: the micro-USD it reserves and the currencies it priced in. */
export interface PricedAs {
  readonly costMicros: number;
  readonly currencies: readonly string[];
}

/**
 * What makes two calls "the same call" for a replay: sha256 hex of the vault key, the run (its id,
 * or none), method, sub host, path, query, account headers, the price Keybrake reserved and the
 * currencies it priced in, the calendar windows it is counted in, and the canonical body (parsed parameters, object keys sorted, arrays in
 * order), so a benign re-encoding of the same parameters matches and any other change does not. The
 * price is part of it because a lookup prices a call from what the vendor holds (a confirm, a
 * capture, an invoice's payment): the same request at a raised price is another call, counted in
 * full, since a retry passes free only up to what the first call counted (sixth round: a confirm
 * retried after its amount went from $1 to $90 was charged $90, counted $0). The run is part of it
 * because a replay reserves nothing: the same request under another run would move money counted
 * only in the first run's window, past its own run's cap (ninth round: a $9 charge whose first
 * attempt got a 5xx in a $10 run passed free in a $1 run). The calendar day and month the call is
 * counted in (`periods`, calendarPeriods) are part of it for the same reason: a replay in a later
 * day would move money counted only in the day that ended, and the first attempt, held for a
 * connection past that day's end, is then refused unsent but kept (its replay was admitted), so
 * the vendor first acts on it in the new day beside that day's whole cap (eleventh round: $15 in a
 * day under a $10 cap). A retry after the day or month ends is therefore a new call, counted there;
 * a true replay across midnight is over-counted, the safe side.
 */
export function callFingerprint(
  scope: string,
  run: string | null,
  req: VendorRequest,
  params: Params,
  priced: PricedAs,
  periods: readonly string[],
): string {
  const accounts = ACCOUNT_HEADERS.map((h) => {
    const v = req.headers[h];
    return v === undefined ? null : Array.isArray(v) ? v : [v];
  });
  const head = JSON.stringify([
    scope,
    run,
    req.method,
    req.subHost ?? null,
    req.path,
    req.query,
    ...accounts,
    priced.costMicros,
    [...priced.currencies].sort(),
    [...periods].sort(),
  ]);
  return createHash('sha256').update(head).update('\n').update(canonicalJson(params)).digest('hex');
}

/** JSON with object keys sorted (by UTF-16 code units) at every depth; arrays keep their order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    const members = Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`);
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
