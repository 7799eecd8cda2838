import { RUN_ID_PATTERN } from '../snapshot/run-id.ts';
import type { StoppedRun } from '../snapshot/run-keys.ts';
import {
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
 * On the watch answer: the leader's term (the Lease's leaseTransitions when it acquired it), which
 * rises with each new leader whatever its clock. A proxy holding a version above everything this
 * leader serves (a predecessor's clock ran more than a day ahead) takes its table, lower version and
 * all, only from a newer term and once its own has been stale for --max-staleness (ADR 0005, sixth
 * round). A response header, so proxies that predate it ignore it.
 */
export const LEADER_TERM_HEADER = 'keybrake-leader-term';
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
/**
 * The longest line a follower reads, in bytes as they arrive (UTF-8; until 2026-12-01 UTF-16 code
 * units of the decoded stream): a stream that sends a longer one is cut and reconnected.
 */
export const MAX_LINE_LENGTH = 64 * 1024 * 1024;
/**
 * At most this many characters of entries in one change-set line, besides ENTRIES_PER_LINE: a line
 * closes before the entry that would take it past the budget. A count alone let a tenant's 54
 * policies of 1.3 MB each make one line longer than MAX_LINE_LENGTH, which every proxy refused on
 * every reconnect. A line holding one entry may pass the budget; no entry comes near MAX_LINE_LENGTH
 * (the SpendPolicy lists are bounded, docs/resources.md; a key's credential is a Secret's value).
 */
export const LINE_BUDGET = 4 * 1024 * 1024;
export const NDJSON = 'application/x-ndjson';
export const DEFAULT_AUDIENCE = 'keybrake';
export const DEFAULT_HEARTBEAT_MS = 2_000;

/**
 * `lagMs` on a heartbeat and on the head of a table (`full`, `delta`, `snapshot`): how long before
 * the line was written the operator's informers were last known to have seen every change (0 while
 * every watch is established). A proxy counts its table's age from then, not from the line's arrival,
 * so an operator whose VaultKey watch has failed for good cannot keep a deleted key fresh with its
 * heartbeats (ADR 0005, eighth round). A line without it vouches for nothing: the table ages.
 */
export type Lag = { readonly lagMs?: number };

/**
 * `text` (lines whose first is a JSON object) with `lagMs` added to its first line. A string
 * concatenation, not a copy: the whole table's text is shared by every proxy that connects.
 */
export function withLag(text: string, lagMs: number | undefined): string {
  return lagMs === undefined ? text : `{"lagMs":${lagMs},${text.slice(1)}`;
}

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
 *   ENTRIES_PER_LINE entries and LINE_BUDGET characters of them per line (a larger entry alone). A
 *   proxy applies a delta only on top of `from`, and the whole set at once when its last line has
 *   arrived.
 * - `snapshot`: a whole snapshot in one line (`data` is serializeSnapshot output), for proxies that
 *   predate change sets (a table longer than MAX_LINE_LENGTH does not reach them).
 * - A keep-alive, or stopped runs (ADR 0010). Stops are additive and carry their own sequence
 *   (`version`, increasing like snapshot versions): every stream gets every live stop when it
 *   connects, then each new one; a proxy adds them to its set and acknowledges the sequence like a
 *   snapshot.
 */
export type StreamMessage =
  | ({
      readonly type: 'full';
      readonly version: number;
      readonly compiledAt: number;
      readonly parts: number;
      readonly entries: ChangeEntries;
    } & Lag)
  | ({
      readonly type: 'delta';
      readonly from: number;
      readonly to: number;
      readonly compiledAt: number;
      readonly parts: number;
      readonly entries: ChangeEntries;
    } & Lag)
  | { readonly type: 'part'; readonly version: number; readonly entries: ChangeEntries }
  | ({ readonly type: 'snapshot'; readonly version: number; readonly data: string } & Lag)
  | ({ readonly type: 'heartbeat'; readonly version: number } & Lag)
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
  opts: { readonly rememberTexts?: boolean; readonly budget?: number } = {},
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
  opts: { readonly rememberTexts?: boolean; readonly budget?: number } = {},
): void {
  changeSetLines(
    `"type":"full","version":${snapshot.version},"compiledAt":${snapshot.compiledAt}`,
    snapshot.version,
    { policies: policiesOf(snapshot), upsert: snapshot.keys, remove: NONE, removePolicies: NONE },
    emit,
    { entries: perLine, budget: opts.budget ?? LINE_BUDGET },
    opts.rememberTexts ?? true,
  );
}

/** A delta as change-set lines: a `delta` head and its parts (each line ends in \n). */
export function deltaLines(delta: SnapshotDelta, perLine = ENTRIES_PER_LINE, budget = LINE_BUDGET): string {
  const out: string[] = [];
  changeSetLines(
    `"type":"delta","from":${delta.from},"to":${delta.to},"compiledAt":${delta.compiledAt}`,
    delta.to,
    delta,
    (line) => out.push(line),
    { entries: perLine, budget },
  );
  return out.join('');
}

const NONE: ReadonlySet<string> = new Set();

type Group = keyof ChangeEntries;

/** How a change set is cut into lines: at most `entries` entries and `budget` characters of them. */
interface LineLimits {
  readonly entries: number;
  readonly budget: number;
}

interface Entry {
  readonly group: Group;
  readonly text: string;
}

/** The entries of `c` as wire texts, in stream order: policies before the keys that name them. */
function* entriesOf(c: SnapshotChanges, rememberTexts: boolean): Generator<Entry> {
  for (const p of c.policies.values()) yield { group: 'policies', text: policyWireText(p) };
  for (const [digest, k] of c.upsert)
    yield { group: 'upsert', text: `["${digest}",${keyWireText(k, rememberTexts)}]` };
  for (const digest of c.remove) yield { group: 'remove', text: JSON.stringify(digest) };
  for (const ref of c.removePolicies) yield { group: 'removePolicies', text: JSON.stringify(ref) };
}

/**
 * `entries` cut into lines: a line closes at `limits.entries` entries, and before an entry that
 * would take its texts past `limits.budget` characters (so a line over the budget holds one entry).
 */
function* cut(entries: Iterable<Entry>, limits: LineLimits): Generator<Entry[]> {
  let line: Entry[] = [];
  let chars = 0;
  for (const e of entries) {
    if (line.length > 0 && chars + e.text.length > limits.budget) {
      yield line;
      line = [];
      chars = 0;
    }
    line.push(e);
    chars += e.text.length + 1;
    if (line.length === limits.entries) {
      yield line;
      line = [];
      chars = 0;
    }
  }
  if (line.length > 0) yield line;
}

/**
 * Writes the change set `c` as lines to `emit`, in order: the head (with `head`'s fields), then its
 * parts. The head names how many parts follow, so the lines are cut twice: once to count them, once
 * to write them. The texts are remembered (policies always, keys unless `rememberTexts` is false),
 * so the count costs a walk; unremembered keys are written twice rather than all held at once.
 */
function changeSetLines(
  head: string,
  version: number,
  c: SnapshotChanges,
  emit: (line: string) => void,
  limits: LineLimits,
  rememberTexts = true,
): void {
  // Without a budget only the entry count cuts, so the parts are counted without writing a text.
  let lines = 0;
  if (limits.budget === Number.POSITIVE_INFINITY)
    lines = Math.ceil(
      (c.policies.size + c.upsert.size + c.remove.size + c.removePolicies.size) / limits.entries,
    );
  else for (const _ of cut(entriesOf(c, rememberTexts), limits)) lines++;
  const parts = Math.max(1, lines) - 1;
  let written = 0;
  for (const entries of cut(entriesOf(c, rememberTexts), limits)) emit(lineOf(entries));
  if (written === 0) emit(lineOf([]));

  function lineOf(entries: readonly Entry[]): string {
    let line = written++ === 0 ? `{${head},"parts":${parts}` : `{"type":"part","version":${version}`;
    for (const group of GROUPS) {
      const texts = entries.filter((e) => e.group === group);
      if (texts.length > 0) line += `,"${group}":[${texts.map((e) => e.text).join(',')}]`;
    }
    return `${line}}\n`;
  }
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
  if (m.type === 'heartbeat') return { type: 'heartbeat', version: m.version, ...lagOf(m) };
  if (m.type === 'snapshot' && typeof m.data === 'string')
    return { type: 'snapshot', version: m.version, data: m.data, ...lagOf(m) };
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

/** The line's `lagMs` when it is a whole number of milliseconds; else none (vouching for nothing). */
function lagOf(m: Record<string, unknown>): Lag {
  return isVersion(m.lagMs) ? { lagMs: m.lagMs } : {};
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
    return {
      type: 'full',
      version: m.version,
      compiledAt: m.compiledAt,
      parts: m.parts,
      entries: all,
      ...lagOf(m),
    };
  }
  if (!isVersion(m.from) || !isVersion(m.to) || m.to <= m.from) return undefined;
  return {
    type: 'delta',
    from: m.from,
    to: m.to,
    compiledAt: m.compiledAt,
    parts: m.parts,
    entries: all,
    ...lagOf(m),
  };
}
