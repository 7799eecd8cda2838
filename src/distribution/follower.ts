import { readFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { type BackoffOptions, backoffDelay } from '../backoff.ts';
import type { SnapshotHolder } from '../snapshot/holder.ts';
import type { StoppedRun } from '../snapshot/run-keys.ts';
import { deserializeSnapshot } from '../snapshot/serialize.ts';
import type { Log } from '../telemetry/logger.ts';
import { ResyncNeeded } from './apply.ts';
import { LineCutter } from './line-cutter.ts';
import { takesLowerVersion } from './out-of-step.ts';
import {
  ACK_PATH,
  LEADER_TERM_HEADER,
  MAX_LINE_LENGTH,
  PROXY_ID_HEADER,
  parseStreamMessage,
  SNAPSHOT_VERSION_HEADER,
  STREAM_FORMAT_CHANGES,
  STREAM_FORMAT_HEADER,
  type StreamMessage,
  WATCH_PATH,
} from './protocol.ts';
import { type AppliedTable, type ChangeMessage, createTableFeed } from './table-feed.ts';

/** Where a follower is in its connect / stream / back-off cycle (for logs, metrics, tests). */
export type FollowerState = 'connecting' | 'connected' | 'disconnected';

/** The proxy side of distribution: feeds a SnapshotHolder from the operator's stream. */
export interface FollowOptions {
  /** The operator's base URL (`https://keybrake-operator.keybrake-system.svc:8443`). */
  readonly url: string;
  /** A path (re-read on every connect: projected tokens rotate) or a function returning the token. */
  readonly tokenFile: string | (() => Promise<string>);
  /** PEM of the CA that signed the operator's serving certificate; absent: the system roots. */
  readonly ca?: string | Buffer;
  readonly holder: SnapshotHolder;
  readonly proxyId: string;
  readonly log: Log;
  readonly onState?: (s: FollowerState) => void;
  /** No line (snapshot or heartbeat) for this long → the stream is presumed dead (default 10 s). */
  readonly idleTimeoutMs?: number;
  /** Reconnect back-off (default 100 ms doubling to 5 s, each delay 50–100 % of its step). */
  readonly backoff?: BackoffOptions;
  /** Runs the operator stopped (ADR 0010): the proxy adds them to its set; each message is acknowledged. */
  readonly onStoppedRuns?: (runs: readonly StoppedRun[]) => void;
  /**
   * Gives the event loop back between two change-set lines (and compaction slices), so calls are
   * served while a table is read (once one is in force: TableFeed.afterLine); told how long the
   * line held it. Default: turnForCalls.
   */
  readonly yieldTurn?: (busyMs: number) => Promise<void>;
  /** Told of every table applied: how it came and what reading it cost (logs, benchmarks, tests). */
  readonly onApplied?: (a: AppliedTable) => void;
  /**
   * The proxy's --max-staleness: an out-of-step table (out-of-step.ts) stale this long gives way to a
   * newer leader term's lower version. Absent: it never does (only a restart brings the proxy back).
   */
  readonly maxStalenessMs?: number;
  /**
   * The words the `snapshot stream failed` line gives a failure, when the caller has better ones
   * than the error's own (undefined: the error's message). The proxy command's: an untrusted
   * certificate names its --operator-ca flag, where Node's message sends the user to a Node flag.
   */
  readonly describeFailure?: (err: unknown) => string | undefined;
}

/** A running follower. */
export interface Follower {
  readonly connected: boolean;
  /**
   * Whether the table in force has a higher version than the leader announces (out-of-step.ts): its
   * heartbeats do not refresh it, so it ages into policy_stale. For `keybrake_snapshot_out_of_step`.
   */
  readonly outOfStep: boolean;
  close(): Promise<void>;
}

// Half of each step randomised: proxies cut off together (a leader change) come back spread out.
const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 100, maxMs: 5_000, jitter: 0.5 };

export function followSnapshots(opts: FollowOptions): Follower {
  const { holder, log } = opts;
  const base = opts.url.replace(/\/+$/, '');
  const backoff = opts.backoff ?? DEFAULT_BACKOFF;
  const idleTimeoutMs = opts.idleTimeoutMs ?? 10_000;
  const dispatcher = new Agent({
    ...(opts.ca !== undefined ? { connect: { ca: opts.ca } } : {}),
    bodyTimeout: idleTimeoutMs,
    headersTimeout: idleTimeoutMs,
  });
  const abort = new AbortController();
  let connected = false;
  let state: FollowerState | undefined;
  const setState = (s: FollowerState) => {
    connected = s === 'connected';
    if (s === state) return;
    state = s;
    opts.onState?.(s);
  };

  const readToken = async () =>
    (typeof opts.tokenFile === 'string'
      ? await readFile(opts.tokenFile, 'utf8')
      : await opts.tokenFile()
    ).trim();

  const headers = (token: string) => ({
    authorization: `Bearer ${token}`,
    [PROXY_ID_HEADER]: opts.proxyId,
    [SNAPSHOT_VERSION_HEADER]: String(holder.current?.version ?? 0),
    [STREAM_FORMAT_HEADER]: STREAM_FORMAT_CHANGES,
  });
  /** The leader term of the stream open now, and of the stream the table in force came from. */
  let streamTerm: number | undefined;
  let tableTerm: number | undefined;
  let outOfStep = false;
  const takeLower = () =>
    takesLowerVersion({
      heldTerm: tableTerm,
      streamTerm,
      ageMs: holder.ageMs(),
      maxStalenessMs: opts.maxStalenessMs,
    });
  const feed = createTableFeed({
    holder,
    log,
    takeLower,
    ...(opts.yieldTurn && { yieldTurn: opts.yieldTurn }),
  });
  /** Resyncs since the last full table applied: the first reconnects at once, later ones back off. */
  let resyncs = 0;
  /** The `lagMs` of the change set being read, and when its head line came (performance.now). */
  let setLag: { lagMs: number | undefined; at: number } = { lagMs: undefined, at: 0 };
  /**
   * Vouches for the table just applied as the operator did on the line that brought it, counting
   * the time since that line; no word on it (an operator that predates it) vouches for nothing.
   */
  const vouchApplied = (lag: { lagMs: number | undefined; at: number }) =>
    holder.vouch(lag.lagMs === undefined ? undefined : lag.lagMs + (performance.now() - lag.at));

  const ack = async (token: string, version: number, stoppedRuns?: number) => {
    try {
      const res = await request(`${base}${ACK_PATH}`, {
        method: 'POST',
        dispatcher,
        signal: abort.signal,
        headers: { ...headers(token), 'content-type': 'application/json' },
        body: JSON.stringify({
          proxyId: opts.proxyId,
          version,
          ...(stoppedRuns !== undefined ? { stoppedRuns } : {}),
        }),
      });
      await res.body.dump();
      if (res.statusCode !== 204) log.debug({ status: res.statusCode, version }, 'snapshot ack not accepted');
    } catch (err) {
      if (!abort.signal.aborted) log.debug({ error: (err as Error).message, version }, 'snapshot ack failed');
    }
  };

  const applied = (a: AppliedTable) => {
    tableTerm = streamTerm;
    outOfStep = false;
    log.info(a, 'snapshot applied');
    opts.onApplied?.(a);
  };

  /** One change-set line: read it, and swap the table in when it was the set's last. */
  const changeSet = (m: ChangeMessage, token: string, started: number) => {
    if (m.type !== 'part') setLag = { lagMs: m.lagMs, at: started };
    const done = feed.line(m, started);
    if (!done) return;
    vouchApplied(setLag);
    if (done.kind === 'full') resyncs = 0;
    applied(done);
    void ack(token, done.version);
  };

  const handle = async (m: StreamMessage, token: string, parsingStarted: number) => {
    if (feed.building && m.type !== 'part') throw new ResyncNeeded(`a ${m.type} line inside a change set`);
    if (m.type === 'full' || m.type === 'delta' || m.type === 'part') {
      changeSet(m, token, parsingStarted);
      await feed.afterLine(performance.now() - parsingStarted);
      return;
    }
    if (m.type === 'stopped-runs') {
      opts.onStoppedRuns?.(m.runs);
      // Sequence 0: an earlier part of a longer list; its last line carries the sequence to ack.
      if (m.version > 0) void ack(token, holder.current?.version ?? 0, m.version);
      return;
    }
    if (m.type === 'heartbeat') {
      const held = holder.current?.version;
      // Only the table the leader announces is vouched for. One of a higher version is out of step
      // (a predecessor's clock ran ahead): refreshed, it stayed fresh for good, ignoring every
      // change, revocations included. It ages into policy_stale instead.
      if (held === m.version) {
        // Fresh as of when the operator's informers last saw every change, not as of now.
        holder.vouch(m.lagMs);
        outOfStep = false;
      } else if (held !== undefined && held > m.version) heldAhead(held, m.version);
      return;
    }
    // A whole snapshot in one line, from an operator that predates change sets.
    const started = parsingStarted;
    let snapshot: ReturnType<typeof deserializeSnapshot>;
    try {
      snapshot = deserializeSnapshot(m.data);
    } catch (err) {
      // Fail closed: the last good table stays and ages toward policy_stale.
      log.error({ version: m.version, error: (err as Error).message }, 'rejected a malformed snapshot');
      return;
    }
    if (!holder.apply(snapshot)) {
      log.warn({ version: snapshot.version, current: holder.current?.version }, 'ignored an older snapshot');
      return;
    }
    vouchApplied({ lagMs: m.lagMs, at: started });
    feed.forget();
    const ms = performance.now() - started;
    applied({
      version: snapshot.version,
      kind: 'snapshot',
      keys: snapshot.keys.size,
      lines: 1,
      applyMs: ms,
      busyMs: ms,
      maxBlockMs: ms,
    });
    void ack(token, snapshot.version);
  };

  /**
   * A heartbeat announced a version below the table in force. Said when it starts; once the table
   * may give way (out-of-step.ts), a resync fetches the leader's whole table to take.
   */
  const heldAhead = (held: number, announced: number) => {
    if (!outOfStep) {
      outOfStep = true;
      log.warn(
        { held, announced, term: streamTerm, heldTerm: tableTerm },
        "snapshot out of step: this proxy holds a higher version than the leader serves (a previous leader's clock ran ahead), so heartbeats no longer keep it fresh and money-moving calls turn policy_stale after --max-staleness; it then takes the leader's table if the leader is of a newer lease term, else restart this proxy",
      );
    }
    if (takeLower()) throw new ResyncNeeded(`holding version ${held} above the leader's ${announced}`);
  };

  /** One connection: resolves when the stream ends; true when it got as far as a 200. */
  const stream = async (): Promise<boolean> => {
    let token: string;
    try {
      token = await readToken();
    } catch (err) {
      log.warn(
        {
          tokenFile: typeof opts.tokenFile === 'string' ? opts.tokenFile : undefined,
          error: (err as NodeJS.ErrnoException).code ?? 'unreadable',
        },
        'cannot read the proxy token',
      );
      return false;
    }
    const res = await request(`${base}${WATCH_PATH}`, {
      method: 'GET',
      dispatcher,
      signal: abort.signal,
      headers: { ...headers(token), accept: 'application/x-ndjson' },
    });
    if (res.statusCode !== 200) {
      const text = await res.body.text().catch(() => '');
      let reason = '';
      try {
        reason = String((JSON.parse(text) as { error?: unknown }).error ?? '');
      } catch {}
      log.warn(
        { status: res.statusCode, reason: reason.slice(0, 200) },
        'operator refused the snapshot stream',
      );
      return false;
    }
    setState('connected');
    streamTerm = termOf(res.headers[LEADER_TERM_HEADER]);
    log.info({ operator: base, term: streamTerm }, 'following operator snapshots');
    feed.reset();
    // Each chunk is searched once (a whole snapshot line from an older operator is tens of MiB).
    const cutter = new LineCutter();
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      for (const line of cutter.push(chunk)) {
        if (line.trim()) {
          const parsingStarted = performance.now();
          const m = parseStreamMessage(line);
          if (m) await handle(m, token, parsingStarted);
          else log.warn('ignored a malformed line on the snapshot stream');
        }
      }
      if (cutter.held > MAX_LINE_LENGTH) throw new Error('snapshot stream line too long');
    }
    return true;
  };

  const loop = async () => {
    let failures = 0;
    while (!abort.signal.aborted) {
      setState('connecting');
      let reached = false;
      try {
        reached = await stream();
        if (!abort.signal.aborted) log.warn({ operator: base }, 'snapshot stream ended');
      } catch (err) {
        if (abort.signal.aborted) break;
        if (err instanceof ResyncNeeded) {
          // Reconnecting is the resync: the operator sends the whole table to every new stream. At
          // once the first time; a table that keeps failing backs off like a refused connection.
          resyncs++;
          feed.reset();
          setState('disconnected');
          log.warn(
            { operator: base, reason: err.message, resyncs },
            'snapshot stream out of step: resyncing',
          );
          if (resyncs > 1)
            await delay(backoffDelay(resyncs - 1, backoff), undefined, { signal: abort.signal }).catch(
              () => {},
            );
          failures = 0;
          continue;
        }
        // undici errors name the failure (ECONNREFUSED, body timeout), never the request headers.
        const error = opts.describeFailure?.(err) ?? (err as Error).message;
        log.warn({ operator: base, error }, 'snapshot stream failed');
      }
      setState('disconnected');
      failures = reached ? 1 : failures + 1;
      await delay(backoffDelay(failures, backoff), undefined, { signal: abort.signal }).catch(() => {});
    }
  };
  const running = loop();

  return {
    get connected() {
      return connected;
    },
    get outOfStep() {
      return outOfStep;
    },
    async close() {
      abort.abort();
      await running;
      await dispatcher.destroy().catch(() => {});
      setState('disconnected');
    },
  };
}

/** LEADER_TERM_HEADER's value; undefined when absent or not a whole number. */
function termOf(v: string | string[] | undefined): number | undefined {
  const n = typeof v === 'string' && /^\d{1,15}$/.test(v) ? Number(v) : Number.NaN;
  return Number.isSafeInteger(n) ? n : undefined;
}
