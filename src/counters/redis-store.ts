import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { Cluster } from 'ioredis';
import { isSharedLease, leasedObject, sharedLease } from '../lease-names.ts';
import type { MicroUsd } from '../money/micro-usd.ts';
import { RUN_ID_PATTERN } from '../snapshot/run-id.ts';
import { MAX_STOPPED_RUNS_PER_KEY, type StoppedRun } from '../snapshot/run-keys.ts';
import type { Log } from '../telemetry/logger.ts';
import { answerWithin, Overdue } from './answer-within.ts';
import {
  counterKey,
  DEFAULT_IDEMPOTENCY_TTL_SECONDS,
  epochKey,
  idempotencyRecordKey,
  LAST_USED_TTL_SECONDS,
  lastUsedKey,
  leaseKey,
  STOPPED_RUNS_CHANNEL,
  STOPPED_RUNS_INDEX,
  scopePrefix,
  stoppedRunKey,
  stoppedRunsEchoChannel,
  stoppedRunsOfKey,
} from './keys.ts';
import { Liveness } from './liveness.ts';
import { type CounterScripts, createScriptedClient, type ScriptedClient } from './redis-client.ts';
import { describeRedisTarget, parseRedisUrl } from './redis-url.ts';
import {
  type CounterStore,
  CounterStoreUnavailableError,
  type HeldLeases,
  type LeaseRequest,
  type LeaseResult,
  type LeaseSpec,
  type RenewResult,
  type Reservation,
  type ReserveRequest,
  type ReserveResult,
  type RunStopOutcome,
  type RunStopStore,
  type SettleOutcome,
  type WindowKind,
  type WindowSpec,
} from './store.ts';
import {
  assertCeiling,
  assertEpochMs,
  assertFingerprint,
  assertLeases,
  assertMicros,
  assertRateWindow,
  assertWindow,
  distinctObjects,
  isMoneyWindow,
} from './validate.ts';

/** The Lua scripts, read once at start-up (they ship beside this file in src/counters/lua/). */
export const COUNTER_SCRIPTS: CounterScripts = {
  reserve: readFileSync(new URL('./lua/reserve.lua', import.meta.url), 'utf8'),
  settle: readFileSync(new URL('./lua/settle.lua', import.meta.url), 'utf8'),
  acquire: readFileSync(new URL('./lua/acquire.lua', import.meta.url), 'utf8'),
  renew: readFileSync(new URL('./lua/renew.lua', import.meta.url), 'utf8'),
  release: readFileSync(new URL('./lua/release.lua', import.meta.url), 'utf8'),
};

/** Run by EVAL (ioredis sends the text): a stop is rare, and not on the request path. */
const STOP_SCRIPT = readFileSync(new URL('./lua/stop.lua', import.meta.url), 'utf8');

/** Options of the shared store; see docs/counters.md for what they guarantee. */
export interface RedisCounterStoreOptions {
  /** Bound on every command, in ms (default 50); past it the call fails closed. */
  readonly timeoutMs?: number;
  readonly log?: Log;
  /** Monotonic clock in ms (default performance.now) by which an idle connection is probed. */
  readonly monotonic?: () => number;
}

/** Counted by the store so benchmarks can check the cost of a call (one reserve = one round trip). */
export interface RedisCounterStoreStats {
  /**
   * Commands sent for reserve, settle, acquireLeases, renewLeases, releaseLeases, used and lastUsed
   * (pings, those of healthy() and those probing an idle connection, are counted apart). In Cluster
   * mode an acquire with both windows and leases is two commands sent together (one round trip of
   * latency), counted as two.
   */
  roundTrips: number;
  pings: number;
  /** Commands that failed or timed out (each became a CounterStoreUnavailableError). */
  errors: number;
}

/**
 * Builds the store from the `--redis` URL (redis://, rediss://, redis+sentinel://, redis+cluster://).
 * Returns at once; the client connects in the background and calls fail closed until it has.
 */
export function createRedisCounterStore(url: string, opts: RedisCounterStoreOptions = {}): RedisCounterStore {
  const target = parseRedisUrl(url);
  const timeoutMs = opts.timeoutMs ?? 50;
  const client = createScriptedClient(target, COUNTER_SCRIPTS, { timeoutMs });
  return new RedisCounterStore(client, { ...opts, timeoutMs, description: describeRedisTarget(target) });
}

// An epoch only has to differ from the one Redis lost: a process nonce and a call count do.
const EPOCH_NONCE = randomBytes(6).toString('hex');
let epochSeq = 0;
function proposedEpoch(): string {
  return `${EPOCH_NONCE}.${++epochSeq}`;
}

/**
 * The counters shared by every proxy replica (DESIGN.md §6). One reserve is one Lua script in one
 * round trip over every window of the call; every key of a vault key lives in the hash slot of
 * `{vk:<scope>}`, so the same code runs against one server, Sentinel or Cluster.
 */
export class RedisCounterStore implements CounterStore, RunStopStore {
  readonly stats: RedisCounterStoreStats = { roundTrips: 0, pings: 0, errors: 0 };
  /** The server(s) without credentials, for logs and /readyz details. */
  readonly description: string;
  readonly #client: ScriptedClient;
  readonly #timeoutMs: number;
  readonly #log: Log | undefined;
  readonly #liveness: Liveness;
  readonly #prober: ReturnType<typeof setInterval>;
  readonly #probeEveryMs: number;
  readonly #monotonic: () => number;
  #down = false;
  #answering = true;
  /** What `available()` last said to #availability's listeners (the stop watchers). */
  #wasAvailable: boolean;
  readonly #availability = new Set<(available: boolean) => void>();

  constructor(
    client: ScriptedClient,
    opts: {
      readonly timeoutMs: number;
      readonly log?: Log;
      readonly description?: string;
      readonly monotonic?: () => number;
    },
  ) {
    this.#client = client;
    this.#timeoutMs = opts.timeoutMs;
    this.#log = opts.log;
    this.description = opts.description ?? 'redis';
    // A hung server keeps its connection `ready`; the commands sent anyway tell whether it answers,
    // and when none was answered lately a ping does (docs/counters.md, "A hung Redis is down too").
    const probeEveryMs = Math.max(MIN_PROBE_INTERVAL_MS, opts.timeoutMs / 2);
    this.#probeEveryMs = probeEveryMs;
    this.#monotonic = opts.monotonic ?? (() => performance.now());
    this.#liveness = new Liveness({ idleMs: probeEveryMs, now: this.#monotonic });
    this.#prober = setInterval(() => {
      if (this.#liveness.wantsProbe()) void this.#probe();
    }, probeEveryMs);
    this.#prober.unref();
    // Without an 'error' listener ioredis prints every reconnect failure; log only the transitions.
    const lost = (err: Error) => {
      if (this.#down) return;
      this.#down = true;
      this.#log?.warn({ redis: this.description, error: err.message }, 'counter store connection lost');
    };
    client.on('error', lost);
    client.on('node error', lost);
    client.on('ready', () => {
      this.#liveness.reset();
      this.#noteLiveness();
      if (!this.#down) return;
      this.#down = false;
      this.#log?.info({ redis: this.description }, 'counter store connection restored');
    });
    // The connection's state is half of `available()`: the stop watchers hear when it leaves `ready`.
    this.#wasAvailable = this.available();
    for (const status of ['close', 'end', 'reconnecting', 'connecting', 'connect'])
      client.on(status, () => this.#noteAvailability());
  }

  async reserve(req: ReserveRequest): Promise<ReserveResult> {
    const { scope, windows, idempotency } = req;
    if (windows.length === 0) return { ok: true, replay: false, reservation: { scope, money: [] } };
    assertEpochMs(req.now);
    if (idempotency) assertFingerprint(idempotency.fingerprint);
    const keys = [
      idempotency ? idempotencyRecordKey(scope, idempotency.key) : `${scopePrefix(scope)}:idem:`,
      lastUsedKey(scope),
      req.runKey === undefined ? `${scopePrefix(scope)}:revoked-run:` : stoppedRunKey(scope, req.runKey),
      epochKey(scope),
    ];
    const args: string[] = [
      idempotency ? '1' : '0',
      String(idempotency?.ttlSeconds ?? DEFAULT_IDEMPOTENCY_TTL_SECONDS),
      String(req.now),
      String(LAST_USED_TTL_SECONDS),
      idempotency?.fingerprint ?? '',
      req.runKey === undefined ? '0' : '1',
      proposedEpoch(),
    ];
    for (const w of windows) {
      assertWindow(w);
      keys.push(counterKey(scope, w.bucket));
      args.push(isMoneyWindow(w) ? '1' : '0', String(w.limit), String(w.amount), String(w.ttlSeconds));
    }
    const reply = await this.#command(() => this.#client.kbReserve(keys.length, ...keys, ...args));
    return this.#reserveResult(req, reply);
  }

  async settle(reservation: Reservation, actual: MicroUsd): Promise<SettleOutcome> {
    assertMicros(actual, 'actual');
    const { scope, idempotency } = reservation;
    const forget = actual === 0 && idempotency !== undefined;
    const changes = reservation.money.filter((m) => m.amount !== actual);
    // Nothing to adjust is the common case (the price was exact): no round trip at all.
    if (!forget && changes.length === 0) return 'settled';
    const keys = [
      forget ? idempotencyRecordKey(scope, idempotency.key) : `${scopePrefix(scope)}:idem:`,
      epochKey(scope),
    ];
    const args = [
      forget ? '1' : '0',
      forget ? idempotency.fingerprint : '',
      reservation.epoch ?? '',
      String(actual),
    ];
    for (const m of changes) {
      keys.push(counterKey(scope, m.bucket));
      args.push(String(actual - m.amount), String(m.ttlSeconds));
    }
    const reply = await this.#command(() => this.#client.kbSettle(keys.length, ...keys, ...args));
    return reply === 2 ? 'kept' : 'settled';
  }

  async acquireLeases(req: LeaseRequest): Promise<LeaseResult> {
    for (const w of req.windows) assertRateWindow(w);
    for (const w of req.ceilings ?? []) assertCeiling(w);
    assertEpochMs(req.now);
    const leases = req.leases && { ...req.leases, objects: distinctObjects(req.leases.objects) };
    if (leases) assertLeases(leases);
    // The half on the vault key's slot: its rate windows and the ceilings it checks.
    const rate = req.windows.length > 0 || (req.ceilings?.length ?? 0) > 0 ? req : undefined;
    if (!rate && !leases) return { ok: true };
    // One script over both halves where a script may touch any key (one server, Sentinel); a
    // cluster keeps the vault key's counters and the account's leases in different slots.
    if (!(this.#client instanceof Cluster) || !rate || !leases) {
      const reply = await this.#command(() => this.#acquire(rate, leases));
      return this.#acquireResult(req, leases, reply);
    }
    const [counted, leased] = await Promise.allSettled([
      this.#command(() => this.#acquire(rate, undefined)),
      this.#command(() => this.#acquire(undefined, leases)),
    ]);
    const gotLeases = leased.status === 'fulfilled' && Array.isArray(leased.value) && leased.value[0] === 1;
    if (counted.status === 'rejected' || leased.status === 'rejected') {
      // Fail closed; leases taken by the half that answered must not wait for their TTL.
      if (gotLeases) await this.releaseLeases(leases).catch(() => undefined);
      throw counted.status === 'rejected' ? counted.reason : (leased as PromiseRejectedResult).reason;
    }
    const rateResult = this.#acquireResult(req, undefined, counted.value);
    if (!rateResult.ok) {
      // The rate refused the call: it takes no lease, as it would in one script (a failed release
      // leaves them to their TTL: a retry then meets object_busy, never a double spend).
      if (gotLeases) await this.releaseLeases(leases).catch(() => undefined);
      return rateResult;
    }
    return this.#acquireResult(req, leases, leased.value);
  }

  async renewLeases(held: HeldLeases, ttlMs: number): Promise<RenewResult> {
    const objects = distinctObjects(held.objects);
    assertLeases({ ...held, objects, ttlMs });
    // One script, one round trip: every lease of a call shares the account's hash slot.
    const { keys, modes } = leaseKeys(held.account, objects);
    const reply = Number(
      await this.#command(() => this.#client.kbRenew(keys.length, ...keys, held.token, String(ttlMs), modes)),
    );
    if (reply === 0) return { ok: true };
    const lost = Number.isSafeInteger(reply) ? objects[reply - 1] : undefined;
    if (lost !== undefined) return { ok: false, lost: leasedObject(lost) };
    this.stats.errors++;
    this.#log?.error({ redis: this.description }, 'counter store returned an unexpected renew reply');
    throw new CounterStoreUnavailableError('Redis counter store returned an unexpected reply');
  }

  async releaseLeases(held: HeldLeases): Promise<void> {
    const { keys, modes } = leaseKeys(held.account, distinctObjects(held.objects));
    if (keys.length === 0) return;
    await this.#command(() => this.#client.kbRelease(keys.length, ...keys, held.token, modes));
  }

  async used(scope: string, bucket: string): Promise<number> {
    const value = await this.#command(() => this.#client.get(counterKey(scope, bucket)));
    return value === null ? 0 : Number(value);
  }

  async lastUsed(scope: string): Promise<number | undefined> {
    const value = await this.#command(() => this.#client.get(lastUsedKey(scope)));
    return value === null ? undefined : Number(value);
  }

  /**
   * Stops a run (ADR 0010) for every replica: the record the reserve script checks (expiring with the
   * run) and the key's count of live stops, in one script that refuses past MAX_STOPPED_RUNS_PER_KEY;
   * then an entry in the index replicas read when they (re)subscribe, and a message to those
   * subscribed now. Each command is bounded like any other; a failure rejects (the caller says so).
   */
  async stopRun(run: StoppedRun): Promise<RunStopOutcome> {
    assertStoppedRun(run);
    const now = Date.now();
    const recorded = Number(
      await this.#command(() =>
        this.#client.eval(
          STOP_SCRIPT,
          2,
          stoppedRunsOfKey(run.scope),
          stoppedRunKey(run.scope, run.runId),
          now,
          run.until,
          run.runId,
          MAX_STOPPED_RUNS_PER_KEY,
        ),
      ),
    );
    if (recorded === 0) return 'too_many';
    if (recorded !== 1) {
      this.stats.errors++;
      this.#log?.error({ redis: this.description }, 'counter store returned an unexpected stop reply');
      throw new CounterStoreUnavailableError('Redis counter store returned an unexpected reply');
    }
    const member = JSON.stringify({ scope: run.scope, runId: run.runId });
    const message = JSON.stringify({ scope: run.scope, runId: run.runId, until: run.until });
    // In a cluster the index and the channel live apart from the key's slot.
    await this.#command(async () => {
      await this.#client.zadd(STOPPED_RUNS_INDEX, run.until, member);
      // Housekeeping: stops whose runs can no longer be valid.
      await this.#client.zremrangebyscore(STOPPED_RUNS_INDEX, '-inf', `(${now}`);
    });
    await this.#command(() => this.#client.publish(STOPPED_RUNS_CHANNEL, message));
    return 'stopped';
  }

  /**
   * Subscribes (on a connection of its own, which queues the subscription until it is up, and is
   * subscribed again by this code after every reconnect) to stopped runs, and reads the index:
   * `onComplete(true)` once subscribed and read through while everything below holds,
   * `onComplete(false)` as soon as one stops holding, since a stop may then be published that this
   * replica will not hear (ADR 0010):
   *
   * - the subscription's connection is up (its `close` ends it);
   * - that connection delivers: when it has been idle, a probe is published through the store's
   *   connection on a channel of this subscription's own and must come back on it within the
   *   timeout (Liveness, as an idle store connection's pings are). A partition or a hung Redis that
   *   resets nothing keeps the connection open and silent; a subscription can also answer PING and
   *   deliver nothing (eleventh round: a relay that dropped pushes, a Sentinel split brain leaving it
   *   on a deposed master, a Cluster bus partition), so an answer is not enough: the probe takes
   *   the path a stop published elsewhere takes, Redis to this subscription;
   * - the store itself is `available()`: the liveness that fails money calls closed says the stops
   *   are unknown too (tenth round: a replica that refused money 503 still forwarded a stopped run's
   *   reads for as long as its link to Redis was silent).
   *
   * Whenever all hold again, the index is read again before `onComplete(true)`: a subscription that
   * merely carries on (or resubscribes) does not deliver what was published while it was silent.
   */
  watchStoppedRuns(
    onStopped: (run: StoppedRun) => void,
    onComplete?: (complete: boolean) => void,
  ): { close(): Promise<void> } {
    const client = this.#client;
    // No autoResubscribe: `regain` subscribes again on every new connection, bounded and caught.
    // ioredis' own resubscribe is sent uncaught, and with maxRetriesPerRequest 0 a second drop while
    // it was unanswered rejected it unhandled: the process died, with a charge at the vendor
    // recorded nowhere (eleventh round: a Redis restarting in a loop, CLIENT KILL in a loop). A
    // Cluster's subscriber is ioredis' own ClusterSubscriber, which catches its resubscribes.
    const sub =
      client instanceof Cluster
        ? client.duplicate(undefined, { enableOfflineQueue: true })
        : client.duplicate({
            enableOfflineQueue: true,
            autoResubscribe: false,
            connectionName: 'keybrake-runs',
          });
    const echoChannel = stoppedRunsEchoChannel(randomBytes(8).toString('hex'));
    let closed = false;
    let subUp = false;
    // Subscribed on the connection up now: only then can a probe come back on it.
    let subscribed = false;
    // Bumped by every loss and every new read: only the latest read, with nothing lost since it
    // began, may vouch for the set (a read begun before a loss vouches for nothing).
    let epoch = 0;
    const current = (e: number) => !closed && e === epoch;
    const subLiveness = new Liveness({ idleMs: this.#probeEveryMs, now: this.#monotonic });
    let subAnswering = true;
    const trusted = () => subUp && subAnswering && this.available();
    const deliver = (run: StoppedRun | undefined) => {
      if (run && !closed) onStopped(run);
    };
    // The probes on their way, by nonce: each is answered when its echo comes back.
    const echoes = new Map<string, { heard(): void; missed(err: Error): void }>();
    let probeSeq = 0;
    sub.on('message', (channel: string, text: string) => {
      if (channel === echoChannel) echoes.get(text)?.heard();
      else deliver(parseStoppedRun(text));
    });
    // Reconnect errors are the counter store's to report (same server); stay quiet here.
    sub.on('error', () => undefined);
    sub.on('node error', () => undefined);
    const readIndex = async (e: number): Promise<void> => {
      // In pages (ZSCAN), never one command for the whole index: Redis runs one command at a time,
      // and a probe's 120 000 stops made one ZRANGEBYSCORE hold it 137 to 228 ms, failing other
      // replicas' money calls closed, and outlast the client's command timeout, so a restarted
      // replica never finished reading. A page may repeat an entry; delivering a stop twice is a no-op.
      let cursor = '0';
      do {
        const now = Date.now();
        const [next, entries] = await this.#bounded(
          () => client.zscan(STOPPED_RUNS_INDEX, cursor, 'COUNT', INDEX_PAGE_ENTRIES),
          INDEX_READ_TIMEOUT_MS,
        );
        for (let i = 0; i + 1 < entries.length; i += 2) {
          const until = Number(entries[i + 1]);
          if (until >= now) deliver(parseStoppedRun(entries[i]!, until));
        }
        cursor = next;
      } while (cursor !== '0' && current(e));
    };
    // Subscribed first, then the index: a stop published between the two is in one or the other
    // (read the other way round, a stop published after the read but before the subscription took
    // effect was missed). Again whenever the set was lost; subscribing twice to a channel is
    // harmless. Until both have succeeded with nothing lost meanwhile, they are tried again.
    const subscribeThenRead = async (e: number, attempt = 1): Promise<void> => {
      if (!current(e)) return;
      try {
        await this.#bounded(() => sub.subscribe(STOPPED_RUNS_CHANNEL, echoChannel), INDEX_READ_TIMEOUT_MS);
        subscribed = true;
        await readIndex(e);
        if (current(e) && trusted()) onComplete?.(true);
      } catch (err) {
        if (!current(e)) return;
        if (attempt === 1)
          this.#log?.warn(
            { redis: this.description, error: (err as Error).message },
            'cannot read stopped runs; run keys are refused until it can; retrying',
          );
        await delay(Math.min(2_000, 100 * attempt));
        return subscribeThenRead(e, attempt + 1);
      }
    };
    const lose = () => {
      epoch++;
      if (!closed) onComplete?.(false);
    };
    const regain = () => {
      if (trusted()) void subscribeThenRead(++epoch);
    };
    const noteSub = () => {
      const answering = subLiveness.answering();
      if (answering === subAnswering || closed) return;
      subAnswering = answering;
      if (answering) {
        this.#log?.info(
          { redis: this.description },
          'stopped-runs subscription delivering again; reading the stops',
        );
        regain();
      } else {
        this.#log?.warn(
          { redis: this.description, timeoutMs: this.#timeoutMs },
          'stopped-runs subscription connected but not delivering; run keys are refused until it delivers and the stops are read again',
        );
        lose();
      }
    };
    // A probe published on this subscription's echo channel, answered when it comes back on the
    // subscription, bounded like a store probe. A publish that fails, even with an error reply (an
    // ACL refusing it), proves no delivery: it counts as no answer.
    const probeSub = () => {
      const nonce = String(++probeSeq);
      const echoed = () =>
        new Promise<void>((heard, missed) => {
          echoes.set(nonce, { heard, missed });
          client.publish(echoChannel, nonce).then(
            () => undefined,
            (err: unknown) => missed(new Error(`probe not published: ${(err as Error).message}`)),
          );
        });
      answerWithin(echoed, this.#timeoutMs, { liveness: subLiveness, probe: true, onVerdict: noteSub })
        .catch(() => {}) // Its verdict is all it is for: noteSub has it.
        .finally(() => {
          // Past its deadline an echo is given up on (Liveness: a failed probe, so the next one is
          // sent; only an echo heard makes the subscription delivering again).
          echoes.get(nonce)?.missed(new Error('probe not delivered'));
          echoes.delete(nonce);
        });
    };
    const pinger = setInterval(() => {
      if (subUp && subscribed && subLiveness.wantsProbe()) probeSub();
    }, this.#probeEveryMs);
    pinger.unref();
    const availability = (available: boolean) => (available ? regain() : lose());
    this.#availability.add(availability);
    sub.on('ready', () => {
      subUp = true;
      subscribed = false;
      subLiveness.reset();
      subAnswering = true;
      regain();
    });
    sub.on('close', () => {
      subUp = false;
      subscribed = false;
      lose();
    });
    return {
      close: async () => {
        closed = true;
        clearInterval(pinger);
        this.#availability.delete(availability);
        sub.disconnect();
      },
    };
  }

  /**
   * Connected, and answering: no command went past its deadline unanswered since the last answer
   * that clears it, and the last probe did not fail (Liveness). No round trip of its own.
   */
  available(): boolean {
    return this.#client.status === 'ready' && this.#liveness.answering();
  }

  healthy(): Promise<boolean> {
    return this.#probe();
  }

  /** Resolves true once a ping succeeds, false at the deadline (start-up and tests). */
  async waitUntilReady(timeoutMs = 5_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await this.healthy()) return true;
      await delay(Math.min(25, Math.max(0, deadline - Date.now())));
    }
    return false;
  }

  async close(): Promise<void> {
    clearInterval(this.#prober);
    try {
      await this.#bounded(() => this.#client.quit());
    } catch {
      // Already gone: nothing to flush.
    } finally {
      this.#client.disconnect();
    }
  }

  #reserveResult(req: ReserveRequest, reply: unknown): ReserveResult {
    const r = Array.isArray(reply) ? reply.map(Number) : [];
    const scope = req.scope;
    if (r[0] === 2) return { ok: true, replay: true, reservation: { scope, money: [] } };
    if (r[0] === 3 && req.runKey !== undefined) return { ok: false, stopped: true };
    if (r[0] === 1) {
      const money = req.windows
        .filter(isMoneyWindow)
        .map((w) => ({ bucket: w.bucket, amount: w.amount, ttlSeconds: w.ttlSeconds }));
      const idem = req.idempotency;
      const epoch = (reply as unknown[])[2];
      // r[1] says whether this call wrote the record (not when an earlier call's record stands).
      const reservation: Reservation = {
        scope,
        money,
        ...(idem && r[1] === 1 && { idempotency: { key: idem.key, fingerprint: idem.fingerprint } }),
        ...(typeof epoch === 'string' && { epoch }),
      };
      return { ok: true, replay: false, reservation };
    }
    return this.#refusal(req.windows, r, 'reserve');
  }

  /** Runs acquire.lua over the rate windows of `rate` and/or the leases of `leases`. */
  #acquire(rate: LeaseRequest | undefined, leases: LeaseSpec | undefined): Promise<unknown> {
    const windows = rate?.windows ?? [];
    const checked = [...windows, ...(rate?.ceilings ?? [])];
    const held = leases ? leaseKeys(leases.account, leases.objects) : { keys: [], modes: '' };
    const keys = [...checked.map((w) => counterKey(rate!.scope, w.bucket)), ...held.keys];
    if (rate) keys.push(lastUsedKey(rate.scope));
    const args = [
      String(windows.length),
      String(leases?.objects.length ?? 0),
      String(rate?.now ?? 0),
      String(LAST_USED_TTL_SECONDS),
      leases?.token ?? '',
      String(leases?.ttlMs ?? 0),
      String(checked.length - windows.length),
      held.modes,
    ];
    for (const w of checked) args.push(String(w.limit), String(w.amount), String(w.ttlSeconds));
    return this.#client.kbAcquire(keys.length, ...keys, ...args);
  }

  #acquireResult(req: LeaseRequest, leases: LeaseSpec | undefined, reply: unknown): LeaseResult {
    const r = Array.isArray(reply) ? reply.map(Number) : [];
    if (r[0] === 1) {
      return leases
        ? { ok: true, held: { account: leases.account, objects: leases.objects, token: leases.token } }
        : { ok: true };
    }
    if (r[0] === 3) {
      const busy = leases?.objects[(r[1] ?? 0) - 1];
      if (busy !== undefined) return { ok: false, busy: leasedObject(busy) };
    }
    return this.#refusal([...req.windows, ...(req.ceilings ?? [])], r, 'acquire');
  }

  /** `{0, i, used, limit}`: window i refused; anything else is a reply this code cannot read. */
  #refusal(
    windows: readonly WindowSpec[],
    r: number[],
    script: string,
  ): { ok: false; refused: WindowKind; used: number; limit: number } {
    const window = r[0] === 0 ? windows[(r[1] ?? 0) - 1] : undefined;
    if (!window || r[2] === undefined || r[3] === undefined) {
      this.stats.errors++;
      this.#log?.error({ redis: this.description }, `counter store returned an unexpected ${script} reply`);
      throw new CounterStoreUnavailableError('Redis counter store returned an unexpected reply');
    }
    return { ok: false, refused: window.kind, used: r[2], limit: r[3] };
  }

  /** A ping of every node, within the command timeout; its answer (or failure) also tells Liveness. */
  async #probe(): Promise<boolean> {
    this.stats.pings++;
    try {
      await this.#bounded(() => pingEveryNode(this.#client), this.#timeoutMs, 'probe');
      return true;
    } catch {
      return false;
    }
  }

  /** Tells the stop watchers when `available()` changes (they refuse run keys while it is false). */
  #noteAvailability(): void {
    const available = this.available();
    if (available === this.#wasAvailable) return;
    this.#wasAvailable = available;
    for (const listener of this.#availability) listener(available);
  }

  /** Logs when a connected server stops answering, and when it answers again (not per command). */
  #noteLiveness(): void {
    this.#noteAvailability();
    const answering = this.#liveness.answering();
    if (answering === this.#answering) return;
    // Not connected: 'counter store connection lost' said so already.
    if (!answering && this.#client.status !== 'ready') return;
    this.#answering = answering;
    if (answering) this.#log?.info({ redis: this.description }, 'counter store answering again');
    else
      this.#log?.warn(
        { redis: this.description, timeoutMs: this.#timeoutMs },
        'counter store connected but not answering; calls that touch no counter fail closed too',
      );
  }

  async #command<T>(fn: () => Promise<T>): Promise<T> {
    this.stats.roundTrips++;
    try {
      return await this.#bounded(fn, this.#timeoutMs, 'command');
    } catch (err) {
      this.stats.errors++;
      // A script error is our bug, not an outage: say so loudly (it carries no secret, only Lua text).
      const cause = err instanceof Error ? err.cause : undefined;
      if (cause instanceof Error && cause.name === 'ReplyError' && /script|lua/i.test(cause.message)) {
        this.#log?.error({ redis: this.description, error: cause.message }, 'counter store script failed');
      }
      throw err;
    }
  }

  // Every command gets its own deadline (answer-within.ts), so that no mode (cluster redirections,
  // sentinel failover) can hold a request longer than timeoutMs. A `tracked` command (one on the
  // store's own connection) also tells Liveness whether and when it was answered.
  async #bounded<T>(
    fn: () => Promise<T>,
    timeoutMs = this.#timeoutMs,
    tracked?: 'command' | 'probe',
  ): Promise<T> {
    try {
      return await answerWithin(
        fn,
        timeoutMs,
        tracked && { liveness: this.#liveness, probe: tracked === 'probe', onVerdict: this.#onVerdict },
      );
    } catch (err) {
      if (err instanceof CounterStoreUnavailableError) throw err;
      if (err instanceof Overdue)
        throw new CounterStoreUnavailableError(`Redis counter store did not answer within ${timeoutMs} ms`);
      const reason = err instanceof Error ? err.message : String(err);
      throw new CounterStoreUnavailableError(`Redis counter store is unavailable: ${reason}`, { cause: err });
    }
  }

  readonly #onVerdict = () => this.#noteLiveness();
}

/** Below this, probing an idle connection would cost more than it tells. */
const MIN_PROBE_INTERVAL_MS = 10;

/**
 * A cluster is healthy when every master answers: any vault key may live on any of them. Pinging each
 * also opens its connection before traffic arrives; ioredis connects to cluster nodes lazily, and a
 * burst meeting a node still connecting fails closed and is then retried by ioredis after the call
 * was already denied (counted, never spent).
 */
async function pingEveryNode(client: ScriptedClient): Promise<unknown> {
  if (!(client instanceof Cluster)) return client.ping();
  const masters = client.status === 'ready' ? client.nodes('master') : [];
  if (masters.length === 0) throw new CounterStoreUnavailableError('Redis Cluster is not ready');
  return Promise.all(masters.map((node) => node.ping()));
}

/** Reading the stopped-run index is not on a request path: it may take longer than one command. */
const INDEX_READ_TIMEOUT_MS = 5_000;
/** Entries asked for per page of the stopped-run index (a hint to ZSCAN; each page is a short command). */
const INDEX_PAGE_ENTRIES = 1_000;

function assertStoppedRun(run: StoppedRun): void {
  if (
    typeof run.scope !== 'string' ||
    run.scope.length === 0 ||
    run.scope.length > 512 ||
    /[{}]/.test(run.scope)
  )
    throw new RangeError('stopped run scope must be a vault key uid');
  if (!RUN_ID_PATTERN.test(run.runId)) throw new RangeError('stopped run id is not a run id');
  assertEpochMs(run.until);
}

/** A stopped run from a message (`{scope, runId, until}`) or an index member (`{scope, runId}` + score). */
function parseStoppedRun(text: string, score?: number): StoppedRun | undefined {
  try {
    const raw = JSON.parse(text) as Record<string, unknown>;
    const run = { scope: raw.scope, runId: raw.runId, until: score ?? raw.until } as StoppedRun;
    assertStoppedRun(run);
    return run;
  } catch {
    return undefined;
  }
}

/**
 * The keys of a call's leases as the lease scripts take them, two per lease (its exclusive holder,
 * then the sorted set of its shared holders: acquire.lua), and each one's mode (e or s).
 */
function leaseKeys(account: string, objects: readonly string[]): { keys: string[]; modes: string } {
  const keys: string[] = [];
  let modes = '';
  for (const o of objects) {
    const object = leasedObject(o);
    keys.push(leaseKey(account, object), leaseKey(account, sharedLease(object)));
    modes += isSharedLease(o) ? 's' : 'e';
  }
  return { keys, modes };
}
