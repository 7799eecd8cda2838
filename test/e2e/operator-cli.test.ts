// `keybrake operator` start-up errors, as a user meets them: the process's exit code and stderr.
import { describe, expect, it } from 'vitest';
import { runKeybrake } from '../env/keybrake.ts';

describe('keybrake operator start-up errors', () => {
  // Eighth round: without the flag every ServiceAccount with a token for the audience was streamed
  // the upstream keys; now the operator does not start.
  it('exits 2 without --proxy-service-account, saying what to pass', async () => {
    const r = await runKeybrake(['operator', '--insecure-http']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      "--proxy-service-account is required: the proxies' ServiceAccount as namespace/name",
    );
  });
});
