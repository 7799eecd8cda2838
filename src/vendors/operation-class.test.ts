import { describe, expect, it } from 'vitest';
import { knownToAuthorize, uncountedOperation, unknownOperation } from './operation-class.ts';
import { NO_PARTIES, type OperationClass } from './types.ts';

describe('the flags a class gives an operation', () => {
  it.each<[OperationClass, boolean]>([
    ['read', true],
    ['write', true],
    ['money', true],
    // Admitted only when a policy names them (ADR 0007), which today's authorize reads from `known`.
    ['destructive', false],
    ['money_unpriced', false],
    ['unknown', false],
  ])('%s is known to authorize: %s', (cls, known) => {
    expect(knownToAuthorize(cls)).toBe(known);
  });

  it('counts an unpriced money operation at 0 but never as free', () => {
    expect(uncountedOperation('x.y', 'money_unpriced', NO_PARTIES)).toMatchObject({
      movesMoney: true,
      costMicros: 0,
    });
    expect(uncountedOperation('x.y', 'destructive', NO_PARTIES)).toMatchObject({ movesMoney: false });
  });

  it('reports a call without a row as the vendor’s unknown operation, money-moving', () => {
    expect(unknownOperation('stripe', NO_PARTIES)).toEqual({
      id: 'stripe.unknown',
      class: 'unknown',
      known: false,
      movesMoney: true,
      costMicros: 0,
      parties: NO_PARTIES,
    });
  });
});
