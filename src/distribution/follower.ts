import { readFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { type BackoffOptions, backoffDelay } from '../backoff.ts';
import type { SnapshotHolder } from '../snapshot/holder.ts';
import type { StoppedRun } from '../snapshot/run-keys.ts';
import { deserializeSnapshot } from '../snapshot/serialize.ts';
import type { Log } from '../telemetry/logger.ts';
import {
  ACK_PATH,
  PROXY_ID_HEADER,
  parseStreamMessage,
  SNAPSHOT_VERSION_HEADER,
  type StreamMessage,
  WATCH_PATH,
} from './protocol.ts';

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
}

/** A running follower. */
export interface Follower {
  readonly connected: boolean;
  close(): Promise<void>;
}

const MAX_LINE_BYTES = 64 * 1024 * 1024;
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
  });

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

  const handle = (m: StreamMessage, token: string) => {
    if (m.type === 'stopped-runs') {
      opts.onStoppedRuns?.(m.runs);
      // Sequence 0: an earlier part of a longer list; its last line carries the sequence to ack.
      if (m.version > 0) void ack(token, holder.current?.version ?? 0, m.version);
      return;
    }
    if (m.type === 'heartbeat') {
      // Only vouch for the table when it is the one the operator is announcing (or newer).
      if ((holder.current?.version ?? -1) >= m.version) holder.touch();
      return;
    }
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
    log.info({ version: snapshot.version, keys: snapshot.keys.size }, 'snapshot applied');
    void ack(token, snapshot.version);
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
    log.info({ operator: base }, 'following operator snapshots');
    let buffered = '';
    res.body.setEncoding('utf8');
    for await (const chunk of res.body as AsyncIterable<string>) {
      buffered += chunk;
      let nl = buffered.indexOf('\n');
      while (nl >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line.trim()) {
          const m = parseStreamMessage(line);
          if (m) handle(m, token);
          else log.warn('ignored a malformed line on the snapshot stream');
        }
        nl = buffered.indexOf('\n');
      }
      if (buffered.length > MAX_LINE_BYTES) throw new Error('snapshot stream line too long');
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
        // undici errors name the failure (ECONNREFUSED, body timeout), never the request headers.
        log.warn({ operator: base, error: (err as Error).message }, 'snapshot stream failed');
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
    async close() {
      abort.abort();
      await running;
      await dispatcher.destroy().catch(() => {});
      setState('disconnected');
    },
  };
}
