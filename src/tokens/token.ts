import { hash, randomBytes as nodeRandomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import type { VendorName } from '../snapshot/types.ts';

/**
 * Vault tokens: what an agent holds instead of the real vendor key (DESIGN.md §2). Minted by the
 * operator (or `keybrake token new`), stored in a Secret, and known to the proxy only as a SHA-256
 * digest. Shape: `<prefix><body><checksum>`, e.g. `kb_stripe_` + 33 base62 chars + 6 base62 chars.
 */

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
/** Random bytes in a token body: 192 bits. */
export const TOKEN_BODY_BYTES = 24;
/** 62^33 > 2^192, so every body fits in exactly 33 base62 characters. */
export const TOKEN_BODY_CHARS = 33;
export const TOKEN_CHECKSUM_CHARS = 6;
/** Prefix overrides are limited to this shape (VaultKey spec.tokenPrefix). */
export const TOKEN_PREFIX_PATTERN = /^[A-Za-z0-9_]{2,32}$/;

/** Source of random bytes; injected so tests are deterministic. */
export type RandomBytes = (size: number) => Uint8Array;

export function defaultTokenPrefix(vendor: VendorName): string {
  return `kb_${vendor}_`;
}

/** A fresh vault token. Never log it: show `fingerprint(token)` instead. */
export function newToken(vendor: VendorName, opts: { prefix?: string; random?: RandomBytes } = {}): string {
  const prefix = opts.prefix ?? defaultTokenPrefix(vendor);
  if (!TOKEN_PREFIX_PATTERN.test(prefix)) throw new Error('token prefix must match /^[A-Za-z0-9_]{2,32}$/');
  const bytes = (opts.random ?? nodeRandomBytes)(TOKEN_BODY_BYTES);
  if (bytes.length !== TOKEN_BODY_BYTES)
    throw new Error(`random source must return ${TOKEN_BODY_BYTES} bytes`);
  const body = base62(bytesToBigInt(bytes), TOKEN_BODY_CHARS);
  return prefix + body + checksum(prefix + body);
}

/**
 * Whether the last 6 characters are the checksum of the rest: lets scanners and `policy-check` tell a
 * Keybrake token from a typo without knowing any secret.
 */
export function hasValidChecksum(token: string): boolean {
  if (token === lastChecked.token) return lastChecked.valid;
  const valid =
    /^[A-Za-z0-9_]+$/.test(token) &&
    token.length >= 2 + TOKEN_BODY_CHARS + TOKEN_CHECKSUM_CHARS &&
    checksum(token.slice(0, -TOKEN_CHECKSUM_CHARS)) === token.slice(-TOKEN_CHECKSUM_CHARS);
  lastChecked = { token, valid };
  return valid;
}

/**
 * The last token checked: a compile asks about each key's token three times in a row (is it
 * acceptable, its fingerprint, was it brought), 0.3 to 0.4 s of a 100 000-key compile's CPU.
 */
let lastChecked: { token: string | undefined; valid: boolean } = { token: undefined, valid: false };

/** SHA-256 hex of the token: the only form of it the proxy's table holds. */
export function tokenDigest(token: string): string {
  // One-shot: the same digest as createHash().update().digest(), without the Hash object.
  return hash('sha256', token, 'hex');
}

/**
 * `kb_stripe_…9f2c`: the prefix (up to its last `_`) and the last 4 characters, safe for status,
 * logs and the CLI. Only a token Keybrake minted (its checksum holds) shows a prefix: it is known to
 * be one. Any other (a token the user brought) shows its last 4 characters alone, since nothing says
 * where its public part ends: a `_` in it would otherwise have everything before it shown (a token
 * `<28 random characters>_<16 more>` was shown all but 12 characters).
 */
export function fingerprint(token: string): string {
  const tail = token.length >= 16 ? token.slice(-4) : '';
  return `${mintedPrefix(token)}…${tail}`;
}

/** What a token holds before a minted token's body and checksum: its prefix, if it was minted. */
export function tokenPrefixPart(token: string): string {
  return token.slice(0, -(TOKEN_BODY_CHARS + TOKEN_CHECKSUM_CHARS));
}

/** The prefix a minted token was given, up to its last `_`; '' for any other token. */
function mintedPrefix(token: string): string {
  const prefix = tokenPrefixPart(token);
  if (!TOKEN_PREFIX_PATTERN.test(prefix) || !hasValidChecksum(token)) return '';
  return prefix.slice(0, prefix.lastIndexOf('_') + 1);
}

function checksum(text: string): string {
  // crc32 reads the string as UTF-8 itself, and 32 bits need no BigInt: a compile checks every
  // token of the table, and 100 000 took 80 ms with a Buffer and BigInt arithmetic each (35 ms so).
  return base62Number(crc32(text), TOKEN_CHECKSUM_CHARS);
}

function bytesToBigInt(bytes: Uint8Array): bigint {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  return n;
}

/** `n` in base 62, zero-padded to `width` (a token's body: 256 bits). */
function base62(n: bigint, width: number): string {
  let out = '';
  let rest = n;
  while (rest > 0n) {
    out = BASE62[Number(rest % 62n)] + out;
    rest /= 62n;
  }
  return out.padStart(width, '0');
}

/** `base62` for a safe integer (a checksum: 32 bits), without BigInt arithmetic. */
function base62Number(n: number, width: number): string {
  let out = '';
  let rest = n;
  while (rest > 0) {
    out = BASE62[rest % 62] + out;
    rest = Math.floor(rest / 62);
  }
  return out.padStart(width, '0');
}
