import { createHash } from 'node:crypto';

/**
 * Counter key names shared by both stores (DESIGN.md §6). Every key of one vault key starts with the
 * hash tag `{vk:<scope>}`, so Redis Cluster puts them all in one slot and one Lua script can touch
 * them together.
 */

/** The hash-tagged prefix of every key of one vault key. */
export function scopePrefix(scope: string): string {
  return `{vk:${scope}}`;
}

/** `{vk:<scope>}:<bucket>`: one window's counter. */
export function counterKey(scope: string, bucket: string): string {
  return `${scopePrefix(scope)}:${bucket}`;
}

/** `{vk:<scope>}:last`: epoch ms of the last call whose reserve succeeded (VaultKey status.lastUsedAt). */
export function lastUsedKey(scope: string): string {
  return `${scopePrefix(scope)}:last`;
}

/**
 * `{vk:<scope>}:epoch`: names the incarnation of a vault key's money windows (written by the first
 * reserve that moves money, outliving every window), so a settle can tell windows Redis lost and
 * started again from those its reservation raised (settle.lua).
 */
export function epochKey(scope: string): string {
  return `${scopePrefix(scope)}:epoch`;
}

/** How long the last-used record outlives the last call; every successful reserve refreshes it. */
export const LAST_USED_TTL_SECONDS = 35 * 24 * 60 * 60;

// Object ids come from request paths: short printable ones are kept readable (operators can find
// them), anything else is hashed so a hostile path cannot make keys huge or odd. A readable part
// never starts with `sha256:`: the literal `sha256:<hex>` of a hashed one would otherwise name the
// same record.
const HASHED_PREFIX = 'sha256:';
const READABLE_PART = /^[\x21-\x7e]{1,128}$/;

/**
 * `{vk:<scope>}:idem:sha256:<hex>`: the record that makes a retried call free. The Idempotency-Key is
 * always hashed: it is the caller's text, and an agent may put a credential in it (a probe had a
 * vault token stored in clear in a Redis key name), which no pattern can tell from a key.
 */
export function idempotencyRecordKey(scope: string, idempotencyKey: string): string {
  return `${scopePrefix(scope)}:idem:${hashed(idempotencyKey)}`;
}

function readablePart(s: string): string {
  return READABLE_PART.test(s) && !s.startsWith(HASHED_PREFIX) ? s : hashed(s);
}

function hashed(s: string): string {
  return `${HASHED_PREFIX}${createHash('sha256').update(s).digest('hex')}`;
}

/** How long an idempotency record is kept when the request does not say (Stripe keeps keys 24 h). */
export const DEFAULT_IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60;

/**
 * `{lease:<account>}:<object>`: the lease on one upstream object (ADR 0007 §5). The hash tag is the
 * upstream account (vendor and a digest of its credential identity), not the vault key: every
 * replica and every vault key of that account meet on the same key, and all leases of one call (one
 * account) share a slot, so one script takes them together in Redis Cluster.
 */
export function leaseKey(account: string, object: string): string {
  return `{lease:${account}}:${readablePart(object)}`;
}

/** What a lease account may look like: `<vendor>:<hex digest>`, never braces (they would move the hash tag). */
export const LEASE_ACCOUNT = /^[a-z]+:[0-9a-f]{16,64}$/;

/**
 * Bound on the leases of one call (ADR 0007 §5, seventh round), set from the largest calls Stripe
 * takes: a Checkout Session locks each of its line items' Prices (Stripe: at most 100 line items),
 * invoice lines their invoice and up to MAX_PRICE_READS (100) Prices and items, and a subscription
 * create or update its customer or subscription, each of its items' and invoice items' Prices
 * (Stripe: at most 20 of each) and the Product behind each (81 in all). A schedule's phases may name
 * more between them (10 phases of 20 and 20); one that needs more than this is refused. Finite
 * because each lease is two commands of one acquire.lua (EXISTS, SET; all in the account's slot) and
 * is renewed before each further read of the call's lookup.
 */
export const MAX_LEASES_PER_CALL = 128;

/**
 * `{vk:<scope>}:revoked-run:<runId>`: a stopped run (ADR 0010), in the vault key's slot so the reserve
 * script checks it in the same step. Run ids never hold a brace (their charset), so the tag stays.
 */
export function stoppedRunKey(scope: string, runId: string): string {
  return `${scopePrefix(scope)}:revoked-run:${runId}`;
}

/**
 * `{vk:<scope>}:revoked-runs`: the key's live stops (sorted set of run ids, score: until), which bound
 * them per key (MAX_STOPPED_RUNS_PER_KEY). No run key collides: theirs go on with `:`.
 */
export function stoppedRunsOfKey(scope: string): string {
  return `${scopePrefix(scope)}:revoked-runs`;
}

/** Sorted set of every stopped run (score: until, epoch ms): what a replica reads when it (re)subscribes. */
export const STOPPED_RUNS_INDEX = '{keybrake:runs}:revoked';

/** Pub/sub channel every replica subscribes to: one JSON StoppedRun per message. */
export const STOPPED_RUNS_CHANNEL = 'keybrake:revoked-runs';

/**
 * `keybrake:revoked-runs:echo:<nonce>`: one subscription's own channel, on which its replica publishes
 * probes and expects them back (docs/counters.md, "A silent Redis hides stops too"). A channel of its
 * own, so the probes of N replicas cost N deliveries, not N² as on the shared channel; the same
 * prefix, so a Redis ACL that grants `&keybrake:revoked-runs*` grants both.
 */
export function stoppedRunsEchoChannel(nonce: string): string {
  return `${STOPPED_RUNS_CHANNEL}:echo:${nonce}`;
}
