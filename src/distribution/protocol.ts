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

/** One line of the watch stream: a whole snapshot (`data` is serializeSnapshot output) or a keep-alive. */
export type StreamMessage =
  | { readonly type: 'snapshot'; readonly version: number; readonly data: string }
  | { readonly type: 'heartbeat'; readonly version: number };

/** Body of POST /v1/snapshots/ack: the proxy has applied (at least) this version. */
export interface AckBody {
  readonly proxyId: string;
  readonly version: number;
}

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
  return undefined;
}
