import { type Dispatcher, Pool, errors as undiciErrors } from 'undici';
import { Denial, deny } from '../decision/reasons.ts';
import type { UpstreamCredential, VendorName } from '../snapshot/types.ts';
import type { VendorAdapter } from '../vendors/types.ts';
import { nominatedHeaders } from './connection-list.ts';
import { DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_PARSE_LIMITS } from './defaults.ts';
import { type BudgetLimits, KeyBudget, type Overdrawn } from './key-budget.ts';
import { KeyShare, type ShareWaiter } from './key-share.ts';

/**
 * Upstream base URLs are proxy configuration (`--upstream stripe=https://api.stripe.com`), never
 * tenant data. A template holds `{sub}` for the vendor's hosts: Twilio's sub hosts
 * (`https://{sub}.twilio.com`; the route stage only lets the hosts Twilio publishes through) and
 * Stripe's `api` and `files` (uploads), so no manifest or caller can steer traffic elsewhere. A base
 * URL without `{sub}` serves every host of its vendor (an emulator, stripe-mock).
 */
export type UpstreamConfig = Record<VendorName, string>;

export const DEFAULT_UPSTREAMS: UpstreamConfig = {
  stripe: 'https://{sub}.stripe.com',
  twilio: 'https://{sub}.twilio.com',
  resend: 'https://api.resend.com',
};

/** Parses `vendor=url` pairs over the defaults; throws a readable error on bad input. */
export function parseUpstreams(
  pairs: readonly string[],
  base: UpstreamConfig = DEFAULT_UPSTREAMS,
): UpstreamConfig {
  const out = { ...base };
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    const vendor = pair.slice(0, eq) as VendorName;
    const url = pair.slice(eq + 1);
    if (eq < 1 || !Object.hasOwn(out, vendor))
      throw new Error(`--upstream ${pair}: expected <stripe|twilio|resend>=<url>`);
    // URL.parse, not `new URL`: its TypeError said only "Invalid URL", naming neither the flag nor
    // the vendor (seventh round).
    const probe = URL.parse(url.replace('{sub}', 'api'));
    if (probe === null)
      throw new Error(
        `--upstream ${pair}: expected an absolute URL for ${vendor}, e.g. ${DEFAULT_UPSTREAMS[vendor]}`,
      );
    if (probe.protocol !== 'https:' && probe.protocol !== 'http:') {
      throw new Error(`--upstream ${pair}: only http and https upstreams are supported`);
    }
    out[vendor] = url.replace(/\/+$/, '');
  }
  return out;
}

/** One upstream response, head and body, as the settle and audit stages need it. */
export interface UpstreamResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
  /**
   * Set when the body was larger than --max-response-body: the limit, in bytes. Reading stopped at
   * it and `body` is empty; the head is kept so the audit record still names the vendor's status
   * and request id.
   */
  readonly overLimit?: number;
}

export interface ForwardRequest {
  readonly vendor: VendorName;
  readonly subHost?: string;
  readonly method: string;
  /** Vendor path plus `?query` when present. */
  readonly pathAndQuery: string;
  readonly headers: Record<string, string | string[]>;
  readonly body?: Buffer;
  /**
   * The vault key the call is made for (its uid): a key holds at most its share of an origin's
   * connections, and its calls past that wait in its own queue (key-share.ts), within what its calls
   * at the upstreams may hold (key-budget.ts).
   */
  readonly share: string;
  /**
   * Aborted once the client can no longer take this call's answer (its connection closed, or ends
   * with an earlier answer): a call not yet handed to a connection is then dropped, unsent.
   */
  readonly signal?: AbortSignal;
  /**
   * Asked when undici hands the call to a connection, the last moment before a byte of it is
   * written, with how long its answer may take from then (the upstream timeout). A denial aborts
   * the call unsent. Every connection of a pool may be busy, and a call waiting for one may outlive
   * what admitted it (its leases, its key, its run); ADR 0007 §8.
   */
  readonly admit?: (answerMs: number) => Denial | undefined;
  /**
   * Asked, when set, as a call that waited for its key's turn (its key's other calls held every
   * connection of its share) gets it, before it is handed to the pool: what admitted it may have
   * changed where only a round trip can tell (its leases, which Redis may have lost meanwhile; ADR
   * 0007 §5, ninth round). Never rejects. A denial drops the call unsent; `admit` is still asked.
   */
  readonly confirm?: () => Promise<Denial | undefined>;
}

/** The forward stage's dependency: swap this for an emulator-free fake only in unit tests. */
export interface Upstreams {
  /**
   * Sends one call and reads its answer, each within the upstream timeout: waiting for a connection,
   * the head, then the whole body. A call that waited its timeout for a connection, or that its key's
   * calls at the upstreams had no room for, is answered `upstream_unavailable`, and one whose client
   * went away meanwhile `request_invalid`: none is ever sent.
   */
  forward(req: ForwardRequest): Promise<UpstreamResponse | Denial>;
  /** Waits for requests in flight, or with `force` aborts them (they fail as upstream_unavailable). */
  close(force?: boolean): Promise<void>;
}

export interface UpstreamOptions {
  readonly timeoutMs: number;
  /** Largest response body read (--max-response-body, default 16 MiB); past it reading stops. */
  readonly maxResponseBytes?: number;
  /** Connections per upstream origin (128); calls beyond them wait, each at most `timeoutMs`. */
  readonly connections?: number;
  /** Connections of an origin one vault key may hold at once: a quarter of `connections` by default. */
  readonly connectionsPerKey?: number;
  /** The largest request body a call may carry (--max-body): the default budget follows it. */
  readonly maxRequestBytes?: number;
  /** What calls at the upstreams may hold: `defaultBudget` unless given (tests). */
  readonly budget?: BudgetLimits;
}

const DEFAULT_UPSTREAM_CONNECTIONS = 128;

/** A quarter of the pool: at least four keys can each hold their whole share at once. */
export function defaultConnectionsPerKey(connections: number): number {
  return Math.max(1, Math.floor(connections / 4));
}

/**
 * A key's calls at the upstreams, over all its vendor's hosts: its share of one host's connections,
 * and three times as many waiting for them (a race of 500 concurrent charges on three replicas put
 * about 70 of one key's calls on one replica: a tighter count refused legitimate bursts, and the
 * bodies' bytes, not the count, are what bound memory); their bodies, its share of connections' worth
 * of the largest body. Every key's bodies together: two pools' worth. With the defaults (32
 * connections of 128, --max-body 256 KiB): 128 calls and 8 MiB a key, 64 MiB in all (ADR 0007 §8).
 */
export function defaultBudget(connections: number, perKey: number, maxRequestBytes: number): BudgetLimits {
  return {
    callsPerKey: 4 * perKey,
    bytesPerKey: perKey * maxRequestBytes,
    bytes: 2 * connections * maxRequestBytes,
  };
}

/**
 * Origins a proxy may hold a pool for: three vendors and Twilio's published hosts come to about 40;
 * the bound only matters should the route stage ever let an unlisted host through.
 */
const MAX_POOLS = 64;

const EMPTY = Buffer.alloc(0);

/** One upstream origin's connections, and how many of them each vault key holds. */
interface Origin {
  readonly pool: Pool;
  readonly shares: KeyShare;
}

/** Where one vendor host's calls go: its origin (created on first use) and the base URL's path. */
interface Target {
  readonly origin: string;
  readonly path: string;
  connections: Origin | undefined;
}

/**
 * undici pools, one per upstream origin, created on first use; bodies read up to a limit. Calls go
 * through undici's dispatch API with a handler that gathers the body itself (ResponseCollector):
 * no response stream, no async iterator, one Promise per call.
 */
export function createUpstreams(config: UpstreamConfig, options: UpstreamOptions): Upstreams {
  const opts = { ...options, maxResponseBytes: options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES };
  const connections = opts.connections ?? DEFAULT_UPSTREAM_CONNECTIONS;
  const perKey = opts.connectionsPerKey ?? defaultConnectionsPerKey(connections);
  const limits =
    opts.budget ?? defaultBudget(connections, perKey, opts.maxRequestBytes ?? DEFAULT_PARSE_LIMITS.maxBytes);
  const budget = new KeyBudget(limits);
  const origins = new Map<string, Origin>();
  const originFor = (origin: string) => {
    let known = origins.get(origin);
    if (!known && origins.size < MAX_POOLS) {
      const pool = new Pool(origin, {
        connections,
        headersTimeout: opts.timeoutMs,
        bodyTimeout: opts.timeoutMs,
        keepAliveTimeout: 30_000,
        // undici's parser stops at the limit (and drops the connection): nothing past it is buffered.
        maxResponseSize: opts.maxResponseBytes,
      });
      known = { pool, shares: new KeyShare(perKey) };
      origins.set(origin, known);
    }
    return known;
  };
  // Base URLs are parsed once per vendor and sub host, not on every call.
  const targets = new Map<VendorName, Map<string, Target>>();
  let targetCount = 0;
  const targetFor = (vendor: VendorName, sub: string): Target => {
    let bySub = targets.get(vendor);
    if (bySub === undefined) {
      bySub = new Map();
      targets.set(vendor, bySub);
    }
    let target = bySub.get(sub);
    if (!target) {
      const url = new URL(config[vendor].replace('{sub}', sub));
      target = { origin: url.origin, path: url.pathname.replace(/\/+$/, ''), connections: undefined };
      if (targetCount < MAX_POOLS) {
        bySub.set(sub, target);
        targetCount++;
      }
    }
    return target;
  };
  return {
    forward(req) {
      const target = targetFor(req.vendor, req.subHost ?? 'api');
      target.connections ??= originFor(target.origin);
      const origin = target.connections;
      if (!origin)
        return Promise.resolve(
          new LocalRefusal('upstream_unavailable', `Too many ${req.vendor} API hosts in use.`),
        );
      if (req.signal?.aborted) return Promise.resolve(clientGone(req.vendor));
      const bytes = req.body?.length ?? 0;
      const overdrawn = budget.take(req.share, bytes);
      if (overdrawn !== undefined) return Promise.resolve(noRoom(overdrawn, req.vendor, limits));
      return new Promise((resolve) => {
        const collector = new ResponseCollector(resolve, req, opts, {
          leave: (waiter) => {
            origin.shares.leave(req.share, waiter);
            budget.give(req.share, bytes);
          },
          // No host header: undici sends the pool origin's own (host[:port]), first, as it always did.
          dispatch: (handler) =>
            origin.pool.dispatch(
              {
                method: req.method as Dispatcher.HttpMethod,
                path: target.path + req.pathAndQuery,
                headers: req.headers,
                body: req.body && req.body.length > 0 ? req.body : null,
              },
              handler,
            ),
        });
        origin.shares.enter(req.share, collector);
      });
    },
    async close(force = false) {
      const open = [...origins.values()].map((o) => o.pool).filter((p) => !p.destroyed && !p.closed);
      await Promise.all(open.map((p) => (force ? p.destroy() : p.close())));
    },
  };
}

/** How a call reaches its origin's connections: through its key's share, then undici's pool. */
interface Route {
  /** Hands the call to the origin's pool. */
  readonly dispatch: (handler: Dispatcher.DispatchHandler) => void;
  /** The call is done with its key's share and budget: called once, however it ends. */
  readonly leave: (waiter: ShareWaiter) => void;
}

/**
 * Reads one upstream answer whole, up to the response limit: the head as undici parsed it, the body
 * as the chunks it hands over. Settles its promise exactly once: with the answer; with the head
 * alone and `overLimit` for a body over the limit (a declared length over it is refused before a
 * byte of the body is read, and the connection dropped); or with the denial for a failure.
 *
 * It also keeps time, since undici's own timeouts only start once the call is on a connection, its
 * headers timeout starts again at every interim (1xx) answer and its body timeout measures the gaps
 * between chunks: the call may wait for a connection at most the upstream timeout, in its key's queue
 * and then undici's (then it is withdrawn, unsent); the final answer's head must come within the
 * upstream timeout of the call's sending, however many interim answers come first (102 Processing
 * once a second held a call 46 s against 3 s); and the body, once the head is in, may take at most
 * the upstream timeout as a whole (a trickled answer held a call 115 s against 5 s). A call whose
 * client goes away before it is on a connection is withdrawn too (`request_invalid`): nobody would
 * read its answer, and 1 000 such calls, sent and disconnected, had kept a victim's call waiting
 * 139 s (ADR 0007 §8, fifth round).
 * `onRequestStart` is undici's last call before it writes the request: a withdrawn call, or one
 * `admit` refuses, is aborted there, which costs that connection (undici closes it) but sends nothing.
 *
 * It holds its key's slot (KeyShare) from the moment undici takes the call until undici is done with
 * it (`onResponseEnd` or `onResponseError`, which undici calls after every abort too), so a call
 * withdrawn while still in undici's queue keeps counting against its key until it is dropped there;
 * so does what it took of its key's budget (KeyBudget), from before it entered its key's queue: undici
 * holds its body until then.
 */
class ResponseCollector implements Dispatcher.DispatchHandler, ShareWaiter {
  readonly #resolve: (res: UpstreamResponse | Denial) => void;
  readonly #vendor: VendorName;
  readonly #opts: { timeoutMs: number; maxResponseBytes: number };
  readonly #admit: ((answerMs: number) => Denial | undefined) | undefined;
  readonly #confirm: (() => Promise<Denial | undefined>) | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #route: Route;
  /** The wait for a connection, then for the final answer's head, then for the whole body. */
  #timer: NodeJS.Timeout;
  #done = false;
  /** Handed to undici's pool: the call holds a slot of its key's share until undici is done with it. */
  #dispatched = false;
  #left = false;
  /** undici handed the call to a connection: from here on bytes of it may have left. */
  #started = false;
  #status = 0;
  #headers: Record<string, string | string[] | undefined> = {};
  #chunks: Buffer[] = [];
  #length = 0;

  constructor(
    resolve: (res: UpstreamResponse | Denial) => void,
    req: ForwardRequest,
    opts: { timeoutMs: number; maxResponseBytes: number },
    route: Route,
  ) {
    this.#resolve = resolve;
    this.#vendor = req.vendor;
    this.#opts = opts;
    this.#admit = req.admit;
    this.#confirm = req.confirm;
    this.#signal = req.signal;
    this.#route = route;
    this.#timer = setTimeout(() => this.#settle(this.#busy()), opts.timeoutMs).unref();
    this.#signal?.addEventListener('abort', this.#gone, { once: true });
  }

  /**
   * Its key's turn on the pool (KeyShare). After a wait, `confirm` is asked first; the call keeps its
   * slot meanwhile, and one withdrawn or timed out meanwhile is not handed over.
   */
  start(waited: boolean): void {
    const confirming = waited ? this.#confirm?.() : undefined;
    if (confirming === undefined) {
      this.#dispatch();
      return;
    }
    void confirming.then((refused) => {
      if (this.#done) return;
      if (refused === undefined) this.#dispatch();
      else this.#settle(new UnsentDenial(refused.reason, refused.message, refused.operation));
    });
  }

  #dispatch(): void {
    this.#dispatched = true;
    this.#route.dispatch(this);
  }

  /** The client went away: a call not yet on a connection is dropped; one on it runs its course. */
  readonly #gone = () => {
    if (!this.#started) this.#settle(clientGone(this.#vendor));
  };

  #busy(): UnsentDenial {
    const ms = this.#opts.timeoutMs;
    return new LocalRefusal(
      'upstream_unavailable',
      this.#dispatched
        ? `Every connection to the ${this.#vendor} API stayed busy for ${ms} ms, so the call was not sent.`
        : `This key's share of the connections to the ${this.#vendor} API stayed busy with its other calls for ${ms} ms, so the call was not sent.`,
    );
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    // A request undici starts again (a reset pipeline) keeps the deadline its first start set.
    const restarted = this.#started;
    if (!restarted) clearTimeout(this.#timer);
    const refused = this.#done ? undefined : this.#admit?.(this.#opts.timeoutMs);
    if (refused !== undefined) {
      // A request undici starts again may have been written the first time.
      this.#settle(
        restarted ? refused : new UnsentDenial(refused.reason, refused.message, refused.operation),
      );
    }
    if (this.#done) {
      controller.abort(new undiciErrors.RequestAbortedError());
      return;
    }
    this.#started = true;
    if (!restarted) this.#awaitHead(controller);
  }

  /**
   * The final answer's head must come within the upstream timeout of the call's sending. undici's
   * headers timeout starts again at every interim (1xx) answer, and an upstream answering
   * `102 Processing` once a second held a call 46 s against a 3 s timeout (sixth round).
   */
  #awaitHead(controller: Dispatcher.DispatchController): void {
    this.#timer = setTimeout(() => {
      this.#settle(
        deny('upstream_timeout', `The ${this.#vendor} API did not answer within ${this.#opts.timeoutMs} ms.`),
      );
      controller.abort(new undiciErrors.HeadersTimeoutError());
    }, this.#opts.timeoutMs).unref();
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    // 1xx answers are informational: the real head follows, within the deadline `#awaitHead` set.
    if (statusCode < 200) return;
    clearTimeout(this.#timer);
    this.#status = statusCode;
    this.#headers = headers;
    if (Number(headers['content-length']) > this.#opts.maxResponseBytes) {
      this.#tooLarge();
      // Aborting a response under way closes that upstream connection: its body is never read.
      controller.abort(new undiciErrors.ResponseExceededMaxSizeError());
      return;
    }
    this.#timer = setTimeout(() => {
      this.#settle(this.#cut(new undiciErrors.BodyTimeoutError()));
      controller.abort(new undiciErrors.BodyTimeoutError());
    }, this.#opts.timeoutMs).unref();
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#done) return;
    this.#chunks.push(chunk);
    this.#length += chunk.length;
  }

  onResponseEnd(): void {
    this.#leave();
    if (this.#done) return;
    const chunks = this.#chunks;
    const body =
      chunks.length === 0 ? EMPTY : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, this.#length);
    this.#settle({ status: this.#status, headers: this.#headers, body });
  }

  onResponseError(_controller: Dispatcher.DispatchController | null, err: Error): void {
    this.#leave();
    if (this.#done) return;
    // The parser stops at the limit: the head is kept so the audit record names status and request id.
    if (this.#status !== 0 && err instanceof undiciErrors.ResponseExceededMaxSizeError) {
      this.#tooLarge();
      return;
    }
    if (!this.#started) this.#settle(unsent(err, this.#vendor));
    else if (this.#status !== 0) this.#settle(this.#cut(err));
    else this.#settle(failure(err, this.#vendor, this.#opts));
  }

  /** A failure once the final answer's head is in: the head (and what arrived of the body) kept. */
  #cut(err: Error): CutAnswer {
    const chunks = this.#chunks;
    this.#chunks = [];
    return new CutAnswer(cutFailure(err, this.#vendor, this.#status, this.#opts), {
      status: this.#status,
      headers: this.#headers,
      body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, this.#length),
    });
  }

  #tooLarge(): void {
    this.#chunks = [];
    this.#settle({
      status: this.#status,
      headers: this.#headers,
      body: EMPTY,
      overLimit: this.#opts.maxResponseBytes,
    });
  }

  #settle(res: UpstreamResponse | Denial): void {
    if (this.#done) return;
    this.#done = true;
    clearTimeout(this.#timer);
    this.#signal?.removeEventListener('abort', this.#gone);
    // Still in its key's queue: it leaves it now. In undici's, its slot is freed when undici drops it.
    if (!this.#dispatched) this.#leave();
    this.#resolve(res);
  }

  #leave(): void {
    if (this.#left) return;
    this.#left = true;
    this.#route.leave(this);
  }
}

/**
 * A failure before a byte of the call left this proxy: no connection could be had (refused, no such
 * host, no route, connect timeout, the pool destroyed, every connection busy past the timeout), or
 * a check at the moment of sending refused it. The vendor cannot have acted on it, so the forward
 * stage gives its reservation back; every other failure keeps it.
 */
export class UnsentDenial extends Denial {}

/**
 * An unsent call this proxy refused by its own bounds, before any connection was tried: a key's
 * calls or bodies at the upstreams (KeyBudget), its share or the pool busy past the timeout, too many
 * hosts. It says nothing of the vendor: Keybrake's own reads (the lease account's, lease-accounts.ts)
 * do not hold it against the upstream credential (fourteenth round, probe leases14, finding 2).
 */
export class LocalRefusal extends UnsentDenial {}

/**
 * A failure after the vendor's answer had begun (its head arrived, then the connection dropped, the
 * body did not finish in time, or the proxy shut down): the vendor acted, and said so with a status
 * and a request id, the only way to reconcile a call it kept with the vendor's own records. The
 * denial carries the head and what arrived of the body, so the forward stage can record the status
 * and (once scanned) the request id; the answer itself is withheld, never passed on whole or in part.
 */
export class CutAnswer extends Denial {
  readonly head: UpstreamResponse;

  constructor(denial: Denial, head: UpstreamResponse) {
    super(denial.reason, denial.message, denial.operation);
    this.head = head;
  }
}

/**
 * The call would take its key's calls at the upstreams, or everyone's bodies there, past what they
 * may hold: refused before it waits (KeyBudget). Retryable, as the pool's own busy answer is.
 */
function noRoom(overdrawn: Overdrawn, vendor: VendorName, limits: BudgetLimits): UnsentDenial {
  const retry = 'so the call was not sent: send it again once some of them are answered.';
  return new LocalRefusal(
    'upstream_unavailable',
    overdrawn === 'key_calls'
      ? `This key already has ${limits.callsPerKey} calls at the ${vendor} API, on its connections or waiting for one, ${retry}`
      : overdrawn === 'key_bytes'
        ? `With this call, this key's calls at the ${vendor} API would hold more than ${limits.bytesPerKey} bytes of request bodies, ${retry}`
        : `With this call, the calls this proxy has at the vendors' APIs would hold more than ${limits.bytes} bytes of request bodies, ${retry}`,
  );
}

/**
 * The caller's client went away before the call was on a connection: it was never written. A
 * half-close looks the same as a close (client-calls.ts), and that client reads this answer.
 */
function clientGone(vendor: VendorName): UnsentDenial {
  return new UnsentDenial(
    'request_invalid',
    `The client closed its connection (or shut down its sending side) before the call could be sent to the ${vendor} API, so it was not sent.`,
  );
}

/** A failure before undici handed the call to a connection: the request was never written. */
function unsent(err: unknown, vendor: VendorName): UnsentDenial {
  // The code says why (a name that does not resolve, a refused port); the host is not named.
  const code = (err as { code?: unknown } | null)?.code;
  const why = typeof code === 'string' ? ` (${code})` : '';
  return new UnsentDenial('upstream_unavailable', `The ${vendor} API could not be reached${why}.`);
}

/** A failure once the call was on a connection: the vendor may have acted on it. */
function failure(
  err: unknown,
  vendor: VendorName,
  opts: { timeoutMs: number; maxResponseBytes: number },
): Denial {
  if (err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError) {
    return deny('upstream_timeout', `The ${vendor} API did not answer within ${opts.timeoutMs} ms.`);
  }
  if (err instanceof undiciErrors.ClientDestroyedError) {
    // The drain deadline passed with this call still waiting on the vendor (runtime.ts).
    return deny(
      'upstream_unavailable',
      `This proxy shut down before the ${vendor} API answered; the call may have taken effect.`,
    );
  }
  if (err instanceof undiciErrors.ResponseExceededMaxSizeError) {
    return deny('upstream_response_too_large', responseTooLargeMessage(vendor, opts.maxResponseBytes));
  }
  // The call was on a connection, so it may have been read whole and acted on: the connection then
  // dropped, or the vendor sent what undici refuses as an answer (an unsolicited `100 Continue`).
  // "Could not be reached", the unsent call's words, told agents a retry was harmless; on Twilio (no
  // idempotency) that sends a second SMS (twelfth round). The code says which failure it was.
  const code = (err as { code?: unknown } | null)?.code;
  const why = typeof code === 'string' ? ` (${code})` : '';
  return deny(
    'upstream_unavailable',
    `The call was sent to the ${vendor} API, but the connection dropped before a readable answer came${why}. The call may have taken effect.`,
  );
}

/**
 * A failure once the vendor's answer had begun: it acted (its status says how), so the message says
 * the call may have taken effect, never that the API "could not be reached" (tenth round).
 */
function cutFailure(err: unknown, vendor: VendorName, status: number, opts: { timeoutMs: number }): Denial {
  if (err instanceof undiciErrors.BodyTimeoutError || err instanceof undiciErrors.HeadersTimeoutError) {
    return deny(
      'upstream_timeout',
      `The ${vendor} API answered HTTP ${status} but did not finish its answer within ${opts.timeoutMs} ms, so Keybrake withheld it. The call may have taken effect.`,
    );
  }
  if (err instanceof undiciErrors.ClientDestroyedError) {
    return deny(
      'upstream_unavailable',
      `This proxy shut down before the ${vendor} API finished its answer (HTTP ${status}); the call may have taken effect.`,
    );
  }
  return deny(
    'upstream_unavailable',
    `The ${vendor} API answered HTTP ${status}, then its connection dropped before the whole answer arrived, so Keybrake withheld it. The call may have taken effect.`,
  );
}

/** Names the limit, and that the vendor may have acted on the call all the same. */
export function responseTooLargeMessage(vendor: VendorName, limit: number): string {
  return `The ${vendor} API answered with more than ${limit} bytes, over this proxy's --max-response-body; Keybrake withheld the answer. The call may have taken effect.`;
}

/** Hop-by-hop headers (RFC 9110 §7.6.1) and ours: never passed on, to the vendor or back. */
const DROPPED = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'authorization',
  'content-length',
  'keybrake-run-id',
  'expect',
  'http2-settings',
  // Settle reads the vendor's JSON: ask for it uncompressed.
  'accept-encoding',
]);

/**
 * Never forwarded either: a range. Withholding and the credential scan read an answer whole, and
 * each would see only the slice a range asked for, so a secret split across two ranges would get
 * through. Answers are always whole; no vendor SDK asks for a range (ADR 0007 §9).
 */
const NOT_FORWARDED = new Set(['range', 'if-range']);

/**
 * Never passed back either: the vendor's cookies (`Set-Cookie2` is RFC 2965's obsolete spelling, which
 * a client may still store) and what it says after the real key authenticated (`Authentication-Info`:
 * a Digest `nextnonce` or `rspauth` tied to that credential; `Proxy-Authentication-Info`, which, like
 * `Proxy-Authenticate`, addresses the hop to the vendor, Keybrake). The agent has no use for them, and
 * each could carry session state tied to the real key (ADR 0007 §9). `WWW-Authenticate` is passed on:
 * a 401's challenge names a realm and at most a server nonce, no secret, and the agent's SDK reads the
 * vendor's 401 as the vendor wrote it.
 */
const NOT_RETURNED = new Set([
  'set-cookie',
  'set-cookie2',
  'authentication-info',
  'proxy-authentication-info',
]);

/** The Authorization header each credential travels in, built once per credential object. */
const AUTHORIZATIONS = new WeakMap<UpstreamCredential, { adapter: VendorAdapter; header: string }>();

/** `adapter.upstreamAuthorization(credential)`, kept: compiled credentials are immutable. */
export function upstreamAuthorization(adapter: VendorAdapter, credential: UpstreamCredential): string {
  const known = AUTHORIZATIONS.get(credential);
  if (known !== undefined && known.adapter === adapter) return known.header;
  const header = adapter.upstreamAuthorization(credential);
  AUTHORIZATIONS.set(credential, { adapter, header });
  return header;
}

/** The caller's headers as the vendor should see them, with the real credential swapped in. */
export function upstreamHeaders(
  incoming: Record<string, string | string[] | undefined>,
  authorization: string,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  // The names `Connection` nominates are hop-by-hop too; most calls send none, or only keep-alive.
  const nominated = nominatedHeaders(incoming.connection);
  // for…in rather than Object.entries: no array per header on the request path.
  for (const name in incoming) {
    const value = incoming[name];
    if (value === undefined || DROPPED.has(name) || NOT_FORWARDED.has(name) || nominated.includes(name))
      continue;
    out[name] = value;
  }
  out.authorization = authorization;
  return out;
}

/**
 * Response headers we pass back: the vendor's, minus hop-by-hop ones (those its `Connection` names
 * too, as on the way there), framing we recompute and cookies.
 */
export function downstreamHeaders(
  headers: Record<string, string | string[] | undefined>,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const nominated = nominatedHeaders(headers.connection);
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || DROPPED.has(name) || NOT_RETURNED.has(name) || nominated.includes(name))
      continue;
    out[name] = value;
  }
  return out;
}
