import { describe, expect, it } from 'vitest';
import { runIdOf } from './run-id.ts';

describe('runIdOf', () => {
  it.each([
    ['the Keybrake-Run-Id header', { 'keybrake-run-id': 'run-42' }, 'run-42'],
    ['W3C baggage', { baggage: 'foo=1,keybrake.run_id=run%2F7;prop=x' }, 'run/7'],
    ['the header over baggage', { 'keybrake-run-id': 'a', baggage: 'keybrake.run_id=b' }, 'a'],
    ['no run at all', {}, undefined],
    ['an id with spaces', { 'keybrake-run-id': 'a b' }, undefined],
    ['an id that is too long', { 'keybrake-run-id': 'x'.repeat(129) }, undefined],
    ['malformed baggage encoding', { baggage: 'keybrake.run_id=%E0%A4%A' }, undefined],
  ])('reads %s', (_name, headers, expected) => {
    expect(runIdOf(headers)).toBe(expected);
  });
});
