import { type Denial, deny } from '../../decision/reasons.ts';

/**
 * key_expired for a vault key, saying when: "This Keybrake vault key has expired." left its holder
 * guessing which expiry and since when (ninth round). A time is no secret; the table keeps only the
 * earlier of the VaultKey's and the SpendPolicy's expiresAt, so the message names both.
 */
export function expiredKey(expiresAt: number): Denial {
  return deny(
    'key_expired',
    `This Keybrake vault key expired at ${new Date(expiresAt).toISOString()} (the earlier of its VaultKey's and its SpendPolicy's expiresAt).`,
  );
}
