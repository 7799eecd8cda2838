import type { Clock } from '../clock.ts';
import type { WindowKind } from '../counters/store.ts';
import { windowsFor } from '../counters/windows.ts';
import { type Denial, isDenial, REASONS } from '../decision/reasons.ts';
import { formatUsd } from '../money/micro-usd.ts';
import { matchesEndpoint } from '../patterns/glob.ts';
import type { CompiledKey, CompiledPolicy, Snapshot, VendorName } from '../snapshot/types.ts';
import { tokenPrefixesOf } from '../tokens/redact.ts';
import type { OperationRow } from '../vendors/operation-table.ts';
import { RESEND_OPERATIONS } from '../vendors/resend/operations.ts';
import { STRIPE_OPERATIONS } from '../vendors/stripe/operations.ts';
import { TWILIO_OPERATIONS } from '../vendors/twilio/operations.ts';
import type {
  CostLookup,
  Operation,
  OperationClass,
  ParseLimits,
  Parties,
  VendorAdapter,
} from '../vendors/types.ts';
import { type CallContext, type IncomingCall, newContext, type PipelineDeps, type Stage } from './context.ts';
import { isPlainRead } from './plain-read.ts';
import { runIdOf } from './run-id.ts';
import { keyInHeaders, keyInRunId, keyInTarget } from './stages/authenticate.ts';
import { AUTHORIZE_CHAIN, type AuthorizeInput, BEFORE_LOOKUP, type Check } from './stages/authorize.ts';
import { rateAlone } from './stages/lease.ts';
import { parse } from './stages/parse.ts';
import { price } from './stages/price.ts';
import { refusal } from './stages/reserve.ts';
import { route } from './stages/route.ts';

/**
 * `keybrake policy-check --explain`: what the proxy would decide for one request made with one vault
 * key, and why, without any upstream or counter store. The CLI compiles the manifests and hands the
 * CompiledKey here (the proxy imports no compiler); this runs the real stages, route, parse and price,
 * on a real CallContext, an authenticate equivalent that finds the key by name instead of by token,
 * and every check of the authorize chain in its contract order. Unlike the proxy it does not stop at
 * the first denial: every check is reported, and the first failure is the final reason, as the proxy
 * would give it. What needs the world is reported as what would apply: a cost lookup (not performed),
 * leases, and the day, month, run and minute windows (a call over a cap by itself fails). Pure apart
 * from the clock it is handed.
 */

/** One request to explain: the method, the vendor-relative target, header lines and the raw body. */
export interface ExplainRequest {
  readonly method: string;
  /**
   * What the vendor's SDK sends to its vendor port: `/v1/refunds?x=1`, `/2010-04-01/Accounts/AC…/Messages.json`,
   * `/verify/v2/…` (a Twilio host as the first segment). The prefix router's `/<vendor>` is accepted.
   */
  readonly target: string;
  /** Header lines in order, name then value; repeats are kept (the parse stage judges them). */
  readonly headers?: readonly (readonly [string, string])[];
  readonly body?: Buffer;
  /**
   * The key's token, when the manifests hold it: the proxy refuses a call that carries it outside
   * Authorization (whatever its shape), and so does the explanation. Key shapes are found without it.
   */
  readonly token?: string;
}

/** What the explainer needs of the world: the vendor adapters (price tables), parse limits, a clock. */
export interface ExplainDeps {
  readonly vendors: Partial<Record<VendorName, VendorAdapter>>;
  /** The snapshot the key was compiled in: its keys' token prefixes are found as the proxy finds them. */
  readonly snapshot?: Snapshot;
  readonly parseLimits: ParseLimits;
  readonly clock: Clock;
}

/**
 * How one step came out: `pass`/`fail` evaluated; `pending` waits on the cost lookup the proxy would
 * make; `info` depends on state only a running proxy has (spend so far, leases held), shown as the
 * limit that would apply; `skip` does not apply to this call.
 */
export type StepOutcome = 'pass' | 'fail' | 'pending' | 'info' | 'skip';

export interface ExplainedStep {
  /** The pipeline stage (DESIGN.md §4): route, authenticate, parse, price, staleness, authorize, lease, lookup, reserve. */
  readonly stage: string;
  /** The check within it: `endpoint`, `per-call`, `day`… (the stage's own name when it has one). */
  readonly check: string;
  readonly outcome: StepOutcome;
  /** The reason code of a failure (the one the proxy would answer with). */
  readonly reason?: string;
  readonly detail: string;
}

/** The operation the call is, as the price stage found it. */
export interface ExplainedOperation {
  readonly id: string;
  readonly class: OperationClass;
  readonly movesMoney: boolean;
  /** The catalog row's pricing rule (money rows). */
  readonly rule?: string;
  /** Reserved cost in USD; absent while it is looked up. */
  readonly costUsd?: string;
  /** The upstream read the proxy would price the call by (not performed offline). */
  readonly lookup?: { readonly method: string; readonly path: string; readonly rule?: string };
  readonly locks?: readonly string[];
  /** What in the body raised the class above the catalog row's (Operation.raisedBy). */
  readonly raisedBy?: string;
  /** The parties the request names (a lookup may add more). */
  readonly parties: Partial<Record<keyof Parties, readonly string[]>>;
}

/** `keybrake policy-check --explain --json` prints this object. */
export interface Explanation {
  readonly decision: 'allow' | 'deny';
  /** `ok`, or the reason code of the first failing step. */
  readonly reason: string;
  readonly message: string;
  /** The decision waits on a cost lookup that is not performed offline (see the pending steps). */
  readonly pending: boolean;
  readonly vaultKey: string;
  /** Absent when the key is not served (no policy applies). */
  readonly policy?: string;
  readonly vendor?: VendorName;
  readonly request: {
    readonly method: string;
    readonly path: string;
    readonly query?: string;
    readonly host?: string;
  };
  readonly operation?: ExplainedOperation;
  readonly steps: readonly ExplainedStep[];
}

/**
 * A key the manifests hold but a proxy would not serve (invalid, its policy missing…): its token is
 * unknown to every proxy, so every request is `key_unknown`.
 */
export function unservedKey(
  vaultKey: string,
  method: string,
  target: string,
  message: string,
  vendor?: VendorName,
): Explanation {
  const q = target.indexOf('?');
  return {
    decision: 'deny',
    reason: 'key_unknown',
    message,
    pending: false,
    vaultKey,
    ...(vendor !== undefined ? { vendor } : {}),
    request: {
      method: method.toUpperCase(),
      path: q === -1 ? target : target.slice(0, q),
      ...(q === -1 ? {} : { query: target.slice(q + 1) }),
    },
    steps: [fail('authenticate', 'key', 'key_unknown', message)],
  };
}

/** Explains one request made with `key`. Never throws for a bad request: a refusal is an explanation. */
export function explain(key: CompiledKey, request: ExplainRequest, deps: ExplainDeps): Explanation {
  const call = incomingCall(key.vendor, request);
  const ctx = newContext(call);
  try {
    return walk(ctx, key, request.token, deps);
  } finally {
    ctx.span.end();
  }
}

function walk(ctx: CallContext, key: CompiledKey, token: string | undefined, deps: ExplainDeps): Explanation {
  const steps: ExplainedStep[] = [];
  const offline = offlineDeps(deps);
  const head = () => ({
    vaultKey: `${key.namespace}/${key.name}`,
    policy: key.policy.ref,
    vendor: key.vendor,
    request: {
      method: ctx.method.toUpperCase(),
      path: ctx.path,
      ...(ctx.req?.query ? { query: ctx.req.query } : {}),
      ...(ctx.req?.subHost !== undefined ? { host: ctx.req.subHost } : {}),
    },
  });

  // route
  const routed = runStage(route, ctx, offline);
  if (routed) {
    steps.push(failed('route', 'route', routed));
    return conclude(head(), steps, undefined);
  }
  const sub = ctx.req!.subHost;
  steps.push(
    step(
      'route',
      'route',
      'pass',
      `${key.vendor}${sub !== undefined ? ` (host ${sub})` : ''} ${ctx.req!.method.toUpperCase()} ${ctx.path}`,
    ),
  );

  // authenticate, by the key's name: the checks findCaller and the authenticate stage make after the token.
  const now = deps.clock.now();
  ctx.key = key;
  ctx.policy = key.policy;
  if (key.suspended) {
    steps.push(
      fail('authenticate', 'key', 'key_suspended', `VaultKey ${key.namespace}/${key.name} is suspended.`),
    );
  } else if (key.expiresAt !== undefined && now >= key.expiresAt) {
    steps.push(
      fail(
        'authenticate',
        'key',
        'key_expired',
        `VaultKey ${key.namespace}/${key.name} expired at ${iso(key.expiresAt)}.`,
      ),
    );
  } else {
    const until = key.expiresAt === undefined ? 'no expiry' : `expires ${iso(key.expiresAt)}`;
    steps.push(
      step(
        'authenticate',
        'key',
        'pass',
        `${key.namespace}/${key.name} (policy ${key.policy.ref}): active, ${until}`,
      ),
    );
  }
  // The checks on a key outside Authorization, the same functions the authenticate stage runs.
  const prefixes = tokenPrefixesOf(deps.snapshot);
  const inTarget = keyInTarget(ctx.call.url, token, prefixes);
  if (inTarget) steps.push(failed('authenticate', 'target', inTarget));
  const runId = runIdOf(ctx.call.headers, ctx.call.rawHeaders);
  const inRunId = isDenial(runId) || runId === undefined ? undefined : keyInRunId(runId, token, prefixes);
  if (isDenial(runId)) {
    steps.push(failed('authenticate', 'run-id', runId));
  } else if (inRunId) {
    steps.push(failed('authenticate', 'run-id', inRunId));
  } else if (runId === undefined) {
    steps.push(
      key.policy.requireRunId
        ? fail(
            'authenticate',
            'run-id',
            'run_id_required',
            "This key's policy requires an agent run id: send Keybrake-Run-Id (or baggage keybrake.run_id).",
          )
        : step(
            'authenticate',
            'run-id',
            'skip',
            'no run id (Keybrake-Run-Id or baggage keybrake.run_id): no per-run cap',
          ),
    );
  } else {
    ctx.runId = runId;
    steps.push(step('authenticate', 'run-id', 'pass', `run id ${runId}`));
  }
  const inHeader = keyInHeaders(ctx.call.headers, token, prefixes, ctx.call.rawHeaders);
  if (inHeader) steps.push(failed('authenticate', 'headers', inHeader));

  // parse
  const unreadable = runStage(parse, ctx, offline);
  if (unreadable) {
    steps.push(failed('parse', 'parse', unreadable));
    return conclude(head(), steps, undefined);
  }
  const fields = Object.keys(ctx.params!).length;
  steps.push(
    step(
      'parse',
      'parse',
      'pass',
      fields === 0 ? 'no parameters' : `${fields} top-level parameter${fields === 1 ? '' : 's'}`,
    ),
  );

  // price
  const unpriced = runStage(price, ctx, offline);
  if (unpriced) {
    steps.push(failed('price', 'price', unpriced));
    return conclude(head(), steps, undefined);
  }
  const op = ctx.op!;
  const operation = describeOperation(key.vendor, op);
  steps.push(step('price', 'price', 'pass', `${op.id} (${op.class}): ${priceText(op)}`));

  // staleness: a snapshot compiled just now is fresh.
  steps.push(
    step(
      'staleness',
      'staleness',
      'skip',
      op.movesMoney
        ? 'offline: a proxy whose snapshot is older than --max-staleness denies this money-moving call (policy_stale)'
        : isPlainRead(op)
          ? 'offline; a read is never denied as stale'
          : 'offline: a proxy whose snapshot is older than --max-staleness denies this call, which is not a read (policy_stale)',
    ),
  );

  // authorize: every check, in the contract's order.
  for (const check of AUTHORIZE_CHAIN) steps.push(authorizeStep(check, ctx as AuthorizeInput));

  // lease, lookup and reserve: what would apply at run time.
  const chained = lookupLocks(op.lookup);
  if ((op.locks?.length ?? 0) > 0 || chained) {
    const own = (op.locks?.length ?? 0) > 0 ? `locks ${op.locks!.join(', ')}` : '';
    const found = chained ? `${own ? '; the lookup leases ' : 'the lookup leases '}${chained}` : '';
    steps.push(
      step(
        'lease',
        'lease',
        'info',
        `${own}${found}; held until the call settles (409 object_busy while another call holds one)`,
      ),
    );
  }
  if (op.lookup) {
    steps.push(
      step(
        'lookup',
        'lookup',
        'pending',
        `${op.lookup.method ?? 'GET'} ${op.lookup.path} with the real key (not performed offline)${op.lookup.describe ? `: ${op.lookup.describe}` : ''}`,
      ),
    );
  }
  steps.push(...windowSteps(key.policy, op, now, ctx.runId ?? undefined));
  return conclude(head(), steps, operation);
}

/** The first failure decides, as the proxy's first denial would; otherwise allowed (maybe pending). */
function conclude(
  head: Omit<Explanation, 'decision' | 'reason' | 'message' | 'pending' | 'operation' | 'steps'>,
  steps: ExplainedStep[],
  operation: ExplainedOperation | undefined,
): Explanation {
  const first = steps.find((s) => s.outcome === 'fail');
  const pending = steps.some((s) => s.outcome === 'pending');
  const limited = steps.some((s) => s.stage === 'reserve' && s.outcome === 'info');
  const message = first
    ? first.detail
    : `Keybrake would forward this call${pending ? ' if what it looks up passes the pending checks' : ''}${limited ? ', while the caps it counts toward (the reserve steps) have room' : ''}.`;
  return {
    decision: first ? 'deny' : 'allow',
    reason: first?.reason ?? 'ok',
    message,
    pending: !first && pending,
    ...head,
    ...(operation ? { operation } : {}),
    steps,
  };
}

/**
 * One authorize check. Without a lookup it is simply evaluated. With one, the proxy runs first what
 * of each check the lookup cannot change (BEFORE_LOOKUP), and that refusal stands; the rest waits:
 * the per-call limit for the cost, a customer a money call must name for the object that may name
 * it, and a party check that a party the lookup adds could fail for what the lookup finds.
 */
function authorizeStep(check: Check, input: AuthorizeInput): ExplainedStep {
  const name = checkName(check);
  const { op } = input;
  const denial = check(input);
  if (!op.lookup)
    return denial
      ? failed('authorize', name, denial)
      : step('authorize', name, 'pass', passDetail(name, input));
  const early = BEFORE_LOOKUP.get(check)?.(input);
  if (early) return failed('authorize', name, early);
  if (name === 'per-call') {
    const limit = input.policy.limits.perCallMicros;
    return limit === undefined
      ? step('authorize', name, 'pass', 'no per-call limit')
      : step('authorize', name, 'pending', `the looked-up cost must be at most $${formatUsd(limit)}`);
  }
  if (denial) {
    return step(
      'authorize',
      name,
      'pending',
      `the looked-up object must name one: ${denial.message ?? REASONS[denial.reason].message}`,
    );
  }
  if (addsParties(op.lookup) && check({ ...input, op: { ...op, parties: probeParties(op.parties) } })) {
    return step(
      'authorize',
      name,
      'pending',
      `${passDetail(name, input)}; what the lookup finds is checked too`,
    );
  }
  return step('authorize', name, 'pass', passDetail(name, input));
}

/** A value no allowlist but `*` admits, added to every party list: finds the checks a party can fail. */
const PROBE = '\u0000(a party the lookup finds)';

function probeParties(p: Parties): Parties {
  return {
    customers: [...p.customers, PROBE],
    accounts: [...p.accounts, PROBE],
    recipients: [...p.recipients, PROBE],
    countries: [...p.countries, PROBE],
    currencies: [...p.currencies, PROBE],
    senders: [...p.senders, PROBE],
  };
}

function addsParties(lookup: CostLookup): boolean {
  return lookup.parties !== undefined || lookup.next !== undefined;
}

/** The objects the lookup's reads lease, in words; undefined when none does. */
function lookupLocks(lookup: CostLookup | undefined): string | undefined {
  if (!lookup) return undefined;
  const first = lookup.locks?.length ? lookup.locks.join(', ') : undefined;
  if (!lookup.next) return first;
  return `${first ? `${first}, and ` : ''}what a later read names, before that read`;
}

/** `checkPerCall` → `per-call`: the chain names itself, so a new check appears without an edit here. */
export function checkName(check: Check): string {
  return check.name
    .replace(/^check/, '')
    .replace(/[A-Z]/g, (c, i: number) => `${i > 0 ? '-' : ''}${c.toLowerCase()}`);
}

const PARTY_OF: Record<string, { party: keyof Parties; list: keyof CompiledPolicy; words: string }> = {
  customer: { party: 'customers', list: 'customers', words: 'customer' },
  account: { party: 'accounts', list: 'accounts', words: 'account' },
  recipient: { party: 'recipients', list: 'recipients', words: 'recipient' },
  country: { party: 'countries', list: 'countries', words: 'country' },
  currency: { party: 'currencies', list: 'currencies', words: 'currency' },
  sender: { party: 'senders', list: 'senders', words: 'sender' },
};

/** Why a check passed, in words. */
function passDetail(name: string, { policy, method, path, op }: AuthorizeInput): string {
  if (name === 'endpoint') {
    if (!policy.endpoints) return `no endpoint allowlist: ${op.class} operations pass`;
    const entry = policy.endpoints.find(
      (e) => matchesEndpoint(e, method, path) && (e.exact || ['read', 'write', 'money'].includes(op.class)),
    );
    return entry
      ? `${op.class}, matches "${entry.source}"${entry.exact ? ' (exact)' : ''}`
      : `${op.class}, allowed`;
  }
  if (name === 'instructions') {
    const n = op.instructions?.length ?? 0;
    return n === 0
      ? 'hands the vendor no call instructions'
      : `${n} instruction URL${n === 1 ? '' : 's'}, every host in allow.twimlHosts`;
  }
  if (name === 'per-call') {
    const limit = policy.limits.perCallMicros;
    return limit === undefined
      ? 'no per-call limit'
      : `$${formatUsd(op.costMicros)} is within the per-call limit of $${formatUsd(limit)}`;
  }
  const party = PARTY_OF[name];
  if (!party) return 'passes';
  if (policy[party.list] === undefined) return `no ${party.words} allowlist`;
  const named = op.parties[party.party];
  return named.length === 0 ? `names no ${party.words}` : `${named.join(', ')}: allowed`;
}

const WINDOW_WORDS: Record<WindowKind, string> = {
  day: 'the daily spend cap',
  month: 'the monthly spend cap',
  run: 'the spend cap of this run',
  minute: 'the per-minute request limit',
};

/**
 * What the minute window counts for the call, as the proxy counts it (ADR 0003, "Since 2026-12-01
 * (fifth round)"): the call, and each upstream read of its price lookup, since the vendor counts
 * every read against the rate limit the account's keys share. How many reads a chain makes depends
 * on what each read finds, unknown offline: only its first read is certain.
 */
function minuteDetail(limit: number, lookup: CostLookup | undefined): string {
  const toward = `toward ${limit} requests per minute`;
  if (!lookup) return `counts 1 call ${toward}`;
  if (!lookup.next) return `counts 2 calls ${toward}: the call and its lookup's read`;
  return `counts 1 call plus 1 per read its lookup makes, at least 2, ${toward}`;
}

/** The reserve stage's windows as the limits that would apply; a call over a cap by itself fails. */
function windowSteps(
  policy: CompiledPolicy,
  op: Operation,
  now: number,
  runId: string | undefined,
): ExplainedStep[] {
  const pending = op.lookup !== undefined;
  // A looked-up cost is unknown: any positive amount shows which money windows it would touch.
  const cost = pending ? 1 : op.costMicros;
  const out: ExplainedStep[] = [];
  for (const w of windowsFor(policy, cost, now, runId)) {
    const bucket = w.bucket;
    if (w.kind === 'minute') {
      // A lookup's call counts at least 2 (the call and its first read): over the limit by itself.
      const alone = op.lookup ? rateAlone(policy, 2) : undefined;
      out.push(
        alone
          ? failed('reserve', 'minute', alone)
          : step('reserve', 'minute', 'info', minuteDetail(w.limit, op.lookup)),
      );
    } else if (pending) {
      out.push(
        step(
          'reserve',
          w.kind,
          'pending',
          `the looked-up cost would be added to ${bucket} (limit $${formatUsd(w.limit)})`,
        ),
      );
    } else if (w.amount > w.limit) {
      const { reason } = refusal(w.kind, 0, w.limit, w.amount);
      out.push(
        fail(
          'reserve',
          w.kind,
          reason,
          `This call alone ($${formatUsd(w.amount)}) is over ${WINDOW_WORDS[w.kind]} of $${formatUsd(w.limit)}.`,
        ),
      );
    } else {
      out.push(
        step(
          'reserve',
          w.kind,
          'info',
          `this call would add $${formatUsd(w.amount)} to ${bucket} (limit $${formatUsd(w.limit)})`,
        ),
      );
    }
  }
  if (policy.limits.perRunMicros !== undefined && runId === undefined && cost > 0) {
    out.push(
      step(
        'reserve',
        'run',
        'skip',
        `no run id: the per-run cap of $${formatUsd(policy.limits.perRunMicros)} does not apply`,
      ),
    );
  }
  if (cost === 0 && out.length === 0)
    out.push(
      step(
        'reserve',
        'reserve',
        'skip',
        'costs nothing and the policy sets no request rate: no counter is touched',
      ),
    );
  else if (cost === 0)
    out.push(step('reserve', 'money', 'skip', 'costs nothing: no money window is touched'));
  return out;
}

function describeOperation(vendor: VendorName, op: Operation): ExplainedOperation {
  const rule = rowOf(vendor, op.id)?.rule;
  const parties: Partial<Record<keyof Parties, readonly string[]>> = {};
  for (const [name, values] of Object.entries(op.parties) as [keyof Parties, readonly string[]][]) {
    if (values.length > 0) parties[name] = values;
  }
  return {
    id: op.id,
    class: op.class,
    movesMoney: op.movesMoney,
    ...(rule !== undefined ? { rule } : {}),
    ...(op.lookup ? {} : { costUsd: formatUsd(op.costMicros) }),
    ...(op.lookup
      ? {
          lookup: {
            method: op.lookup.method ?? 'GET',
            path: op.lookup.path,
            ...(op.lookup.describe !== undefined ? { rule: op.lookup.describe } : {}),
          },
        }
      : {}),
    ...((op.locks?.length ?? 0) > 0 ? { locks: op.locks! } : {}),
    ...(op.raisedBy !== undefined ? { raisedBy: op.raisedBy } : {}),
    parties,
  };
}

function priceText(op: Operation): string {
  if (op.lookup) return `looked up, ${op.lookup.method ?? 'GET'} ${op.lookup.path} (not performed offline)`;
  if (!op.movesMoney) return `$${formatUsd(op.costMicros)}, moves no money`;
  if (op.class === 'money_unpriced' || op.class === 'unknown') return 'cannot be priced: counted at $0';
  return `$${formatUsd(op.costMicros)}`;
}

const TABLES: Record<VendorName, readonly OperationRow[]> = {
  stripe: STRIPE_OPERATIONS,
  twilio: TWILIO_OPERATIONS,
  resend: RESEND_OPERATIONS,
};
let rowsById: Map<string, OperationRow> | undefined;

function rowOf(vendor: VendorName, id: string): OperationRow | undefined {
  rowsById ??= new Map(Object.values(TABLES).flatMap((rows) => rows.map((r) => [r.id, r] as const)));
  return id.startsWith(`${vendor}.`) ? rowsById.get(id) : undefined;
}

/** The call as the HTTP layer would hand it over on the key's vendor port. */
function incomingCall(vendor: VendorName, request: ExplainRequest): IncomingCall {
  let target = request.target;
  // The prefix router's form: /stripe/v1/refunds is /v1/refunds on Stripe's own port.
  if (target === `/${vendor}` || target.startsWith(`/${vendor}/`) || target.startsWith(`/${vendor}?`)) {
    target = target.slice(vendor.length + 1) || '/';
    if (target.startsWith('?')) target = `/${target}`;
  }
  const rawHeaders = (request.headers ?? []).flat();
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of request.headers ?? []) {
    const lower = name.toLowerCase();
    const seen = headers[lower];
    headers[lower] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
  }
  return {
    portVendor: vendor,
    method: request.method.toUpperCase(),
    url: target,
    headers,
    rawHeaders,
    body: request.body ?? Buffer.alloc(0),
  };
}

/** Stages run offline read only what the explainer was handed; anything else is a bug, said loudly. */
function offlineDeps(deps: ExplainDeps): PipelineDeps {
  // Offline nothing was learnt from an answer: a link a price needs (a Price's product) shows as the
  // read a proxy that has not seen it makes.
  const handed = { ...deps, objectLinks: undefined };
  return new Proxy(handed, {
    get(target, name) {
      if (name in target) return target[name as keyof typeof handed];
      throw new Error(`policy-check --explain runs offline: a stage asked for ${String(name)}`);
    },
  }) as unknown as PipelineDeps;
}

function runStage(stage: Stage, ctx: CallContext, deps: PipelineDeps): Denial | undefined {
  const outcome = stage(ctx, deps);
  if (outcome instanceof Promise) throw new Error('policy-check --explain runs offline: a stage did I/O');
  return outcome;
}

function step(stage: string, check: string, outcome: StepOutcome, detail: string): ExplainedStep {
  return { stage, check, outcome, detail };
}

function fail(stage: string, check: string, reason: string, detail: string): ExplainedStep {
  return { stage, check, outcome: 'fail', reason, detail };
}

function failed(stage: string, check: string, denial: Denial): ExplainedStep {
  return fail(stage, check, denial.reason, denial.message ?? REASONS[denial.reason].message);
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.000Z$/, 'Z');
}

// ── Text ────────────────────────────────────────────────────────────────────────────────────────

/** The human form: a summary, then one line per step. `notes` go last (the CLI's placeholders). */
export function renderExplanation(e: Explanation, notes: readonly string[] = []): string {
  const { request: r, operation: op } = e;
  const target = `${r.method} ${r.host !== undefined ? `(${r.host}) ` : ''}${r.path}${r.query ? `?${r.query}` : ''}`;
  const lines = [
    `${target} with ${e.vaultKey}${e.policy !== undefined ? ` (policy ${e.policy}, ${e.vendor})` : ''}`,
    '',
    `decision   ${e.decision}${e.decision === 'deny' ? ` (${e.reason})` : e.pending ? ' (pending the lookup)' : ''}: ${e.message}`,
  ];
  if (op) {
    lines.push(`operation  ${op.id}, ${op.class}${op.rule ? `, rule ${op.rule}` : ''}`);
    if (op.raisedBy !== undefined) lines.push(`           ${op.class} because of its body: ${op.raisedBy}`);
    lines.push(
      op.lookup
        ? `price      looked up: ${op.lookup.method} ${op.lookup.path} (not performed offline)${op.lookup.rule ? `\n           ${op.lookup.rule}` : ''}`
        : `price      $${op.costUsd}${op.movesMoney ? '' : ' (moves no money)'}`,
    );
    const parties = Object.entries(op.parties).map(([k, v]) => `${k} ${v.join(', ')}`);
    if (parties.length > 0) lines.push(`parties    ${parties.join('; ')}`);
    if (op.locks) lines.push(`locks      ${op.locks.join(', ')}`);
  }
  lines.push('');
  const width = (f: (s: ExplainedStep) => string) => Math.max(...e.steps.map((s) => f(s).length));
  const ws = width((s) => s.stage);
  const wc = width((s) => s.check);
  const wo = width((s) => s.outcome);
  for (const s of e.steps) {
    const why = s.reason ? `${s.reason}: ` : '';
    lines.push(`  ${s.stage.padEnd(ws)}  ${s.check.padEnd(wc)}  ${s.outcome.padEnd(wo)}  ${why}${s.detail}`);
  }
  if (notes.length > 0) lines.push('', ...notes.map((n) => `note: ${n}`));
  return lines.join('\n');
}
