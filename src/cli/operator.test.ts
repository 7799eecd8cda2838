import { describe, expect, it } from 'vitest';
import { silentLogger } from '../telemetry/logger.ts';
import { UsageError } from './args.ts';
import { operatorCommand } from './operator.ts';

// Every case fails on its flags, before the operator reads a kubeconfig or listens.
describe('keybrake operator refuses to start', () => {
  // Eighth round: without the flag, every ServiceAccount with a token for the audience (an agent
  // runner's, for the run API) was streamed the upstream keys.
  it('without --proxy-service-account, saying what to pass', async () => {
    const started = operatorCommand(['--insecure-http'], silentLogger());
    await expect(started).rejects.toBeInstanceOf(UsageError);
    await expect(started).rejects.toThrow(
      "--proxy-service-account is required: the proxies' ServiceAccount as namespace/name",
    );
  });

  it.each([
    'keybrake-proxy',
    'system:serviceaccount:keybrake-system:keybrake-proxy',
    'keybrake-system/keybrake-proxy/x',
    '*',
  ])('with --proxy-service-account %s, which names no ServiceAccount as namespace/name', async (sa) => {
    await expect(
      operatorCommand(['--insecure-http', '--proxy-service-account', sa], silentLogger()),
    ).rejects.toThrow(`--proxy-service-account ${sa}: expected namespace/name`);
  });
});
