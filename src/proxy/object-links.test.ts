import { describe, expect, it } from 'vitest';
import { ObjectLinks } from './object-links.ts';

describe('ObjectLinks: what lookups learnt that never changes, per scope, bounded', () => {
  it('answers a link in the scope it was learnt in, and no other', () => {
    const links = new ObjectLinks();
    links.learn('stripe:aaa\0[null,null]', 'price_1', 'prod_1');

    expect(links.get('stripe:aaa\0[null,null]', 'price_1')).toBe('prod_1');
    expect(links.get('stripe:aaa\0["acct_1",null]', 'price_1')).toBeUndefined();
    expect(links.get('stripe:bbb\0[null,null]', 'price_1')).toBeUndefined();
  });

  it('keeps one link per object and scope, the latest answer winning', () => {
    const links = new ObjectLinks();
    links.learn('s', 'gold', 'prod_1');
    links.learn('s', 'gold', 'prod_2');

    expect(links.get('s', 'gold')).toBe('prod_2');
    expect(links.size).toBe(1);
  });

  it('when full forgets the link least recently used: that one becomes a miss, the others stay right', () => {
    const links = new ObjectLinks(2);
    links.learn('s', 'price_1', 'prod_1');
    links.learn('s', 'price_2', 'prod_2');
    links.get('s', 'price_1');
    links.learn('s', 'price_3', 'prod_3');

    expect(links.size).toBe(2);
    expect(links.get('s', 'price_2')).toBeUndefined();
    expect(links.get('s', 'price_1')).toBe('prod_1');
    expect(links.get('s', 'price_3')).toBe('prod_3');
  });
});
