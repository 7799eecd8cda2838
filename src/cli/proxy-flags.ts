import { DEFAULT_MEMORY_MAX_ENTRIES } from '../counters/memory-store.ts';
import { DURATION_SYNTAX } from '../duration.ts';
import { DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_CONNECTIONS_PER_SOURCE } from '../listener/limits.ts';
import {
  DEFAULT_MAX_HELD_ANSWER_BYTES,
  DEFAULT_MAX_RESPONSE_BYTES,
  DEFAULT_PARSE_LIMITS,
} from '../proxy/defaults.ts';
import { LEASE_BACKOFF_FIRST_MS } from '../proxy/lease-backoff.ts';
import { DEFAULT_UPSTREAMS } from '../proxy/upstreams.ts';
import { DEFAULT_AUDIT_BATCH_BYTES, DEFAULT_AUDIT_DELAY_MS } from '../telemetry/audit.ts';
import type { Flags } from './args.ts';

/** Listener, upstream and counter flags shared by `serve` and `proxy` (the same proxy, fed differently). */
export const PROXY_RUNTIME_FLAGS = {
  listen: {
    type: 'string',
    default: '127.0.0.1:8080',
    help: 'proxy listener, routes /stripe /twilio /resend',
    placeholder: 'host:port',
  },
  'vendor-port': {
    type: 'string',
    multiple: true,
    default: ['stripe=8081', 'twilio=8082', 'resend=8083'],
    help: "a vendor's own listener (port or host:port); repeat it, once per vendor: given at all, it replaces all three defaults",
    placeholder: 'vendor=port',
  },
  'admin-listen': {
    type: 'string',
    default: '127.0.0.1:9090',
    help: '/metrics (unauthenticated: names every key and its spend), /healthz, /readyz',
    placeholder: 'host:port',
  },
  upstream: {
    type: 'string',
    multiple: true,
    // The defaults the README's table gives, shown by --help; parseUpstreams lays what is given over
    // them, so these are what it starts from whether or not the flag is given.
    default: Object.entries(DEFAULT_UPSTREAMS).map(([vendor, url]) => `${vendor}=${url}`),
    help: "a vendor's API base URL ({sub}: the vendor's host); repeat it, once per vendor: each replaces its own vendor's default only",
    placeholder: 'vendor=url',
  },
  redis: {
    type: 'string',
    help: 'share counters through Redis (redis://, rediss://, redis+sentinel://, redis+cluster://)',
    placeholder: 'url',
  },
  'redis-timeout': {
    type: 'string',
    default: '50ms',
    help: `how long a counter operation may take before the call fails closed (${DURATION_SYNTAX})`,
    placeholder: 'duration',
  },
  'max-counter-entries': {
    type: 'string',
    default: String(DEFAULT_MEMORY_MAX_ENTRIES),
    help: 'without --redis: most entries the in-process counter store holds; when full, expired entries go first, then last-use records, then idempotency records (each oldest first), then calls needing a new window or lease fail closed (docs/counters.md)',
    placeholder: 'n',
  },
  'upstream-timeout': {
    type: 'string',
    default: '30s',
    help: `how long to wait for a vendor response (${DURATION_SYNTAX})`,
    placeholder: 'duration',
  },
  'lease-backoff': {
    type: 'string',
    default: `${LEASE_BACKOFF_FIRST_MS}ms`,
    help: `how long a key may not lease an object again after its call holding it was refused after its price lookup, doubling with each such refusal up to 32 times this, per replica; 0 turns it off (${DURATION_SYNTAX})`,
    placeholder: 'duration',
  },
  'max-body': {
    type: 'string',
    default: String(DEFAULT_PARSE_LIMITS.maxBytes),
    help: 'largest request body accepted',
    placeholder: 'bytes',
  },
  'max-response-body': {
    type: 'string',
    default: String(DEFAULT_MAX_RESPONSE_BYTES),
    help: 'largest vendor response relayed; a larger one is not read past this and is answered 502 upstream_response_too_large',
    placeholder: 'bytes',
  },
  'max-held-answers': {
    type: 'string',
    default: String(DEFAULT_MAX_HELD_ANSWER_BYTES),
    help: 'vendor answers the proxy may hold for clients that have not taken them yet; past it a call of a key whose answers hold at least an equal share of them is refused 429 rate_limited, unsent (keybrake_answer_held_bytes)',
    placeholder: 'bytes',
  },
  'client-timeout': {
    type: 'string',
    default: '30s',
    help: `a request, headers and body, must arrive within this (its headers within 10s, or this if shorter); a slower one is answered 408 request_timeout; a connection that sends nothing within 2s (or this) is closed, and so is one whose client takes no byte of its answer within this (${DURATION_SYNTAX})`,
    placeholder: 'duration',
  },
  'max-connections': {
    type: 'string',
    default: String(DEFAULT_MAX_CONNECTIONS),
    help: 'open client connections per listener; past it a new connection is closed as it is accepted',
    placeholder: 'n',
  },
  'max-connections-per-source': {
    type: 'string',
    help: `open connections one client address may hold per listener (default ${DEFAULT_MAX_CONNECTIONS_PER_SOURCE}, or a quarter of --max-connections if smaller); past it its new connection is closed as it is accepted. Clients behind one NAT or proxy share an address: raise it up to --max-connections for them`,
    placeholder: 'n',
  },
  'drain-timeout': {
    type: 'string',
    default: '25s',
    help: `on SIGTERM, SIGINT or SIGHUP, how long calls in flight may take to finish before the proxy exits; keep it under the pod's terminationGracePeriodSeconds (${DURATION_SYNTAX})`,
    placeholder: 'duration',
  },
  pricing: {
    type: 'string',
    help: 'YAML/JSON overrides: exchangeRates, twilio, resend prices; read once, at start: restart to apply an edit',
    placeholder: 'file',
  },
  'audit-batch-bytes': {
    type: 'string',
    default: String(DEFAULT_AUDIT_BATCH_BYTES),
    help: 'audit records (stdout) are written in batches: one write as soon as a batch holds this many bytes',
    placeholder: 'bytes',
  },
  'audit-flush-interval': {
    type: 'string',
    default: `${DEFAULT_AUDIT_DELAY_MS}ms`,
    help: `…or at the latest this long after its first record; every record is written before the proxy exits (${DURATION_SYNTAX})`,
    placeholder: 'duration',
  },
} as const satisfies Flags;
