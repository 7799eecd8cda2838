import { describe, expect, it } from 'vitest';
import { UsageError } from './args.ts';
import { commandSpawnOptions, credentialExposure, parseRunUser } from './run-user.ts';

describe('parseRunUser', () => {
  it('reads uid:gid', () => {
    expect(parseRunUser('65534:65534')).toEqual({ uid: 65534, gid: 65534 });
  });
  it.each(['0:0', '1000', 'nobody', '1000:0', '-1:5', '1:2:3', '99999999999:1', ''])('refuses %j', (text) => {
    expect(() => parseRunUser(text)).toThrow(UsageError);
  });
});

describe('credentialExposure', () => {
  const user = { uid: 1000, gid: 1000 };
  it.each([
    ['root-owned 0600', { uid: 0, gid: 0, mode: 0o100600 }, undefined],
    ['root-owned 0400', { uid: 0, gid: 1000, mode: 0o100400 }, undefined],
    ['another user, 0600', { uid: 1001, gid: 1001, mode: 0o100600 }, undefined],
    ['root-owned 0644', { uid: 0, gid: 0, mode: 0o100644 }, 'its group may read it'],
    ['its group, 0640', { uid: 0, gid: 1000, mode: 0o100640 }, 'its group may read it'],
    // Sixth round: spawn drops supplementary groups, but `sg ssl-cert` gives a listed member that
    // group back without a password: a group read bit is refused whichever the group.
    ['another group, 0640', { uid: 0, gid: 103, mode: 0o100640 }, 'its group may read it'],
    [
      'an ACL whose mask grants read (the group bits)',
      { uid: 0, gid: 0, mode: 0o100640 },
      'its group may read it',
    ],
    ['others, 0604', { uid: 0, gid: 0, mode: 0o100604 }, 'every user may read it'],
    ['its own, 0600', { uid: 1000, gid: 0, mode: 0o100600 }, 'that user owns it'],
    ['its own, 0000 (it may chmod it)', { uid: 1000, gid: 0, mode: 0o100000 }, 'that user owns it'],
  ])('%s', (_name, file, expected) => {
    expect(credentialExposure(file, user)).toBe(expected);
  });
});

// Thirteenth round: the command shared the runner's session (TIOCSTI into the operator's terminal)
// and inherited its descriptors above 2 (the token file open on fd 30).
describe('commandSpawnOptions', () => {
  const user = { uid: 65534, gid: 65534 };
  it('starts the command in a session of its own, as the user', () => {
    expect(commandSpawnOptions(user, [], 19)).toEqual({
      uid: 65534,
      gid: 65534,
      detached: true,
      stdio: ['inherit', 'inherit', 'inherit'],
    });
  });
  it('puts the placeholder on every inheritable descriptor, and leaves the rest to close at exec', () => {
    const { stdio } = commandSpawnOptions(user, [5, 30], 19);
    expect(stdio).toHaveLength(31);
    expect((stdio as unknown[]).slice(0, 3)).toEqual(['inherit', 'inherit', 'inherit']);
    expect((stdio as unknown[])[5]).toBe(19);
    expect((stdio as unknown[])[30]).toBe(19);
    expect((stdio as unknown[]).filter((s) => s === 19)).toHaveLength(2);
    expect((stdio as unknown[]).filter((s) => s === 'ignore')).toHaveLength(26);
  });
});
