import { hash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { type Denial, deny, isDenial } from '../../decision/reasons.ts';
import type { CompiledKey, Snapshot } from '../../snapshot/types.ts';
import {
  carriesToken,
  carriesTokenAnyCase,
  holdsTokenShape,
  holdsTokenShapeAnyCase,
  type TokenPrefixes,
  tokenPrefixesOf,
  withoutToken,
} from '../../tokens/redact.ts';
import type { RunGrant } from '../../tokens/run-token.ts';
import { vendorKeyLookalike } from '../../tokens/vendor-key-shapes.ts';
import type { PresentedCredential, VendorAdapter } from '../../vendors/types.ts';
import type { CallContext, IncomingCall, Stage } from '../context.ts';
import { runIdOf } from '../run-id.ts';
import { findRunKey, type StoppedRuns } from '../runs.ts';
import { expiredKey } from './expired-key.ts';

/**
 * The vault key a call presents, and why it may not be used now (suspended, expired). The table
 * holds only SHA-256 digests, so the lookup compares digests, never plaintext: a Map hit reveals
 * nothing usable about other tokens' values.
 */
function keyOf(
  adapter: VendorAdapter,
  presented: PresentedCredential | undefined,
  snapshot: Snapshot,
  now: number,
): { key: CompiledKey; refused?: Denial } | Denial {
  if (!presented || presented.token.length < 16 || presented.token.length > 512) {
    return deny('key_unknown', 'Missing or malformed credentials for a Keybrake vault key.');
  }
  // crypto.hash: the one-shot digest, without a Hash object per call.
  const digest = hash('sha256', presented.token, 'hex');
  const key = snapshot.keys.get(digest);
  if (!key) return unknownKey(presented.token);
  if (key.vendor !== adapter.name) return otherVendorKey(key.vendor, adapter.name);
  if (key.suspended) return { key, refused: deny('key_suspended') };
  if (key.expiresAt !== undefined && now >= key.expiresAt) return { key, refused: expiredKey(key.expiresAt) };
  return { key };
}

/**
 * key_unknown, saying so when the credential has the shape of a vendor's own key: the agent was given
 * the real key instead of its vault token (eighth round). Its shape only; no part of it is echoed.
 */
function unknownKey(token: string): Denial {
  const lookalike = vendorKeyLookalike(token);
  if (lookalike === undefined) return deny('key_unknown');
  return deny(
    'key_unknown',
    `Unknown or malformed Keybrake vault key. The credential presented has the shape of ${lookalike}: give the agent the Keybrake vault token of its VaultKey (the Secret its tokenSecretRef names), never the vendor's own key.`,
  );
}

/**
 * key_unknown for a vault key served for another vendor, saying which and where its calls go: "Unknown
 * or malformed" sent a new user looking for a typo in a valid token (ninth round). Only whoever holds
 * the token gets here, and its vendor is what its default prefix shows; the token is not echoed. Still
 * key_unknown with no key recorded: on this listener it names no key.
 */
function otherVendorKey(vendor: string, listener: string): Denial {
  return deny(
    'key_unknown',
    `This Keybrake vault key is for ${vendor}, not ${listener}: send its calls to Keybrake's ${vendor} listener (--vendor-port), or under /${vendor}/ on the prefix router (--listen).`,
  );
}

/** Who is calling: a vault key, or a run key and the vault key it was minted from. */
export interface Caller {
  readonly key: CompiledKey;
  readonly run?: RunGrant;
  readonly token: string;
  /**
   * Why this authentic credential may not be used now: its key suspended or expired, its run key
   * expired or its run stopped. The call is refused; the audit record still names the key.
   */
  readonly refused?: Denial;
}

/**
 * The caller (ADR 0010): a run-token shaped credential is verified first; one that no served key
 * minted is then looked up like any other token (a token you bring may have any shape), so every
 * failure to find one is key_unknown, never saying which part failed (a denial). An authentic
 * credential that may not be used now is a caller with `refused`: refused before anything is parsed
 * or forwarded, and recorded under its key.
 */
export function findCaller(
  adapter: VendorAdapter,
  headers: IncomingHttpHeaders,
  snapshot: Snapshot,
  now: number,
  stopped?: StoppedRuns,
): Caller | Denial {
  const presented = adapter.credential(headers);
  if (presented && presented.token.length >= 16 && presented.token.length <= 512) {
    const run = findRunKey(adapter.name, presented.token, snapshot, now, stopped);
    if (run) return { key: run.key, run: run.grant, token: presented.token, ...withRefusal(run.refused) };
  }
  // The credential is read once: the lookup below judges the same token the run-key check did.
  const found = keyOf(adapter, presented, snapshot, now);
  return isDenial(found) ? found : { key: found.key, token: presented!.token, ...withRefusal(found.refused) };
}

function withRefusal(refused: Denial | undefined): { refused?: Denial } {
  return refused ? { refused } : {};
}

/**
 * The vault key, its policy and the agent run the call belongs to (a run is a key's, DESIGN.md §5).
 * A duplicated, malformed or contradictory run id is run_id_invalid (ADR 0007 §6), and a policy with
 * `requireRunId` refuses a call naming no run: both before anything is parsed or priced. A run key
 * names its run itself: a header naming another run is run_id_invalid, and it satisfies requireRunId.
 */
export const authenticate: Stage = (ctx, deps) => {
  const snapshot = deps.snapshots.current;
  if (!snapshot) return deny('policy_stale', 'This proxy has not received a policy snapshot yet.');
  const caller = findCaller(ctx.adapter!, ctx.call.headers, snapshot, deps.clock.now(), deps.stoppedRuns);
  if (isDenial(caller) || caller.refused) {
    // A token brought in may have any shape: the one presented is kept out of the record by value.
    const presented = ctx.adapter!.credential(ctx.call.headers)?.token;
    if (presented !== undefined && presented.length >= 16) ctx.path = withoutToken(ctx.path, presented);
    if (isDenial(caller)) return caller;
    // Authentic but refused: whoever reads the audit stream learns which key (and run) still calls.
    recordCaller(ctx, caller, tokenPrefixesOf(snapshot));
    return caller.refused;
  }
  const { key, run, token } = caller;
  ctx.table = snapshot;
  ctx.key = key;
  ctx.policy = key.policy;
  // A run key names its run whatever else the call says: a denial below is recorded in that run too.
  ctx.runId = run?.runId ?? null;
  // The credential belongs in Authorization only: in the target it would reach the vendor and the
  // audit stream, in a run id every record and span of the run (ADR 0007 §1).
  const prefixes = tokenPrefixesOf(snapshot);
  const inTarget = keyInTarget(ctx.call.url, token, prefixes);
  if (inTarget) {
    ctx.path = withoutToken(ctx.path, token);
    return inTarget;
  }
  const runId = runIdOf(ctx.call.headers, ctx.call.rawHeaders);
  if (isDenial(runId)) return runId;
  const inRunId = runId === undefined ? undefined : keyInRunId(runId, token, prefixes);
  if (inRunId) return inRunId;
  // Well-formed and free of keys: a denial below is recorded in the run the call names.
  if (!run) ctx.runId = runId ?? null;
  const inHeader = keyInHeaders(ctx.call.headers, token, prefixes, ctx.call.rawHeaders);
  if (inHeader) return inHeader;
  if (run) {
    if (runId !== undefined && runId !== run.runId)
      return deny(
        'run_id_invalid',
        'Keybrake-Run-Id (or baggage keybrake.run_id) names another run than the run key.',
      );
    ctx.runKey = run;
    return undefined;
  }
  if (runId === undefined && key.policy.requireRunId) {
    return deny(
      'run_id_required',
      "This key's policy requires an agent run id: send Keybrake-Run-Id (or baggage keybrake.run_id).",
    );
  }
  return undefined;
};

/**
 * Names the caller of a call refused before its run id is judged, in its record only: an authentic
 * credential that may not be used now, or a call the HTTP layer refuses (refuse.ts). The run is the
 * run key's, else the one the headers name when it is well-formed and carries no key: a malformed
 * one is the caller's text and stays out of the record (docs/security.md).
 */
export function recordCaller(ctx: CallContext, caller: Caller, prefixes: TokenPrefixes): void {
  ctx.key = caller.key;
  ctx.runId = caller.run?.runId ?? namedRun(ctx.call, caller.token, prefixes);
}

function namedRun(call: IncomingCall, token: string, prefixes: TokenPrefixes): string | null {
  const runId = runIdOf(call.headers, call.rawHeaders);
  if (runId === undefined || isDenial(runId) || keyInRunId(runId, token, prefixes)) return null;
  return runId;
}

/**
 * Where a call carries a Keybrake key besides its credential (ADR 0007 §1), checked by authenticate
 * and by `policy-check --explain` alike: `token` is the credential presented (any shape: found as it
 * is or percent-encoded up to three times), `prefixes` find every vault token and run key by shape.
 * In the request target the key would reach the vendor and the audit stream.
 */
export function keyInTarget(
  target: string,
  token: string | undefined,
  prefixes: TokenPrefixes,
): Denial | undefined {
  if (carriesKey(target, token, prefixes))
    return deny('path_invalid', 'The request target carries a Keybrake key; send it only as the credential.');
  return undefined;
}

/** In a run id (see keyInTarget) the key would reach every record and span of the run. */
export function keyInRunId(
  runId: string,
  token: string | undefined,
  prefixes: TokenPrefixes,
): Denial | undefined {
  if (carriesKey(runId, token, prefixes))
    return deny('run_id_invalid', 'A run id must not carry a Keybrake key.');
  return undefined;
}

/** Whether `text` holds the presented token (as it is or percent-encoded) or any key's shape. */
function carriesKey(text: string, token: string | undefined, prefixes: TokenPrefixes): boolean {
  return (token !== undefined && carriesToken(text, token)) || holdsTokenShape(text, prefixes);
}

/**
 * In any header but Authorization (see keyInTarget), the key would be sent to the vendor: User-Agent,
 * a custom header, baggage, tracestate, an Idempotency-Key (a probe had each forwarded). The token
 * presented is found as it is or percent-encoded, as in the target (a fourth-round probe had a brought
 * token forwarded percent-encoded in `baggage`, whose values W3C percent-encodes); one substring
 * search, a decode only of a value holding `%`, and one shape search per header value. Header names
 * are checked as the caller spelt them (`rawHeaders`) and in any letter case (namesCarryKey).
 */
export function keyInHeaders(
  headers: IncomingHttpHeaders,
  token: string | undefined,
  prefixes: TokenPrefixes,
  rawHeaders?: readonly string[],
): Denial | undefined {
  const carries = (text: string) => carriesKey(text, token, prefixes);
  let found = namesCarryKey(rawHeaders ?? Object.keys(headers), rawHeaders !== undefined, token, prefixes);
  for (const name in headers) {
    if (found) break;
    if (name === 'authorization') continue;
    const value = headers[name];
    if (value === undefined) continue;
    found = typeof value === 'string' ? carries(value) : value.some(carries);
  }
  // The name or value is the caller's text; it is not echoed.
  if (found)
    return deny(
      'header_invalid',
      'A header carries a Keybrake key; send it only as the credential (Authorization).',
    );
  return undefined;
}

/**
 * Whether a header name carries a Keybrake key. Node and undici lower-case names, so the vendor gets
 * a token sent as a name lower-cased, which is still the token: a minted one's checksum gives its
 * case back offline (eleventh round: `kb_stripe_…: 1` was forwarded as `kb_stripe_0xwv…: 1`). So each
 * name is searched as it was sent (the presented token, key shapes with their checksum, served
 * brought tokens), then in any letter case (the presented token, and a key shape whose checksum the
 * lost case keeps from being checked: holdsTokenShapeAnyCase), then lower-cased as forwarded (a served
 * brought token that is in lower case). `lines`: the raw header lines, name then value, when
 * `paired`; else the names alone.
 */
function namesCarryKey(
  lines: readonly string[],
  paired: boolean,
  token: string | undefined,
  prefixes: TokenPrefixes,
): boolean {
  const step = paired ? 2 : 1;
  for (let i = 0; i < lines.length; i += step) {
    const name = lines[i]!;
    if (carriesKey(name, token, prefixes)) return true;
    if (token !== undefined && carriesTokenAnyCase(name, token)) return true;
    if (holdsTokenShapeAnyCase(name, prefixes)) return true;
    // A brought token in lower case sent in another case is forwarded as itself.
    const lower = name.toLowerCase();
    if (lower !== name && holdsTokenShape(lower, prefixes)) return true;
  }
  return false;
}
