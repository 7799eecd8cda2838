import { describe, expect, it } from 'vitest';
import { uncountedOperation, unknownOperation } from './operation-class.ts';
import { NO_PARTIES } from './types.ts';

describe('the flags a class gives an operation', () => {
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
      movesMoney: true,
      costMicros: 0,
      parties: NO_PARTIES,
    });
  });
});
