import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { UpstreamCredential } from '../snapshot/types.ts';
import { carriesCredential, credentialNeedles } from './credential-scan.ts';

/**
 * The credential scan against escapes in any mix: every character of a secret, or of one of its
 * base64 forms, spelt as itself, a URL `%XX` (either case), a JSON `\uXXXX`, a percent-escape whose
 * characters are JSON escapes (`\u0025\u0034\u0031`), or for `/` JSON's `\/`; written in a large
 * answer among escapes of every kind, it is found, in the body and in a header.
 */

const STRIPE_KEY = ['sk', 'live', '51HxNotARealKeyForTheScanner0123456789'].join('_');
const CREDENTIALS: UpstreamCredential[] = [
  { kind: 'bearer', token: STRIPE_KEY },
  {
    kind: 'basic',
    username: 'AC0123456789abcdef0123456789abcdef',
    password: 'f00dfeedf00dfeedf00dfeedf00dfeed',
  },
  // A `?` puts a `/` in its base64, so `\/` is tried too.
  { kind: 'bearer', token: 're_Test?Key?For?Escaped?Slashes?0123' },
];
const RUNS = { numRuns: 150 };

const hex = (code: number, digits: number, upper: boolean): string => {
  const text = code.toString(16).padStart(digits, '0');
  return upper ? text.toUpperCase() : text;
};

/** One character as one of the spellings a client's JSON.parse or URL decoding turns back into it. */
function spelling(c: string): fc.Arbitrary<string> {
  const code = c.charCodeAt(0);
  const ways = [
    fc.constant(c),
    fc.boolean().map((upper) => `%${hex(code, 2, upper)}`),
    fc.boolean().map((upper) => `\\u${hex(code, 4, upper)}`),
    fc
      .boolean()
      .map((upper) =>
        [...`%${hex(code, 2, upper)}`].map((d) => `\\u${hex(d.charCodeAt(0), 4, upper)}`).join(''),
      ),
  ];
  // Tenth round: a JSON escape percent-encoded (`%5Cu0073`, JSON in a URL's query).
  ways.push(fc.boolean().map((upper) => `%5${upper ? 'C' : 'c'}u${hex(code, 4, upper)}`));
  if (c === '/') ways.push(fc.constant('\\/'));
  return fc.oneof(...ways);
}

const spelt = (text: string): fc.Arbitrary<string> =>
  fc.tuple(...[...text].map(spelling)).map((parts) => parts.join(''));

/** Filler of every kind of escape, relevant to the forms or not, and plain text. */
const FILLER_UNITS = [
  '%41',
  '%25',
  '%20',
  '\\u0041',
  '\\u00e9',
  '\\/',
  '%3A%2F%2F',
  'plain text ',
  '\\\\u0041',
  '{"k":1},',
];
const filler = fc
  .array(fc.tuple(fc.constantFrom(...FILLER_UNITS), fc.integer({ min: 1, max: 4000 })), { maxLength: 40 })
  .map((runs) => runs.map(([unit, times]) => unit.repeat(times)).join(''));

const case_ = fc.constantFrom(...CREDENTIALS).chain((cred) =>
  fc.record({
    cred: fc.constant(cred),
    spelt: fc.constantFrom(...credentialNeedles(cred).forms.map((n) => n.text)).chain(spelt),
    before: filler,
    after: filler,
  }),
);

/**
 * A form spelt with escapes as above and cut by runs of line breaks (raw, or JSON's escapes) of any
 * length at any places, as a MIME encoder wraps base64: a decoder skips every break (tenth round: a
 * \u-escaped wrapped form, and a run of 1000 breaks, were relayed).
 */
const BREAKS = ['\\r\\n', '\\n', '\n', '\r\n'];
const wrapped = (text: string): fc.Arbitrary<string> =>
  fc
    .tuple(
      fc.tuple(...[...text].map(spelling)),
      fc.array(
        fc.tuple(
          fc.nat({ max: text.length - 1 }),
          fc.constantFrom(...BREAKS),
          fc.oneof(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 500, max: 3000 })),
        ),
        { minLength: 1, maxLength: 4 },
      ),
    )
    .map(([parts, cuts]) => {
      for (const [at, br, times] of cuts) parts[at] = `${parts[at]}${br.repeat(times)}`;
      return parts.join('');
    });

const wrappedCase = fc.constantFrom(...CREDENTIALS).chain((cred) =>
  fc.record({
    cred: fc.constant(cred),
    spelt: fc.constantFrom(...credentialNeedles(cred).forms.map((n) => n.text)).chain(wrapped),
    before: filler,
    after: filler,
  }),
);

describe('carriesCredential with escapes in any mix', () => {
  it('finds a form spelt with any escapes and cut by runs of line breaks of any length', () => {
    fc.assert(
      fc.property(wrappedCase, ({ cred, spelt, before, after }) => {
        const body = Buffer.from(`{"a":"${before}","k":"${spelt}","b":"${after}"}`);
        expect(carriesCredential({ status: 200, headers: {}, body }, cred)).toBe(true);
      }),
      RUNS,
    );
  });

  it('finds a form spelt with any escapes anywhere in a large answer', () => {
    fc.assert(
      fc.property(case_, ({ cred, spelt, before, after }) => {
        const body = Buffer.from(`{"a":"${before}","k":"${spelt}","b":"${after}"}`);
        expect(carriesCredential({ status: 200, headers: {}, body }, cred)).toBe(true);
      }),
      RUNS,
    );
  });

  it('finds it in a header among escapes', () => {
    fc.assert(
      fc.property(case_, ({ cred, spelt, before }) => {
        const headers = { 'x-debug': `${before.slice(0, 4000)}&k=${spelt}` };
        expect(carriesCredential({ status: 200, headers, body: Buffer.from('{}') }, cred)).toBe(true);
      }),
      RUNS,
    );
  });

  // Thirteenth round: a secret of one letter case (a Twilio auth token, lowercase hex) is the secret
  // in any case; an echo of it upper-cased was relayed.
  it('finds a one-case secret in any mix of case, spelt with escapes and line breaks', () => {
    const twilio = CREDENTIALS[1]!;
    const secret = twilio.kind === 'basic' ? twilio.password : '';
    const anyCase = fc
      .tuple(...[...secret].map((c) => fc.constantFrom(c.toLowerCase(), c.toUpperCase())))
      .map((cs) => cs.join(''));
    fc.assert(
      fc.property(anyCase.chain(wrapped), filler, (spelt, before) => {
        const body = Buffer.from(`{"a":"${before}","k":"${spelt}"}`);
        expect(carriesCredential({ status: 200, headers: {}, body }, twilio)).toBe(true);
      }),
      RUNS,
    );
  });

  it('finds nothing in the filler alone', () => {
    fc.assert(
      fc.property(fc.constantFrom(...CREDENTIALS), filler, (cred, text) => {
        expect(
          carriesCredential({ status: 200, headers: {}, body: Buffer.from(`{"a":"${text}"}`) }, cred),
        ).toBe(false);
      }),
      { numRuns: 50 },
    );
  });
});
