import { describe, expect, it } from 'vitest';
import { ITEMS, parseResend } from './parse.ts';

const limits = { maxBytes: 1000, maxDepth: 3, maxParams: 5 };
const parse = (text: string) => parseResend(Buffer.from(text), limits);

describe('parseResend', () => {
  it.each([
    ['an object as is', '{"to":"a@x.com"}', { to: 'a@x.com' }],
    ['an empty body as an empty object', '', {}],
    ['a top-level array wrapped', '[{"to":"a"}]', { [ITEMS]: [{ to: 'a' }] }],
    ['depth at the limit', '{"a":{"b":{"c":1}}}', { a: { b: { c: 1 } } }],
  ])('accepts %s', (_name, text, expected) => {
    expect(parse(text)).toEqual(expected);
  });

  it.each([
    ['invalid JSON', '{"to":', 'body_invalid'],
    ['a scalar', '"hello"', 'body_invalid'],
    ['null', 'null', 'body_invalid'],
    ['nesting beyond the limit', '{"a":{"b":{"c":{"d":1}}}}', 'body_invalid'],
    ['arrays nesting beyond the limit', '[[[[1]]]]', 'body_invalid'],
    ['too many values', '{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6}', 'body_invalid'],
    ['more bytes than allowed', `{"a":"${'x'.repeat(1000)}"}`, 'body_too_large'],
  ])('refuses %s', (_name, text, reason) => {
    expect(parse(text)).toMatchObject({ reason });
  });

  it('measures a very deep body without overflowing the stack', () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    expect(parseResend(Buffer.from(deep), { ...limits, maxBytes: 1_000_000 })).toMatchObject({
      reason: 'body_invalid',
    });
  });
});
