/**
 * A proxy is out of step when it holds a table of a higher version than everything its leader serves:
 * a predecessor's clock ran more than a day ahead (the operator then disbelieves the held version, as
 * it would a client's lie, and does not re-stamp above it). Its heartbeats no longer refresh that
 * table, which ages into policy_stale; this decides when it may take the leader's lower version.
 */

/** What the follower knows when a table of a lower version than the one in force arrives. */
export interface OutOfStep {
  /** The leader term of the stream the table in force came from (undefined: not told). */
  readonly heldTerm: number | undefined;
  /** The term of the stream the lower table comes on (undefined: an operator that sends none). */
  readonly streamTerm: number | undefined;
  /** How long since the table in force was received or confirmed (SnapshotHolder.ageMs). */
  readonly ageMs: number | undefined;
  /** The proxy's --max-staleness; undefined: never (a restart is the way back). */
  readonly maxStalenessMs: number | undefined;
}

/**
 * Whether to take a table of a lower version than the one in force. Only from a leader of a newer
 * term, so a former leader (resumed after a pause, its older table) can never roll a proxy back past
 * a revocation; and only once the table in force is stale, i.e. already refusing money-moving calls,
 * so the lower version is not taken on the word of one stream while the proxy still enforces its own.
 */
export function takesLowerVersion(s: OutOfStep): boolean {
  return (
    s.heldTerm !== undefined &&
    s.streamTerm !== undefined &&
    s.streamTerm > s.heldTerm &&
    s.ageMs !== undefined &&
    s.maxStalenessMs !== undefined &&
    s.ageMs > s.maxStalenessMs
  );
}
