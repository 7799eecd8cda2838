import { describe, expect, it } from 'vitest';
import { isDenial } from '../decision/reasons.ts';
import { parseJson, scanJson } from './json.ts';

const limits = { maxBytes: 65_536, maxDepth: 4, maxParams: 20 };

describe('parseJson accepts', () => {
  it.each([
    ['an object', '{"to":"a@x.com","from":"b@x.com"}'],
    ['an empty object and array', '{"a":{},"b":[]}'],
    ['equal keys in different objects', '{"a":{"to":1},"b":{"to":2},"to":3}'],
    ['equal keys in sibling array elements', '[{"to":"a"},{"to":"b"}]'],
    ['a key that looks like a duplicate inside a string value', '{"a":"\\"a\\":1","b":"{\\"a\\":2}"}'],
    ['escaped backslashes before a closing quote', '{"a":"x\\\\","b":"\\\\\\\\"}'],
    ['unicode keys that differ', '{"é":1,"e":2}'],
    ['whitespace everywhere', ' { "a" : [ 1 , 2 ] , "b" : { } } '],
    ['a top-level array', '[1,2,3]'],
    ['a nested _method (only the top level is an override)', '{"headers":{"_method":"x"}}'],
  ])('%s', (_name, text) => {
    expect(parseJson(text, limits)).toEqual(JSON.parse(text));
  });

  it('counts members and elements, not the root', () => {
    const twenty = `{${Array.from({ length: 20 }, (_, i) => `"k${i}":1`).join(',')}}`;
    expect(isDenial(parseJson(twenty, limits))).toBe(false);
    const list = `[${Array.from({ length: 20 }, () => '1').join(',')}]`;
    expect(isDenial(parseJson(list, limits))).toBe(false);
  });
});

describe('parseJson refuses with body_invalid', () => {
  it.each([
    ['a key given twice', '{"to":"a@x.com","to":"evil@x.com"}', /"to" appears more than once/],
    ['a key given twice with the same value', '{"a":1,"a":1}', /appears more than once/],
    ['keys differing only in case', '{"to":"a","To":"b"}', /ignoring case/],
    ['an escaped key equal to a plain one', '{"to":"a","\\u0074o":"b"}', /appears more than once/],
    [
      'an escaped upper-case key equal to a plain one ignoring case',
      '{"to":"a","\\u0054O":"b"}',
      /appears more than once/,
    ],
    ['an escaped slash in a key', '{"a/b":1,"a\\/b":2}', /appears more than once/],
    ['a Kelvin-sign key against k', '{"k":1,"\\u212a":2}', /appears more than once/],
    ['a repeated key in a nested object', '{"headers":{"X-A":"1","x-a":"2"}}', /appears more than once/],
    ['a repeated key in an array element', '[{"bcc":"a","bcc":["b"]}]', /appears more than once/],
    ['a repeated key after a nested object', '{"a":{"b":1},"a":2}', /appears more than once/],
    ['a top-level _method', '{"_method":"DELETE"}', /_method/],
    ['a __proto__ key', '{"to":"a","__proto__":{"bcc":"evil"}}', /"__proto__" is not allowed/],
    ['an escaped __proto__ key', '{"\\u005f_proto__":{"bcc":"evil"}}', /is not allowed/],
    ['a nested constructor key', '{"a":{"constructor":{"prototype":1}}}', /is not allowed/],
    ['a key with a lone surrogate', '{"\\ud800bcc":"evil"}', /is not allowed/],
    ['nesting beyond the limit', '{"a":{"b":{"c":{"d":{}}}}}', /nested deeper than 4/],
    ['arrays nesting beyond the limit', '[[[[[1]]]]]', /nested deeper/],
    ['too many members', `{${Array.from({ length: 21 }, (_, i) => `"k${i}":1`).join(',')}}`, /too many/],
    ['too many elements', `[${Array.from({ length: 21 }, () => '1').join(',')}]`, /too many/],
    ['an unterminated string', '{"a":"x', /not valid JSON/],
    ['a malformed escape in a key', '{"\\u00zz":1}', /not valid JSON/],
    ['trailing garbage', '{"a":1} x', /not valid JSON/],
    ['a trailing comma', '{"a":1,}', /not valid JSON/],
  ])('for %s', (_name, text, message) => {
    const r = parseJson(text, limits);
    expect(isDenial(r)).toBe(true);
    if (!isDenial(r)) return;
    expect(r.reason).toBe('body_invalid');
    expect(r.message).toMatch(message);
  });

  it('scans a very deep document without recursion and stops at the limit', () => {
    const deep = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
    expect(scanJson(deep, limits)).toMatchObject({ reason: 'body_invalid' });
  });

  it('never echoes a value in its message', () => {
    const r = parseJson('{"card":"4242424242424242","card":"1"}', limits);
    expect(isDenial(r) && r.message).not.toMatch(/4242/);
  });
});
