import { describe, expect, it } from 'vitest';
import { isRunApiError, parseRunStart } from './run-api.ts';

describe('parseRunStart', () => {
  // Found by a new-user walkthrough: the 400 for a/../b named only the characters, which it has.
  it.each(['a/../b', './a', 'a/.'])('names the segment rule when refusing the run id %j', (runId) => {
    const answer = parseRunStart({ key: 'agents/bot', runId });
    expect(isRunApiError(answer) && answer.status).toBe(400);
    expect(isRunApiError(answer) && answer.message).toContain('no "." or ".." segment between slashes');
  });
});
