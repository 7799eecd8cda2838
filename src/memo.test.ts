import { describe, expect, it } from 'vitest';
import { ObjectMemo } from './memo.ts';

describe('ObjectMemo', () => {
  it('remembers a value per object, and forgets nothing another object was given', () => {
    const memo = new ObjectMemo<object, string>('test');
    const a = { name: 'a' };
    const b = { name: 'a' };
    expect(memo.get(a)).toBeUndefined();
    memo.set(a, 'first');
    expect(memo.get(a)).toBe('first');
    expect(memo.get(b)).toBeUndefined();
    memo.set(a, 'second');
    expect(memo.get(a)).toBe('second');
  });

  it('is invisible to JSON, spreads, keys and equality', () => {
    const memo = new ObjectMemo<object, string>('test');
    const o = { uid: 'u1', name: 'k' };
    memo.set(o, 'remembered');
    expect(JSON.stringify(o)).toBe('{"uid":"u1","name":"k"}');
    expect(Object.keys(o)).toEqual(['uid', 'name']);
    expect(Reflect.ownKeys({ ...o })).toEqual(['uid', 'name']);
    expect(memo.get({ ...o })).toBeUndefined();
    expect(o).toStrictEqual({ uid: 'u1', name: 'k' });
  });

  it('keeps two memos of one object apart', () => {
    const first = new ObjectMemo<object, number>('same name');
    const second = new ObjectMemo<object, number>('same name');
    const o = {};
    first.set(o, 1);
    expect(second.get(o)).toBeUndefined();
    second.set(o, 2);
    expect([first.get(o), second.get(o)]).toEqual([1, 2]);
  });

  it('does not find a value through a prototype', () => {
    const memo = new ObjectMemo<object, string>('test');
    const parent = {};
    memo.set(parent, 'parent');
    expect(memo.get(Object.create(parent))).toBeUndefined();
  });

  it('remembers for an object that cannot take a property', () => {
    const memo = new ObjectMemo<object, string>('test');
    const frozen = Object.freeze({ name: 'f' });
    const sealed = Object.seal({ name: 's' });
    memo.set(frozen, 'frozen');
    memo.set(sealed, 'sealed');
    expect(memo.get(frozen)).toBe('frozen');
    expect(memo.get(sealed)).toBe('sealed');
    expect(Object.getOwnPropertySymbols(frozen)).toEqual([]);
  });

  it('takes a new value after its object was frozen', () => {
    const memo = new ObjectMemo<object, string>('test');
    const o = {};
    memo.set(o, 'before');
    Object.freeze(o);
    expect(memo.get(o)).toBe('before');
    memo.set(o, 'after');
    expect(memo.get(o)).toBe('after');
  });
});
