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

/** How long the last-used record outlives the last call; every successful reserve refreshes it. */
export const LAST_USED_TTL_SECONDS = 35 * 24 * 60 * 60;

// Idempotency keys come from callers: short printable ones are kept readable (operators can find
// them), anything else is hashed so a hostile header cannot make keys huge or odd.
const READABLE_IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,128}$/;

/** `{vk:<scope>}:idem:<key>`: the record that makes a retried call free. */
export function idempotencyRecordKey(scope: string, idempotencyKey: string): string {
  const part = READABLE_IDEMPOTENCY_KEY.test(idempotencyKey)
    ? idempotencyKey
    : `sha256:${createHash('sha256').update(idempotencyKey).digest('hex')}`;
  return `${scopePrefix(scope)}:idem:${part}`;
}

/** How long an idempotency record is kept when the request does not say (Stripe keeps keys 24 h). */
export const DEFAULT_IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60;
