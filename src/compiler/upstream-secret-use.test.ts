import { describe, expect, it } from 'vitest';
import type { VaultKey } from '../api/v1alpha1/index.ts';
import { UpstreamSecretUse } from './upstream-secret-use.ts';

/** A key of namespace agents: only the fields UpstreamSecretUse reads. */
function key(name: string, upstream: string, tokenSecret: string, tokenField = 'token'): VaultKey {
  return {
    metadata: { namespace: 'agents', name },
    spec: {
      upstreamSecretRef: { name: upstream, key: 'apiKey' },
      tokenSecretRef: { name: tokenSecret, key: tokenField },
    },
  } as unknown as VaultKey;
}

describe('UpstreamSecretUse: which token Secrets keys read as their upstream', () => {
  it('a patch adding a key whose upstream is another key’s token Secret finds that key', () => {
    const a = key('a', 'stripe-real', 'a-token');
    const b = key('b', 'stripe-real', 'b-token');
    const use = UpstreamSecretUse.of([a, b]);
    expect(use.tokenKeptBy('agents', 'b-token', 'token')).toBeUndefined();

    const thief = key('thief', 'b-token', 'thief-token');
    const other = key('other', 'c-real', 'other-token');
    // False: b keeps its token in what is now an upstream Secret, so b is compiled again (tenth round).
    expect(use.patch([], [thief, other], [a, b, thief, other], new Set())).toBe(false);
    expect(use.tokenKeptBy('agents', 'b-token', 'token')).toBe('b');
    expect(use.tokenKeptBy('agents', 'b-token', undefined)).toBe('b');
    expect(use.tokenKeptBy('agents', 'b-token', 'other')).toBeUndefined();
    expect(use.tokenKeptBy('agents', 'c-real', 'token')).toBeUndefined();
  });

  it('the first key of the set keeping its token in a field is the one named', () => {
    const first = key('first', 'real', 'shared-token');
    const second = key('second', 'real', 'shared-token');
    const reader = key('reader', 'shared-token', 'reader-token');
    const use = UpstreamSecretUse.of([first, second]);
    use.patch([], [reader], [first, second, reader], new Set());
    expect(use.tokenKeptBy('agents', 'shared-token', 'token')).toBe('first');
  });

  it('a key keeping its token in its own upstream Secret is not counted', () => {
    const own = key('own', 'mixed', 'mixed');
    const reader = key('reader', 'mixed', 'reader-token');
    const use = UpstreamSecretUse.of([own]);
    use.patch([], [reader], [own, reader], new Set());
    expect(use.tokenKeptBy('agents', 'mixed', 'token')).toBeUndefined();
  });
});
