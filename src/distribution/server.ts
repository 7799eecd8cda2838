import { once } from 'node:events';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Gauge, Histogram, Registry } from 'prom-client';
import { type Clock, systemClock } from '../clock.ts';
import { listenUrl } from '../listen.ts';
import { createBoundedServer } from '../listener/bounded-server.ts';
import { type ListenerLimits, listenerLimits } from '../listener/limits.ts';
import {
  STOP_SWEEP_ON_REFUSAL_MS,
  type StopBound,
  type StoppedRun,
  stopBoundReached,
} from '../snapshot/run-keys.ts';
import {
  deltaSize,
  diffSnapshots,
  keyWireText,
  mergeDeltas,
  type SnapshotDelta,
  serializeSnapshot,
} from '../snapshot/serialize.ts';
import type { CompiledKey, Snapshot } from '../snapshot/types.ts';
import type { Log } from '../telemetry/logger.ts';
import { sourceWarning } from '../telemetry/source-warnings.ts';
import {
  ACK_PATH,
  DEFAULT_HEARTBEAT_MS,
  deltaLines,
  ENTRIES_PER_LINE,
  fullSnapshotLines,
  LEADER_TERM_HEADER,
  MAX_STOPS_PER_MESSAGE,
  NDJSON,
  nextSnapshotVersion,
  PROXY_ID_HEADER,
  SNAPSHOT_VERSION_HEADER,
  STREAM_FORMAT_CHANGES,
  STREAM_FORMAT_HEADER,
  WATCH_PATH,
  withLag,
} from './protocol.ts';
import type { Authenticator } from './token-review.ts';

/** How far ahead of our clock a proxy's held version may be: a leader's clock skew, never more. */
const MAX_HELD_AHEAD_MS = 24 * 60 * 60 * 1000;

/** The operator side of distribution: what `keybrake operator` hands compiled snapshots to. */
export interface SnapshotServerOptions {
  readonly authenticate: Authenticator;
  /** Only the leader streams; a standby answers 503 and closes its streams when it loses the lease. */
  readonly isLeader: () => boolean;
  /** The leader's term (LEADER_TERM_HEADER), undefined when not leading; absent: none is sent. */
  readonly leaderTerm?: () => number | undefined;
  readonly heartbeatMs?: number;
  /**
   * Up to when the sources the tables are compiled from are known to have seen every change (the
   * informers: KubernetesSource.currentAt), undefined when unknown. Every heartbeat and table head
   * carries how long ago that was (`lagMs`), and proxies count their tables' age from it (ADR 0005,
   * eighth round). Absent: always now (sources that cannot fall behind: tests).
   */
  readonly sourcesCurrentAt?: () => number | undefined;
  readonly log: Log;
  /** Where `keybrake_revoke_propagation_seconds` is registered; a private registry when absent. */
  readonly registry?: Registry;
  readonly clock?: Clock;
  /**
   * Other routes on the same listener, answered by the leader only (a standby says 503 first): the
   * operator's run API (ADR 0010) under `prefix`. The handler authenticates its own callers.
   */
  readonly extraRoutes?: {
    readonly prefix: string;
    readonly handle: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;
  };
  /** How long `stopRuns` waits for the acknowledgement of every stream open when it sent (default 2 s). */
  readonly stopAckTimeoutMs?: number;
  /** Entries per change-set line (default ENTRIES_PER_LINE; tests use small ones). */
  readonly entriesPerLine?: number;
  /**
   * What a client may make `listen`'s server wait and hold (default: operatorListenerLimits). A
   * watch stream is one long answer: it is held to the header and request timeouts only until its
   * request is in, and the heartbeat keeps it from the idle timeout.
   */
  readonly limits?: ListenerLimits;
}

/**
 * The operator's listeners' limits: the proxies' defaults, with an idle timeout that outlasts two
 * heartbeats. Anything in the cluster may reach them (docs/kubernetes.md's NetworkPolicies narrow
 * that): a slow or silent client, or one address opening connections, must not keep proxies from
 * their stream.
 */
export function operatorListenerLimits(heartbeatMs: number = DEFAULT_HEARTBEAT_MS): ListenerLimits {
  return listenerLimits({ upstreamTimeoutMs: heartbeatMs });
}

/** One proxy stream as the operator sees it (for status, logs and tests). */
export interface ConnectedProxy {
  readonly proxyId: string;
  readonly user: string;
  /** Highest version the proxy acknowledged; 0 before its first ack. */
  readonly ackedVersion: number;
}

/** A running snapshot server. */
export interface SnapshotServer {
  /**
   * Sends `snapshot` to every stream (and to later ones on connect). Versions must increase (see
   * nextSnapshotVersion); a lower or equal one is ignored. `changedAt` (ms) is when the change that
   * caused it was observed, the start of the propagation measurement (default: now).
   */
  publish(snapshot: Snapshot, opts?: { changedAt?: number }): void;
  /** The request handler, to mount on a server of the caller's own. */
  readonly handler: (req: IncomingMessage, res: ServerResponse) => void;
  /** Listens on its own server (HTTPS when `tls` is given); resolves with the base URL. */
  listen(addr: {
    host: string;
    port: number;
    tls?: { cert: string | Buffer; key: string | Buffer };
  }): Promise<string>;
  connected(): ConnectedProxy[];
  /** Ends every stream now (call it on losing the lease; the heartbeat tick does it too, later). */
  disconnectAll(): void;
  /**
   * Stopped runs (ADR 0010): sent to every stream now and to every stream that connects later, until
   * each run's `until`. Resolves when every stream open now has acknowledged them (or has gone), or
   * at the ack timeout: how many streams there were and how many acknowledged.
   */
  stopRuns(runs: readonly StoppedRun[]): Promise<{ readonly proxies: number; readonly acknowledged: number }>;
  /** Whether this server holds a live stop of the run (the run API refuses to mint it again). */
  isStopped(scope: string, runId: string): boolean;
  /**
   * Which bound on live stops (ADR 0010) a new stop, or a new run, of `scope` would pass, if any: the
   * run API refuses it then. `stopRuns` itself never refuses (a stop relayed from Redis was taken already).
   */
  stopBoundReached(scope: string, action: 'stop' | 'start'): StopBound | undefined;
  /** The version last published, 0 before the first. */
  readonly version: number;
  /**
   * Resolves once the wire text of every key of the latest table is written (see `warmTexts`), or
   * at once when there is nothing to write: for a benchmark starting a proxy against an operator
   * that holds its table, as a proxy that starts after the operator meets it.
   */
  textsWritten(): Promise<void>;
  readonly registry: Registry;
  /** Ends every stream (proxies reconnect elsewhere) and stops listening. */
  close(): Promise<void>;
}

/**
 * What a stream still needs once its socket drains: for a proxy that reads change sets, the deltas
 * since what it was sent, merged into one (or the whole table, when no delta can follow); for an
 * older proxy, the newest snapshot (only the latest one matters).
 */
type Pending = { readonly delta: SnapshotDelta } | 'full' | 'snapshot';

interface Conn {
  readonly proxyId: string;
  readonly user: string;
  readonly res: ServerResponse;
  /** The proxy sent STREAM_FORMAT_HEADER: it gets change sets (ADR 0013), else whole `snapshot` lines. */
  readonly changes: boolean;
  /** The version the lines written so far bring the proxy to (0 before the first). */
  sentVersion: number;
  ackedVersion: number;
  pending: Pending | undefined;
  /** Highest stop sequence the proxy acknowledged. */
  ackedStops: number;
  /** Stops that could not be written yet (all of them matter: they add up), and their sequence. */
  pendingStops: { runs: StoppedRun[]; seq: number } | undefined;
}

interface StopWait {
  readonly seq: number;
  readonly startedAt: number;
  readonly waiting: Set<Conn>;
  readonly proxies: number;
  acknowledged: number;
  readonly done: (acknowledged: number) => void;
}

interface Propagation {
  readonly version: number;
  readonly startedAt: number;
  readonly waiting: Set<Conn>;
  acked: boolean;
}

/** 5 ms to 10 s: the budget is 200 ms p99, so the interesting buckets are the low ones. */
const PROPAGATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5, 5, 10];
/** Versions still waiting for acks; older ones are dropped unmeasured rather than kept forever. */
const MAX_TRACKED_VERSIONS = 64;
const MAX_ACK_BYTES = 4096;
/** The longest a slice of writing key texts holds the operator's event loop (a revocation may wait). */
const WARM_SLICE_MS = 5;
/** How long a published table stands unchanged before its keys' texts are written. */
const WARM_SETTLE_MS = 200;

export function createSnapshotServer(opts: SnapshotServerOptions): SnapshotServer {
  const clock = opts.clock ?? systemClock;
  const log = opts.log;
  const registry = opts.registry ?? new Registry();
  const propagationSeconds = new Histogram({
    name: 'keybrake_revoke_propagation_seconds',
    help: 'Time from a policy change to the acknowledgement by every proxy connected when it was published.',
    buckets: PROPAGATION_BUCKETS,
    registers: [registry],
  });
  const stopPropagation = new Histogram({
    name: 'keybrake_run_stop_propagation_seconds',
    help: 'Time from a run stop to its acknowledgement by every proxy connected when it was sent.',
    buckets: PROPAGATION_BUCKETS,
    registers: [registry],
  });
  const conns = new Set<Conn>();
  /** Live stops by `<scope>\n<runId>`, how many each key has, and the sequence of the last one sent. */
  const stops = new Map<string, StoppedRun>();
  const stopsOfKey = new Map<string, number>();
  let stopSeq = 0;
  const stopWaits = new Set<StopWait>();
  new Gauge({
    name: 'keybrake_snapshot_streams',
    help: 'Proxy snapshot streams open on this operator.',
    registers: [registry],
    collect() {
      this.set(conns.size);
    },
  });

  const perLine = opts.entriesPerLine ?? ENTRIES_PER_LINE;
  let latest: { version: number; snapshot: Snapshot } | undefined;
  /** The lines of the latest table, written lazily (on a connect) and kept for the next one. */
  let fullText: { version: number; full?: string; snapshot?: string } = { version: 0 };
  const textOf = (format: 'full' | 'snapshot'): string => {
    const l = latest!;
    if (fullText.version !== l.version) fullText = { version: l.version };
    let text = fullText[format];
    if (text === undefined) {
      text =
        format === 'full'
          ? fullSnapshotLines(l.snapshot, perLine)
          : `${JSON.stringify({ type: 'snapshot', version: l.version, data: serializeSnapshot(l.snapshot) })}\n`;
      fullText[format] = text;
    }
    return text;
  };
  /**
   * The keys' wire texts of the latest table, written once it is published (while leading), a
   * slice of at most WARM_SLICE_MS per turn of the event loop: the first proxy to connect after a
   * start found none written and waited while this thread wrote them (1.1 to 1.4 s of CPU at
   * 100 000 keys), on the path of its start. Each text is remembered with its key (keyWireText),
   * as a connect's whole table already left them, so a table that changed in one key writes one.
   * The whole table's text is still made on a connect (a join of these), not here: made on every
   * change it would cost the operator a walk and 40 MB per change.
   */
  let warming: { snapshot: Snapshot; done: Promise<void>; resolve: () => void } | undefined;
  let settling: NodeJS.Timeout | undefined;
  let closed = false;
  const warmTexts = (snapshot: Snapshot): Promise<void> => {
    if (warming?.snapshot === snapshot) return warming.done;
    clearTimeout(settling);
    // Whoever waits on the table this one supersedes is done waiting.
    warming?.resolve();
    const { promise: done, resolve } = Promise.withResolvers<void>();
    let keys: MapIterator<CompiledKey> | undefined;
    const slice = () => {
      // A newer table supersedes this one (its unchanged keys keep the texts written here).
      if (closed || latest?.snapshot !== snapshot) return resolve();
      keys ??= snapshot.keys.values();
      const until = performance.now() + WARM_SLICE_MS;
      for (let n = 1; ; n++) {
        const next = keys.next();
        if (next.done) return resolve();
        keyWireText(next.value);
        if (n % 256 === 0 && performance.now() > until) break;
      }
      setImmediate(slice);
    };
    // Once the table settles: a burst of changes (10 000 keys created one by one) walks it once.
    settling = setTimeout(slice, WARM_SETTLE_MS);
    warming = { snapshot, done, resolve };
    return done;
  };
  /** Highest version any proxy reported holding: versions published from now on must exceed it. */
  let floor = 0;
  const propagations: Propagation[] = [];
  const servers: Server[] = [];

  const blocked = (c: Conn) =>
    c.res.writableNeedDrain || c.pending !== undefined || c.pendingStops !== undefined;

  /**
   * Writes now. A response corks its socket on each write until the next tick, so a revocation
   * would otherwise wait for whatever else the operator does in the tick that published it (with a
   * large table, tens of milliseconds of its own bookkeeping).
   */
  const write = (c: Conn, text: string) => {
    c.res.write(text);
    c.res.socket?.uncork();
  };

  const currentAt = opts.sourcesCurrentAt ?? (() => clock.now());
  /** `lagMs` now: undefined (no field: the line vouches for nothing) when unknown. */
  const lagMs = (): number | undefined => {
    const at = currentAt();
    return at === undefined ? undefined : Math.max(0, Math.ceil(clock.now() - at));
  };

  const sendHeartbeat = (c: Conn, line: string) => {
    // Keep-alives behind a full socket are moot: what waits there says more.
    if (c.res.destroyed || c.res.writableEnded || blocked(c)) return;
    c.res.write(line);
  };

  /** Whether `delta` can bring `c` to the latest table: it starts where `c` stands and is worth it. */
  const follows = (c: Conn, delta: SnapshotDelta | undefined): delta is SnapshotDelta =>
    delta !== undefined &&
    delta.from === c.sentVersion &&
    // A delta about as large as the table is no cheaper to read than the table itself.
    deltaSize(delta) <= Math.max(perLine, latest!.snapshot.keys.size / 2);

  /** What brings `c` to the latest table: a delta from what it was sent, or the whole table. */
  const linesFor = (c: Conn, delta: SnapshotDelta | undefined): string => {
    if (!c.changes) return textOf('snapshot');
    return follows(c, delta) ? deltaLines(delta, perLine) : textOf('full');
  };

  /**
   * Brings `c` to the latest table (`delta` leads there from the previous one). A stream whose
   * socket is full keeps what it will need once it drains: the deltas merged, never dropped.
   */
  const sendLatest = (c: Conn, delta: SnapshotDelta | undefined, text?: string) => {
    if (c.res.destroyed || c.res.writableEnded || !latest) return;
    if (blocked(c)) {
      const p = c.pending;
      if (!c.changes) c.pending = 'snapshot';
      else if (p === undefined && delta && delta.from === c.sentVersion) c.pending = { delta };
      else if (p !== undefined && p !== 'full' && p !== 'snapshot' && delta && p.delta.to === delta.from)
        c.pending = { delta: mergeDeltas(p.delta, delta) };
      else c.pending = 'full';
      return;
    }
    const lines = text !== undefined && c.changes && follows(c, delta) ? text : linesFor(c, delta);
    write(c, withLag(lines, lagMs()));
    c.sentVersion = latest.version;
  };

  const writePending = (c: Conn, p: Pending) => {
    if (!latest) return;
    write(c, withLag(linesFor(c, typeof p === 'string' ? undefined : p.delta), lagMs()));
    c.sentVersion = latest.version;
  };

  /** Stop lines: at most MAX_STOPS_PER_MESSAGE runs each; only the last carries the sequence to ack. */
  const stopLines = (runs: readonly StoppedRun[], seq: number): string => {
    let text = '';
    for (let i = 0; i < runs.length; i += MAX_STOPS_PER_MESSAGE) {
      const last = i + MAX_STOPS_PER_MESSAGE >= runs.length;
      const chunk = runs.slice(i, i + MAX_STOPS_PER_MESSAGE);
      text += `${JSON.stringify({ type: 'stopped-runs', version: last ? seq : 0, runs: chunk })}\n`;
    }
    return text;
  };

  const sendStops = (c: Conn, runs: readonly StoppedRun[], seq: number) => {
    if (c.res.destroyed || c.res.writableEnded || runs.length === 0) return;
    if (blocked(c)) {
      // Unlike snapshots, every stop counts: they wait together for the socket to drain.
      c.pendingStops = { runs: [...(c.pendingStops?.runs ?? []), ...runs], seq };
      return;
    }
    write(c, stopLines(runs, seq));
  };

  const settleStops = (w: StopWait) => {
    if (w.waiting.size > 0) return;
    stopWaits.delete(w);
    w.done(w.acknowledged);
  };

  const settle = (p: Propagation) => {
    if (p.waiting.size > 0) return;
    propagations.splice(propagations.indexOf(p), 1);
    // Nobody acknowledged (no proxy connected, or all left): nothing propagated to measure.
    if (p.acked) propagationSeconds.observe((clock.now() - p.startedAt) / 1000);
  };

  /**
   * Whether an ack from `user` for `proxyId` speaks for stream `c`: a proxy id is whatever a caller
   * says, so it counts only from the ServiceAccount that opened the stream (eighth round).
   */
  const ackedFor = (c: Conn, user: string, proxyId: string) => c.proxyId === proxyId && c.user === user;

  const onStopsAck = (user: string, proxyId: string, seq: number) => {
    for (const c of conns) {
      if (!ackedFor(c, user, proxyId) || seq <= c.ackedStops) continue;
      c.ackedStops = seq;
      for (const w of [...stopWaits]) {
        if (w.seq <= seq && w.waiting.delete(c)) {
          w.acknowledged += 1;
          if (w.waiting.size === 0) stopPropagation.observe((clock.now() - w.startedAt) / 1000);
          settleStops(w);
        }
      }
    }
  };

  const onAck = (user: string, proxyId: string, version: number) => {
    for (const c of conns) {
      if (!ackedFor(c, user, proxyId) || version <= c.ackedVersion) continue;
      c.ackedVersion = version;
      for (const p of [...propagations]) {
        if (p.version <= version && p.waiting.delete(c)) {
          p.acked = true;
          settle(p);
        }
      }
    }
  };

  const drop = (c: Conn) => {
    if (!conns.delete(c)) return;
    log.info({ proxyId: c.proxyId, ackedVersion: c.ackedVersion }, 'proxy disconnected');
    for (const p of [...propagations]) if (p.waiting.delete(c)) settle(p);
    for (const w of [...stopWaits]) if (w.waiting.delete(c)) settleStops(w);
  };

  const disconnectAll = () => {
    for (const c of [...conns]) {
      c.res.end();
      drop(c);
    }
  };

  /**
   * Asked before anything is written to the streams (a table, a re-stamp, a heartbeat): a former
   * leader must not vouch for a table a new leader may have replaced, nor raise a version above a
   * proxy's. isLeader() runs out by a monotonic clock, so a process resumed after a pause past its
   * renew deadline says no before its renew loop has noticed; its streams are closed then.
   */
  const leading = (): boolean => {
    if (opts.isLeader()) return true;
    if (conns.size > 0) log.info({ streams: conns.size }, 'not leader: closing snapshot streams');
    disconnectAll();
    return false;
  };

  const heartbeat = setInterval(() => {
    if (!leading()) return;
    // Before its first publish a (new) leader has nothing to vouch for: proxies keep ageing.
    if (!latest) return;
    const line = `${JSON.stringify({ type: 'heartbeat', version: latest.version, lagMs: lagMs() })}\n`;
    for (const c of conns) sendHeartbeat(c, line);
  }, opts.heartbeatMs ?? DEFAULT_HEARTBEAT_MS);
  heartbeat.unref();

  const json = (res: ServerResponse, status: number, body?: unknown) => {
    if (body === undefined) {
      res.writeHead(status).end();
      return;
    }
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };

  /**
   * A standby's answer, the connection closed after it: a client retrying on a kept-alive connection
   * reached this standby again and again, never the leader a Service routes new connections to (a
   * proxy kept asking an ex-leader that stayed up, and missed the new leader's stops, eleventh round).
   */
  const notLeader = (res: ServerResponse) => {
    res.setHeader('connection', 'close');
    json(res, 503, { error: 'not leader' });
  };

  // Junk bearers come at the rate a client sends them: a line per refusal would be a log flood.
  const unavailable = sourceWarning(log, 'cannot authenticate a proxy');
  const refused = sourceWarning(log, 'proxy refused');

  /** Leader check, then TokenReview; answers the error itself and resolves undefined on refusal. */
  const admit = async (req: IncomingMessage, res: ServerResponse): Promise<string | undefined> => {
    if (!opts.isLeader()) {
      notLeader(res);
      return undefined;
    }
    const header = req.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match?.[1]) {
      json(res, 401, { error: 'missing bearer token' });
      return undefined;
    }
    const source = req.socket.remoteAddress ?? '';
    let verdict: Awaited<ReturnType<Authenticator>>;
    try {
      verdict = await opts.authenticate(match[1], source);
    } catch (err) {
      unavailable(source, { error: (err as Error).message });
      json(res, 503, { error: 'token review unavailable' });
      return undefined;
    }
    if (!verdict.ok) {
      refused(source, { status: verdict.status, reason: verdict.message, proxyId: proxyIdOf(req) });
      json(res, verdict.status, { error: verdict.message });
      return undefined;
    }
    // The review took a round trip to the apiserver: leadership may have run out meanwhile.
    if (!opts.isLeader()) {
      notLeader(res);
      return undefined;
    }
    return verdict.user;
  };

  const watch = async (req: IncomingMessage, res: ServerResponse) => {
    const user = await admit(req, res);
    if (user === undefined) return;
    if (res.destroyed) return;
    const c: Conn = {
      proxyId: proxyIdOf(req) ?? user,
      user,
      res,
      changes: req.headers[STREAM_FORMAT_HEADER] === STREAM_FORMAT_CHANGES,
      sentVersion: 0,
      ackedVersion: 0,
      pending: undefined,
      ackedStops: 0,
      pendingStops: undefined,
    };
    const term = opts.leaderTerm?.();
    res.writeHead(200, {
      'content-type': NDJSON,
      'cache-control': 'no-store',
      ...(term !== undefined && { [LEADER_TERM_HEADER]: String(term) }),
    });
    res.flushHeaders();
    conns.add(c);
    res.on('drain', () => {
      if (!leading()) return;
      const pending = c.pending;
      const pendingStops = c.pendingStops;
      c.pending = undefined;
      c.pendingStops = undefined;
      if (pending !== undefined) writePending(c, pending);
      if (pendingStops !== undefined) res.write(stopLines(pendingStops.runs, pendingStops.seq));
    });
    res.on('close', () => drop(c));
    log.info(
      { proxyId: c.proxyId, user, version: latest?.version ?? 0, changeSets: c.changes },
      'proxy connected',
    );
    // Every live stop, so a proxy that was away (or is new) refuses those runs too; before the table,
    // so that a new proxy, which serves calls from its first table on, knows them by then (ADR 0010).
    sendStops(c, liveStops(), stopSeq);
    const held = heldVersionOf(req);
    if (held > floor) floor = held;
    if (latest && held >= latest.version) {
      // The proxy holds a version from a leader whose clock ran ahead of ours: re-stamp what we
      // serve above it, or it would ignore every change we publish (a revoke among them). Holding
      // the very version we serve is the usual reconnect (after an apiserver outage, every proxy
      // does): re-stamped all the same, since another leader may have stamped that number, but
      // nothing for an operator to look into.
      const report = held === latest.version ? log.info.bind(log) : log.warn.bind(log);
      report({ proxyId: c.proxyId, held, current: latest.version }, 're-stamping the snapshot above a proxy');
      publishSnapshot({ ...latest.snapshot, version: nextSnapshotVersion(held, clock.now()) }, {});
    } else if (latest) sendLatest(c, undefined);
  };

  /** When a refusal may next sweep the expired stops (stopBoundReached). */
  let nextRefusalSweep = 0;
  const liveStops = (): StoppedRun[] => {
    const now = clock.now();
    const out: StoppedRun[] = [];
    for (const [id, run] of stops) {
      if (run.until > now) out.push(run);
      else forgetStop(id, run);
    }
    return out;
  };

  const forgetStop = (id: string, run: StoppedRun) => {
    stops.delete(id);
    const left = (stopsOfKey.get(run.scope) ?? 1) - 1;
    if (left > 0) stopsOfKey.set(run.scope, left);
    else stopsOfKey.delete(run.scope);
  };

  /**
   * The version the connecting proxy holds (0 when it holds none or says nothing usable). Versions
   * are stamped from the clock (nextSnapshotVersion), so one more than a day ahead of ours came from
   * no leader: it is ignored. Believed, it would raise every later version (the operator re-stamps
   * above it), and one client's 2^53 − 2 pushed every proxy past the safe integers, where each
   * ignored every change after, revocations included (found by an adversarial probe).
   */
  const heldVersionOf = (req: IncomingMessage): number => {
    const v = Number(req.headers[SNAPSHOT_VERSION_HEADER]);
    if (!Number.isSafeInteger(v) || v <= 0) return 0;
    if (v > clock.now() + MAX_HELD_AHEAD_MS) {
      log.warn(
        { held: v, proxyId: proxyIdOf(req), term: opts.leaderTerm?.() },
        "ignored a held snapshot version more than a day ahead of the clock: that proxy keeps its table, out of step and ageing into policy_stale, until it takes this leader's table (a newer lease term) after --max-staleness; restart it to recover sooner, and check the clock of the node the previous leader ran on",
      );
      return 0;
    }
    return v;
  };

  const ack = async (req: IncomingMessage, res: ServerResponse) => {
    const user = await admit(req, res);
    if (user === undefined) return;
    let body: unknown;
    try {
      body = JSON.parse(await readBody(req, MAX_ACK_BYTES));
    } catch {
      json(res, 400, { error: 'expected {"proxyId":string,"version":number}' });
      return;
    }
    const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
    const proxyId = typeof b.proxyId === 'string' && b.proxyId ? b.proxyId : proxyIdOf(req);
    if (!proxyId || typeof b.version !== 'number' || !Number.isSafeInteger(b.version)) {
      json(res, 400, { error: 'expected {"proxyId":string,"version":number}' });
      return;
    }
    onAck(user, proxyId, b.version);
    if (typeof b.stoppedRuns === 'number' && Number.isSafeInteger(b.stoppedRuns))
      onStopsAck(user, proxyId, b.stoppedRuns);
    json(res, 204);
  };

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '').split('?', 1)[0];
    const extra = opts.extraRoutes;
    const route =
      path === WATCH_PATH && req.method === 'GET'
        ? watch
        : path === ACK_PATH && req.method === 'POST'
          ? ack
          : extra && (path === extra.prefix || path?.startsWith(`${extra.prefix}/`))
            ? async (rq: IncomingMessage, rs: ServerResponse) => {
                if (!opts.isLeader()) return notLeader(rs);
                await extra.handle(rq, rs);
              }
            : undefined;
    if (!route) {
      json(res, 404, { error: 'not found' });
      return;
    }
    route(req, res).catch((err: unknown) => {
      log.error({ error: (err as Error).message }, 'snapshot server error');
      if (!res.headersSent) json(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  };

  const publishSnapshot = (snapshot: Snapshot, publishOpts: { changedAt?: number }) => {
    if (latest && snapshot.version <= latest.version) {
      log.warn(
        { version: snapshot.version, current: latest.version },
        'ignored a snapshot version that does not increase',
      );
      return;
    }
    const previous = latest;
    latest = { version: snapshot.version, snapshot };
    // A standby keeps the latest for the moment it leads, and sends it to no stream before then.
    if (!leading()) return;
    void warmTexts(snapshot);
    // The delta is computed once, and only when a stream can take it: a standby (no streams) or
    // streams that will get the whole table anyway do not pay for it.
    let delta: SnapshotDelta | undefined;
    let text: string | undefined;
    if (previous && [...conns].some((c) => c.changes && (c.sentVersion === previous.version || c.pending))) {
      const started = clock.now();
      delta = diffSnapshots(previous.snapshot, snapshot);
      const now = [...conns].filter((c) => c.changes && !blocked(c) && c.sentVersion === previous.version);
      if (now.length > 0 && follows(now[0]!, delta)) text = deltaLines(delta, perLine);
      log.debug(
        {
          from: delta.from,
          to: delta.to,
          upsert: delta.upsert.size,
          remove: delta.remove.size,
          policies: delta.policies.size,
          bytes: text === undefined ? undefined : Buffer.byteLength(text),
          ms: clock.now() - started,
        },
        'snapshot delta',
      );
    }
    const waiting = new Set([...conns].filter((c) => c.ackedVersion < snapshot.version));
    if (waiting.size > 0) {
      propagations.push({
        version: snapshot.version,
        startedAt: publishOpts.changedAt ?? clock.now(),
        waiting,
        acked: false,
      });
      if (propagations.length > MAX_TRACKED_VERSIONS) propagations.shift();
    }
    for (const c of conns) sendLatest(c, delta, text);
  };

  const stopRuns = (runs: readonly StoppedRun[]) => {
    const now = clock.now();
    const fresh: StoppedRun[] = [];
    for (const run of runs) {
      const id = `${run.scope}\n${run.runId}`;
      const known = stops.get(id);
      if (run.until <= now || (known !== undefined && known.until >= run.until)) continue;
      if (known === undefined) stopsOfKey.set(run.scope, (stopsOfKey.get(run.scope) ?? 0) + 1);
      stops.set(id, run);
      fresh.push(run);
    }
    if (fresh.length === 0) return Promise.resolve({ proxies: conns.size, acknowledged: conns.size });
    stopSeq = nextSnapshotVersion(stopSeq, now);
    const seq = stopSeq;
    const waiting = new Set(conns);
    for (const c of conns) sendStops(c, fresh, seq);
    return new Promise<{ proxies: number; acknowledged: number }>((resolve) => {
      const proxies = waiting.size;
      let timer: NodeJS.Timeout | undefined;
      const w: StopWait = {
        seq,
        startedAt: now,
        waiting,
        proxies,
        acknowledged: 0,
        done: (acknowledged) => {
          clearTimeout(timer);
          resolve({ proxies, acknowledged });
        },
      };
      stopWaits.add(w);
      timer = setTimeout(() => {
        stopWaits.delete(w);
        w.done(w.acknowledged);
      }, opts.stopAckTimeoutMs ?? 2_000);
      timer.unref();
      settleStops(w);
    });
  };

  return {
    handler,
    stopRuns,
    isStopped(scope, runId) {
      const run = stops.get(`${scope}\n${runId}`);
      return run !== undefined && run.until > clock.now();
    },
    stopBoundReached(scope, action) {
      const reached = () => stopBoundReached(action, stopsOfKey.get(scope) ?? 0, stops.size, stopsOfKey.size);
      if (reached() === undefined) return undefined;
      // Expired stops do not count towards a refusal; the sweep walks every stop (up to the ceiling),
      // so a refused caller asking again at once gets it at most once a second, as serve's does.
      const now = clock.now();
      if (now >= nextRefusalSweep) {
        liveStops();
        nextRefusalSweep = now + STOP_SWEEP_ON_REFUSAL_MS;
      }
      return reached();
    },
    get version() {
      return Math.max(latest?.version ?? 0, floor);
    },
    registry,
    publish: (snapshot, publishOpts = {}) => publishSnapshot(snapshot, publishOpts),
    async listen(addr) {
      const server = createBoundedServer(
        opts.limits ?? operatorListenerLimits(opts.heartbeatMs),
        { listener: 'snapshots', log, tls: addr.tls },
        handler,
      );
      servers.push(server);
      server.listen(addr.port, addr.host);
      await once(server, 'listening');
      return listenUrl(server.address(), addr, addr.tls ? 'https' : 'http');
    },
    connected() {
      return [...conns].map((c) => ({ proxyId: c.proxyId, user: c.user, ackedVersion: c.ackedVersion }));
    },
    disconnectAll,
    textsWritten: () => (latest && warming?.snapshot === latest.snapshot ? warming.done : Promise.resolve()),
    async close() {
      closed = true;
      clearTimeout(settling);
      warming?.resolve();
      clearInterval(heartbeat);
      disconnectAll();
      await Promise.all(
        servers.map(
          (s) =>
            new Promise<void>((resolve) => {
              s.close(() => resolve());
              s.closeAllConnections();
            }),
        ),
      );
    },
  };
}

function proxyIdOf(req: IncomingMessage): string | undefined {
  const v = req.headers[PROXY_ID_HEADER];
  const id = Array.isArray(v) ? v[0] : v;
  return id ? id.slice(0, 253) : undefined;
}

async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new Error('body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
