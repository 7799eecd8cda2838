import type { StoppedRun } from '../snapshot/run-keys.ts';

/**
 * The operator ↔ proxy wire protocol (docs: /v1/snapshots/watch is an NDJSON stream, acks are POSTs).
 * Both ends import these names so they cannot drift.
 */

export const WATCH_PATH = '/v1/snapshots/watch';
export const ACK_PATH = '/v1/snapshots/ack';
export const PROXY_ID_HEADER = 'keybrake-proxy-id';
/**
 * The version a proxy already holds, sent when it connects. A new leader whose clock runs behind the
 * old one's learns from it that its own versions would be ignored, and re-stamps above it.
 */
export const SNAPSHOT_VERSION_HEADER = 'keybrake-snapshot-version';
export const NDJSON = 'application/x-ndjson';
export const DEFAULT_AUDIENCE = 'keybrake';
export const DEFAULT_HEARTBEAT_MS = 2_000;

/**
 * One line of the watch stream: a whole snapshot (`data` is serializeSnapshot output), a keep-alive,
 * or stopped runs (ADR 0010). Stops are additive and carry their own sequence (`version`, increasing
 * like snapshot versions): every stream gets every live stop when it connects, then each new one;
 * a proxy adds them to its set and acknowledges the sequence like a snapshot.
 */
export type StreamMessage =
  | { readonly type: 'snapshot'; readonly version: number; readonly data: string }
  | { readonly type: 'heartbeat'; readonly version: number }
  | { readonly type: 'stopped-runs'; readonly version: number; readonly runs: readonly StoppedRun[] };

/**
 * Body of POST /v1/snapshots/ack: the proxy has applied (at least) this snapshot version and, when
 * `stoppedRuns` is present, every stop up to that sequence.
 */
export interface AckBody {
  readonly proxyId: string;
  readonly version: number;
  readonly stoppedRuns?: number;
}

/** At most this many stops in one stream line (a proxy connecting to a leader holding more gets several). */
export const MAX_STOPS_PER_MESSAGE = 1_000;

/**
 * The next snapshot version the operator publishes: wall-clock based so a newly elected leader
 * (which starts from 0) still lands above whatever the previous leader sent, and never below
 * `previous + 1` so two publishes in one millisecond stay ordered.
 */
export function nextSnapshotVersion(previous: number, now: number): number {
  return Math.max(previous + 1, Math.floor(now));
}

/** Parses one stream line; undefined for anything that is not a well-formed message. */
export function parseStreamMessage(line: string): StreamMessage | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null) return undefined;
  const m = raw as Record<string, unknown>;
  if (typeof m.version !== 'number' || !Number.isSafeInteger(m.version) || m.version < 0) return undefined;
  if (m.type === 'heartbeat') return { type: 'heartbeat', version: m.version };
  if (m.type === 'snapshot' && typeof m.data === 'string')
    return { type: 'snapshot', version: m.version, data: m.data };
  if (m.type === 'stopped-runs' && Array.isArray(m.runs) && m.runs.length <= MAX_STOPS_PER_MESSAGE) {
    const runs = m.runs.map(stoppedRunOf);
    if (runs.every((r): r is StoppedRun => r !== undefined))
      return { type: 'stopped-runs', version: m.version, runs };
  }
  return undefined;
}

const RUN_ID = /^[A-Za-z0-9._:@/-]{1,128}$/;

function stoppedRunOf(raw: unknown): StoppedRun | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const r = raw as Record<string, unknown>;
  if (typeof r.scope !== 'string' || r.scope.length === 0 || r.scope.length > 512) return undefined;
  if (typeof r.runId !== 'string' || !RUN_ID.test(r.runId)) return undefined;
  if (typeof r.until !== 'number' || !Number.isSafeInteger(r.until) || r.until < 0) return undefined;
  return { scope: r.scope, runId: r.runId, until: r.until };
}
