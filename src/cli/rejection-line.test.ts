import { describe, expect, it } from 'vitest';
import { rejectionLine } from './rejection-line.ts';

const names = (n: number, what: string) =>
  Array.from({ length: n }, (_, i) => `${what} of VaultKey agents/k${i} replaced`);

describe('rejectionLine', () => {
  it('names what a refused change revokes and holds back', () => {
    const { fields, msg } = rejectionLine({
      errors: ['e'],
      version: 3,
      revoked: ['VaultKey agents/bot deleted'],
      held: ['VaultKey agents/other (a.yaml)'],
    });
    expect(msg).toBe(
      'manifest change rejected: keeping the last good policy, except what it revokes: VaultKey agents/bot deleted; held back until the files with errors are fixed (deleted, unreadable or credentials replaced there): VaultKey agents/other (a.yaml)',
    );
    expect(fields).toEqual({
      errors: ['e'],
      version: 3,
      revoked: ['VaultKey agents/bot deleted'],
      held: ['VaultKey agents/other (a.yaml)'],
    });
  });

  // Fifteenth round: an unreadable upstream Secret shared by a namespace's keys revokes each of them.
  it('names 20 revocations at most, and how many more, as it does what is held back', () => {
    const revoked = names(25, 'upstream key');
    const { fields, msg } = rejectionLine({ errors: [], version: 1, revoked, held: names(21, 'token') });
    expect(msg).toContain(`${revoked.slice(0, 20).join(', ')} and 5 more;`);
    expect(msg).not.toContain('agents/k20 replaced,');
    expect(msg).toMatch(/ and 1 more$/);
    expect(fields).toMatchObject({ revoked: revoked.slice(0, 20), revokedCount: 25 });
    expect((fields['held'] as string[]).length).toBe(20);
  });

  it('says nothing of either list when both are empty', () => {
    expect(rejectionLine({ errors: [], version: 1, revoked: [], held: [] })).toEqual({
      fields: { errors: [], version: 1 },
      msg: 'manifest change rejected: keeping the last good policy',
    });
  });
});
