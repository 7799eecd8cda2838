import { describe, expect, it } from 'vitest';
import { isRunApiError, parseRunStart, tooManyStoppedRuns } from './run-api.ts';

describe('parseRunStart', () => {
  // A new-user walkthrough: `run start --ttl 0` was told to give "a duration such as 30m", which 0 is.
  it.each(['0', '0s', 0])('says the ttl %j must be positive', (ttl) => {
    const answer = parseRunStart({ key: 'agents/bot', ttl });
    expect(isRunApiError(answer) && answer.message).toMatch(/^"ttl" must be positive, a duration/);
  });

  // A new-user walkthrough: the message gave an example, not the rule a refused cap broke.
  it.each(['1000000000000000000000', '281474977', '0.1234567', 'lots'])(
    'states the rule when refusing the cap %j',
    (cap) => {
      const answer = parseRunStart({ key: 'agents/bot', cap });
      expect(isRunApiError(answer) && answer.message).toContain(
        'at most 6 decimals, and at most "281474976.710655"',
      );
    },
  );

  // A contract probe (fifth round): a JSON number was taken as a cap, while a policy refuses one for
  // money, and JSON.parse has rounded it to a float before Keybrake reads it.
  it.each(['5', '0.5', '5.9999999999999999999'])(
    'refuses the cap %s as a JSON number, asking for a string',
    (text) => {
      const answer = parseRunStart(JSON.parse(`{"key":"agents/bot","cap":${text}}`));
      expect(isRunApiError(answer) && answer.status).toBe(400);
      expect(isRunApiError(answer) && answer.message).toMatch(/^"cap" must be a decimal string in quotes/);
    },
  );

  it('takes the cap as a decimal string', () => {
    expect(parseRunStart({ key: 'agents/bot', cap: '0.50' })).toMatchObject({ capMicros: 500_000 });
  });

  // Found by a new-user walkthrough: the 400 for a/../b named only the characters, which it has.
  it.each(['a/../b', './a', 'a/.'])('names the segment rule when refusing the run id %j', (runId) => {
    const answer = parseRunStart({ key: 'agents/bot', runId });
    expect(isRunApiError(answer) && answer.status).toBe(400);
    expect(isRunApiError(answer) && answer.message).toContain('no "." or ".." segment between slashes');
  });
});

describe('tooManyStoppedRuns', () => {
  // Fifth probe round: the message said suspending the key ends every run, but resuming it revived
  // them; a new token is what ends them (their MACs are under a secret derived from the token).
  it.each(['key', 'process'] as const)(
    'names a new token, not a suspension, as the end of every run (%s bound)',
    (bound) => {
      const { message } = tooManyStoppedRuns(bound);
      expect(message).toContain(
        'To end every run of the key now and for good, give the vault key a new token',
      );
      expect(message).toContain('suspending the key only pauses them');
      expect(message).not.toMatch(/suspend the vault key/);
    },
  );
});
