import { describe, expect, it } from 'vitest';
import {
  LEASE_BACKOFF_FIRST_MS,
  LEASE_BACKOFF_MAX_MS,
  LEASE_BACKOFF_OBJECTS,
  LeaseBackoff,
} from './lease-backoff.ts';

/** A monotonic clock the test moves by hand. */
function fakeMonotonic() {
  let t = 1_000;
  return {
    now: () => t,
    advance: (ms: number) => {
      t += ms;
    },
  };
}

describe('lease backoff: per key and object, on the injected monotonic clock', () => {
  it('keeps a key off an object it was refused on for 250 ms, then lets it lease again', () => {
    const clock = fakeMonotonic();
    const backoff = new LeaseBackoff({ monotonic: clock.now });
    backoff.refused('attacker', ['price_shared']);

    expect(backoff.wait('attacker', ['price_shared'])).toEqual({
      object: 'price_shared',
      ms: LEASE_BACKOFF_FIRST_MS,
      every: false,
    });
    clock.advance(LEASE_BACKOFF_FIRST_MS - 1);
    expect(backoff.wait('attacker', ['price_shared'])?.ms).toBe(1);
    clock.advance(1);
    expect(backoff.wait('attacker', ['price_shared'])).toBeUndefined();
  });

  it('doubles the backoff with each further refusal, up to 8 s', () => {
    const clock = fakeMonotonic();
    const backoff = new LeaseBackoff({ monotonic: clock.now });
    const waits: number[] = [];
    for (let i = 0; i < 8; i++) {
      backoff.refused('attacker', ['price_shared']);
      const wait = backoff.wait('attacker', ['price_shared'])!.ms;
      waits.push(wait);
      // The attacker retries the moment its backoff ends.
      clock.advance(wait);
    }
    expect(waits).toEqual([250, 500, 1_000, 2_000, 4_000, 8_000, 8_000, 8_000]);
    expect(LEASE_BACKOFF_MAX_MS).toBe(8_000);
  });

  it('starts over after a call that passed, and after the key kept off for the longest backoff', () => {
    const clock = fakeMonotonic();
    const backoff = new LeaseBackoff({ monotonic: clock.now });
    backoff.refused('k', ['pi_1']);
    clock.advance(250);
    backoff.refused('k', ['pi_1']);
    expect(backoff.wait('k', ['pi_1'])?.ms).toBe(500);
    clock.advance(500);
    backoff.passed('k', ['pi_1']);
    backoff.refused('k', ['pi_1']);
    expect(backoff.wait('k', ['pi_1'])?.ms).toBe(LEASE_BACKOFF_FIRST_MS);

    clock.advance(250);
    backoff.refused('k', ['pi_1']);
    clock.advance(500 + LEASE_BACKOFF_MAX_MS - 1);
    backoff.refused('k', ['pi_1']);
    expect(backoff.wait('k', ['pi_1'])?.ms).toBe(1_000);
    clock.advance(1_000 + LEASE_BACKOFF_MAX_MS);
    backoff.refused('k', ['pi_1']);
    expect(backoff.wait('k', ['pi_1'])?.ms).toBe(LEASE_BACKOFF_FIRST_MS);
  });

  it('keeps keys and objects apart: another key, or another object, is not held off', () => {
    const backoff = new LeaseBackoff({ monotonic: fakeMonotonic().now });
    backoff.refused('attacker', ['price_shared', 'cus_b']);

    expect(backoff.wait('victim', ['price_shared'])).toBeUndefined();
    expect(backoff.wait('attacker', ['price_other'])).toBeUndefined();
    expect(backoff.wait('attacker', ['price_other', 'cus_b'])?.object).toBe('cus_b');
  });

  it('names the longest wait among the objects asked about', () => {
    const clock = fakeMonotonic();
    const backoff = new LeaseBackoff({ monotonic: clock.now });
    backoff.refused('k', ['a']);
    clock.advance(250);
    backoff.refused('k', ['a', 'b']);

    expect(backoff.wait('k', ['b', 'a'])).toEqual({ object: 'a', ms: 500, every: false });
  });

  it('remembers a bounded number of objects per key, and the wait of one dropped holds every object', () => {
    const clock = fakeMonotonic();
    const backoff = new LeaseBackoff({ monotonic: clock.now });
    // The shared object is refused up to a 1 s backoff, then many others push it out of the map.
    for (const ms of [250, 500, 1_000]) {
      backoff.refused('attacker', ['price_shared']);
      if (ms < 1_000) clock.advance(ms);
    }
    for (let i = 0; i < LEASE_BACKOFF_OBJECTS; i++) backoff.refused('attacker', [`price_${i}`]);

    expect(backoff.wait('attacker', ['price_shared'])).toEqual({
      object: 'price_shared',
      ms: 1_000,
      every: true,
    });
    expect(backoff.wait('attacker', ['anything_else'])?.every).toBe(true);
    expect(backoff.wait('victim', ['price_shared'])).toBeUndefined();
    clock.advance(1_000);
    expect(backoff.wait('attacker', ['price_shared'])).toBeUndefined();
  });

  it('doubles from the first backoff it is given, to 32 times it, and holds no key off given 0', () => {
    const clock = fakeMonotonic();
    const tuned = new LeaseBackoff({ monotonic: clock.now, firstMs: 100 });
    const waits: number[] = [];
    for (let i = 0; i < 7; i++) {
      tuned.refused('k', ['x']);
      const wait = tuned.wait('k', ['x'])!.ms;
      waits.push(wait);
      clock.advance(wait);
    }
    expect(waits).toEqual([100, 200, 400, 800, 1_600, 3_200, 3_200]);

    const off = new LeaseBackoff({ monotonic: clock.now, firstMs: 0 });
    off.refused('k', ['x']);
    expect(off.wait('k', ['x'])).toBeUndefined();
  });

  it('tracks a bounded number of keys: those with nothing left go first, then the oldest', () => {
    const clock = fakeMonotonic();
    const backoff = new LeaseBackoff({ monotonic: clock.now, maxKeys: 3 });
    backoff.refused('old', ['x']);
    clock.advance(250 + LEASE_BACKOFF_MAX_MS);
    backoff.refused('a', ['x']);
    backoff.refused('b', ['x']);
    // Full: 'old' has nothing left to wait or remember, so it goes and 'a' stays.
    backoff.refused('c', ['x']);
    expect(backoff.wait('a', ['x'])).toBeDefined();
    // Full of keys still waiting: the one refused longest ago ('a') goes.
    backoff.refused('d', ['x']);
    expect(backoff.wait('a', ['x'])).toBeUndefined();
    expect(['b', 'c', 'd'].map((k) => backoff.wait(k, ['x'])?.ms)).toEqual([250, 250, 250]);
  });
});
