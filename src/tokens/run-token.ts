import {
  createHash,
  createHmac,
  type Hash,
  randomBytes as nodeRandomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { RUN_ID_PATTERN } from '../snapshot/run-id.ts';
import { RUN_KEY_ID_CHARS, runKeyId } from '../snapshot/run-keys.ts';
import type { RandomBytes } from './token.ts';

/**
 * Run tokens (ADR 0010): a child credential per agent run, minted in microseconds without any
 * Kubernetes object or stored state, verified by the proxy with the parent key's run secret.
 *
 *   <parent prefix>r1_<payload>_<key id>_<mac>        e.g. kb_stripe_r1_AQAB…_3q2-7w…_Yk9x…
 *
 * - parent prefix: the parent's token prefix (`kb_stripe_`, or its spec.tokenPrefix), so a run token
 *   looks like the vendor key the client expects and secret scanners find it;
 * - payload: base64url of flags, issued-at, expiry, cap, nonce and the run id (below);
 * - key id: 16 base64url characters, the first 12 bytes of the parent token's SHA-256 digest;
 * - mac: HMAC-SHA256 under the parent's run secret of everything before `_<mac>`, truncated to
 *   18 bytes (144 bits, 24 base64url characters: no padding bits, so each MAC has one spelling).
 *
 * Every character is in [A-Za-z0-9_-]: a Bearer token, a Basic user name or password, an environment
 * variable and a command-line argument alike. At most 32 + 3 + 208 + 1 + 16 + 1 + 24 = 285 characters.
 */

export const RUN_TOKEN_MARKER = 'r1_';
export const RUN_MAC_BYTES = 18;
export const RUN_MAC_CHARS = 24;
/** DESIGN.md §5: the run id, shared with `Keybrake-Run-Id`. */
export { RUN_ID_PATTERN };
/** A run token lives at most this long (and never past its parent's expiry). */
export const MAX_RUN_TTL_MS = 7 * 24 * 60 * 60 * 1000;
export const DEFAULT_RUN_TTL_MS = 60 * 60 * 1000;
/** Largest cap a payload can carry (48 bits of micro-USD, $281 million). */
export const MAX_RUN_CAP_MICROS = 2 ** 48 - 1;

/** `_<key id>_<mac>` at the end of every run token. */
const SUFFIX_CHARS = 1 + RUN_KEY_ID_CHARS + 1 + RUN_MAC_CHARS;
const FIXED_PAYLOAD_BYTES = 28;
const NONCE_BYTES = 8;
const B64URL = /^[A-Za-z0-9_-]+$/;
const RUN_SECRET_LABEL = 'keybrake run key v1';

/** What a run token grants, beyond its parent's policy. */
export interface RunGrant {
  readonly runId: string;
  /** The run's own cap, micro-USD; absent: only the policy's perRunUsd (if any) caps the run. */
  readonly capMicros?: number;
  /** Epoch ms. */
  readonly issuedAt: number;
  /** Epoch ms; the token is refused from this instant (key_expired). */
  readonly expiresAt: number;
}

/** The parent as a minter or a verifier sees it: three fields of its CompiledKey. */
export interface RunParent {
  readonly tokenPrefix: string;
  readonly runSecret: string;
}

/**
 * The run secret of a vault key: HMAC-SHA256 keyed by its plaintext token over a fixed label and the
 * key's uid, base64url. It is never the token, and it changes with the token (a re-minted token kills
 * every run of the old one, ADR 0009) and with the key's identity.
 *
 * `claim` (cluster): the namespace's claim as the serving release holds it (its holder and when it
 * took the claim, namespace-claims.ts `epoch`). A release that takes a namespace derives other
 * secrets than the release before it, so every run key minted under another claim is key_unknown:
 * the stops of those runs stayed with the release that took them (twelfth round). Absent (`serve`):
 * the derivation without it, as before.
 */
export function runSecretFor(token: string, uid: string, claim?: string): string {
  const mac = createHmac('sha256', token).update(RUN_SECRET_LABEL).update('\0').update(uid);
  if (claim !== undefined) mac.update('\0').update(claim);
  return mac.digest('base64url');
}

/** Mints a run token for `parent` (digest: SHA-256 hex of the parent's vault token). */
export function mintRunToken(
  parent: RunParent & { readonly digest: string },
  grant: RunGrant,
  random: RandomBytes = nodeRandomBytes,
): string {
  if (!RUN_ID_PATTERN.test(grant.runId))
    throw new RangeError('run id must be 1 to 128 of A-Z a-z 0-9 . _ : @ / -');
  if (!isEpochMs(grant.issuedAt) || !isEpochMs(grant.expiresAt) || grant.expiresAt < grant.issuedAt)
    throw new RangeError('run token times must be epoch ms, expiry not before issue');
  const cap = grant.capMicros;
  if (cap !== undefined && !(Number.isSafeInteger(cap) && cap >= 0 && cap <= MAX_RUN_CAP_MICROS))
    throw new RangeError('run cap must be whole micro-USD within 48 bits');
  const nonce = random(NONCE_BYTES);
  if (nonce.length !== NONCE_BYTES) throw new Error(`random source must return ${NONCE_BYTES} bytes`);
  const payload = Buffer.alloc(FIXED_PAYLOAD_BYTES + grant.runId.length);
  payload[0] = cap === undefined ? 0 : 1;
  payload.writeUIntBE(grant.issuedAt, 1, 6);
  payload.writeUIntBE(grant.expiresAt, 7, 6);
  payload.writeUIntBE(cap ?? 0, 13, 6);
  payload.set(nonce, 19);
  payload[27] = grant.runId.length;
  payload.write(grant.runId, FIXED_PAYLOAD_BYTES, 'latin1');
  const head = `${parent.tokenPrefix}${RUN_TOKEN_MARKER}${payload.toString('base64url')}_${runKeyId(parent.digest)}`;
  return `${head}_${mac(parent.runSecret, head)}`;
}

/** Every character a run token is written in (prefix, base64url payload, key id, MAC). */
const RUN_TOKEN_CHARS = /^[A-Za-z0-9_-]+$/;

/**
 * Whether `token` has the shape of a run token (cheap, no secret): what the authenticate stage asks
 * before it looks for the parent. A vault token never has it (its body has no `_`).
 */
export function looksLikeRunToken(token: string): boolean {
  const n = token.length;
  return (
    n > SUFFIX_CHARS + RUN_TOKEN_MARKER.length + 2 &&
    n <= 512 &&
    token.charCodeAt(n - RUN_MAC_CHARS - 1) === 95 &&
    token.charCodeAt(n - SUFFIX_CHARS) === 95 &&
    token.includes(RUN_TOKEN_MARKER)
  );
}

/** The key id a run-token-shaped string names (see looksLikeRunToken): which parent to verify against. */
export function runTokenKeyId(token: string): string {
  const n = token.length;
  return token.slice(n - SUFFIX_CHARS + 1, n - RUN_MAC_CHARS - 1);
}

/**
 * Verifies a run-token-shaped string against its parent: prefix, MAC (constant time), payload.
 * Returns what it grants, or undefined for anything that is not a token this parent minted. Says
 * nothing about expiry or revocation: the caller checks those against its clock and its set.
 */
export function verifyRunToken(token: string, parent: RunParent): RunGrant | undefined {
  // The separator before the MAC is the one character the MAC does not cover: check the shape first.
  // One spelling only: the MAC is compared as Latin-1 bytes, which drop a code unit's high byte, so
  // `c` + 0x100 in the MAC passed for `c` (a Twilio Basic password is read as UTF-8; a fourth-round probe).
  if (!looksLikeRunToken(token) || !RUN_TOKEN_CHARS.test(token)) return undefined;
  const start = parent.tokenPrefix.length + RUN_TOKEN_MARKER.length;
  const end = token.length - SUFFIX_CHARS;
  if (end <= start || !token.startsWith(RUN_TOKEN_MARKER, parent.tokenPrefix.length)) return undefined;
  if (!token.startsWith(parent.tokenPrefix)) return undefined;
  const head = token.slice(0, token.length - RUN_MAC_CHARS - 1);
  const expected = Buffer.from(mac(parent.runSecret, head), 'latin1');
  const presented = Buffer.from(token.slice(token.length - RUN_MAC_CHARS), 'latin1');
  if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) return undefined;
  return decodePayload(token.slice(start, end));
}

/**
 * The grant of a run token without verifying it: for clients (`keybrake run stop` given a token) and
 * tests, never for a decision.
 */
export function readRunToken(token: string): (RunGrant & { readonly keyId: string }) | undefined {
  if (!looksLikeRunToken(token)) return undefined;
  const end = token.length - SUFFIX_CHARS;
  // The prefix is 2 to 32 characters and may itself contain the marker: the first split that decodes.
  for (let at = token.indexOf(RUN_TOKEN_MARKER, 2); at >= 2 && at <= 32; ) {
    const grant = decodePayload(token.slice(at + RUN_TOKEN_MARKER.length, end));
    if (grant) return { ...grant, keyId: runTokenKeyId(token) };
    at = token.indexOf(RUN_TOKEN_MARKER, at + 1);
  }
  return undefined;
}

function decodePayload(text: string): RunGrant | undefined {
  if (!B64URL.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  // One spelling per payload: a re-encoding that differs means stray characters or padding bits.
  if (bytes.length < FIXED_PAYLOAD_BYTES + 1 || bytes.toString('base64url') !== text) return undefined;
  const flags = bytes[0]!;
  if (flags > 1) return undefined;
  const idLength = bytes[27]!;
  if (bytes.length !== FIXED_PAYLOAD_BYTES + idLength) return undefined;
  const runId = bytes.toString('latin1', FIXED_PAYLOAD_BYTES);
  if (!RUN_ID_PATTERN.test(runId)) return undefined;
  const issuedAt = bytes.readUIntBE(1, 6);
  const expiresAt = bytes.readUIntBE(7, 6);
  if (expiresAt < issuedAt) return undefined;
  const cap = bytes.readUIntBE(13, 6);
  return { runId, issuedAt, expiresAt, ...(flags === 1 ? { capMicros: cap } : {}) };
}

/**
 * HMAC-SHA256 (RFC 2104) of `head` under `secret`, truncated and base64url. Computed from the two
 * keyed SHA-256 states, prepared once per secret and copied per call: node's createHmac builds a key
 * object on every call (tens of µs), which would make a run-token call measurably slower than a
 * vault-key call; two state copies cost about one more SHA-256 (ADR 0010, "Cost").
 */
export function mac(secret: string, head: string): string {
  const { inner, outer } = macStates(secret);
  return outer
    .copy()
    .update(inner.copy().update(head, 'latin1').digest())
    .digest()
    .subarray(0, RUN_MAC_BYTES)
    .toString('base64url');
}

const BLOCK_BYTES = 64;
const MAX_CACHED_SECRETS = 10_000;
const states = new Map<string, { inner: Hash; outer: Hash }>();

function macStates(secret: string): { inner: Hash; outer: Hash } {
  let s = states.get(secret);
  if (s) return s;
  let key = Buffer.from(secret, 'base64url');
  if (key.length > BLOCK_BYTES) key = createHash('sha256').update(key).digest();
  const ipad = Buffer.alloc(BLOCK_BYTES, 0x36);
  const opad = Buffer.alloc(BLOCK_BYTES, 0x5c);
  for (let i = 0; i < key.length; i++) {
    ipad[i]! ^= key[i]!;
    opad[i]! ^= key[i]!;
  }
  s = { inner: createHash('sha256').update(ipad), outer: createHash('sha256').update(opad) };
  // One entry per parent key: bounded so a stream of snapshots over many keys cannot grow it forever.
  if (states.size >= MAX_CACHED_SECRETS) states.delete(states.keys().next().value!);
  states.set(secret, s);
  return s;
}

function isEpochMs(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0 && n < 2 ** 48;
}

/** A fresh run id: `run-` and 20 hex characters (80 random bits). */
export function newRunId(random: RandomBytes = nodeRandomBytes): string {
  return `run-${Buffer.from(random(10)).toString('hex')}`;
}
