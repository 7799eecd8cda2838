import { describe, expect, it } from 'vitest';
import type { ObjectStatus } from '../compiler/compile.ts';
import { statusChange } from './status.ts';

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
});
