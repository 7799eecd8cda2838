import { parseDuration } from '../duration.ts';
import { formatUsd, parseUsd } from '../money/micro-usd.ts';
import {
  MAX_STOPPED_RUNS,
  MAX_STOPPED_RUNS_PER_KEY,
  STOPPED_RUNS_CEILING,
  type StopBound,
  type StoppedRun,
} from '../snapshot/run-keys.ts';
import type { CompiledKey } from '../snapshot/types.ts';
import {
  DEFAULT_RUN_TTL_MS,
  MAX_RUN_CAP_MICROS,
  MAX_RUN_TTL_MS,
  mintRunToken,
  newRunId,
  RUN_ID_PATTERN,
} from './run-token.ts';
import type { RandomBytes } from './token.ts';

export type { StoppedRun };

/**
 * The run API's requests and answers (ADR 0010), shared by `serve`'s admin listener and the
 * operator's HTTPS listener, which differ only in who may call them:
 *
 *   POST   /v1/runs                          {key:"ns/name", cap?, ttl?, runId?} → 201 {token, runId, vaultKey, vendor, expiresAt, capUsd}
 *   DELETE /v1/runs/<ns>/<name>/<runId>      → 200 {runId, vaultKey, stoppedUntil, …}
 *
 * Errors are `{error, message}` with the HTTP status in `status`.
 */

export const RUNS_PATH = '/v1/runs';
/** RUN_ID_PATTERN in words, for the errors that refuse a run id (it never quotes the id). */
export const RUN_ID_RULE =
  '1 to 128 of A-Z a-z 0-9 . _ : @ / -, with no "." or ".." segment between slashes (such as a/../b)';
/** Largest request body the run API reads. */
export const MAX_RUN_REQUEST_BYTES = 4096;

/** A refusal of the run API: the status, a stable code, and a sentence for humans. */
export interface RunApiError {
  readonly status: 400 | 401 | 403 | 404 | 409 | 413 | 415 | 422 | 429 | 500 | 503;
  readonly error: string;
  readonly message: string;
}

export function runApiError(status: RunApiError['status'], error: string, message: string): RunApiError {
  return { status, error, message };
}

export function isRunApiError(v: unknown): v is RunApiError {
  return typeof v === 'object' && v !== null && 'error' in v && 'status' in v;
}

/** A validated POST /v1/runs body. */
export interface RunStartRequest {
  readonly namespace: string;
  readonly name: string;
  readonly capMicros?: number;
  readonly ttlMs: number;
  readonly runId?: string;
}

/** The answer to POST /v1/runs. */
export interface RunStarted {
  /** The run token: a credential. Never logged. */
  readonly token: string;
  readonly runId: string;
  readonly vaultKey: string;
  /** The parent's vendor: which variable `keybrake run exec` puts the token in. */
  readonly vendor: string;
  /** ISO 8601: the earlier of the requested lifetime and the parent's expiry. */
  readonly expiresAt: string;
  /** The cap the run meets first: its own cap or the policy's perRunUsd, the lower; null when neither. */
  readonly capUsd: string | null;
}

/** Which run a DELETE names. */
export interface RunRef {
  readonly namespace: string;
  readonly name: string;
  readonly runId: string;
}

const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** `ns/name` → its parts, or undefined. */
export function parseKeyRef(text: unknown): { namespace: string; name: string } | undefined {
  if (typeof text !== 'string') return undefined;
  const [namespace, name, extra] = text.split('/');
  if (extra !== undefined || !namespace || !name || !NAME.test(namespace) || !NAME.test(name))
    return undefined;
  return { namespace, name };
}

/** The rule a value breaks, in the words that follow "must be": the API quotes it after its field, the CLI after its flag. */
export interface BrokenRule {
  readonly mustBe: string;
}

const RUN_CAP_RULE = `a decimal USD amount such as "5" or "0.50": at most 6 decimals, and at most "${formatUsd(MAX_RUN_CAP_MICROS)}"`;

/**
 * A run's cap, micro-USD, from its decimal text: the one rule for the API's "cap" and for `run
 * start --cap`, which checks it before any request (ninth round: the CLI sent the parent token for
 * a cap the API then refused).
 */
export function parseRunCap(text: string): number | BrokenRule {
  const micros = parseUsd(text);
  return micros === undefined || micros > MAX_RUN_CAP_MICROS ? { mustBe: RUN_CAP_RULE } : micros;
}

/**
 * A run key's lifetime, ms, from a duration or a whole number of milliseconds: the one rule for the
 * API's "ttl" and for `run start --ttl`, which checks it before any request.
 */
export function parseRunTtl(value: unknown): number | BrokenRule {
  const ms =
    typeof value === 'number'
      ? Number.isSafeInteger(value)
        ? value
        : undefined
      : typeof value === 'string'
        ? parseDuration(value)
        : undefined;
  if (ms !== undefined && ms > 0 && ms <= MAX_RUN_TTL_MS) return ms;
  // 0 is a duration: told only to give one, a caller would not see what is wrong with it.
  return {
    mustBe: `${ms === 0 ? 'positive, ' : ''}a duration such as "30m" (<n>ms|s|m|h, or milliseconds), at most ${MAX_RUN_TTL_MS / 3_600_000}h`,
  };
}

/** Reads and validates a POST /v1/runs body (already parsed JSON). */
export function parseRunStart(body: unknown): RunStartRequest | RunApiError {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return runApiError(400, 'invalid_request', 'Expected a JSON object {key, cap?, ttl?, runId?}.');
  const b = body as Record<string, unknown>;
  for (const field of Object.keys(b)) {
    if (!['key', 'cap', 'ttl', 'runId'].includes(field))
      return runApiError(
        400,
        'invalid_request',
        `Unknown field ${shownField(field)}: expected key, cap, ttl, runId.`,
      );
  }
  const ref = parseKeyRef(b.key);
  if (!ref) return runApiError(400, 'invalid_request', '"key" must be "<namespace>/<vaultkey>".');
  let capMicros: number | undefined;
  if (b.cap !== undefined && b.cap !== null) {
    // A decimal string, as every amount of a policy: a JSON number has been a float before it is read
    // (5.9999999999999999999 arrives as 6), so it is refused, never rounded (fifth round).
    if (typeof b.cap === 'number')
      return runApiError(
        400,
        'invalid_request',
        `"cap" must be a decimal string in quotes, such as "5" or "0.50", not the JSON number ${b.cap}: money is never a float.`,
      );
    const cap = typeof b.cap === 'string' ? parseRunCap(b.cap) : { mustBe: RUN_CAP_RULE };
    if (typeof cap !== 'number') return runApiError(400, 'invalid_request', `"cap" must be ${cap.mustBe}.`);
    capMicros = cap;
  }
  let ttlMs = DEFAULT_RUN_TTL_MS;
  if (b.ttl !== undefined && b.ttl !== null) {
    const ttl = parseRunTtl(b.ttl);
    if (typeof ttl !== 'number') return runApiError(400, 'invalid_request', `"ttl" must be ${ttl.mustBe}.`);
    ttlMs = ttl;
  }
  let runId: string | undefined;
  if (b.runId !== undefined && b.runId !== null) {
    if (typeof b.runId !== 'string' || !RUN_ID_PATTERN.test(b.runId))
      return runApiError(400, 'invalid_request', `"runId" must be ${RUN_ID_RULE}.`);
    runId = b.runId;
  }
  return {
    ...ref,
    ttlMs,
    ...(capMicros !== undefined ? { capMicros } : {}),
    ...(runId !== undefined ? { runId } : {}),
  };
}

/**
 * A field name as an error may quote it: only when short, like every field name the API knows. A
 * longer one is the caller's text and may be a credential (a probe had its token echoed back);
 * a vault token is never shorter than 16 characters.
 */
function shownField(field: string): string {
  return /^[A-Za-z0-9_]{1,15}$/.test(field) ? `"${field}"` : '(a name of 16 characters or more, not shown)';
}

/** Whether a parent may have children now: served, with run keys, neither suspended nor expired. */
export function checkParent(key: CompiledKey | undefined, now: number): RunApiError | undefined {
  if (!key) return runApiError(404, 'key_unknown', 'No such vault key is served.');
  if (key.runSecret === undefined || key.tokenPrefix === undefined)
    return runApiError(
      409,
      'run_keys_unavailable',
      'This vault key has no run secret yet (an older snapshot).',
    );
  if (key.suspended) return runApiError(409, 'key_suspended', 'The vault key is suspended.');
  if (key.expiresAt !== undefined && now >= key.expiresAt)
    return runApiError(409, 'key_expired', 'The vault key has expired.');
  return undefined;
}

/**
 * Mints the run `req` asks for under `parent` (already checked with checkParent). A cap above the
 * policy's perRunUsd is refused rather than lowered: the caller asked for something it cannot have.
 */
export function startRun(
  parent: { readonly key: CompiledKey; readonly digest: string },
  req: RunStartRequest,
  now: number,
  opts: {
    readonly isStopped?: (scope: string, runId: string) => boolean;
    readonly random?: RandomBytes;
  } = {},
): RunStarted | RunApiError {
  const { key } = parent;
  const problem = checkParent(key, now);
  if (problem) return problem;
  const perRun = key.policy.limits.perRunMicros;
  if (req.capMicros !== undefined && perRun !== undefined && req.capMicros > perRun)
    return runApiError(
      422,
      'cap_too_high',
      `The run cap $${formatUsd(req.capMicros)} is above the policy's perRunUsd $${formatUsd(perRun)}.`,
    );
  const runId = req.runId ?? newRunId(opts.random);
  if (opts.isStopped?.(key.uid, runId))
    return runApiError(409, 'run_stopped', `Run ${runId} was stopped; start a run with another id.`);
  const expiresAt = Math.min(now + req.ttlMs, key.expiresAt ?? Number.POSITIVE_INFINITY);
  const token = mintRunToken(
    { tokenPrefix: key.tokenPrefix!, runSecret: key.runSecret!, digest: parent.digest },
    { runId, issuedAt: now, expiresAt, ...(req.capMicros !== undefined ? { capMicros: req.capMicros } : {}) },
    opts.random,
  );
  const cap = minDefined(req.capMicros, perRun);
  return {
    token,
    runId,
    vaultKey: `${key.namespace}/${key.name}`,
    vendor: key.vendor,
    expiresAt: new Date(expiresAt).toISOString(),
    capUsd: cap === undefined ? null : formatUsd(cap),
  };
}

/** `/v1/runs/<ns>/<name>/<runId…>` (the run id may hold `/`; each part percent-decoded) → the run. */
export function parseRunPath(path: string): RunRef | undefined {
  if (!path.startsWith(`${RUNS_PATH}/`)) return undefined;
  const parts = path.slice(RUNS_PATH.length + 1).split('/');
  if (parts.length < 3) return undefined;
  try {
    const [namespace, name, ...rest] = parts.map(decodeURIComponent);
    const ref = parseKeyRef(`${namespace}/${name}`);
    const runId = rest.join('/');
    if (!ref || !RUN_ID_PATTERN.test(runId)) return undefined;
    return { ...ref, runId };
  } catch {
    return undefined;
  }
}

/** The path of a run, as parseRunPath reads it. */
export function runPath(ref: RunRef): string {
  return `${RUNS_PATH}/${encodeURIComponent(ref.namespace)}/${encodeURIComponent(ref.name)}/${ref.runId
    .split('/')
    .map(encodeURIComponent)
    .join('/')}`;
}

/**
 * The record a stop leaves for `key`'s run: kept until no token of the run can be valid, i.e. the
 * longest lifetime a token minted before now could have. Not shortened by the parent's expiry: a
 * token carries its own, and the parent's may be moved back later (a probe stopped a run while its
 * key was expired, restored the key, and the stopped run's key worked again).
 */
export function stoppedRun(key: CompiledKey, runId: string, now: number): StoppedRun {
  return { scope: key.uid, runId, until: now + MAX_RUN_TTL_MS };
}

/**
 * The refusal of a stop (or of a mint: a run that could not be stopped is not started) past a bound
 * on live stops, or of a mint of a key holding its share of a full process. `partly`: where the run
 * is stopped all the same (this process, the proxies), when a bound was met only after that.
 */
export function tooManyStoppedRuns(bound: StopBound, partly?: string): RunApiError {
  const days = MAX_RUN_TTL_MS / 86_400_000;
  const which =
    bound === 'key'
      ? `This vault key already has ${MAX_STOPPED_RUNS_PER_KEY} stopped runs that have not expired (a stop lasts ${days} days): none of its runs can be stopped or started until some expire.`
      : bound === 'share'
        ? `This process holds at least ${MAX_STOPPED_RUNS} stopped runs that have not expired (a stop lasts ${days} days), and this vault key at least an equal share of them: no new run of it can start here until some expire. Its runs can still be stopped.`
        : `This process already holds ${STOPPED_RUNS_CEILING} stopped runs that have not expired (a stop lasts ${days} days): no run can be stopped or started here until some expire.`;
  return runApiError(
    429,
    'too_many_stopped_runs',
    which +
      (partly ? ` The run is stopped on ${partly} only.` : '') +
      // Not "suspend": resuming a suspended key revives the run keys minted before (fifth round).
      ' To end every run of the key now and for good, give the vault key a new token: its run keys die with the old one (suspending the key only pauses them).',
  );
}

function minDefined(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}
