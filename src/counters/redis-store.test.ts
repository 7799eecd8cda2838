import { EventEmitter } from 'node:events';
import { createServer } from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ScriptedClient } from './redis-client.ts';
import { createRedisCounterStore, RedisCounterStore } from './redis-store.ts';
import { InvalidRedisUrlError } from './redis-url.ts';
import { CounterStoreUnavailableError } from './store.ts';

// The store against real servers is in test/e2e/redis-store.test.ts; these need no Redis at all.

async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const addr = srv.address();
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return typeof addr === 'object' && addr ? addr.port : 1;
}

const day = { kind: 'day', bucket: 'day:2026-11-26', limit: 100, amount: 1, ttlSeconds: 60 } as const;

describe('createRedisCounterStore', () => {
  it('rejects a malformed URL without echoing its password', () => {
    expect(() => createRedisCounterStore('redis://:hunter2@a:1,b:2')).toThrow(InvalidRedisUrlError);
    expect(() => createRedisCounterStore('redis://:hunter2@a:1,b:2')).not.toThrow(/hunter2/);
  });

  it('describes its target without credentials', async () => {
    const store = createRedisCounterStore(`redis://:hunter2@127.0.0.1:${await closedPort()}/2`);
    try {
      expect(store.description).toMatch(/^redis:\/\/127\.0\.0\.1:\d+\/2$/);
    } finally {
      await store.close();
    }
  });

  it('fails closed at once, without queueing, when nothing listens', async () => {
    const store = createRedisCounterStore(`redis://127.0.0.1:${await closedPort()}`, { timeoutMs: 200 });
    try {
      const started = performance.now();
      const error = await store.reserve({ scope: 's', windows: [day], now: 1 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CounterStoreUnavailableError);
      expect(performance.now() - started).toBeLessThan(300);
      await expect(store.used('s', 'day:2026-11-26')).rejects.toBeInstanceOf(CounterStoreUnavailableError);
      await expect(store.lastUsed('s')).rejects.toBeInstanceOf(CounterStoreUnavailableError);
      expect(await store.healthy()).toBe(false);
      expect(store.stats).toMatchObject({ roundTrips: 3, errors: 3 });
    } finally {
      await store.close();
    }
  });

  it('answers a call with no windows without touching Redis', async () => {
    const store = createRedisCounterStore(`redis://127.0.0.1:${await closedPort()}`);
    try {
      expect(
        await store.reserve({
          scope: 's',
          windows: [],
          now: 1,
          idempotency: { key: 'k', fingerprint: 'f' },
        }),
      ).toEqual({
        ok: true,
        replay: false,
        reservation: { scope: 's', money: [] },
      });
      await store.settle({ scope: 's', money: [{ bucket: 'day:x', amount: 5, ttlSeconds: 60 }] }, 5);
      expect(store.stats.roundTrips).toBe(0);
    } finally {
      await store.close();
    }
  });
});

/**
 * A connected client whose server can hang (SIGSTOP: the socket stays up, nothing is answered) and
 * resume (every held command is answered, in order).
 */
class HangingRedis extends EventEmitter {
  status = 'ready';
  hung = false;
  readonly #held: (() => void)[] = [];

  ping() {
    return this.#reply('PONG');
  }

  kbReserve() {
    return this.#reply([1, 0, 'epoch']);
  }

  quit() {
    return Promise.resolve('OK');
  }

  disconnect() {}

  resume() {
    this.hung = false;
    for (const answer of this.#held.splice(0)) answer();
  }

  #reply<T>(value: T): Promise<T> {
    if (!this.hung) return Promise.resolve(value);
    return new Promise((resolve) => this.#held.push(() => resolve(value)));
  }
}

describe('RedisCounterStore.available() on a connection that stops answering', () => {
  const timeoutMs = 50;
  let redis: HangingRedis;
  let store: RedisCounterStore;

  beforeEach(() => {
    vi.useFakeTimers({
      toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'Date'],
    });
    redis = new HangingRedis();
    store = new RedisCounterStore(redis as unknown as ScriptedClient, {
      timeoutMs,
      monotonic: () => Date.now(),
    });
  });

  afterEach(async () => {
    await store.close();
    vi.useRealTimers();
  });

  it('stays available while idle and answering, probing only with pings', async () => {
    await vi.advanceTimersByTimeAsync(10_000);
    expect(store.available()).toBe(true);
    expect(store.stats.roundTrips).toBe(0);
    // One ping per half timeout at most while nothing else answers.
    expect(store.stats.pings).toBeLessThanOrEqual(10_000 / (timeoutMs / 2));
  });

  it('is unavailable within two timeouts of an idle server hanging, and available once it answers', async () => {
    await vi.advanceTimersByTimeAsync(1_000);
    redis.hung = true;
    await vi.advanceTimersByTimeAsync(2 * timeoutMs);
    expect(store.available()).toBe(false);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(store.available()).toBe(false);
    redis.resume();
    await vi.advanceTimersByTimeAsync(0);
    expect(store.available()).toBe(true);
  });

  it('is unavailable from the deadline of an unanswered command until its late answer', async () => {
    await vi.advanceTimersByTimeAsync(1_000);
    redis.hung = true;
    const reserve = store.reserve({ scope: 's', windows: [day], now: 1 }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(timeoutMs - 1);
    expect(store.available()).toBe(true);
    await vi.advanceTimersByTimeAsync(1);
    // The deadline waits one more pass over I/O (setImmediate, which the fake timers run 1 ms on).
    await vi.advanceTimersByTimeAsync(1);
    expect(await reserve).toBeInstanceOf(CounterStoreUnavailableError);
    expect(store.available()).toBe(false);
    redis.resume();
    await vi.advanceTimersByTimeAsync(0);
    expect(store.available()).toBe(true);
  });

  it('is unavailable while its connection is not ready, answering or not', () => {
    redis.status = 'reconnecting';
    expect(store.available()).toBe(false);
  });
});

/** A deferred answer: the test decides when (and what) a command the store sent gets. */
interface Held<T> {
  readonly answer: (value: T) => void;
  readonly fail: (err: Error) => void;
}

/** A client whose subscriber connection (its duplicate) the test opens and closes at will. */
class SubscribingRedis extends EventEmitter {
  status = 'ready';
  readonly #channels = new Set<string>();
  readonly sub = Object.assign(new EventEmitter(), {
    subscribe: (...channels: string[]) => {
      for (const c of channels) this.#channels.add(c);
      return Promise.resolve(channels.length);
    },
    ping: () => Promise.resolve('PONG'),
    disconnect: () => undefined,
  });
  readonly #scans: ((held: Held<[string, string[]]>) => void)[] = [];

  /** The subscription's probes come back on it at once. */
  publish(channel: string, text: string) {
    if (!this.#channels.has(channel)) return Promise.resolve(0);
    queueMicrotask(() => this.sub.emit('message', channel, text));
    return Promise.resolve(1);
  }
  readonly #sent: Held<[string, string[]]>[] = [];

  duplicate() {
    return this.sub;
  }

  zscan(): Promise<[string, string[]]> {
    return new Promise((answer, fail) => {
      const held = { answer, fail };
      const waiting = this.#scans.shift();
      if (waiting) waiting(held);
      else this.#sent.push(held);
    });
  }

  /** The next page of the index the store asks for. */
  nextScan(): Promise<Held<[string, string[]]>> {
    const sent = this.#sent.shift();
    return sent ? Promise.resolve(sent) : new Promise((resolve) => this.#scans.push(resolve));
  }

  quit() {
    return Promise.resolve('OK');
  }

  disconnect() {}
}

describe('RedisCounterStore.watchStoppedRuns() across its subscriber reconnecting', () => {
  const stop = (runId: string) => JSON.stringify({ scope: 'agents/bot', runId });

  it('says complete only once subscribed and read through on the connection up now, and not complete from its loss', async () => {
    const redis = new SubscribingRedis();
    const store = new RedisCounterStore(redis as unknown as ScriptedClient, { timeoutMs: 1_000 });
    const heard: string[] = [];
    const states: boolean[] = [];
    let completed: () => void = () => undefined;
    const watch = store.watchStoppedRuns(
      (run) => heard.push(run.runId),
      (complete) => {
        states.push(complete);
        if (complete) completed();
      },
    );
    const nextComplete = () => new Promise<void>((resolve) => (completed = resolve));
    const until = String(Date.now() + 60_000);
    try {
      redis.sub.emit('ready');
      let done = nextComplete();
      // Two pages: complete only after the last.
      (await redis.nextScan()).answer(['7', [stop('a'), until]]);
      const second = await redis.nextScan();
      expect(states).toEqual([]);
      second.answer(['0', [stop('b'), until]]);
      await done;
      expect(heard).toEqual(['a', 'b']);
      expect(states).toEqual([true]);

      // Lost: a stop published now would be missed.
      redis.sub.emit('close');
      expect(states).toEqual([true, false]);
      // Back, and lost again while the index is read: that read vouches for nothing.
      redis.sub.emit('ready');
      const stale = await redis.nextScan();
      redis.sub.emit('close');
      stale.answer(['0', [stop('c'), until]]);
      // Back for good; the first page fails and is read again.
      redis.sub.emit('ready');
      done = nextComplete();
      (await redis.nextScan()).fail(new Error('LOADING'));
      expect(states).toEqual([true, false, false]);
      (await redis.nextScan()).answer(['0', [stop('d'), until]]);
      await done;
      expect(states).toEqual([true, false, false, true]);
      expect(heard).toContain('d');
    } finally {
      await watch.close();
      await store.close();
    }
  });
});

/**
 * A connected client and its subscriber, each of which can go silent (a partition or a hung Redis
 * that resets nothing: the sockets stay up, nothing is answered) and answer again, every held
 * command in order; or the subscriber can go deaf (eleventh round: it answers every command, PING
 * included, and delivers no message). The index of stops is what the test puts in it; a stop's
 * message is never published, as if the one sent during the silence were lost. What the store
 * publishes on a channel its subscriber is subscribed to is delivered there, as Redis does.
 */
class SilentRedis extends EventEmitter {
  status = 'ready';
  index: string[] = [];
  silent = false;
  readonly #held: (() => void)[] = [];
  readonly #subHeld: (() => void)[] = [];
  subSilent = false;
  subDeaf = false;
  readonly #channels = new Set<string>();
  readonly sub = Object.assign(new EventEmitter(), {
    subscribe: (...channels: string[]) => {
      for (const c of channels) this.#channels.add(c);
      return this.#reply(channels.length, true);
    },
    ping: () => this.#reply('PONG', true),
    disconnect: () => undefined,
  });

  publish(channel: string, text: string): Promise<number> {
    const subscribed = this.#channels.has(channel);
    if (subscribed && !this.subDeaf) {
      const push = () => this.sub.emit('message', channel, text);
      if (this.subSilent) this.#subHeld.push(push);
      else queueMicrotask(push);
    }
    return this.#reply(subscribed ? 1 : 0);
  }

  duplicate() {
    return this.sub;
  }

  ping() {
    return this.#reply('PONG');
  }

  zscan(): Promise<[string, string[]]> {
    return this.#reply(['0', [...this.index]]);
  }

  quit() {
    return Promise.resolve('OK');
  }

  disconnect() {}

  answer(sub = false) {
    if (sub) this.subSilent = false;
    else this.silent = false;
    for (const held of (sub ? this.#subHeld : this.#held).splice(0)) held();
  }

  #reply<T>(value: T, sub = false): Promise<T> {
    if (!(sub ? this.subSilent : this.silent)) return Promise.resolve(value);
    return new Promise((resolve) => (sub ? this.#subHeld : this.#held).push(() => resolve(value)));
  }
}

// Tenth round: the set stayed complete while the link to Redis was silent, since only the
// subscriber's `close` made it incomplete, and a silence never closes it.
describe('RedisCounterStore.watchStoppedRuns() on a link that goes silent without closing', () => {
  const timeoutMs = 50;
  let redis: SilentRedis;
  let store: RedisCounterStore;
  let events: string[];
  let watch: { close(): Promise<void> };

  beforeEach(async () => {
    vi.useFakeTimers({
      toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'Date'],
    });
    redis = new SilentRedis();
    store = new RedisCounterStore(redis as unknown as ScriptedClient, {
      timeoutMs,
      monotonic: () => Date.now(),
    });
    events = [];
    watch = store.watchStoppedRuns(
      (run) => events.push(`stop ${run.runId}`),
      (complete) => events.push(complete ? 'complete' : 'incomplete'),
    );
    redis.sub.emit('ready');
    await vi.advanceTimersByTimeAsync(0);
    expect(events).toEqual(['complete']);
  });

  afterEach(async () => {
    await watch.close();
    await store.close();
    vi.useRealTimers();
  });

  const stopInIndex = (runId: string) => {
    redis.index.push(JSON.stringify({ scope: 'agents/bot', runId }), String(Date.now() + 60_000));
  };

  it('is incomplete once the store stops answering, and reads the stops again before it is complete', async () => {
    redis.silent = true;
    await vi.advanceTimersByTimeAsync(3 * timeoutMs);
    expect(store.available()).toBe(false);
    expect(events.at(-1)).toBe('incomplete');
    // Stopped elsewhere meanwhile; its message never arrives.
    stopInIndex('during-silence');
    await vi.advanceTimersByTimeAsync(10_000);
    expect(events.at(-1)).toBe('incomplete');
    redis.answer();
    await vi.advanceTimersByTimeAsync(0);
    expect(store.available()).toBe(true);
    expect(events.slice(events.lastIndexOf('incomplete') + 1)).toEqual(['stop during-silence', 'complete']);
  });

  it('is incomplete once its own subscription stops answering, the store answering, and reads the stops again', async () => {
    redis.subSilent = true;
    await vi.advanceTimersByTimeAsync(3 * timeoutMs);
    expect(store.available()).toBe(true);
    expect(events.at(-1)).toBe('incomplete');
    stopInIndex('during-silence');
    await vi.advanceTimersByTimeAsync(10_000);
    expect(events.at(-1)).toBe('incomplete');
    redis.answer(true);
    await vi.advanceTimersByTimeAsync(0);
    expect(events.slice(events.lastIndexOf('incomplete') + 1)).toEqual(['stop during-silence', 'complete']);
  });

  it('is incomplete while its store connection is not ready, and reads the stops again when it is', async () => {
    redis.status = 'reconnecting';
    redis.emit('reconnecting');
    expect(events.at(-1)).toBe('incomplete');
    stopInIndex('while-away');
    redis.status = 'ready';
    redis.emit('ready');
    await vi.advanceTimersByTimeAsync(0);
    expect(events.slice(events.lastIndexOf('incomplete') + 1)).toEqual(['stop while-away', 'complete']);
  });

  // Eleventh round: a subscription that answered PING but delivered nothing stayed complete, and a
  // stop published elsewhere never reached the replica: its run key kept reading.
  it('is incomplete once its subscription delivers nothing, though it answers, and reads the stops again', async () => {
    redis.subDeaf = true;
    await vi.advanceTimersByTimeAsync(3 * timeoutMs);
    expect(store.available()).toBe(true);
    expect(events.at(-1)).toBe('incomplete');
    stopInIndex('while-deaf');
    await vi.advanceTimersByTimeAsync(10_000);
    expect(events.at(-1)).toBe('incomplete');
    redis.subDeaf = false;
    await vi.advanceTimersByTimeAsync(3 * timeoutMs);
    expect(events.slice(events.lastIndexOf('incomplete') + 1)).toEqual(['stop while-deaf', 'complete']);
  });

  it('stays complete while both answer', async () => {
    await vi.advanceTimersByTimeAsync(10_000);
    expect(events).toEqual(['complete']);
  });
});
