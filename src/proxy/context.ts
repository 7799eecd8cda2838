import type { IncomingHttpHeaders } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Span } from '@opentelemetry/api';
import type { Clock } from '../clock.ts';
import type { CounterStore, HeldLeases, Reservation } from '../counters/store.ts';
import type { Denial } from '../decision/reasons.ts';
import type { SnapshotHolder } from '../snapshot/holder.ts';
import type { CompiledKey, CompiledPolicy, Snapshot, VendorName } from '../snapshot/types.ts';
import type { AuditSink } from '../telemetry/audit.ts';
import type { Log } from '../telemetry/logger.ts';
import type { ProxyMetrics } from '../telemetry/metrics.ts';
import { startCallSpan } from '../telemetry/tracing.ts';
import type { RunGrant } from '../tokens/run-token.ts';
import type {
  Operation,
  Params,
  ParseLimits,
  Parties,
  VendorAdapter,
  VendorRequest,
} from '../vendors/types.ts';
import type { HeldAnswers } from './held-answers.ts';
import type { LeaseAccounts } from './lease-accounts.ts';
import type { LeaseBackoff } from './lease-backoff.ts';
import type { LookupReads } from './lookup-reads.ts';
import type { ObjectLinks } from './object-links.ts';
import type { StoppedRuns } from './runs.ts';
import type { UpstreamResponse, Upstreams } from './upstreams.ts';

/** Everything the pipeline touches in the world, handed to every stage (DESIGN.md §9). */
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
  /**
   * How long a lease outlives a call that never settled (ADR 0007 §5): the upstream timeout plus a
   * margin, `leaseTtlMsFor(upstreamTimeoutMs)`. Unset: FALLBACK_LEASE_TTL_MS (stages/lease.ts).
   */
  readonly leaseTtlMs?: number;
  /**
   * Runs stopped by `run stop` (ADR 0010), as this replica knows them: authenticate refuses their run
   * keys on every call, reserve again just before counting. Absent: no run is ever stopped here.
   */
  readonly stoppedRuns?: StoppedRuns;
  /**
   * The per-replica bound on the price lookups of keys without `requestsPerMinute` (lookup-reads.ts).
   * Absent: createPipeline gives its pipeline one on `clock`, with the default rate.
   */
  readonly lookupReads?: LookupReads;
  /**
   * The per-replica backoff of keys whose calls held leases and were refused after their lookups
   * (lease-backoff.ts). Absent: createPipeline gives its pipeline one on the monotonic clock.
   */
  readonly leaseBackoff?: LeaseBackoff;
  /**
   * What this replica's price lookups learnt that never changes (object-links.ts), handed to the
   * adapters' pricing. Absent: createPipeline gives its pipeline one; `policy-check --explain`, which
   * reads nothing, knows none.
   */
  readonly objectLinks?: ObjectLinks;
  /**
   * What this replica learnt of the upstream account each upstream credential acts for (ADR 0007 §5,
   * fourteenth round; lease-accounts.ts), which never changes: the leases of a Stripe call are the
   * account's, not the secret's. Absent: createPipeline gives its pipeline one on `clock`.
   */
  readonly leaseAccounts?: LeaseAccounts;
  /**
   * The vendor answers this process holds for clients that have not taken them (held-answers.ts):
   * the listener counts them, a stage refuses the keys holding their share. Absent: createPipeline
   * gives its pipeline one nobody fills, which admits every call.
   */
  readonly heldAnswers?: HeldAnswers;
}

/** A call as the HTTP layer (server.ts) hands it to the pipeline. */
export interface IncomingCall {
  /** Set when the call arrived on a vendor's own listener port. */
  readonly portVendor?: VendorName;
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  /**
   * The header lines as received, name then value (node's `rawHeaders`): duplicates node merges or
   * drops in `headers` are still visible here (ADR 0007 §2). Absent: rebuilt from `headers`.
   */
  readonly rawHeaders?: readonly string[];
  readonly body: Buffer;
  /** The HTTP layer stopped reading a body over the size limit. */
  readonly bodyTooLarge?: boolean;
  /**
   * The HTTP layer read no body because its Content-Type is no media type at all (empty, `;`, `/`):
   * fastify refuses such a type before any route, and the body is not the vendor's either.
   */
  readonly contentTypeUnreadable?: boolean;
  /**
   * Aborted once the client can no longer take the call's answer: its connection closed, or ends
   * with the answer of a request before it. A call not yet on an upstream connection is then dropped
   * unsent (upstreams.ts); one already sent runs its course. Absent: the client is never gone.
   */
  readonly signal?: AbortSignal;
}

/** What the pipeline hands back for the HTTP layer to write. */
export interface CallResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[]>;
  readonly body: Buffer | string;
  /**
   * On the vendor's own answer: the vault key whose call it answers, against which the listener
   * counts its bytes until the client has taken them (held-answers.ts). Keybrake's refusals are small
   * and carry none.
   */
  readonly heldBy?: string;
}

/**
 * One call on its way through the stages. Each stage fills in its own fields and reads only those
 * earlier stages set (the stage order guarantees them, hence the `!` in stages); audit reads
 * whatever the call reached. Every field exists from the start so all contexts share one shape.
 */
export interface CallContext {
  readonly call: IncomingCall;
  readonly method: string;
  readonly span: Span;
  /** `performance.now()` when the call arrived. */
  readonly startedMs: number;
  // route
  vendor: VendorName | null;
  /** Vendor-relative path (the raw path when routing failed): what policy judges and audit records. */
  path: string;
  adapter: VendorAdapter | null;
  req: VendorRequest | null;
  // authenticate
  /** The policy table the caller was found in (revalidate asks a newer one again). */
  table: Snapshot | null;
  key: CompiledKey | null;
  policy: CompiledPolicy | null;
  runId: string | null;
  /** Set when the call was made with a run key (ADR 0010): its grant (run id, own cap, expiry). */
  runKey: RunGrant | null;
  // parse
  params: Params | null;
  /** False when the body was judged but must not reach the vendor (VendorAdapter.forwardsBody): none is sent. */
  forwardsBody: boolean;
  // price, and the cost lookup when the price lives upstream
  op: Operation | null;
  /** The operation a price-stage denial named (a credential operation), when there is no `op`. */
  operationId: string | null;
  /**
   * The parties the request itself named, once Keybrake's own cost lookup has read the object it
   * names (null without one). What the lookup added to `op.parties`, and the amount it priced, are
   * the vendor's answer to Keybrake's read with the real key, which the key itself may not be allowed
   * to make: refusals never quote them (tenth round: the denials named the customer and amount of
   * any object a key named, a lookup oracle).
   */
  partiesBeforeLookup: Parties | null;
  // lease: the objects this call holds, released after settle; the call rate it already counted
  leases: HeldLeases | null;
  /**
   * Epoch ms (pipeline clock) read before the store step that took or last renewed the held leases:
   * the store vouched for them no earlier, and they lapse a TTL after it at the earliest. 0 while
   * none are held.
   */
  leasesConfirmedAt: number;
  rateCounted: boolean;
  // reserve, adjusted by settle
  reservation: Reservation | null;
  countedMicros: number;
  // forward
  /** The call was handed to the upstream: from here on the vendor may act even without an answer. */
  sent: boolean;
  upstream: UpstreamResponse | null;
  /**
   * The status of a vendor answer whose head arrived but not the whole of it (the connection dropped,
   * the body timed out): for the audit record. `upstream` stays null, as nothing was answered whole:
   * nothing is settled, passed on or withheld from it, and the leases are kept (release.ts).
   */
  cutStatus: number | null;
  /**
   * The vendor's request id for the audit record, set by forward only from an answer whose head it
   * scanned and did not withhold for what it carried (request-id.ts); null otherwise.
   */
  upstreamRequestId: string | null;
  upstreamMs: number;
}

/** A step of the request path: undefined continues, a Denial stops the call. */
export type Stage = (
  ctx: CallContext,
  deps: PipelineDeps,
) => Denial | undefined | Promise<Denial | undefined>;

/** A fresh context for an arriving call; its span starts here, continuing the caller's trace. */
export function newContext(call: IncomingCall): CallContext {
  const startedMs = performance.now();
  return {
    call,
    method: call.method,
    span: startCallSpan(call.headers),
    startedMs,
    vendor: call.portVendor ?? null,
    path: '',
    adapter: null,
    req: null,
    table: null,
    key: null,
    policy: null,
    runId: null,
    runKey: null,
    params: null,
    forwardsBody: true,
    op: null,
    operationId: null,
    partiesBeforeLookup: null,
    leases: null,
    leasesConfirmedAt: 0,
    rateCounted: false,
    reservation: null,
    countedMicros: 0,
    sent: false,
    upstream: null,
    cutStatus: null,
    upstreamRequestId: null,
    upstreamMs: 0,
  };
}
