import { describe, expect, it } from 'vitest';
import { flag, single, strings } from './fields.ts';

describe('Twilio field reads', () => {
  it('reads every value of a list and one of a scalar', () => {
    expect(strings({ MediaUrl: ['a', 'b'] }, 'MediaUrl')).toEqual(['a', 'b']);
    expect(strings({ To: '+1' }, 'To')).toEqual(['+1']);
    expect(strings({}, 'To')).toEqual([]);
    expect(single({ To: '+1' }, 'To')).toBe('+1');
    expect(single({}, 'To')).toBeUndefined();
    expect(single({ TimeLimit: 60 }, 'TimeLimit')).toBeUndefined();
    expect(flag({ Record: 'TRUE' }, 'Record')).toBe(true);
  });

  // Second probe round: `SendAsMms=1` was priced as a plain SMS.
  it.each([
    ['true', true],
    ['1', true],
    ['yes', true],
    [' True ', true],
    ['false', false],
    ['FALSE', false],
    ['', false],
    // Fifth round: String.trim read these as false; Twilio may not.
    ['false\u00a0', true],
    ['\ufefffalse', true],
    ['\u00a0', true],
  ])('reads a cost-adding boolean %j as %s (anything but false or empty is on)', (value, on) => {
    expect(flag({ SendAsMms: value }, 'SendAsMms')).toBe(on);
  });

  it('never picks one of several values: a repeated scalar fails closed', () => {
    expect(() => single({ To: ['+14155550100', '+33612345678'] }, 'To')).toThrow(/parse must refuse/);
  });

  it('does not read inherited names', () => {
    expect(single({}, 'toString')).toBeUndefined();
    expect(strings({}, 'constructor')).toEqual([]);
  });
});
