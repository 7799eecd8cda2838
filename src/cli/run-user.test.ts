import { describe, expect, it } from 'vitest';
import { UsageError } from './args.ts';
import { parseRunUser, readableBy } from './run-user.ts';

describe('parseRunUser', () => {
  it('reads uid:gid', () => {
    expect(parseRunUser('65534:65534')).toEqual({ uid: 65534, gid: 65534 });
  });
  it.each(['0:0', '1000', 'nobody', '1000:0', '-1:5', '1:2:3', '99999999999:1', ''])('refuses %j', (text) => {
    expect(() => parseRunUser(text)).toThrow(UsageError);
  });
});

describe('readableBy', () => {
  const user = { uid: 1000, gid: 1000 };
  it.each([
    ['root-owned 0600', { uid: 0, gid: 0, mode: 0o100600 }, false],
    ['root-owned 0644', { uid: 0, gid: 0, mode: 0o100644 }, true],
    ['its group, 0640', { uid: 0, gid: 1000, mode: 0o100640 }, true],
    ['another group, 0640', { uid: 0, gid: 0, mode: 0o100640 }, false],
    ['its own, 0600', { uid: 1000, gid: 0, mode: 0o100600 }, true],
    ['its own, 0000 (the owner class decides, not others)', { uid: 1000, gid: 0, mode: 0o100004 }, false],
  ])('%s: %s', (_name, file, expected) => {
    expect(readableBy(file, user)).toBe(expected);
  });
});
