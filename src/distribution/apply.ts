import { type LayeredDraft, LayeredMap } from '../snapshot/layered-map.ts';
import { runKeyId, setRunKeyIndex } from '../snapshot/run-keys.ts';
import { readWireKeys, readWirePolicies, readWireRemovals } from '../snapshot/serialize.ts';
import {
  draftTokenKinds,
  setTokenKinds,
  type TokenKinds,
  type TokenKindsDraft,
} from '../snapshot/token-kinds.ts';
import type { CompiledKey, CompiledPolicy, Snapshot } from '../snapshot/types.ts';
import type { ChangeEntries, StreamMessage } from './protocol.ts';

/**
 * The proxy side of change sets (ADR 0013): reads `full`, `delta` and `part` lines one at a time
 * (each bounded by ENTRIES_PER_LINE, so the follower can yield to the event loop between lines) and
 * builds the next table beside the one in force. Nothing is visible until a set's last line is in:
 * then the finished Snapshot is handed back whole, for the holder to swap in with one assignment.
 */

/** The table a follower holds, and what the next delta needs besides its keys. */
export interface StreamTable {
  readonly snapshot: Snapshot;
  /** `snapshot.keys`, layered so a delta copies only what changed since the last compaction. */
  readonly keys: LayeredMap<CompiledKey>;
  /** ref → policy: what an upserted key names when the delta does not carry its (unchanged) policy. */
  readonly policies: ReadonlyMap<string, CompiledPolicy>;
  /** The run-key index of `snapshot` (ADR 0010), derived delta by delta like the keys. */
  readonly runIndex: LayeredMap<CompiledKey>;
  /** Key ids left out of `runIndex` for a clash; kept out until the next full table. */
  readonly runClashes: ReadonlySet<string>;
  /** What redaction finds the table's tokens by (token-kinds.ts), counted delta by delta like the keys. */
  readonly tokenKinds: TokenKinds;
}

/**
 * A change set that cannot be applied to the table the proxy holds (a delta from another version, a
 * part without its head, a head before the previous set ended): the follower resyncs, i.e.
 * reconnects, and the operator sends the whole table.
 */
export class ResyncNeeded extends Error {
  override readonly name = 'ResyncNeeded';
}

type ChangeMessage = Extract<StreamMessage, { type: 'full' | 'delta' | 'part' }>;

interface Building {
  readonly kind: 'full' | 'delta';
  readonly version: number;
  readonly compiledAt: number;
  /** `part` lines still to come. */
  remaining: number;
  readonly policies: Map<string, CompiledPolicy>;
  readonly clashes: Set<string>;
  /** Strings and credentials the set's keys share, kept once (readWireKeys). */
  readonly shared: Map<string, unknown>;
  readonly tokenKinds: TokenKindsDraft;
  /** Full: the keys and run-key index being built. */
  readonly keys?: Map<string, CompiledKey>;
  readonly index?: Map<string, CompiledKey>;
  /** Delta: the table it applies to, and drafts of the next one. */
  readonly base?: StreamTable;
  readonly keysDraft?: LayeredDraft<CompiledKey>;
  readonly indexDraft?: LayeredDraft<CompiledKey>;
}

export interface ChangeSetReader {
  /** Whether a set has begun and not ended (only its `part` lines may come next). */
  readonly building: boolean;
  /**
   * Reads one line of a change set; the finished table when it was the set's last line. `current` is
   * the table in force (what a delta must start from). Throws ResyncNeeded, or SnapshotFormatError
   * for entries that do not validate; either way the set is dropped and the table in force stays.
   */
  read(m: ChangeMessage, current: StreamTable | undefined): StreamTable | undefined;
  /** Drops a set in progress (the stream ended). */
  reset(): void;
}

export function createChangeSetReader(): ChangeSetReader {
  let building: Building | undefined;

  const begin = (m: ChangeMessage, current: StreamTable | undefined): Building => {
    if (m.type === 'part') throw new ResyncNeeded(`a part of version ${m.version} without its head`);
    if (building) throw new ResyncNeeded(`a ${m.type} head while version ${building.version} is incomplete`);
    if (m.type === 'full')
      return {
        kind: 'full',
        version: m.version,
        compiledAt: m.compiledAt,
        remaining: m.parts,
        policies: new Map(),
        clashes: new Set(),
        shared: new Map(),
        tokenKinds: draftTokenKinds(),
        keys: new Map(),
        index: new Map(),
      };
    if (!current || current.snapshot.version !== m.from)
      throw new ResyncNeeded(
        `a delta from version ${m.from}, but this proxy holds ${current?.snapshot.version ?? 'none'}`,
      );
    return {
      kind: 'delta',
      version: m.to,
      compiledAt: m.compiledAt,
      remaining: m.parts,
      policies: new Map(current.policies),
      clashes: new Set(current.runClashes),
      shared: new Map(),
      tokenKinds: draftTokenKinds(current.tokenKinds),
      base: current,
      keysDraft: current.keys.draft(),
      indexDraft: current.runIndex.draft(),
    };
  };

  const take = (b: Building, e: ChangeEntries) => {
    for (const p of readWirePolicies(e.policies)) b.policies.set(p.ref, p);
    const keys = readWireKeys(e.upsert, (ref) => b.policies.get(ref), b.shared);
    if (b.kind === 'full') {
      for (const [digest, key] of keys) {
        const previous = b.keys!.get(digest);
        if (previous !== undefined) b.tokenKinds.remove(previous);
        b.keys!.set(digest, key);
        b.tokenKinds.add(key);
        if (!hasRunKeys(key)) continue;
        const id = runKeyId(digest);
        if (b.index!.has(id)) b.clashes.add(id);
        b.index!.set(id, key);
      }
    } else {
      const before = b.base!.keys;
      const index = b.indexDraft!;
      for (const [digest, key] of keys) {
        const previous = before.get(digest);
        const replaced = b.keysDraft!.get(digest);
        if (replaced !== undefined) b.tokenKinds.remove(replaced);
        b.keysDraft!.set(digest, key);
        b.tokenKinds.add(key);
        const id = runKeyId(digest);
        if (b.clashes.has(id)) continue;
        const holder = index.get(id);
        if (hasRunKeys(key)) {
          if (holder === undefined || holder === previous) index.set(id, key);
          else {
            // Another key has this id: neither is served run keys (runKeysOf's rule).
            b.clashes.add(id);
            index.delete(id);
          }
        } else if (holder !== undefined && holder === previous) index.delete(id);
      }
      for (const digest of readWireRemovals(e.remove, 'remove')) {
        const previous = before.get(digest);
        const removed = b.keysDraft!.get(digest);
        if (removed !== undefined) b.tokenKinds.remove(removed);
        b.keysDraft!.delete(digest);
        if (previous && hasRunKeys(previous)) {
          const id = runKeyId(digest);
          if (index.get(id) === previous) index.delete(id);
        }
      }
    }
    for (const ref of readWireRemovals(e.removePolicies, 'removePolicies')) b.policies.delete(ref);
  };

  const finish = (b: Building): StreamTable => {
    let table: StreamTable;
    if (b.kind === 'full') {
      for (const id of b.clashes) b.index!.delete(id);
      const keys = LayeredMap.of<CompiledKey>(b.keys!);
      table = {
        snapshot: { version: b.version, compiledAt: b.compiledAt, keys },
        keys,
        policies: b.policies,
        runIndex: LayeredMap.of<CompiledKey>(b.index!),
        runClashes: b.clashes,
        tokenKinds: b.tokenKinds.finish(),
      };
    } else {
      const keys = b.keysDraft!.finish();
      table = {
        snapshot: { version: b.version, compiledAt: b.compiledAt, keys },
        keys,
        policies: b.policies,
        runIndex: b.indexDraft!.finish(),
        runClashes: b.clashes,
        tokenKinds: b.tokenKinds.finish(),
      };
    }
    setRunKeyIndex(table.snapshot, table.runIndex);
    setTokenKinds(table.snapshot, table.tokenKinds);
    return table;
  };

  return {
    get building() {
      return building !== undefined;
    },
    read(m, current) {
      let b: Building;
      if (m.type === 'part') {
        if (!building) throw new ResyncNeeded(`a part of version ${m.version} without its head`);
        if (m.version !== building.version || building.remaining === 0)
          throw new ResyncNeeded(`a part of version ${m.version} while reading ${building.version}`);
        b = building;
        b.remaining--;
      } else {
        b = begin(m, current);
        building = b;
      }
      try {
        take(b, m.entries);
      } catch (err) {
        building = undefined;
        throw err;
      }
      if (b.remaining > 0) return undefined;
      building = undefined;
      return finish(b);
    },
    reset() {
      building = undefined;
    },
  };
}

function hasRunKeys(k: CompiledKey): boolean {
  return k.runSecret !== undefined && k.tokenPrefix !== undefined;
}
