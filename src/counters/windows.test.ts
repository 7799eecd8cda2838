import { describe, expect, it } from 'vitest';
import type { CompiledLimits, CompiledPolicy } from '../snapshot/types.ts';
import { dayBucket, monthBucket, windowsFor } from './windows.ts';

const DAY = 86_400;
const HOUR = 3_600;
const at = (iso: string) => new Date(iso).getTime();

function policy(limits: CompiledLimits, timezone = 'UTC'): CompiledPolicy {
  return { ref: 'agents/test', limits, timezone, readsWhenStoreDown: false };
}

describe('dayBucket and monthBucket', () => {
  it.each([
    ['mid-day in UTC', '2026-11-26T10:15:30Z', 'UTC', 'day:2026-11-26', 'month:2026-11'],
    [
      'the last millisecond of the year in UTC',
      '2026-12-31T23:59:59.999Z',
      'UTC',
      'day:2026-12-31',
      'month:2026-12',
    ],
    [
      'the first instant of the year in UTC',
      '2027-01-01T00:00:00Z',
      'UTC',
      'day:2027-01-01',
      'month:2027-01',
    ],
    ['a leap day', '2028-02-29T12:00:00Z', 'UTC', 'day:2028-02-29', 'month:2028-02'],
    [
      'Los Angeles still in the old year when UTC is not',
      '2027-01-01T07:59:59Z',
      'America/Los_Angeles',
      'day:2026-12-31',
      'month:2026-12',
    ],
    [
      'Los Angeles at its local midnight',
      '2027-01-01T08:00:00Z',
      'America/Los_Angeles',
      'day:2027-01-01',
      'month:2027-01',
    ],
    [
      'Auckland already in the new year when UTC is not',
      '2026-12-31T11:00:00Z',
      'Pacific/Auckland',
      'day:2027-01-01',
      'month:2027-01',
    ],
    [
      'Auckland one second before its new year',
      '2026-12-31T10:59:59Z',
      'Pacific/Auckland',
      'day:2026-12-31',
      'month:2026-12',
    ],
  ])('%s', (_name, iso, tz, day, month) => {
    expect(dayBucket(at(iso), tz)).toBe(day);
    expect(monthBucket(at(iso), tz)).toBe(month);
  });

  it('answers correctly when the clock moves backwards across a cached day', () => {
    expect(dayBucket(at('2026-05-02T00:00:00Z'), 'UTC')).toBe('day:2026-05-02');
    expect(dayBucket(at('2026-05-01T23:59:59Z'), 'UTC')).toBe('day:2026-05-01');
    expect(dayBucket(at('2026-05-02T00:00:01Z'), 'UTC')).toBe('day:2026-05-02');
  });
});

describe('windowsFor: calendar windows and their TTLs', () => {
  const limits = { perDayMicros: 200_000_000, perMonthMicros: 2_000_000_000 };

  it.each([
    // name, instant, tz, day bucket, seconds left in the local day, month bucket, seconds left in month
    [
      'a UTC mid-day',
      '2026-11-26T10:15:30Z',
      'UTC',
      'day:2026-11-26',
      13 * HOUR + 44 * 60 + 30,
      'month:2026-11',
      4 * DAY + 13 * HOUR + 44 * 60 + 30,
    ],
    [
      'half a second before New Year in UTC (rounded up)',
      '2026-12-31T23:59:59.500Z',
      'UTC',
      'day:2026-12-31',
      1,
      'month:2026-12',
      1,
    ],
    [
      'New Year midnight in UTC',
      '2027-01-01T00:00:00Z',
      'UTC',
      'day:2027-01-01',
      DAY,
      'month:2027-01',
      31 * DAY,
    ],
    [
      'noon on Feb 29 of a leap year',
      '2028-02-29T12:00:00Z',
      'UTC',
      'day:2028-02-29',
      12 * HOUR,
      'month:2028-02',
      12 * HOUR,
    ],
    [
      'noon on Feb 28 of a common year',
      '2027-02-28T12:00:00Z',
      'UTC',
      'day:2027-02-28',
      12 * HOUR,
      'month:2027-02',
      12 * HOUR,
    ],
    [
      'Los Angeles spring-forward day (23 h) at its midnight',
      '2026-03-08T08:00:00Z',
      'America/Los_Angeles',
      'day:2026-03-08',
      23 * HOUR,
      'month:2026-03',
      24 * DAY - HOUR,
    ],
    [
      'Los Angeles one second before spring-forward day',
      '2026-03-08T07:59:59Z',
      'America/Los_Angeles',
      'day:2026-03-07',
      1,
      'month:2026-03',
      24 * DAY - HOUR + 1,
    ],
    [
      'Los Angeles fall-back day (25 h) at its midnight',
      '2026-11-01T07:00:00Z',
      'America/Los_Angeles',
      'day:2026-11-01',
      25 * HOUR,
      'month:2026-11',
      30 * DAY + HOUR,
    ],
    [
      'Los Angeles New Year Eve, last second',
      '2027-01-01T07:59:59Z',
      'America/Los_Angeles',
      'day:2026-12-31',
      1,
      'month:2026-12',
      1,
    ],
    [
      'Auckland spring-forward day (23 h) at its midnight',
      '2026-09-26T12:00:00Z',
      'Pacific/Auckland',
      'day:2026-09-27',
      23 * HOUR,
      'month:2026-09',
      4 * DAY - HOUR,
    ],
    [
      'Auckland fall-back day (25 h) at its midnight',
      '2026-04-04T11:00:00Z',
      'Pacific/Auckland',
      'day:2026-04-05',
      25 * HOUR,
      'month:2026-04',
      26 * DAY + HOUR,
    ],
    [
      'Auckland New Year midnight (UTC still in December)',
      '2026-12-31T11:00:00Z',
      'Pacific/Auckland',
      'day:2027-01-01',
      DAY,
      'month:2027-01',
      31 * DAY,
    ],
  ])('%s', (_name, iso, tz, day, daySeconds, month, monthSeconds) => {
    const ws = windowsFor(policy(limits, tz), 1_000_000, at(iso), undefined);
    expect(ws).toEqual([
      { kind: 'day', bucket: day, limit: 200_000_000, amount: 1_000_000, ttlSeconds: daySeconds + DAY },
      {
        kind: 'month',
        bucket: month,
        limit: 2_000_000_000,
        amount: 1_000_000,
        ttlSeconds: monthSeconds + DAY,
      },
    ]);
  });

  it('ends a day correctly in a zone whose midnight does not exist on its spring-forward day', () => {
    // Santiago jumps from 00:00 to 01:00 on the first Sunday of September: Saturday ends at 04:00Z.
    const ws = windowsFor(
      policy({ perDayMicros: 1 }, 'America/Santiago'),
      1,
      at('2026-09-05T12:00:00Z'),
      undefined,
    );
    expect(ws[0]).toMatchObject({ bucket: 'day:2026-09-05', ttlSeconds: 16 * HOUR + DAY });
    expect(dayBucket(at('2026-09-06T04:00:00Z'), 'America/Santiago')).toBe('day:2026-09-06');
  });
});

describe('windowsFor: which windows apply', () => {
  const all = {
    perDayMicros: 200_000_000,
    perMonthMicros: 2_000_000_000,
    perRunMicros: 25_000_000,
    requestsPerMinute: 120,
  };
  const now = at('2026-11-26T10:15:30Z');
  const kinds = (ws: { kind: string }[]) => ws.map((w) => w.kind);

  it.each([
    [
      'a money call with a run id gets every window, money first',
      all,
      5,
      'run-1',
      ['day', 'month', 'run', 'minute'],
    ],
    ['a money call without a run id has no run window', all, 5, undefined, ['day', 'month', 'minute']],
    ['an empty run id counts as no run id', all, 5, '', ['day', 'month', 'minute']],
    ['a free call (a read) only counts towards the call rate', all, 0, 'run-1', ['minute']],
    ['a policy without limits yields no windows', {}, 5, 'run-1', []],
    ['a run id without a per-run limit adds nothing', { perDayMicros: 1 }, 5, 'run-1', ['day']],
    ['a rate limit alone applies to money calls too', { requestsPerMinute: 10 }, 5, undefined, ['minute']],
  ])('%s', (_name, limits, cost, runId, expected) => {
    expect(kinds(windowsFor(policy(limits), cost, now, runId))).toEqual(expected);
  });

  it('builds the run and minute windows with their fixed TTLs and amounts', () => {
    const ws = windowsFor(policy(all), 7_500_000, now, 'run-42');
    expect(ws.find((w) => w.kind === 'run')).toEqual({
      kind: 'run',
      bucket: 'run:run-42',
      limit: 25_000_000,
      amount: 7_500_000,
      ttlSeconds: 7 * DAY,
    });
    expect(ws.find((w) => w.kind === 'minute')).toEqual({
      kind: 'minute',
      bucket: `minute:${Math.floor(now / 60_000)}`,
      limit: 120,
      amount: 1,
      ttlSeconds: 120,
    });
  });

  it('puts the 59th and 60th second of a minute in the same bucket and the next second in a new one', () => {
    const b = (t: number) => windowsFor(policy({ requestsPerMinute: 1 }), 0, t, undefined)[0]?.bucket;
    const m = at('2026-11-26T10:15:00Z');
    expect(b(m + 59_999)).toBe(b(m));
    expect(b(m + 60_000)).not.toBe(b(m));
  });
});
