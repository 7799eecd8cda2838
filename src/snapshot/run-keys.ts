import { ObjectMemo } from '../memo.ts';
import type { CompiledKey, Snapshot } from './types.ts';

/**
 * The run-key index of a snapshot (ADR 0010): key id → the parent CompiledKey a run token names.
 * A key id is the first 12 bytes of the parent token's SHA-256 digest, base64url (16 characters):
 * it finds the parent with one Map lookup and reveals nothing usable (a 96-bit prefix of a digest).
 * Built once per snapshot (the compiler and the snapshot stream build it as they produce one; any
 * other snapshot on its first run-token call), never per request.
 */

/** Characters of a key id: 12 bytes, base64url without padding. */
export const RUN_KEY_ID_CHARS = 16;

/** The key id of a token, from its SHA-256 hex digest (the snapshot's key). */
export function runKeyId(digestHex: string): string {
  // Every 3 hex digits (12 bits) are 2 base64url characters: no Buffer per key, as a compile of
  // 100 000 keys spent 0.15 s allocating them. Anything but lowercase hex takes Buffer's own way.
  for (let i = 0, c = 0; i < 24; i += 3, c += 2) {
    const bits =
      (hexValue(digestHex, i) << 8) | (hexValue(digestHex, i + 1) << 4) | hexValue(digestHex, i + 2);
    if (bits < 0) return Buffer.from(digestHex.slice(0, 24), 'hex').toString('base64url');
    ID_CODES[c] = BASE64URL.charCodeAt(bits >> 6);
    ID_CODES[c + 1] = BASE64URL.charCodeAt(bits & 63);
  }
  // One flat string: appending the pairs made two concatenated strings per id (V8 keeps one as a
  // rope past 12 characters), which a proxy holding 100 000 run-key ids kept, 6 MB of them.
  return String.fromCharCode.apply(null, ID_CODES);
}

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
/** The character codes of the id being made (runKeyId is synchronous: one buffer serves every call). */
const ID_CODES: number[] = new Array(RUN_KEY_ID_CHARS).fill(0);

/** The value of the lowercase hex digit at `i`, or a large negative number for anything else. */
function hexValue(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -0x10000;
}

const indexes = new WeakMap<Snapshot, ReadonlyMap<string, CompiledKey>>();
/** A compiled key's id, once: a recompile keeps most CompiledKey objects (the CompileCache). */
const ids = new ObjectMemo<CompiledKey, string>('run key id');

/**
 * The index of `snapshot`: only keys that carry a run secret. Two keys whose ids collide (2^-96)
 * are both left out: a run token must never be checked against the wrong parent (fail closed).
 */
export function runKeysOf(snapshot: Snapshot): ReadonlyMap<string, CompiledKey> {
  let index = indexes.get(snapshot);
  if (index) return index;
  const built = new Map<string, CompiledKey>();
  const clashes = new Set<string>();
  for (const [digest, key] of snapshot.keys) {
    if (key.runSecret === undefined || key.tokenPrefix === undefined) continue;
    let id = ids.get(key);
    if (id === undefined) {
      id = runKeyId(digest);
      ids.set(key, id);
    }
    if (built.has(id)) clashes.add(id);
    built.set(id, key);
  }
  for (const id of clashes) built.delete(id);
  index = built;
  indexes.set(snapshot, index);
  return index;
}

/**
 * Records the run-key index of a snapshot built elsewhere, so `runKeysOf` never builds it on a
 * request: the snapshot stream (ADR 0013) builds it as a table's keys arrive, and derives a delta's
 * from the previous table's. Same rule as above (a clashing key id is left out; the stream keeps it
 * out until its next full table, even once one of the two keys has gone).
 */
export function setRunKeyIndex(snapshot: Snapshot, index: ReadonlyMap<string, CompiledKey>): void {
  indexes.set(snapshot, index);
}

/** `namespace/name` → key, for the minting APIs (built once per snapshot, like the run-key index). */
export function keysByName(snapshot: Snapshot): ReadonlyMap<string, { key: CompiledKey; digest: string }> {
  let index = names.get(snapshot);
  if (index) return index;
  const built = new Map<string, { key: CompiledKey; digest: string }>();
  for (const [digest, key] of snapshot.keys) built.set(`${key.namespace}/${key.name}`, { key, digest });
  index = built;
  names.set(snapshot, index);
  return index;
}

const names = new WeakMap<Snapshot, ReadonlyMap<string, { key: CompiledKey; digest: string }>>();

/**
 * A stopped run (ADR 0010), as every replica keeps it: the parent's counter scope (its uid), the run,
 * and until when. Written by `run stop` (the admin or operator API), carried by Redis pub/sub and the
 * snapshot stream, checked by the authenticate stage and, for money, inside the reserve script.
 */
export interface StoppedRun {
  readonly scope: string;
  readonly runId: string;
  /** Epoch ms after which no token of the run can be valid any more: the record may then be forgotten. */
  readonly until: number;
}

/**
 * Bounds on live stops (ADR 0010). A stop costs memory on every replica and a record in Redis for
 * 7 days, and whoever may stop runs of a key may name runs that never existed (tokens are minted
 * offline, so no server knows which runs exist): past these, a new stop is refused where it is
 * requested (the run API answers 429), never recorded and then dropped. A stop already taken is never
 * evicted early, whatever its source (that would un-stop a run): stops heard from Redis or the
 * operator are always kept, being already bounded where they were taken.
 */
export const MAX_STOPPED_RUNS_PER_KEY = 10_000;
/**
 * Live stops of a process over all keys past which a key holding at least an equal share of them
 * (among the keys holding any) starts no new run; its runs can still be stopped. Refusing a start
 * fails closed, refusing a stop would leave a run going: one key's stops (made-up run ids too) must
 * never keep another key's supervisor from stopping a run, as they did when this bound refused stops.
 */
export const MAX_STOPPED_RUNS = 100_000;
/**
 * Live stops of a process past which no new stop (or run) is taken at all: what bounds memory (about
 * 160 MB on every replica). Twice MAX_STOPPED_RUNS, so at least 20 keys must each hold their own
 * bound to reach it: one key's, or a few keys', never do.
 */
export const STOPPED_RUNS_CEILING = 2 * MAX_STOPPED_RUNS;

/**
 * How often a process looking for a refusal sweeps every key's expired stops: a sweep of up to
 * STOPPED_RUNS_CEILING takes a few milliseconds, and a refused caller may ask again at once. So a
 * stop that expired more than this long ago never counts towards a refusal.
 */
export const STOP_SWEEP_ON_REFUSAL_MS = 1_000;

/** What a refusal of a new stop or run is for: its key's bound, its share of the process, the ceiling. */
export type StopBound = 'key' | 'share' | 'process';

/**
 * Which bound a new stop or run of a key would pass, given the key's live stops, the process's and
 * how many keys hold any. A run that could not be stopped is not started, so a start meets every
 * bound a stop does; only a start meets the share.
 */
export function stopBoundReached(
  action: 'stop' | 'start',
  ofKey: number,
  total: number,
  holders: number,
): StopBound | undefined {
  if (ofKey >= MAX_STOPPED_RUNS_PER_KEY) return 'key';
  if (total >= STOPPED_RUNS_CEILING) return 'process';
  if (action === 'start' && total >= MAX_STOPPED_RUNS && ofKey * holders >= MAX_STOPPED_RUNS) return 'share';
  return undefined;
}
