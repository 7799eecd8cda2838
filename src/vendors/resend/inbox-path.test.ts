import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normaliseBareAddress } from '../mailbox.ts';
import { inboxSegment } from './inbox-path.ts';

describe('the inbox a path names', () => {
  it.each([
    ['an id, as it is', 'in_1', 'in_1'],
    ['a UUID, as it is', '4f8b2d1e-9c3a-4e7b-8a61-2b5c9d0e7f13', '4f8b2d1e-9c3a-4e7b-8a61-2b5c9d0e7f13'],
    ['an address as resend-node escapes it', 'support%40inbox.acme.test', 'support%40inbox.acme.test'],
    [
      'an address with its at sign unescaped, escaped as resend-node would',
      'support@inbox.acme.test',
      'support%40inbox.acme.test',
    ],
    [
      'an address with an escaped plus and its case kept',
      'Support%2BEU%40Inbox.Acme.test',
      'Support%2BEU%40Inbox.Acme.test',
    ],
    [
      'an address with letters escaped needlessly',
      '%73upport%40inbox.acme.test',
      'support%40inbox.acme.test',
    ],
  ])('takes %s', (_name, segment, spelt) => {
    expect(inboxSegment(segment)).toBe(spelt);
  });

  it.each([
    ['two addresses, comma-separated', 'a%40x.test%2Cb%40y.test'],
    ['two addresses, semicolon-separated', 'a%40x.test%3Bb%40y.test'],
    ['two addresses, blank-separated', 'a%40x.test%20b%40y.test'],
    ['two at signs', 'a%40b%40x.test'],
    ['an escaped slash', 'a%40x.test%2F..%2Fin_2'],
    ['an escaped backslash', 'a%40x.test%5Cin_2'],
    ['an at sign escaped twice (a second decoding)', 'a%2540x.test'],
    ['a query', 'a%40x.test%3Fx%3D1'],
    ['a fragment', 'a%40x.test%23f'],
    ['a display name', 'Ann%20%3Ca%40x.test%3E'],
    ['a bracketed address', '%3Ca%40x.test%3E'],
    ['a quoted local part', '%22a%20b%22%40x.test'],
    ['a leading blank', '%20a%40x.test'],
    ['a trailing blank', 'a%40x.test%20'],
    ['a NUL', 'a%40x.test%00'],
    ['a CR LF', 'a%40x.test%0D%0A'],
    ['a full-width at sign', 'a%EF%BC%A0x.test'],
    ['a non-ASCII domain', 'a%40b%C3%BCcher.test'],
    ['a trailing dot', 'a%40x.test.'],
    ['an empty label', 'a%40x..test'],
    ['a domain without a dot', 'a%40localhost'],
    ['a local part starting with a dot', '.a%40x.test'],
    ['no local part', '%40x.test'],
    ['an id escaped (no address)', 'in%5F1'],
    ['a malformed escape', 'a%40x.test%ZZ'],
    ['an address longer than a path allows', `${'a'.repeat(250)}%40x.test`],
    ['an empty segment', ''],
    // Twelfth round (fixes12e): read as %2B, forwarded raw, a blank to a form decoder.
    ['a raw plus', 'a+b%40inbox.acme.test'],
    ['a raw plus beside a raw at sign', 'a+b@inbox.acme.test'],
  ])('refuses %s', (_name, segment) => {
    expect(inboxSegment(segment)).toBeUndefined();
  });

  it('refuses anything but a string', () => {
    expect(inboxSegment(undefined)).toBeUndefined();
    expect(inboxSegment(42)).toBeUndefined();
  });

  it('spells whatever it takes as one segment, one mailbox, the same inbox once decoded', () => {
    const piece = fc.constantFrom(
      'a',
      'Z',
      '0',
      '.',
      '_',
      '+',
      '%2B',
      '-',
      '@',
      '%40',
      '%2C',
      '%2F',
      '%25',
      '%20',
      '/',
      '?',
      '#',
      ',',
      ';',
      '<',
      '>',
      '"',
      'é',
      '%C3%A9',
      '%EF%BC%A0',
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 24 }), (pieces) => {
        const segment = pieces.join('');
        const spelt = inboxSegment(segment);
        if (spelt === undefined) return;
        // Every reader decodes what was taken alike: no raw plus (a blank to a form decoder).
        expect(segment).not.toContain('+');
        expect(spelt).toMatch(/^[A-Za-z0-9_.%-]+$/);
        const decoded = decodeURIComponent(spelt);
        expect(decoded).toBe(decodeURIComponent(segment));
        if (decoded.includes('@')) {
          expect(spelt).toBe(encodeURIComponent(decoded));
          expect(decoded.split('@')).toHaveLength(2);
          expect(normaliseBareAddress(decoded)).toBeDefined();
        } else {
          expect(spelt).toBe(segment);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
