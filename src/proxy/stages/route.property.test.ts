import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Denial, isDenial } from '../../decision/reasons.ts';
import { VENDORS } from '../../snapshot/types.ts';
import { TWILIO_API_HOSTS } from '../../vendors/twilio/operations.ts';
import { type Route, resolveRoute } from './route.ts';

/**
 * Properties of routing (the first stage; ADR 0007 §2 and §8): whatever the request target — unicode,
 * percent-encodings, dot segments, backslashes, absolute or asterisk forms, very long paths — routing
 * never throws and yields a route or a named denial (`path_invalid`, `route_unknown`). A route's path
 * is canonical (no dot segments, no encoded slash, dot, backslash or NUL, no empty segment but a
 * trailing one), is the tail of what the caller asked for (nothing invented), routes to itself again,
 * and a Twilio sub host is always one Twilio publishes.
 */

const RUNS = { numRuns: 3000 };
const portVendor = fc.option(fc.constantFrom(...VENDORS), { nil: undefined });

const segment = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom(
      'v1',
      'charges',
      'customers',
      'cus_123',
      '2010-04-01',
      'Accounts',
      'AC1',
      'Messages.json',
      'emails',
      'v2',
      'Services',
    ),
  },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      ...VENDORS,
      ...TWILIO_API_HOSTS.slice(0, 8),
      'API',
      'Stripe',
      'paypal',
      'evil.example',
    ),
  },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      '.',
      '..',
      '',
      '%2e',
      '%2E%2e',
      '.%2e',
      '%2f',
      '%2F',
      '%5c',
      '%5C',
      '%00',
      '\\',
      'a\\b',
      '%41',
      '%',
      '%zz',
      ';x',
      '#frag',
      '..;',
      'é',
      '😀',
      '%C3%A9',
      ' ',
      '\t',
      '*',
    ),
  },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 6 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 6 }) },
);
const path = fc.array(segment, { maxLength: 10 }).map((s) => `/${s.join('/')}`);
const longPath = fc
  .tuple(
    fc.constantFrom('/stripe/v1/customers/', '/twilio/api/', '/v1/', '/'),
    fc.integer({ min: 100, max: 3000 }),
    segment,
  )
  .map(([head, n, s]) => head + `${s}/`.repeat(n));
const query = fc.option(
  fc.oneof(
    fc.constantFrom('limit=3', 'a=%2f..', 'x=/../y', '', '?', 'a=1?b=2'),
    fc.string({ maxLength: 12 }),
  ),
  { nil: undefined },
);
const target = fc.oneof(
  { weight: 8, arbitrary: fc.tuple(path, query).map(([p, q]) => (q === undefined ? p : `${p}?${q}`)) },
  { weight: 1, arbitrary: longPath },
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        fc.constantFrom('http://evil.example', 'https://api.stripe.com', '*', '', 'stripe', '//evil.example'),
        path,
      )
      .map(([a, p]) => (a === '*' ? '*' : `${a}${p}`)),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
);

const ENCODED = /%(?:2f|5c|2e|00)/i;

function wellEscaped(text: string): boolean {
  try {
    decodeURIComponent(text);
    return true;
  } catch {
    return false;
  }
}

/** What is wrong with a route's path, if anything; whatever target it came from, nothing. */
function notCanonical(route: Route): string | undefined {
  if (!route.path.startsWith('/')) return 'does not start with /';
  if (route.path.includes('?')) return 'holds a ?';
  if (route.path.includes('\\')) return 'holds a backslash';
  if (ENCODED.test(route.path)) return 'holds an encoded slash, dot, backslash or NUL';
  // Tenth round: `/v1/charges/%ZZ` was routed (and forwarded) while `/v1/customers/%ZZ` was refused.
  if (!wellEscaped(route.path)) return 'holds a % that is not a valid escape, or escapes that are not UTF-8';
  const segments = route.path.split('/').slice(1);
  if (segments.some((s) => s === '.' || s === '..')) return 'has a dot segment';
  // A trailing slash is the one empty segment: `/v1/charges/` is a different path, not an ambiguity.
  if (segments.slice(0, -1).includes('')) return 'has an empty segment';
  return undefined;
}

/** The target that addresses `route` on its vendor's port: `/<sub>/…` for Twilio. */
const onPort = (r: Route) => (r.vendor === 'twilio' ? `/${r.subHost}${r.path}` : r.path);

describe('routing properties', () => {
  it('never throws: any target is a route or a named denial (path_invalid, route_unknown)', () => {
    fc.assert(
      fc.property(target, portVendor, (t, pv) => {
        const r = resolveRoute(t, pv);
        if (isDenial(r)) {
          expect(r).toBeInstanceOf(Denial);
          expect(['path_invalid', 'route_unknown']).toContain(r.reason);
          expect(r.message).toMatch(/\S/);
          return;
        }
        expect(VENDORS).toContain(r.vendor);
        if (pv !== undefined) expect(r.vendor).toBe(pv);
      }),
      RUNS,
    );
  });

  it('routes only to canonical paths, the tail of the target, with its query unchanged', () => {
    fc.assert(
      fc.property(target, portVendor, (t, pv) => {
        const r = resolveRoute(t, pv);
        if (isDenial(r)) return;
        expect(notCanonical(r)).toBeUndefined();
        const q = t.indexOf('?');
        const asked = q === -1 ? t : t.slice(0, q);
        expect(r.query).toBe(q === -1 ? '' : t.slice(q + 1));
        if (r.path !== '/') expect(asked.endsWith(r.path)).toBe(true);
        if (pv === undefined) expect(asked.replace(/^\/+/, '').split('/', 1)[0]).toBe(r.vendor);
      }),
      RUNS,
    );
  });

  it('gives Twilio only the hosts Twilio publishes, and every other vendor none', () => {
    fc.assert(
      fc.property(target, portVendor, (t, pv) => {
        const r = resolveRoute(t, pv);
        if (isDenial(r)) return;
        if (r.vendor === 'twilio') expect(TWILIO_API_HOSTS).toContain(r.subHost);
        else expect(r.subHost).toBeUndefined();
      }),
      RUNS,
    );
  });

  it('is idempotent: a route’s own target on its vendor’s port routes to the same route', () => {
    fc.assert(
      fc.property(target, portVendor, (t, pv) => {
        const r = resolveRoute(t, pv);
        if (isDenial(r)) return;
        const again = resolveRoute(onPort(r) + (r.query === '' ? '' : `?${r.query}`), r.vendor);
        expect(again).toEqual(r);
      }),
      RUNS,
    );
  });

  it('refuses every target with a dot segment, an encoded slash, dot or NUL, or a backslash in its path', () => {
    const bad = fc.constantFrom(
      '.',
      '..',
      '%2e',
      '%2E',
      '%2f',
      '%2F',
      '%5c',
      '%5C',
      '%00',
      'a\\b',
      '\\',
      'x%2Fy',
    );
    fc.assert(
      fc.property(
        // A `?` in an earlier segment would make the planted one part of the query.
        fc.array(
          segment.filter((s) => !s.includes('?')),
          { maxLength: 6 },
        ),
        fc.nat(),
        bad,
        query,
        portVendor,
        fc.constantFrom(...VENDORS),
        (segments, at, b, q, pv, prefix) => {
          const parts = [...(pv === undefined ? [prefix] : []), ...segments];
          parts.splice(pv === undefined ? 1 + (at % (segments.length + 1)) : at % (parts.length + 1), 0, b);
          const t = `/${parts.join('/')}${q === undefined ? '' : `?${q}`}`;
          expect(resolveRoute(t, pv)).toMatchObject({ reason: 'path_invalid' });
        },
      ),
      RUNS,
    );
  });

  it('refuses an empty segment inside the path of a known vendor', () => {
    const word = fc.constantFrom('v1', 'charges', 'api', '2010-04-01', 'emails', 'x');
    fc.assert(
      fc.property(
        fc.array(word, { minLength: 2, maxLength: 6 }),
        fc.nat(),
        fc.constantFrom(...VENDORS),
        fc.boolean(),
        (words, at, vendor, onVendorPort) => {
          const cut = 1 + (at % (words.length - 1));
          const path = `/${words.slice(0, cut).join('/')}//${words.slice(cut).join('/')}`;
          const r = resolveRoute(
            onVendorPort ? path : `/${vendor}${path}`,
            onVendorPort ? vendor : undefined,
          );
          expect(isDenial(r)).toBe(true);
          // Twilio judges the host first: an unknown first segment is route_unknown.
          expect(['path_invalid', 'route_unknown']).toContain((r as Denial).reason);
          if (vendor !== 'twilio') expect(r).toMatchObject({ reason: 'path_invalid' });
        },
      ),
      RUNS,
    );
  });
});
