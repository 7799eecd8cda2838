import { describe, expect, it } from 'vitest';
import { SourceShare } from './source-share.ts';

describe('SourceShare', () => {
  it('gives one address its share and no more, leaving the others theirs', () => {
    const share = new SourceShare(2);
    expect([share.take('10.0.0.1'), share.take('10.0.0.1'), share.take('10.0.0.1')]).toEqual([
      true,
      true,
      false,
    ]);
    expect(share.take('10.0.0.2')).toBe(true);
  });

  it('frees a slot when a connection closes, and forgets an address that holds none', () => {
    const share = new SourceShare(1);
    expect(share.take('::1')).toBe(true);
    expect(share.take('::1')).toBe(false);
    share.give('::1');
    expect(share.sources).toBe(0);
    expect(share.take('::1')).toBe(true);
  });
});
