import { setTimeout as sleep } from 'node:timers/promises';
import { type BackoffOptions, backoffDelay } from '../../backoff.ts';
import type { Log } from '../../telemetry/logger.ts';

/** An object as the API server sends it: only the metadata the cache keys on is typed. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [field: string]: unknown;
  };
  [field: string]: unknown;
}

/** One page-less list: the items and the collection's resourceVersion to watch from. */
export interface ListResult {
  readonly items: readonly KubeObject[];
  readonly resourceVersion: string;
}

/** Starts one watch request (client-node's `Watch.watch`, or a fake in tests). */
export type WatchFn = (
  path: string,
  query: Record<string, string | number | boolean | undefined>,
  onEvent: (type: string, object: KubeObject) => void,
  onDone: (err: unknown) => void,
) => Promise<{ abort(): void }>;

/** A change to the cache, handed to the source as it happens. */
export interface ReflectorChange {
  readonly type: 'upsert' | 'delete';
  readonly object: KubeObject;
  readonly previous?: KubeObject;
}

export interface ReflectorOptions {
  /** For logs: e.g. `VaultKey (all namespaces)`. */
  readonly name: string;
  /** Collection path to watch, e.g. `/apis/keybrake.dev/v1alpha1/vaultkeys`. */
  readonly path: string;
  readonly labelSelector?: string;
  readonly list: () => Promise<ListResult>;
  readonly watch: WatchFn;
  readonly onChange: (change: ReflectorChange) => void;
  /** Called after each successful (re)list, once its changes have been delivered. */
  readonly onListed?: () => void;
  readonly log: Log;
  readonly backoff?: BackoffOptions;
  /**
   * A watch that has delivered nothing (not even a bookmark) for this long is assumed half-open and
   * torn down. Default: its own `timeoutSeconds` + WATCH_SILENCE_MARGIN_MS, since the API server
   * ends every watch by then (with a bookmark shortly before), so silence longer than that means the
   * connection is gone without anyone having told us.
   */
  readonly watchdogMs?: number;
  /** Server-side watch timeout; randomised in [n, 2n) so replicas do not reconnect in lockstep. */
  readonly watchTimeoutSeconds?: number;
  readonly listTimeoutMs?: number;
  readonly random?: () => number;
  /** Wall clock of `currentAt` (default Date.now). */
  readonly now?: () => number;
}

/**
 * Whether an informer's cache is known to hold every change so far: while a watch is established
 * (or a list has just succeeded) it is; once the watch ends it is known current only up to then,
 * until a watch from the cache's resourceVersion, or a relist, succeeds again.
 */
export type ReflectorHealth =
  | { readonly current: true }
  | {
      readonly current: false;
      /** Last moment the cache was known current; undefined before its first list. */
      readonly since: number | undefined;
      /** Why the last list or watch ended (status code and first line, never a body). */
      readonly error?: string;
    };

/** The informer's cache and lifecycle: what the Kubernetes source builds its ResourceSet from. */
export interface Reflector {
  start(): void;
  /** Resolves after the first successful list. */
  readonly synced: Promise<void>;
  isSynced(): boolean;
  health(): ReflectorHealth;
  items(): KubeObject[];
  get(namespace: string | undefined, name: string): KubeObject | undefined;
  /**
   * Objects marked for deletion that a finalizer still holds, as last seen: out of `items()` (gone for
   * what is served), kept only so their status can say so (sixteenth round).
   */
  terminating(): KubeObject[];
  /** One of those, by namespace and name. */
  getTerminating(namespace: string | undefined, name: string): KubeObject | undefined;
  /** Ends the watch now and relists (KubernetesSource.rewatch). */
  restart(): void;
  stop(): Promise<void>;
}

/** An ERROR event the API server sent on a watch (other than 410 Gone). */
export class WatchStatusError extends Error {
  override readonly name = 'WatchStatusError';
  readonly code: number | undefined;
  constructor(code: number | undefined, reason: string) {
    super(`watch error ${code ?? '?'}: ${reason}`);
    this.code = code;
  }
}

type Outcome = {
  readonly kind: 'gone' | 'closed' | 'timeout' | 'watchdog' | 'restart';
  readonly events: number;
};

const key = (o: KubeObject) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

/**
 * What each watch asks the API server for as `timeoutSeconds`, randomised in [n, 2n): short enough
 * that a watch silent past it plus the margin (under 30 s, the proxies' default --max-staleness) is
 * known dead, not merely idle (eighth round: a silent connection counted as current for 120 s). A
 * routine end resumes from the cache's resourceVersion, without a relist, in milliseconds.
 */
export const WATCH_TIMEOUT_SECONDS = 12;
/** How long past its timeoutSeconds a watch may stay silent: the server's own lateness and the network. */
export const WATCH_SILENCE_MARGIN_MS = 5_000;

/** Restarts of a failed list or watch: 200 ms doubling to 30 s, 20 % jitter so replicas spread out. */
const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 200, maxMs: 30_000, jitter: 0.2 };

/**
 * List, then watch from the list's resourceVersion, forever (the client-go reflector, rebuilt
 * because client-node's informer stops for good on any error but 410). Every error restarts the
 * loop with exponential backoff and a fresh list, so a change missed during an outage is still
 * seen; a 410 relists at once; a watch silent for too long is torn down by a watchdog.
 */
export function createReflector(opts: ReflectorOptions): Reflector {
  const cache = new Map<string, KubeObject>();
  /** Objects marked for deletion and not yet deleted, by key: never in `cache`. */
  const marked = new Map<string, KubeObject>();
  const stop = new AbortController();
  const backoff = opts.backoff ?? DEFAULT_BACKOFF;
  const watchTimeout = opts.watchTimeoutSeconds ?? WATCH_TIMEOUT_SECONDS;
  const listTimeoutMs = opts.listTimeoutMs ?? 30_000;
  const random = opts.random ?? Math.random;
  const now = opts.now ?? Date.now;
  let resourceVersion = '';
  // Not current until the first list; `since` is the last moment it was (ADR 0005, eighth round).
  let health: ReflectorHealth = { current: false, since: undefined };
  const becameCurrent = () => {
    health = { current: true };
  };
  /** `at`: the last moment the cache was known current, if not now (a watch that went silent). */
  const stoppedBeingCurrent = (error?: string, at = now()) => {
    const since = health.current ? at : health.since;
    health = { current: false, since, ...(error !== undefined && { error }) };
  };
  let synced = false;
  let running: Promise<void> | undefined;
  let endWatch: ((why: Outcome['kind']) => void) | undefined;
  const { promise: syncedPromise, resolve: resolveSynced } = Promise.withResolvers<void>();

  const upsert = (object: KubeObject) => {
    // An object being deleted is gone from the moment it is marked: a finalizer, or kubectl's own
    // `--cascade=foreground`, may hold it for as long as it likes, and `kubectl delete vaultkey`
    // must revoke now (found by an adversarial probe: the key was served until the finalizer went).
    const k = key(object);
    if (terminating(object)) {
      marked.set(k, object);
      remove(object);
      return;
    }
    // A new object of a deleted one's name: the old one is gone.
    marked.delete(k);
    const previous = cache.get(k);
    if (previous && previous.metadata?.resourceVersion === object.metadata?.resourceVersion) return;
    cache.set(k, object);
    opts.onChange(previous ? { type: 'upsert', object, previous } : { type: 'upsert', object });
  };
  const remove = (object: KubeObject) => {
    const k = key(object);
    const previous = cache.get(k);
    if (!previous) return;
    cache.delete(k);
    opts.onChange({ type: 'delete', object: previous });
  };

  const replace = (items: readonly KubeObject[]) => {
    const fresh = new Set(items.filter((o) => !terminating(o)).map(key));
    const held = new Set(items.filter(terminating).map(key));
    for (const k of [...marked.keys()]) if (!held.has(k)) marked.delete(k);
    for (const [k, o] of [...cache]) if (!fresh.has(k)) remove(o);
    for (const o of items) upsert(o);
  };

  const watchOnce = (): Promise<Outcome> =>
    new Promise<Outcome>((resolve, reject) => {
      let events = 0;
      let gone = false;
      let failure: WatchStatusError | undefined;
      let settled = false;
      let handle: { abort(): void } | undefined;
      let dog: NodeJS.Timeout | undefined;
      const timeoutSeconds = watchTimeout + Math.floor(random() * watchTimeout);
      const watchdogMs = opts.watchdogMs ?? timeoutSeconds * 1000 + WATCH_SILENCE_MARGIN_MS;
      // The watch's last sign of life (established, an event, or the server's own end of it): however
      // it ends, it was known current only up to then, not up to when its end was noticed. A reset or
      // a "terminated" body after a silence says nothing about the silence (ninth round: dated to the
      // reset, a lapse 14 s old read as new, and the metric with it).
      let lastSign: number | undefined;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(dog);
        endWatch = undefined;
        // What happens from now on is seen only once a watch or a list succeeds again.
        stoppedBeingCurrent(undefined, lastSign ?? now());
        fn();
      };
      const pet = () => {
        clearTimeout(dog);
        dog = setTimeout(() => {
          settle(() => resolve({ kind: 'watchdog', events }));
          handle?.abort();
        }, watchdogMs);
        dog.unref();
      };
      endWatch = (why) => {
        settle(() => resolve({ kind: why, events }));
        handle?.abort();
      };
      pet();
      const query = {
        resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds,
        ...(opts.labelSelector !== undefined && { labelSelector: opts.labelSelector }),
      };
      const onEvent = (type: string, object: KubeObject) => {
        if (settled) return;
        pet();
        lastSign = now();
        events++;
        const rv = object?.metadata?.resourceVersion;
        switch (type) {
          case 'ADDED':
          case 'MODIFIED':
            upsert(object);
            break;
          case 'DELETED':
            marked.delete(key(object));
            remove(object);
            break;
          case 'BOOKMARK':
            break;
          case 'ERROR': {
            const status = object as { code?: number; reason?: string; message?: string };
            if (status.code === 410) gone = true;
            else failure = new WatchStatusError(status.code, status.reason ?? 'unknown');
            return;
          }
          default:
            return;
        }
        if (rv) resourceVersion = rv;
      };
      const onDone = (err: unknown) => {
        // A clean end is the API server's (its timeoutSeconds): the body's last chunk came through, so
        // the connection was alive up to now. An error end (a reset, a body cut short, client-node's
        // own 30 s inactivity timeout) proves nothing past the last sign of life.
        if (!err) lastSign = now();
        settle(() => {
          if (gone || statusCode(err) === 410) resolve({ kind: 'gone', events });
          else if (failure) reject(failure);
          else if (!err) resolve({ kind: 'closed', events });
          // client-node's own inactivity timeout: the watch was idle, not broken.
          else if ((err as { name?: string }).name === 'TimeoutError') resolve({ kind: 'timeout', events });
          else if (stop.signal.aborted) resolve({ kind: 'closed', events });
          else reject(err);
        });
      };
      opts.watch(opts.path, query, onEvent, onDone).then(
        (h) => {
          handle = h;
          if (settled) h.abort();
          // Established: it resumes from the cache's resourceVersion, so nothing since is missed.
          else {
            lastSign = now();
            becameCurrent();
          }
        },
        (err: unknown) => settle(() => reject(err)),
      );
    });

  const loop = async () => {
    let attempt = 0;
    let needList = true;
    while (!stop.signal.aborted) {
      try {
        if (needList) {
          const listed = await withTimeout(opts.list(), listTimeoutMs, stop.signal);
          if (stop.signal.aborted) return;
          replace(listed.items);
          resourceVersion = listed.resourceVersion;
          needList = false;
          becameCurrent();
          if (!synced) {
            synced = true;
            resolveSynced();
          }
          opts.onListed?.();
        }
        const started = Date.now();
        const outcome = await watchOnce();
        if (stop.signal.aborted) return;
        if (outcome.kind === 'gone') {
          needList = true;
          attempt = 0;
          continue;
        }
        if (outcome.kind === 'watchdog')
          opts.log.warn({ informer: opts.name }, 'watch went silent past its timeout; restarting it');
        if (outcome.kind === 'watchdog' || outcome.kind === 'restart') needList = true;
        // A watch the server closes at once, again and again, must not become a hot loop.
        attempt = outcome.events > 0 || Date.now() - started >= 1_000 ? 0 : attempt + 1;
        if (attempt > 0) await pause(backoffDelay(attempt, backoff), stop.signal);
      } catch (err) {
        if (stop.signal.aborted) return;
        attempt++;
        needList = true;
        const delayMs = backoffDelay(attempt, backoff);
        const error = describeError(err);
        stoppedBeingCurrent(error);
        opts.log.warn(
          { informer: opts.name, attempt, retryInMs: delayMs, error },
          'watch failed; restarting',
        );
        await pause(delayMs, stop.signal);
      }
    }
  };

  return {
    start() {
      running ??= loop();
    },
    synced: syncedPromise,
    isSynced: () => synced,
    health: () => health,
    items: () => [...cache.values()],
    get: (namespace, name) => cache.get(`${namespace ?? ''}/${name}`),
    terminating: () => [...marked.values()],
    getTerminating: (namespace, name) => marked.get(`${namespace ?? ''}/${name}`),
    restart() {
      endWatch?.('restart');
    },
    async stop() {
      stop.abort();
      endWatch?.('closed');
      await running;
    },
  };
}

function statusCode(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { statusCode?: unknown; code?: unknown };
  if (typeof e.statusCode === 'number') return e.statusCode;
  if (typeof e.code === 'number') return e.code;
  return undefined;
}

/** A short, safe description of an API error: status code and the first line of the message. */
export function describeError(err: unknown): string {
  const code = statusCode(err);
  const message = err instanceof Error ? err.message : String(err);
  const first = (message.split('\n')[0] ?? '').slice(0, 200);
  return code === undefined ? first : `${code}: ${first}`;
}

async function pause(ms: number, signal: AbortSignal): Promise<void> {
  try {
    await sleep(ms, undefined, { signal });
  } catch {
    // aborted by stop(): the loop checks the signal next
  }
}

async function withTimeout<T>(p: Promise<T>, ms: number, signal: AbortSignal): Promise<T> {
  const timer = new AbortController();
  const both = AbortSignal.any([signal, timer.signal]);
  try {
    return await Promise.race([
      p,
      sleep(ms, undefined, { signal: both }).then(() => {
        throw new Error(`list did not answer within ${ms} ms`);
      }),
    ]);
  } finally {
    timer.abort();
  }
}

/** Marked for deletion (`metadata.deletionTimestamp`), whatever finalizers still hold it. */
export function terminating(object: KubeObject): boolean {
  const t = object.metadata?.['deletionTimestamp'];
  return t !== undefined && t !== null && t !== '';
}
