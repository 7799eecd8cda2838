import { describe, expect, it } from 'vitest';
import { tokenKindsOfKeys } from '../snapshot/token-kinds.ts';
import type { CompiledKey } from '../snapshot/types.ts';
import { type BroughtTokens, broughtSpans, broughtTailsOf } from './brought.ts';
import { fingerprint, newToken, tokenDigest } from './token.ts';

/** The brought tokens among `served`, found as redact.ts finds them: from the table's token kinds. */
function broughtTokensOf(served: ReadonlyMap<string, CompiledKey>): BroughtTokens | undefined {
  const tails = broughtTailsOf(tokenKindsOfKeys(served.values()).present.brought);
  return tails && { ...tails, served };
}

const brought = 'foreign-agent-token-0123456789abcdefXYZ';
/** A table as the compiler builds it: digest → key, a brought token's length beside its fingerprint. */
function table(...tokens: string[]): Map<string, CompiledKey> {
  return new Map(
    tokens.map((t) => [
      tokenDigest(t),
      {
        tokenFingerprint: fingerprint(t),
        ...(t.startsWith('kb_') ? {} : { broughtTokenLength: t.length }),
      } as CompiledKey,
    ]),
  );
}

describe('broughtTokensOf', () => {
  it('is undefined for a table of minted tokens only: nothing to look for', () => {
    expect(broughtTokensOf(table(newToken('stripe')))).toBeUndefined();
    expect(broughtTokensOf(new Map())).toBeUndefined();
  });
});

describe('broughtSpans', () => {
  const index = broughtTokensOf(table(brought, newToken('stripe')))!;

  it.each([
    ['a whole segment', `/v1/customers/${brought}`],
    ['inside a segment, text on both sides', `/v1/customers/cus_${brought}x?limit=1`],
    ['a query value', `/v1/customers?starting_after=${brought}`],
    ['a run id', brought],
  ])('finds a served brought token as %s', (_name, text) => {
    const at = text.indexOf(brought);
    expect(broughtSpans(text, index)).toEqual([[at, at + brought.length]]);
  });

  it('finds each of two, and two that overlap as one stretch', () => {
    const other = `other-brought-token-${'q'.repeat(10)}XYZ`;
    const both = broughtTokensOf(table(brought, other))!;
    expect(broughtSpans(`/${brought}/${other}`, both)).toEqual([
      [1, 1 + brought.length],
      [2 + brought.length, 2 + brought.length + other.length],
    ]);
    // `foreign-…XYZ` and `…XYZ` of another length ending at the same place.
    const tail = `agent-token-0123456789abcdefXYZ`;
    const nested = broughtTokensOf(table(brought, tail))!;
    expect(broughtSpans(`/x/${brought}`, nested)).toEqual([[3, 3 + brought.length]]);
  });

  it('leaves the token with a character less, other text with its tail, and a token not served', () => {
    for (const text of [
      `/v1/customers/${brought.slice(1)}`,
      `/v1/customers/${'a'.repeat(60)}XYZ`,
      `/v1/customers/${brought.replace('f', 'F')}`,
    ])
      expect(broughtSpans(text, index)).toEqual([]);
  });

  // Sixteenth round (probe leaks16 finding 1): a one-case brought token (`openssl rand -hex 32`)
  // upper-cased, by a call that presents another credential or none, was forwarded and recorded.
  it('finds a served token whose letters are all one case in any case, a mixed-case one as it is only', () => {
    const hex = 'bd8df61748bf9d181ff6d6be417891751e46599c804493918809e9d36a4c5c65';
    const digitsTail = 'bd8df61748bf9d181ff6d6be417891751e46599c80449391880911223344';
    const both = broughtTokensOf(table(brought, hex, digitsTail))!;
    for (const written of [
      hex.toUpperCase(),
      `${hex.slice(0, 30).toUpperCase()}${hex.slice(30)}`,
      `${hex.slice(0, 60).toUpperCase()}${hex.slice(60)}`,
      digitsTail.toUpperCase(),
    ])
      expect(broughtSpans(`/v1/customers/${written}/x`, both)).toEqual([[14, 14 + written.length]]);
    for (const text of [brought.toLowerCase(), brought.toUpperCase(), hex.toUpperCase().slice(1)])
      expect(broughtSpans(`/v1/customers/${text}`, both)).toEqual([]);
  });

  it('takes a whole text as a token once it holds a served tail more often than any honest text does', () => {
    // 16 KB of the token's tail: a digest per occurrence was 5–10 ms a request.
    const flood = `/v1/customers/${'fXYZ'.repeat(4_000)}`;
    expect(broughtSpans(flood, index)).toEqual([[0, flood.length]]);
    // A few occurrences are still searched one by one.
    expect(broughtSpans(`/v1/customers/${'fXYZ'.repeat(10)}`, index)).toEqual([]);
  });
});
