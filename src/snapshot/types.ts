import type { MicroUsd } from '../money/micro-usd.ts';
import type { CompiledPattern, EndpointPattern } from '../patterns/glob.ts';
import type { HostPattern } from '../patterns/hosts.ts';

export type { CompiledPattern, EndpointPattern, HostPattern };

/**
 * The compiled policy table: the only thing the proxy knows about keys and policies. Produced by the
 * compiler (or received from the operator), consumed by the proxy pipeline. Contains no plaintext
 * vault tokens: keys are indexed by the SHA-256 hex digest of the token.
 */
export interface Snapshot {
  /** Monotonically increasing; a proxy never applies a lower version than the one it has. */
  readonly version: number;
  /** Milliseconds since the epoch when the snapshot was compiled (drives staleness). */
  readonly compiledAt: number;
  /**
   * sha256(token) hex → key. One Map lookup per request. Run tokens (ADR 0010) are found by a key id
   * instead: `runKeysOf(snapshot)` (run-keys.ts), an index built once per snapshot.
   */
  readonly keys: ReadonlyMap<string, CompiledKey>;
}

export type VendorName = 'stripe' | 'twilio' | 'resend';
export const VENDORS: readonly VendorName[] = ['stripe', 'twilio', 'resend'];

/** The real credential the proxy swaps in; never logged, never in status, never in a snapshot on disk. */
export type UpstreamCredential =
  | { readonly kind: 'bearer'; readonly token: string }
  /** Twilio: accountSid + authToken, or apiKeySid + apiKeySecret with the account SID alongside. */
  | {
      readonly kind: 'basic';
      readonly username: string;
      readonly password: string;
      readonly accountSid?: string;
    };

/** One VaultKey, compiled. Everything here is precomputed so the request path only reads it. */
export interface CompiledKey {
  /** Stable identity for counters (`{vk:<uid>}`): the VaultKey's metadata.uid, or namespace/name in files. */
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  readonly vendor: VendorName;
  /** `kb_stripe_…9f2c`: safe to show. */
  readonly tokenFingerprint: string;
  readonly upstream: UpstreamCredential;
  /** Earlier of the key's and the policy's expiry, ms since epoch. */
  readonly expiresAt?: number;
  readonly suspended: boolean;
  readonly policy: CompiledPolicy;
  /**
   * The key's run secret (ADR 0010), base64url of 32 bytes: HMAC-SHA256 keyed by the plaintext vault
   * token over a fixed label and the uid, so it changes whenever the token does. It verifies the key's
   * run tokens (`runKeysOf` indexes them). A secret like `upstream`: never logged, never in status,
   * carried only by the snapshot stream. Absent: the key has no run keys (their tokens are key_unknown).
   */
  readonly runSecret?: string;
  /** The prefix of the key's tokens (`kb_stripe_`, or spec.tokenPrefix): a run token starts with it, then `r1_`. */
  readonly tokenPrefix?: string;
  /**
   * The length of the key's token when the user brought it (no Keybrake checksum, so no shape finds
   * it): what is recorded about a call is searched for windows of this length ending with the
   * fingerprint's last characters whose digest the table serves (ADR 0007 §1). Absent for a minted token.
   */
  readonly broughtTokenLength?: number;
}

export interface CompiledLimits {
  readonly perCallMicros?: MicroUsd;
  readonly perDayMicros?: MicroUsd;
  readonly perMonthMicros?: MicroUsd;
  readonly perRunMicros?: MicroUsd;
  readonly requestsPerMinute?: number;
}

export interface CompiledPolicy {
  /** `namespace/name` of the SpendPolicy. */
  readonly ref: string;
  readonly limits: CompiledLimits;
  /** IANA time zone for the calendar-day and month windows. */
  readonly timezone: string;
  /** Absent: every endpoint the catalog knows is allowed. */
  readonly endpoints?: readonly EndpointPattern[];
  /** Exact ids; absent means unrestricted. */
  readonly customers?: ReadonlySet<string>;
  readonly accounts?: ReadonlySet<string>;
  /** Glob patterns (`+1415555*`, `*@example.com`), matched case-insensitively for addresses. */
  readonly recipients?: readonly CompiledPattern[];
  /** Sender addresses/domains (Resend `from`). */
  readonly senders?: readonly CompiledPattern[];
  /** Upper-case ISO 3166 alpha-2 codes. */
  readonly countries?: ReadonlySet<string>;
  /** Lower-case ISO 4217 codes. */
  readonly currencies?: ReadonlySet<string>;
  /**
   * Hosts Twilio may fetch call instructions from (ADR 0007 §7). Unlike the other lists, absent means
   * none: a call that makes Twilio fetch instructions is refused unless its host is listed.
   */
  readonly twimlHosts?: readonly HostPattern[];
  /** Whether reads (the catalog's `read` class) pass when the counter store is down. Nothing else does. */
  readonly readsWhenStoreDown: boolean;
  /** Calls that name no agent run are denied with run_id_required (ADR 0007 §6); absent: false. */
  readonly requireRunId?: boolean;
}
