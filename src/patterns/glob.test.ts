import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import {
  compileEndpointPattern,
  compileValuePattern,
  LIST_SCAN_BUDGET,
  MAX_PATH_SEGMENTS,
  matchAll,
  matchesEndpoint,
  PatternError,
  requestPath,
} from './glob.ts';

describe('compileEndpointPattern', () => {
  it.each([
    ['POST /v1/refunds', 'POST', '/v1/refunds', true],
    ['POST /v1/refunds', 'GET', '/v1/refunds', false],
    ['POST /v1/refunds', 'POST', '/v1/refunds/re_1', false],
    ['POST /v1/payment_intents/*/confirm', 'POST', '/v1/payment_intents/pi_123/confirm', true],
    ['POST /v1/payment_intents/*/confirm', 'POST', '/v1/payment_intents/pi_1/x/confirm', false],
    ['POST /v1/payment_intents/*/confirm', 'POST', '/v1/payment_intents//confirm', false],
    ['GET /v1/**', 'GET', '/v1', true],
    ['GET /v1/**', 'GET', '/v1/', true],
    ['GET /v1/**', 'GET', '/v1/customers/cus_1/sources', true],
    ['GET /v1/**', 'GET', '/v2/customers', false],
    ['GET /v1/**', 'GET', '/v10', false],
    ['GET /**', 'GET', '/anything/at/all', true],
    ['* /v1/customers', 'DELETE', '/v1/customers', true],
    ['GET /v1/pi_*', 'GET', '/v1/pi_123', true],
    ['GET /v1/pi_*', 'GET', '/v1/ch_123', false],
    ['GET /v1/**/lines', 'GET', '/v1/invoices/in_1/lines', true],
    ['GET /v1/**/lines', 'GET', '/v1/lines', true],
    ['POST /v1/a.b', 'POST', '/v1/aXb', false],
    ['POST /v1/refunds', 'post', '/v1/refunds', true],
  ])('%s with %s %s matches: %s', (source, method, path, expected) => {
    expect(matchesEndpoint(compileEndpointPattern(source), method, path)).toBe(expected);
  });

  it.each([
    ['a path without a leading slash', 'POST v1/refunds'],
    ['an unknown method', 'FETCH /v1/refunds'],
    ['no method', '/v1/refunds'],
    ['two spaces', 'POST  /v1/refunds'],
    ['an empty segment', 'POST /v1//refunds'],
    ['a trailing slash', 'POST /v1/refunds/'],
    ['a ** glued to text', 'GET /v1/foo**'],
    ['a query string', 'GET /v1/charges?limit=3'],
    ['a dot-dot segment', 'GET /v1/../admin'],
    ['a lower-case method', 'post /v1/refunds'],
  ])('rejects %s', (_name, source) => {
    expect(() => compileEndpointPattern(source)).toThrow(PatternError);
  });
});

describe('compileValuePattern', () => {
  it.each([
    ['+1415555*', '+14155550100', true],
    ['+1415555*', '+14165550100', false],
    ['+1415555*', 'x+14155550100', false],
    ['*@example.com', 'alice@example.com', true],
    ['*@example.com', 'ALICE@EXAMPLE.COM', true],
    ['*@example.com', 'alice@example.com.evil.io', false],
    ['*@example.com', 'alice@exampleXcom', false],
    ['example.com', 'bob@example.com', true],
    ['example.com', 'example.com', true],
    ['example.com', 'bob@notexample.com', false],
    ['example.com', 'bob@sub.example.com', false],
    ['*.example.com', 'bob@mail.example.com', true],
    ['billing@acme.io', 'billing@acme.io', true],
    ['billing@acme.io', 'other@acme.io', false],
    ['a+b(c)@x.io', 'a+b(c)@x.io', true],
    ['a+b(c)@x.io', 'aab(c)@x.io', false],
  ])('%s matches %s: %s', (source, value, expected) => {
    expect(matchAll([compileValuePattern(source, { caseInsensitive: true })], [value]).kind).toBe(
      expected ? 'matched' : 'unmatched',
    );
  });

  // The RegExp it replaces, as the reference: `*` is `.*`, a bare domain also matches any address at it.
  const reference = (source: string, value: string) => {
    const body = source
      .split('*')
      .map((t) => t.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'))
      .join('.*');
    const domain = /^(?:\*\.)?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+$/.test(source);
    return new RegExp(domain ? `^(?:[^@]*@)?${body}$` : `^${body}$`, 'iu').test(value);
  };

  it('matches exactly as the RegExp reading of the pattern would', () => {
    const text = (max: number) =>
      fc.string({ unit: fc.constantFrom('a', 'b', '@', '.', '-', '*', 'x'), maxLength: max });
    fc.assert(
      fc.property(
        text(8).filter((p) => p.length > 0),
        text(14),
        (source, value) => {
          const value_ = value.replaceAll('*', 'a');
          expect(compileValuePattern(source, { caseInsensitive: true }).test(value_)).toBe(
            reference(source, value_),
          );
        },
      ),
      { numRuns: 2000 },
    );
  });

  // Found by an adversarial probe: as a RegExp, `*-*-*@example.com` against 3 000 hyphens froze the
  // proxy 13 s, and 10 stars against 40 characters ran past a minute. This answers at once.
  it('answers a value built to make a backtracking matcher explode', () => {
    const stars = compileValuePattern('*a*a*a*a*a*a*a*a*a*a*b', { caseInsensitive: true });
    expect(stars.test('a'.repeat(60))).toBe(false);
    const hyphens = compileValuePattern('*-*-*@example.com', { caseInsensitive: true });
    expect(hyphens.test(`${'-'.repeat(200_000)}x@example.org`)).toBe(false);
    expect(hyphens.test('a-b-c@example.com')).toBe(true);
  });

  it('is case-sensitive unless asked otherwise', () => {
    const p = compileValuePattern('Abc*', { caseInsensitive: false });
    expect(p.test('Abcd')).toBe(true);
    expect(p.test('abcd')).toBe(false);
  });

  it.each([
    ['empty', ''],
    ['whitespace', '+1 415*'],
  ])('rejects a pattern that is %s', (_name, source) => {
    expect(() => compileValuePattern(source, { caseInsensitive: true })).toThrow(PatternError);
  });
});

// Fifth round: 10 000 entries `acct_*a<i>*b*c*` against one 128 000-character destination held a
// replica 45 s, every entry lowercasing the value again and scanning it whole.
describe('a value list (matchAll)', () => {
  const ci = { caseInsensitive: true };
  const scanning = Array.from({ length: 10_000 }, (_, i) => compileValuePattern(`acct_*a${i}*b*c*`, ci));

  it('lowercases each value once for the whole list, not once per entry', () => {
    const lower = vi.spyOn(String.prototype, 'toLowerCase');
    try {
      const value = `acct_${'A'.repeat(100)}`;
      expect(matchAll(scanning, [value, `${value}x`])).toEqual({ kind: 'unmatched', value });
      expect(lower.mock.contexts.filter((s) => String(s).startsWith('acct_')).length).toBe(1);
    } finally {
      lower.mockRestore();
    }
  });

  it('judges the values in order: the first no entry matches is the answer', () => {
    const list = ['+1415555*', '*@example.com'].map((s) => compileValuePattern(s, ci));
    expect(matchAll(list, ['+14155550100', 'A@EXAMPLE.COM'])).toEqual({ kind: 'matched' });
    expect(matchAll(list, ['+14155550100', 'a@evil.com', '+44'])).toEqual({
      kind: 'unmatched',
      value: 'a@evil.com',
    });
  });

  it('scans a value of any real length (at most 255) against 10 000 wildcard entries within its budget', () => {
    const value = `acct_${'a'.repeat(395)}`;
    expect(matchAll(scanning, [value])).toEqual({ kind: 'unmatched', value });
    expect(matchAll([...scanning, compileValuePattern('acct_*', ci)], [value])).toEqual({ kind: 'matched' });
  });

  it('stops judging when the values of one call would scan past LIST_SCAN_BUDGET', () => {
    // 500 distinct 500-character ids: each fits every entry's prefix, so each scans every entry.
    const values = Array.from({ length: 500 }, (_, i) => `acct_${i}${'a'.repeat(495)}`);
    expect(LIST_SCAN_BUDGET).toBeLessThan(values.length * 495 * scanning.length);
    expect(matchAll([...scanning, compileValuePattern('acct_*', ci)], values)).toEqual({
      kind: 'over-budget',
    });
  });

  it('costs nothing of the budget for entries without a literal between stars', () => {
    const list = ['acct_*', '*@example.com', 'billing@example.com', 'example.com'].map((s) =>
      compileValuePattern(s, ci),
    );
    const budget = { left: 0 };
    expect(matchAll(list, [`acct_${'a'.repeat(500)}`, 'x@example.com'], budget)).toEqual({ kind: 'matched' });
    expect(budget.left).toBe(0);
  });
});

/** The RegExp a path glob was before 2026-12-01, as the reference the matcher must agree with. */
function referencePathRegex(path: string): RegExp {
  if (path === '/') return /^\/$/;
  const escaped = (t: string) => t.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  const segments = path.slice(1).split('/');
  let re = '';
  for (const seg of segments) {
    if (/\{[A-Za-z_][A-Za-z0-9_]*\}/.test(seg))
      re += `/${seg
        .split(/\{[A-Za-z_][A-Za-z0-9_]*\}/)
        .map(escaped)
        .join('[^/]+')}`;
    else if (seg === '**') re += '(?:/[^/]+)*';
    else if (seg === '*') re += '/[^/]+';
    else re += `/${seg.split('*').map(escaped).join('[^/]*')}`;
  }
  if (segments[segments.length - 1] === '**') re += '/?';
  return new RegExp(`^${re}$`);
}

describe('path globs', () => {
  it('match exactly as their RegExp reading would', () => {
    const segment = fc.constantFrom(
      'a',
      'b',
      'ab',
      '*',
      '**',
      'a*',
      '*b',
      'a*b',
      '*a*',
      '{x}',
      'a{x}',
      '{x}b',
      '{x}.json',
    );
    const pathSegment = fc.string({ unit: fc.constantFrom('a', 'b', '.', 'j', 's', 'o', 'n'), maxLength: 5 });
    fc.assert(
      fc.property(
        fc.array(segment, { minLength: 1, maxLength: 5 }),
        fc.array(pathSegment, { maxLength: 6 }),
        fc.boolean(),
        (pattern, segments, slash) => {
          const source = `/${pattern.join('/')}`;
          let glob: ReturnType<typeof compileEndpointPattern>;
          try {
            glob = compileEndpointPattern(`GET ${source}`);
          } catch {
            return; // a pattern the grammar refuses (a {placeholder} beside a *, say)
          }
          const path = `/${segments.join('/')}${slash ? '/' : ''}`;
          expect(glob.path.test(path)).toBe(referencePathRegex(source).test(path));
          // The path split once (as the authorize stage does for a whole list) reads the same.
          expect(glob.path.test(requestPath(path))).toBe(glob.path.test(path));
        },
      ),
      { numRuns: 5000 },
    );
  });

  // Found by a probe of this round's fixes: as a RegExp, /v1/customers/*-*-* against 3 000 hyphens
  // blocked the proxy 7 s (about cubic in the segment's length).
  it('answers a path built to make a backtracking matcher explode', () => {
    const stars = compileEndpointPattern('GET /v1/customers/*-*-*-*');
    expect(matchesEndpoint(stars, 'GET', `/v1/customers/${'-'.repeat(8_000)}/x`)).toBe(false);
    const deep = compileEndpointPattern('GET /**/a/**/b/**/c/**/d');
    expect(matchesEndpoint(deep, 'GET', `/${'a/'.repeat(4_000)}x`)).toBe(false);
    expect(matchesEndpoint(stars, 'GET', '/v1/customers/a-b-c-d')).toBe(true);
  });
});

// A fourth-round probe: 40 000 entries against a path of 5 000 segments held a shared proxy 5 s per call.
describe('the segments of a request path', () => {
  const path = (n: number) => `/${Array.from({ length: n }, (_, i) => `s${i}`).join('/')}`;

  it.each([
    ['a path at the bound', path(MAX_PATH_SEGMENTS), true],
    ['a path at the bound with a trailing slash', `${path(MAX_PATH_SEGMENTS)}/`, true],
    ['a path one segment past the bound', path(MAX_PATH_SEGMENTS + 1), false],
    ['a path of 5 000 segments', path(5_000), false],
  ])('%s: matched by `GET /**`: %s', (_name, p, matches) => {
    expect(matchesEndpoint(compileEndpointPattern('GET /**'), 'GET', p)).toBe(matches);
    expect(requestPath(p).segments !== undefined).toBe(matches);
  });

  it('refuses an entry of more segments than a path may have, which could match nothing', () => {
    expect(compileEndpointPattern(`GET ${path(MAX_PATH_SEGMENTS)}`).exact).toBe(true);
    expect(() => compileEndpointPattern(`GET ${path(MAX_PATH_SEGMENTS + 1)}`)).toThrow(
      `path has more than ${MAX_PATH_SEGMENTS} segments`,
    );
  });
});

describe('operation templates and exact entries', () => {
  it.each([
    ['DELETE /v1/customers/{customer}', 'DELETE', '/v1/customers/cus_1', true, true],
    ['DELETE /v1/customers/{customer}', 'DELETE', '/v1/customers/cus_1/sources', false, true],
    [
      'DELETE /2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers/{Sid}.json',
      'DELETE',
      '/2010-04-01/Accounts/AC1/IncomingPhoneNumbers/PN1.json',
      true,
      true,
    ],
    [
      'DELETE /2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers/{Sid}.json',
      'DELETE',
      '/2010-04-01/Accounts/AC1/IncomingPhoneNumbers/PN1',
      false,
      true,
    ],
    ['DELETE /v1/customers/cus_1', 'DELETE', '/v1/customers/cus_1', true, true],
    ['DELETE /v1/customers/*', 'DELETE', '/v1/customers/cus_1', true, false],
    ['DELETE /v1/**', 'DELETE', '/v1/customers/cus_1', true, false],
    ['* /v1/customers/cus_1', 'DELETE', '/v1/customers/cus_1', true, false],
  ])('%s matches %s %s: %s, exact: %s', (source, method, path, matches, exact) => {
    const pattern = compileEndpointPattern(source);
    expect(matchesEndpoint(pattern, method, path)).toBe(matches);
    expect(pattern.exact).toBe(exact);
  });

  it.each([
    ['DELETE /v1/customers/{customer', 'malformed'],
    ['DELETE /v1/customers/{}', 'malformed'],
    ['DELETE /v1/customers/{a}*', 'not both'],
  ])('refuses %s', (source, message) => {
    expect(() => compileEndpointPattern(source)).toThrow(message);
  });
});
