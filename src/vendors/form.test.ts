import { describe, expect, it } from 'vitest';
import { isDenial } from '../decision/reasons.ts';
import { formTree, parseFlatForm, parseForm } from './form.ts';

const limits = { maxBytes: 65_536, maxDepth: 4, maxParams: 50 };

function parsed(body: string, l = limits): unknown {
  const r = parseForm(body, l);
  if (isDenial(r)) throw new Error(`unexpected denial: ${r.message}`);
  // Round-trip through JSON so the null-prototype objects compare as plain data.
  return JSON.parse(JSON.stringify(r));
}

describe('parseForm accepts', () => {
  it.each([
    ['an empty body', '', {}],
    ['plain keys', 'amount=2000&currency=usd', { amount: '2000', currency: 'usd' }],
    ['a key without a value', 'confirm', { confirm: '' }],
    ['a key with an empty value', 'description=', { description: '' }],
    ['+ as a space', 'description=hello+world', { description: 'hello world' }],
    ['percent-encoding, including UTF-8', 'd=caf%C3%A9%20%2B1%26x', { d: 'café +1&x' }],
    ['encoded brackets in names', 'metadata%5Btier%5D=gold', { metadata: { tier: 'gold' } }],
    ['nested objects', 'metadata[tier]=gold&metadata[team]=ops', { metadata: { tier: 'gold', team: 'ops' } }],
    [
      'indexed lists',
      'payment_method_types[0]=card&payment_method_types[1]=link',
      { payment_method_types: ['card', 'link'] },
    ],
    [
      'lists of objects',
      'items[0][price]=p_1&items[0][quantity]=2&items[1][price]=p_2',
      {
        items: [{ price: 'p_1', quantity: '2' }, { price: 'p_2' }],
      },
    ],
    ['pushed lists', 'expand[]=a&expand[]=b', { expand: ['a', 'b'] }],
    [
      'pushed objects filling the last element (Rack)',
      'l[][a]=1&l[][b]=2&l[][a]=3',
      { l: [{ a: '1', b: '2' }, { a: '3' }] },
    ],
    [
      'pushed nested paths filling the last element unless it holds the whole path (Rack)',
      'a[][b][c]=1&a[][b][d]=2&a[][b][c]=3',
      { a: [{ b: { c: '1', d: '2' } }, { b: { c: '3' } }] },
    ],
    [
      'pushed line items with price data, one element (Rack)',
      'li[][price_data][currency]=usd&li[][price_data][unit_amount]=100&li[][quantity]=1',
      { li: [{ price_data: { currency: 'usd', unit_amount: '100' }, quantity: '1' }] },
    ],
    [
      'a pushed list inside a pushed element, always filling it (Rack)',
      'a[][b][]=1&a[][b][]=2',
      { a: [{ b: ['1', '2'] }] },
    ],
    ['a pushed list of one', 'expand[]=a', { expand: ['a'] }],
    [
      'an indexed list of objects in a nested object',
      'a[l][0][b]=1&a[l][1][b]=2',
      { a: { l: [{ b: '1' }, { b: '2' }] } },
    ],
    ['a percent-encoded ; in a value', 'description=a%3Bb', { description: 'a;b' }],
    ['a name that merely contains _method', 'my_method=x&_methods=y', { my_method: 'x', _methods: 'y' }],
    ['sparse indexes, compacted in index order', 't[7]=b&t[2]=a', { t: ['a', 'b'] }],
    ['indexes out of order', 't[1]=b&t[0]=a', { t: ['a', 'b'] }],
    ['a sparse list inside a list element', 'i[0][t][3]=x', { i: [{ t: ['x'] }] }],
    [
      'sparse indexes at every level, each list in index order',
      'a[1][9][9]=y&a[0][9][5]=x&a[0][9][2]=w',
      { a: [[['w', 'x']], [['y']]] },
    ],
    ['empty pairs', 'a=1&&b=2&', { a: '1', b: '2' }],
    ['= inside a value', 'q=a=b', { q: 'a=b' }],
    ['nesting exactly at the depth limit', 'a[b][c][d][e]=1', { a: { b: { c: { d: { e: '1' } } } } }],
    [
      'odd names that are harmless own keys',
      'toString=1&hasOwnProperty=2',
      { toString: '1', hasOwnProperty: '2' },
    ],
  ])('%s', (_name, body, expected) => {
    expect(parsed(body)).toEqual(expected);
  });

  it('returns objects without a prototype', () => {
    const r = parseForm('metadata[a]=1', limits) as Record<string, unknown>;
    expect(Object.getPrototypeOf(r)).toBeNull();
    expect(Object.getPrototypeOf(r['metadata'])).toBeNull();
  });

  it('accepts exactly maxParams parameters', () => {
    const body = Array.from({ length: 50 }, (_, i) => `k${i}=v`).join('&');
    expect(Object.keys(parsed(body) as object)).toHaveLength(50);
  });
});

describe('parseForm refuses with body_invalid', () => {
  it.each([
    [
      'a malformed escape in a value',
      'amount=1%ZZ',
      /value of parameter "amount" is not valid percent-encoding/,
    ],
    ['a truncated escape', 'a=%E', /percent-encoding/],
    ['invalid UTF-8', 'a=%C3%28', /percent-encoding/],
    ['a malformed escape in a name', '%ZZ=1', /name of parameter #1/],
    [
      'more parameters than the limit',
      Array.from({ length: 51 }, (_, i) => `k${i}=v`).join('&'),
      /more than 50 parameters/,
    ],
    ['nesting beyond the depth limit', 'a[b][c][d][e][f]=1', /nested 5 levels deep; the limit is 4/],
    ['an empty name', '=1', /empty name/],
    ['a name that starts with a bracket', '[a]=1', /empty name/],
    ['an unclosed bracket', 'metadata[tier=gold', /malformed brackets/],
    ['text after a bracket', 'a[b]c=1', /malformed brackets/],
    ['a stray closing bracket', 'a]=1', /malformed brackets/],
    ['nested brackets', 'a[b[c]]=1', /malformed brackets/],
    ['__proto__ as a name', '__proto__[polluted]=1', /not allowed/],
    ['__proto__ as a nested key', 'metadata[__proto__][x]=1', /not allowed/],
    ['constructor', 'a[constructor][prototype][x]=1', /not allowed/],
    ['prototype', 'prototype=1', /not allowed/],
    ['an encoded __proto__', '%5F%5Fproto%5F%5F[x]=1', /not allowed/],
    ['a list index at the parameter limit', 'a[50]=1', /list index 50 must be below 50/],
    ['a huge list index', 'a[99999999999]=1', /list index/],
    ['a list index with a leading zero', 'a[01]=1', /list index 01/],
    ['a value then an object', 'a=1&a[b]=2', /both as an object/],
    ['an object then a value', 'a[b]=2&a=1', /both as a value/],
    ['a list then an object', 'a[0]=1&a[b]=2', /both as an object/],
    ['an object then a list', 'a[b]=1&a[0]=2', /both as a list/],
    ['a plain name given twice', 'amount=1&amount=99999', /"amount": it is given more than once/],
    ['a plain name given twice with the same value', 'currency=usd&currency=usd', /given more than once/],
    ['a name given twice, once percent-encoded', 'customer=cus_a&%63ustomer=cus_b', /given more than once/],
    ['a nested name given twice', 'metadata[k]=1&metadata[k]=2', /given more than once/],
    [
      'transfer_data[destination] given twice',
      'transfer_data[destination]=acct_a&transfer_data[destination]=acct_b',
      /given more than once/,
    ],
    [
      'transfer_data[destination] given twice, once with encoded brackets',
      'transfer_data[destination]=acct_a&transfer_data%5Bdestination%5D=acct_b',
      /given more than once/,
    ],
    ['a list index given twice', 't[0]=a&t[0]=b', /given more than once/],
    ['a field of a list element given twice', 'i[0][p]=1&i[0][p]=2', /given more than once/],
    ['a list written with indexes and without', 't[0]=a&t[]=b', /both with indexes/],
    ['a list written without indexes and with', 't[]=a&t[0]=b', /both with indexes/],
    ['a value then a list', 'a=1&a[]=2', /both as a list/],
    ['a list then a value', 'a[]=1&a=2', /both as a value/],
    ['a raw ; (a separator to some servers)', 'description=x;customer=cus_b', /raw ";"/],
    ['a leading raw ? (URLSearchParams drops it)', '?customer=cus_b', /raw "\?"/],
    [
      'a raw space after & (Rack drops it: `amount` given twice)',
      'amount=100&currency=usd& amount=999999',
      /raw space/,
    ],
    ['a raw space inside a name', 'a=1&b c=2', /raw space/],
    ['a raw tab', 'a=1&\tconfirm=true', /raw space or control/],
    ['a raw line break', 'a=1\n', /raw space or control/],
    ['a raw NUL', 'a=1\0', /raw space or control/],
    ['a pushed element written as a list by index', 'a[][0]=x', /must be an object/],
    ['a pushed element written as a pushed list', 'a[][]=x', /must be an object/],
    ['a _method parameter', '_method=DELETE', /_method/],
    ['an encoded _method parameter', '%5Fmethod=DELETE', /_method/],
    ['a _method parameter in any case', '_METHOD=DELETE', /_method/],
    ['a nested _method parameter', '_method[x]=DELETE', /_method/],
  ])('for %s', (_name, body, message) => {
    const r = parseForm(body, limits);
    expect(isDenial(r)).toBe(true);
    if (!isDenial(r)) return;
    expect(r.reason).toBe('body_invalid');
    expect(r.message).toMatch(message);
  });

  it('never echoes a value in its message', () => {
    const r = parseForm('card[number]=4242424242424242%ZZ', limits);
    expect(isDenial(r) && r.message).not.toMatch(/4242/);
  });

  it('leaves Object.prototype untouched', () => {
    parseForm('__proto__[polluted]=yes&a[__proto__][polluted]=yes', limits);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});

/** Entries a parse built: object names, array slots (holes included) and index-list entries. */
function entries(node: unknown): number {
  if (node instanceof Map) return [...node.values()].reduce((n: number, v) => n + 1 + entries(v), 0);
  if (Array.isArray(node)) return Array.from(node, (v) => 1 + entries(v)).reduce((a, b) => a + b, 0);
  if (typeof node === 'object' && node !== null) {
    return Object.values(node).reduce((n: number, v) => n + 1 + entries(v), 0);
  }
  return 0;
}

describe('parseForm bounds its work by the body', () => {
  const deep = { maxBytes: 65_536, maxDepth: 8, maxParams: 1000 };

  // Fifth round: 999 parameters eight levels deep, every index 999 (44 KB), held the event loop
  // 300–600 ms per request, refused or not: each index grew an array to 1000 slots.
  it.each([
    ['every index 999, eight levels deep', (i: number) => `a[${i}]${'[999]'.repeat(7)}=1`],
    ['every index 999 under objects', (i: number) => `m[k${i}][999][x][999][y][999]=1`],
  ])('builds at most one entry per bracket group of each parameter: %s', (_name, param) => {
    const body = Array.from({ length: 999 }, (_, i) => param(i)).join('&');
    const tree = formTree(body, deep);
    expect(isDenial(tree)).toBe(false);
    const groups = (param(0).match(/\[/g) ?? []).length;
    expect(entries(tree)).toBeLessThanOrEqual(999 * (groups + 1));
  });
});

describe('parseFlatForm (Twilio names as they are)', () => {
  const names = {
    lists: new Set(['MediaUrl']),
    declared: new Map([
      ['to', 'To'],
      ['body', 'Body'],
      ['mediaurl', 'MediaUrl'],
      ['timelimit', 'TimeLimit'],
    ]),
  };
  const flat = (body: string) => {
    const r = parseFlatForm(body, limits, names);
    if (isDenial(r)) throw new Error(`unexpected denial: ${r.message}`);
    return JSON.parse(JSON.stringify(r));
  };

  it.each([
    ['an empty body', '', {}],
    ['PascalCase names', 'To=%2B14155550100&Body=caf%C3%A9+ok', { To: '+14155550100', Body: 'café ok' }],
    ['a declared list given once, as a string', 'MediaUrl=a', { MediaUrl: 'a' }],
    [
      'a declared list given three times, in order',
      'MediaUrl=a&MediaUrl=b&MediaUrl=c',
      { MediaUrl: ['a', 'b', 'c'] },
    ],
    [
      'brackets and dots as part of the name',
      'To[0]=x&Configuration.Filters=y',
      { 'To[0]': 'x', 'Configuration.Filters': 'y' },
    ],
    ['an undeclared name', 'Whatever=1', { Whatever: '1' }],
  ])('reads %s', (_name, body, expected) => {
    expect(flat(body)).toEqual(expected);
  });

  it.each([
    ['To given twice', 'To=%2B1&To=%2B33', /"To" is given more than once/],
    ['Body given twice', 'Body=a&Body=b', /given more than once/],
    ['an undeclared name given twice', 'Channel=sms&Channel=call', /given more than once/],
    ['a lower-case `to` beside `To`', 'To=%2B1&to=%2B33', /differs only in case from "To"/],
    ['an upper-case `TO` alone', 'TO=%2B33', /differs only in case from "To"/],
    ['a case variant of a list name', 'MediaUrl=a&mediaurl=b', /differs only in case/],
    ['two undeclared names equal ignoring case', 'Foo=1&FOO=2', /differ only in case/],
    ['a Kelvin-sign variant of an undeclared name', 'Kind=1&\u212Aind=2', /differ only in case/],
    ['a _method parameter', '_method=DELETE', /_method/],
    ['an empty name', '=x', /empty name/],
    ['__proto__', '__proto__=x', /not allowed/],
    ['a raw ;', 'Body=a;To=b', /raw ";"/],
    ['a raw space after &', 'To=%2B14155550100&Body=hi& To=%2B33612345678', /raw space/],
    ['a malformed escape', 'To=%ZZ', /percent-encoding/],
    ['too many parameters', Array.from({ length: 51 }, (_, i) => `k${i}=v`).join('&'), /more than 50/],
  ])('refuses %s', (_name, body, message) => {
    const r = parseFlatForm(body, limits, names);
    expect(isDenial(r)).toBe(true);
    if (!isDenial(r)) return;
    expect(r.reason).toBe('body_invalid');
    expect(r.message).toMatch(message);
  });

  it('refuses every repeat when it knows no lists', () => {
    expect(parseFlatForm('MediaUrl=a&MediaUrl=b', limits)).toMatchObject({ reason: 'body_invalid' });
  });
});
