import { describe, expect, it } from 'vitest';
import type { ObjectStatus } from '../compiler/compile.ts';
import { laterLastUse, ownedFields, statusChange } from './status.ts';

const T0 = '2026-06-01T00:00:00Z';
const T1 = '2026-06-01T01:00:00Z';
const cond = (status: 'True' | 'False', reason: string, at: string, generation = 2) => ({
  type: 'Ready',
  status,
  reason,
  message: `${reason}.`,
  observedGeneration: generation,
  lastTransitionTime: at,
});
const verdict = (c: ReturnType<typeof cond>, extra: Partial<ObjectStatus> = {}): ObjectStatus => ({
  kind: 'VaultKey',
  namespace: 'agents',
  name: 'k',
  uid: 'u',
  generation: 2,
  conditions: [c],
  served: true,
  tokenFingerprint: 'kb_stripe_…abcd',
  capPerDayUsd: '200.00',
  ...extra,
});
const written = {
  conditions: [cond('True', 'Active', T0)],
  observedGeneration: 2,
  tokenFingerprint: 'kb_stripe_…abcd',
  capPerDayUsd: '200.00',
  lastUsedAt: T0,
};

describe('statusChange', () => {
  it('writes nothing when the status is what it already is (only the compile time moved)', () => {
    expect(statusChange(verdict(cond('True', 'Active', T1)), written)).toBeUndefined();
  });

  it('spells control characters of a message visibly, in the status and the Ready change (an Event)', () => {
    const c = { ...cond('False', 'Invalid', T1), message: 'spec.\u001b[2Jx: unknown field "\u001b[2Jx"' };
    const change = statusChange(verdict(c, { served: false }), written)!;
    const shown = 'spec.\\x1b[2Jx: unknown field "\\x1b[2Jx"';
    expect((change.apply['conditions'] as { message: string }[])[0]?.message).toBe(shown);
    expect(change.readyChanged?.message).toBe(shown);
    // Written so, it is what the object shows: nothing to write again.
    expect(statusChange(verdict(c, { served: false }), change.status)).toBeUndefined();
  });

  it('writes the whole owned status the first time, keeping what it does not own', () => {
    const change = statusChange(verdict(cond('True', 'Active', T1)), undefined)!;
    expect(change.patch.status).toEqual({
      conditions: [cond('True', 'Active', T1)],
      observedGeneration: 2,
      tokenFingerprint: 'kb_stripe_…abcd',
      capPerDayUsd: '200.00',
    });
    expect(change.readyChanged?.reason).toBe('Active');
  });

  it('keeps lastTransitionTime while Ready stays False for another reason, and reports the reason change', () => {
    const before = { ...written, conditions: [cond('False', 'PolicyNotFound', T0)] };
    const change = statusChange(
      verdict(cond('False', 'UpstreamSecretMissing', T1), { served: false }),
      before,
    )!;
    expect(change.patch.status.conditions).toEqual([cond('False', 'UpstreamSecretMissing', T0)]);
    expect(change.readyChanged?.reason).toBe('UpstreamSecretMissing');
  });

  it('clears fields that no longer apply with null (merge patch), leaving lastUsedAt alone', () => {
    const v = verdict(cond('False', 'TokenSecretMissing', T1), { served: false });
    delete (v as { tokenFingerprint?: string }).tokenFingerprint;
    const change = statusChange(v, written)!;
    expect(change.patch.status.tokenFingerprint).toBeNull();
    expect('lastUsedAt' in change.patch.status).toBe(false);
    expect(change.status.lastUsedAt).toBe(T0);
    expect('tokenFingerprint' in change.status).toBe(false);
  });

  it.each([
    ['no counter store: spentTodayUsd is not touched', undefined, undefined],
    ['a served key shows what it spent', 12_400_000, '12.40'],
    ['a key no longer served loses the figure', null, null],
  ])('%s', (_n, spent, expected) => {
    const current = { ...written, spentTodayUsd: '1.00' };
    const change = statusChange(
      verdict(cond('True', 'Active', T1)),
      current,
      spent === undefined ? {} : { spentTodayMicros: spent },
    );
    if (spent === undefined) expect(change).toBeUndefined();
    else expect(change!.patch.status).toEqual({ spentTodayUsd: expected });
  });

  it.each([
    ['no counter store or no record: lastUsedAt is not touched', undefined, T0, undefined],
    [
      'a later call is shown in whole seconds',
      Date.parse('2026-06-01T00:10:05.900Z'),
      T0,
      '2026-06-01T00:10:05Z',
    ],
    ['the first recorded call fills an empty field', Date.parse(T1), undefined, T1],
    ['the same second again writes nothing', Date.parse('2026-06-01T00:00:00.700Z'), T0, undefined],
    ['an earlier time (a flushed store, a slow clock) never moves it back', Date.parse(T0), T1, undefined],
    ['an unreadable shown value is replaced', Date.parse(T1), 'yesterday', T1],
  ])('%s', (_n, lastUsedMs, shown, expected) => {
    const current = { ...written, lastUsedAt: shown };
    if (shown === undefined) delete (current as { lastUsedAt?: string }).lastUsedAt;
    const change = statusChange(
      verdict(cond('True', 'Active', T1)),
      current,
      lastUsedMs === undefined ? {} : { lastUsedMs },
    );
    if (expected === undefined) expect(change).toBeUndefined();
    else expect(change!.patch.status).toEqual({ lastUsedAt: expected });
  });

  it('keeps lastUsedAt while the key is not served, even as spentTodayUsd is cleared', () => {
    const change = statusChange(
      verdict(cond('False', 'PolicyNotFound', T1), { served: false }),
      { ...written, spentTodayUsd: '1.00' },
      { spentTodayMicros: null },
    )!;
    expect(change.patch.status.spentTodayUsd).toBeNull();
    expect(change.status.lastUsedAt).toBe(T0);
  });

  it('a SpendPolicy never gets lastUsedAt', () => {
    const p: ObjectStatus = {
      kind: 'SpendPolicy',
      namespace: 'agents',
      name: 'p',
      uid: 'u',
      generation: 1,
      conditions: [cond('True', 'Valid', T0, 1)],
    };
    expect(statusChange(p, undefined, { lastUsedMs: Date.parse(T1) })!.patch.status).not.toHaveProperty(
      'lastUsedAt',
    );
  });

  it('ignores a time no Date can hold', () => {
    expect(laterLastUse(Number.MAX_SAFE_INTEGER, T0)).toBeUndefined();
  });

  it('compares objects whatever their key order', () => {
    const reordered = {
      capPerDayUsd: '200.00',
      conditions: [
        {
          lastTransitionTime: T0,
          message: 'Active.',
          observedGeneration: 2,
          reason: 'Active',
          status: 'True',
          type: 'Ready',
        },
      ],
      tokenFingerprint: 'kb_stripe_…abcd',
      observedGeneration: 2,
    };
    expect(statusChange(verdict(cond('True', 'Active', T1)), reordered)).toBeUndefined();
  });

  it('a SpendPolicy has only conditions and observedGeneration', () => {
    const p: ObjectStatus = {
      kind: 'SpendPolicy',
      namespace: 'agents',
      name: 'p',
      uid: 'u',
      generation: 1,
      conditions: [cond('True', 'Valid', T0, 1)],
    };
    expect(Object.keys(statusChange(p, undefined)!.patch.status).sort()).toEqual([
      'conditions',
      'observedGeneration',
    ]);
  });

  it('applies every owned field it wants shown, leaving out the ones to remove (server-side apply)', () => {
    const v = verdict(cond('False', 'TokenSecretMissing', T1), { served: false });
    delete (v as { tokenFingerprint?: string }).tokenFingerprint;
    const change = statusChange(
      v,
      { ...written, spentTodayUsd: '1.00', note: 'not ours' },
      { spentTodayMicros: null },
    )!;
    expect(change.apply).toEqual({
      conditions: [cond('False', 'TokenSecretMissing', T1)],
      observedGeneration: 2,
      capPerDayUsd: '200.00',
      lastUsedAt: T0,
    });
  });

  it('carries a field it leaves alone into the apply, so the apply cannot drop it', () => {
    const change = statusChange(verdict(cond('True', 'Active', T1), { capPerDayUsd: '300.00' }), {
      ...written,
      spentTodayUsd: '1.00',
    })!;
    expect(change.patch.status).toEqual({ capPerDayUsd: '300.00' });
    expect(change.apply).toMatchObject({ spentTodayUsd: '1.00', lastUsedAt: T0, capPerDayUsd: '300.00' });
  });

  it('owns only conditions and observedGeneration of a SpendPolicy', () => {
    expect(ownedFields('SpendPolicy')).toEqual(['conditions', 'observedGeneration']);
    expect(ownedFields('VaultKey')).toEqual([
      'conditions',
      'observedGeneration',
      'tokenFingerprint',
      'capPerDayUsd',
      'spentTodayUsd',
      'lastUsedAt',
    ]);
  });
});
