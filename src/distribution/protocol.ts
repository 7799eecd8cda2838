import { RUN_ID_PATTERN } from '../snapshot/run-id.ts';
import type { StoppedRun } from '../snapshot/run-keys.ts';
import {
  deltaSize,
  keyWireText,
  policiesOf,
  policyWireText,
  type SnapshotChanges,
  type SnapshotDelta,
} from '../snapshot/serialize.ts';
import type { Snapshot } from '../snapshot/types.ts';

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
/**
 * Sent by a proxy that reads change sets (ADR 0013: `full`, `delta` and `part` lines). A proxy that
 * does not send it (one older than deltas) gets whole `snapshot` lines, as before.
 */
export const STREAM_FORMAT_HEADER = 'keybrake-snapshot-stream';
export const STREAM_FORMAT_CHANGES = 'changes-v1';
/**
 * At most this many entries (policies, keys, removals) in one change-set line: what a proxy parses,
 * validates and links between two turns of its event loop (about half a millisecond).
 */
export const ENTRIES_PER_LINE = 256;
export const NDJSON = 'application/x-ndjson';
export const DEFAULT_AUDIENCE = 'keybrake';
export const DEFAULT_HEARTBEAT_MS = 2_000;

/**
 * The entries of one change-set line as they arrived, validated by serialize.ts's readers when the
 * proxy applies them: policies (PolicyJson), keys (`[digest, fields]`), removed digests, removed
 * policy refs. In a change set, policies come before the keys that name them.
 */
export interface ChangeEntries {
  readonly policies: readonly unknown[];
  readonly upsert: readonly unknown[];
  readonly remove: readonly unknown[];
  readonly removePolicies: readonly unknown[];
}

/**
 * One line of the watch stream.
 * - Change sets (ADR 0013), to proxies that send STREAM_FORMAT_HEADER: a `full` table (on connect,
 *   and whenever a delta cannot follow what the proxy was sent) or a `delta` from version `from` to
 *   `to`, each a head line followed by `parts` `part` lines of the same version; at most
 *   ENTRIES_PER_LINE entries per line. A proxy applies a delta only on top of `from`, and the whole
 *   set at once when its last line has arrived.
 * - `snapshot`: a whole snapshot in one line (`data` is serializeSnapshot output), for proxies that
 *   predate change sets.
 * - A keep-alive, or stopped runs (ADR 0010). Stops are additive and carry their own sequence
 *   (`version`, increasing like snapshot versions): every stream gets every live stop when it
 *   connects, then each new one; a proxy adds them to its set and acknowledges the sequence like a
 *   snapshot.
 */
export type StreamMessage =
  | {
      readonly type: 'full';
      readonly version: number;
      readonly compiledAt: number;
      readonly parts: number;
      readonly entries: ChangeEntries;
    }
  | {
      readonly type: 'delta';
      readonly from: number;
      readonly to: number;
      readonly compiledAt: number;
      readonly parts: number;
      readonly entries: ChangeEntries;
    }
  | { readonly type: 'part'; readonly version: number; readonly entries: ChangeEntries }
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

/**
 * The whole of `snapshot` as change-set lines: a `full` head and its parts (each line ends in \n).
 * The key texts are remembered with their keys (keyWireText), which makes the next whole table of
 * the same keys half as dear: the operator writes one for every proxy that connects. A writer that
 * sends one whole table and then only deltas (serve's compile thread) passes `rememberTexts: false`:
 * at 100 000 keys the texts are 62 MB it would keep and never read again.
 */
export function fullSnapshotLines(
  snapshot: Snapshot,
  perLine = ENTRIES_PER_LINE,
  opts: { readonly rememberTexts?: boolean } = {},
): string {
  const out: string[] = [];
  eachFullSnapshotLine(snapshot, (line) => out.push(line), perLine, opts);
  return out.join('');
}

/**
 * fullSnapshotLines a line at a time, each given to `emit` as soon as it is written: a reader on
 * another thread can read the first lines while the last are made (serve's compile thread).
 */
export function eachFullSnapshotLine(
  snapshot: Snapshot,
  emit: (line: string) => void,
  perLine = ENTRIES_PER_LINE,
  opts: { readonly rememberTexts?: boolean } = {},
): void {
  changeSetLines(
    `"type":"full","version":${snapshot.version},"compiledAt":${snapshot.compiledAt}`,
    snapshot.version,
    { policies: policiesOf(snapshot), upsert: snapshot.keys, remove: NONE, removePolicies: NONE },
    emit,
    perLine,
    opts.rememberTexts ?? true,
  );
}

/** A delta as change-set lines: a `delta` head and its parts (each line ends in \n). */
export function deltaLines(delta: SnapshotDelta, perLine = ENTRIES_PER_LINE): string {
  const out: string[] = [];
  changeSetLines(
    `"type":"delta","from":${delta.from},"to":${delta.to},"compiledAt":${delta.compiledAt}`,
    delta.to,
    delta,
    (line) => out.push(line),
    perLine,
  );
  return out.join('');
}

const NONE: ReadonlySet<string> = new Set();

type Group = keyof ChangeEntries;

/** Writes the change set `c` as lines to `emit`, in order: the head (with `head`'s fields), then its parts. */
function changeSetLines(
  head: string,
  version: number,
  c: SnapshotChanges,
  emit: (line: string) => void,
  perLine: number,
  rememberTexts = true,
): void {
  const parts = Math.max(1, Math.ceil(deltaSize(c) / perLine)) - 1;
  let written = 0;
  let chunk: Partial<Record<Group, string[]>> = {};
  let count = 0;
  const flush = () => {
    let line = written++ === 0 ? `{${head},"parts":${parts}` : `{"type":"part","version":${version}`;
    for (const group of GROUPS) {
      const texts = chunk[group];
      if (texts) line += `,"${group}":[${texts.join(',')}]`;
    }
    emit(`${line}}\n`);
    chunk = {};
    count = 0;
  };
  const add = (group: Group, text: string) => {
    const texts = chunk[group];
    if (texts) texts.push(text);
    else chunk[group] = [text];
    if (++count === perLine) flush();
  };
  for (const p of c.policies.values()) add('policies', policyWireText(p));
  for (const [digest, k] of c.upsert) add('upsert', `["${digest}",${keyWireText(k, rememberTexts)}]`);
  for (const digest of c.remove) add('remove', JSON.stringify(digest));
  for (const ref of c.removePolicies) add('removePolicies', JSON.stringify(ref));
  if (count > 0 || written === 0) flush();
}

const GROUPS: readonly Group[] = ['policies', 'upsert', 'remove', 'removePolicies'];

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
  if (m.type === 'full' || m.type === 'delta' || m.type === 'part') return changeSetMessage(m);
  if (!isVersion(m.version)) return undefined;
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

function stoppedRunOf(raw: unknown): StoppedRun | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const r = raw as Record<string, unknown>;
  if (typeof r.scope !== 'string' || r.scope.length === 0 || r.scope.length > 512) return undefined;
  if (typeof r.runId !== 'string' || !RUN_ID_PATTERN.test(r.runId)) return undefined;
  if (typeof r.until !== 'number' || !Number.isSafeInteger(r.until) || r.until < 0) return undefined;
  return { scope: r.scope, runId: r.runId, until: r.until };
}

function isVersion(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function changeSetMessage(m: Record<string, unknown>): StreamMessage | undefined {
  const entries: Partial<Record<Group, readonly unknown[]>> = {};
  for (const group of GROUPS) {
    const v = m[group];
    if (v === undefined) continue;
    if (!Array.isArray(v)) return undefined;
    entries[group] = v;
  }
  const all: ChangeEntries = {
    policies: entries.policies ?? [],
    upsert: entries.upsert ?? [],
    remove: entries.remove ?? [],
    removePolicies: entries.removePolicies ?? [],
  };
  if (m.type === 'part')
    return isVersion(m.version) ? { type: 'part', version: m.version, entries: all } : undefined;
  if (typeof m.compiledAt !== 'number' || !Number.isFinite(m.compiledAt) || !isVersion(m.parts))
    return undefined;
  if (m.type === 'full') {
    if (!isVersion(m.version)) return undefined;
    return { type: 'full', version: m.version, compiledAt: m.compiledAt, parts: m.parts, entries: all };
  }
  if (!isVersion(m.from) || !isVersion(m.to) || m.to <= m.from) return undefined;
  return { type: 'delta', from: m.from, to: m.to, compiledAt: m.compiledAt, parts: m.parts, entries: all };
}
