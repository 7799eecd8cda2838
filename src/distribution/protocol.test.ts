import { describe, expect, it } from 'vitest';
import { nextSnapshotVersion, parseStreamMessage } from './protocol.ts';

describe('nextSnapshotVersion', () => {
  it.each([
    ['a new leader starts from the wall clock', 0, 1_700_000_000_000, 1_700_000_000_000],
    [
      'two publishes in one millisecond stay ordered',
      1_700_000_000_000,
      1_700_000_000_000,
      1_700_000_000_001,
    ],
    [
      'a clock that stepped back never regresses the version',
      1_700_000_000_500,
      1_700_000_000_000,
      1_700_000_000_501,
    ],
  ])('%s', (_name, previous, now, expected) => {
    expect(nextSnapshotVersion(previous, now)).toBe(expected);
  });
});

describe('parseStreamMessage', () => {
  it.each([
    [
      'a snapshot line',
      '{"type":"snapshot","version":3,"data":"{}"}',
      { type: 'snapshot', version: 3, data: '{}' },
    ],
    ['a heartbeat line', '{"type":"heartbeat","version":3}', { type: 'heartbeat', version: 3 }],
    ['a snapshot without data', '{"type":"snapshot","version":3}', undefined],
    ['a negative version', '{"type":"heartbeat","version":-1}', undefined],
    ['a fractional version', '{"type":"heartbeat","version":1.5}', undefined],
    ['an unknown type', '{"type":"delta","version":3}', undefined],
    ['a line that is not JSON', 'hello', undefined],
    ['a JSON scalar', '42', undefined],
  ])('reads %s', (_name, line, expected) => {
    expect(parseStreamMessage(line)).toEqual(expected);
  });
});
