import type { MicroUsd } from '../money/micro-usd.ts';
import type { CompiledPolicy } from '../snapshot/types.ts';
import type { WindowSpec } from './store.ts';

/**
 * Which counter windows one call must fit in (DESIGN.md §6): built by the reserve stage from the
 * compiled policy, the call's cost, the clock and the run id, then handed to the CounterStore. Pure.
 *
 * The minute window is a fixed window (`floor(now / 60 s)`), not a sliding one: a burst straddling a
 * minute boundary can pass up to 2 × requestsPerMinute in 60 s. It is one INCR per call and exact
 * across replicas, which a sliding log is not at the same cost.
 */

const SECONDS_PER_DAY = 24 * 60 * 60;
/** Kept past the end of a day/month bucket so a late settle still finds it, and DST slop is harmless. */
export const CALENDAR_TTL_MARGIN_SECONDS = SECONDS_PER_DAY;
export const MINUTE_TTL_SECONDS = 120;
export const RUN_TTL_SECONDS = 7 * SECONDS_PER_DAY;

/**
 * A call made with a run key (ADR 0010): the run window's limit is the lower of the token's own cap
 * and the policy's perRunUsd, and the window is counted even when neither is set, so every money call
 * of a run key reaches the reserve script, which refuses it once the run is stopped.
 */
export interface RunKeyLimit {
  readonly capMicros?: MicroUsd;
}

/** The run window of a run key with neither its own cap nor a perRunUsd: counted, never refused. */
export const UNCAPPED_RUN_MICROS = Number.MAX_SAFE_INTEGER;

function runKeyLimit(cap: MicroUsd | undefined, perRun: MicroUsd | undefined): MicroUsd {
  if (cap === undefined) return perRun ?? UNCAPPED_RUN_MICROS;
  return perRun === undefined ? cap : Math.min(cap, perRun);
}

/**
 * Money windows come first so that a call over a cap learns that (403, retrying cannot help) rather
 * than a 429 that invites a retry which would then hit the cap anyway.
 */
export function windowsFor(
  policy: CompiledPolicy,
  costMicros: MicroUsd,
  now: number,
  runId: string | undefined,
  runKey?: RunKeyLimit,
): WindowSpec[] {
  const { limits } = policy;
  const out: WindowSpec[] = [];
  // A call that costs nothing (a read) never touches money counters: no write, no key, no refusal.
  if (costMicros > 0) {
    if (limits.perDayMicros !== undefined || limits.perMonthMicros !== undefined) {
      const cal = calendarAt(now, policy.timezone);
      if (limits.perDayMicros !== undefined) {
        out.push({
          kind: 'day',
          bucket: cal.dayBucket,
          limit: limits.perDayMicros,
          amount: costMicros,
          ttlSeconds: secondsUntil(now, cal.dayEnd) + CALENDAR_TTL_MARGIN_SECONDS,
        });
      }
      if (limits.perMonthMicros !== undefined) {
        out.push({
          kind: 'month',
          bucket: cal.monthBucket,
          limit: limits.perMonthMicros,
          amount: costMicros,
          ttlSeconds: secondsUntil(now, cal.monthEnd) + CALENDAR_TTL_MARGIN_SECONDS,
        });
      }
    }
    const runLimit = runKey ? runKeyLimit(runKey.capMicros, limits.perRunMicros) : limits.perRunMicros;
    if (runId !== undefined && runId !== '' && runLimit !== undefined) {
      out.push({
        kind: 'run',
        bucket: `run:${runId}`,
        limit: runLimit,
        amount: costMicros,
        ttlSeconds: RUN_TTL_SECONDS,
      });
    }
  }
  if (limits.requestsPerMinute !== undefined) {
    out.push({
      kind: 'minute',
      bucket: `minute:${Math.floor(now / 60_000)}`,
      limit: limits.requestsPerMinute,
      amount: 1,
      ttlSeconds: MINUTE_TTL_SECONDS,
    });
  }
  return out;
}

/** `day:YYYY-MM-DD` for the calendar day that contains `now` in the IANA time zone `tz`. */
export function dayBucket(now: number, tz: string): string {
  return calendarAt(now, tz).dayBucket;
}

/** `month:YYYY-MM` for the calendar month that contains `now` in `tz`. */
export function monthBucket(now: number, tz: string): string {
  return calendarAt(now, tz).monthBucket;
}

function secondsUntil(now: number, end: number): number {
  return Math.max(0, Math.ceil((end - now) / 1000));
}

/** The local day and month containing an instant, with the instants where they end. */
interface Calendar {
  readonly dayStart: number;
  readonly dayEnd: number;
  readonly monthEnd: number;
  readonly dayBucket: string;
  readonly monthBucket: string;
}

// Intl formatting costs microseconds; a request path does it once per time zone per local day.
const formatters = new Map<string, Intl.DateTimeFormat>();
const calendars = new Map<string, Calendar>();

function formatterFor(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(tz, f);
  }
  return f;
}

interface WallClock {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
}

function wallClock(t: number, tz: string): WallClock {
  const w = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0 };
  for (const p of formatterFor(tz).formatToParts(t)) {
    if (p.type in w) w[p.type as keyof WallClock] = Number(p.value);
  }
  return w;
}

/** Local wall-clock minus UTC at instant t, in ms (whole seconds). */
function offsetAt(t: number, tz: string): number {
  const w = wallClock(t, tz);
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second) - Math.floor(t / 1000) * 1000;
}

function dateKey(w: WallClock): number {
  return w.year * 10_000 + w.month * 100 + w.day;
}

/**
 * The first instant whose local date is (y, m, d) or later. Date.UTC normalises overflow, so
 * (2026, 13, 1) is 2027-01-01. Two offset corrections settle DST; where local midnight does not
 * exist (a zone that springs forward at 00:00) we step to the first hour that does.
 */
function localMidnight(y: number, m: number, d: number, tz: string): number {
  const wall = Date.UTC(y, m - 1, d);
  let t = wall - offsetAt(wall, tz);
  t = wall - offsetAt(t, tz);
  const n = new Date(wall);
  const target = n.getUTCFullYear() * 10_000 + (n.getUTCMonth() + 1) * 100 + n.getUTCDate();
  for (let i = 0; i < 48 && dateKey(wallClock(t, tz)) < target; i++) t += 30 * 60_000;
  return t;
}

function calendarAt(now: number, tz: string): Calendar {
  const cached = calendars.get(tz);
  if (cached && cached.dayStart <= now && now < cached.dayEnd) return cached;
  const w = wallClock(now, tz);
  const mm = String(w.month).padStart(2, '0');
  const dd = String(w.day).padStart(2, '0');
  const yyyy = String(w.year).padStart(4, '0');
  const cal: Calendar = {
    dayStart: localMidnight(w.year, w.month, w.day, tz),
    dayEnd: localMidnight(w.year, w.month, w.day + 1, tz),
    monthEnd: localMidnight(w.year, w.month + 1, 1, tz),
    dayBucket: `day:${yyyy}-${mm}-${dd}`,
    monthBucket: `month:${yyyy}-${mm}`,
  };
  calendars.set(tz, cal);
  return cal;
}
