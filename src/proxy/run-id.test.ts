import type { IncomingHttpHeaders } from 'node:http';
import { describe, expect, it } from 'vitest';
import { runIdOf } from './run-id.ts';

/** Parsed headers as node would build them from raw lines (duplicates joined), and the raw lines. */
function call(...pairs: [string, string][]): [IncomingHttpHeaders, string[]] {
  const headers: Record<string, string> = {};
  for (const [name, value] of pairs) {
    const key = name.toLowerCase();
    headers[key] = key in headers ? `${headers[key]}, ${value}` : value;
  }
  return [headers, pairs.flat()];
}

describe('runIdOf', () => {
  it.each([
    ['the Keybrake-Run-Id header', call(['Keybrake-Run-Id', 'run-42']), 'run-42'],
    ['W3C baggage', call(['baggage', 'foo=1,keybrake.run_id=run%2F7;prop=x']), 'run/7'],
    [
      'baggage with blanks around the member',
      call(['baggage', 'foo=1 ,  keybrake.run_id = run-7 ']),
      'run-7',
    ],
    [
      'baggage over two headers naming the run once',
      call(['baggage', 'a=1'], ['baggage', 'keybrake.run_id=r']),
      'r',
    ],
    [
      'the header and baggage agreeing',
      call(['Keybrake-Run-Id', 'a'], ['baggage', 'keybrake.run_id=a']),
      'a',
    ],
    ['no run at all', call(), undefined],
    ['baggage without a run', call(['baggage', 'foo=1,bar=2']), undefined],
    ['a look-alike baggage key', call(['baggage', 'keybrake.run_idx=1,x.keybrake.run_id=2']), undefined],
    // W3C's OWS is spaces and tabs: this member's key is not keybrake.run_id (nor a valid key at all).
    ['a baggage key behind a no-break space', call(['baggage', '\u00a0keybrake.run_id=r']), undefined],
    ['tabs around the header', call(['Keybrake-Run-Id', '\trun-42\t ']), 'run-42'],
    ['the longest allowed id', call(['Keybrake-Run-Id', 'x'.repeat(128)]), 'x'.repeat(128)],
    ['every allowed character', call(['Keybrake-Run-Id', 'Az09._:@/-']), 'Az09._:@/-'],
    ['dots inside a segment', call(['Keybrake-Run-Id', 'v1.2/..a/b..']), 'v1.2/..a/b..'],
  ])('reads %s', (_name, [headers, raw], expected) => {
    expect(runIdOf(headers, raw)).toBe(expected);
  });

  it.each([
    [
      'Keybrake-Run-Id given twice',
      call(['Keybrake-Run-Id', 'a'], ['Keybrake-Run-Id', 'b']),
      /more than once/,
    ],
    [
      'Keybrake-Run-Id given twice with the same value',
      call(['Keybrake-Run-Id', 'a'], ['keybrake-run-id', 'a']),
      /more than once/,
    ],
    ['an id with spaces', call(['Keybrake-Run-Id', 'a b']), /must be 1 to 128/],
    ['an id with markup', call(['Keybrake-Run-Id', '<script>']), /must be/],
    ['an id with a semicolon', call(['Keybrake-Run-Id', 'run;drop']), /must be/],
    ['an id with a tab', call(['Keybrake-Run-Id', 'run\tone']), /must be/],
    ['an id ending in a no-break space', call(['Keybrake-Run-Id', 'run-1\u00a0']), /must be/],
    ['an id after a byte-order mark', call(['Keybrake-Run-Id', '\ufeffrun-1']), /must be/],
    ['a baggage id ending in a no-break space', call(['baggage', 'keybrake.run_id=run-1\u00a0']), /must be/],
    ['an id that is too long', call(['Keybrake-Run-Id', 'x'.repeat(129)]), /must be/],
    ['an empty id', call(['Keybrake-Run-Id', '']), /must be/],
    // A URL path resolves these away: `run stop x/y/../z` stopped run x/z (an adversarial probe).
    ['a .. segment', call(['Keybrake-Run-Id', 'x/y/../z']), /no \. or \.\. between slashes/],
    ['a . segment', call(['Keybrake-Run-Id', 'x/./z']), /must be/],
    ['a trailing .. segment', call(['Keybrake-Run-Id', 'e/f/..']), /must be/],
    ['an id that is ..', call(['Keybrake-Run-Id', '..']), /must be/],
    ['an id that is .', call(['baggage', 'keybrake.run_id=.']), /must be/],
    [
      'a .. segment percent-encoded in baggage',
      call(['baggage', 'keybrake.run_id=a%2F%2E%2E%2Fb']),
      /must be/,
    ],
    ['malformed baggage encoding', call(['baggage', 'keybrake.run_id=%E0%A4%A']), /percent-encoding/],
    ['a baggage id outside the charset', call(['baggage', 'keybrake.run_id=a%20b']), /must be/],
    ['an empty baggage id', call(['baggage', 'keybrake.run_id=']), /must be/],
    [
      'baggage naming the run twice',
      call(['baggage', 'keybrake.run_id=a,keybrake.run_id=b']),
      /more than once/,
    ],
    [
      'baggage naming the same run twice',
      call(['baggage', 'keybrake.run_id=a, keybrake.run_id=a']),
      /more than once/,
    ],
    [
      'two baggage headers each naming a run',
      call(['baggage', 'keybrake.run_id=a'], ['baggage', 'keybrake.run_id=b']),
      /more than once/,
    ],
    [
      'the header and baggage disagreeing',
      call(['Keybrake-Run-Id', 'a'], ['baggage', 'other=1,keybrake.run_id=b']),
      /different runs/,
    ],
  ])('refuses %s with run_id_invalid', (_name, [headers, raw], message) => {
    const r = runIdOf(headers, raw);
    expect(r).toMatchObject({ reason: 'run_id_invalid' });
    expect((r as { message: string }).message).toMatch(message);
  });

  it('sees a duplicate in parsed headers alone, where node joined it', () => {
    expect(runIdOf({ 'keybrake-run-id': 'a, b' })).toMatchObject({ reason: 'run_id_invalid' });
  });
});
