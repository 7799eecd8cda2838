import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from './args.ts';
import { runCommand } from './run.ts';

let dir: string;
let tokenFile: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'keybrake-run-cli-'));
  tokenFile = path.join(dir, 'parent.token');
  await writeFile(tokenFile, 'kb_stripe_parent\n', { mode: 0o600 });
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

// Port 9 (discard) is never contacted: the run id is refused before any request.
const stop = (runId: string) =>
  runCommand([
    'stop',
    '--key',
    'agents/bot',
    '--admin',
    'http://127.0.0.1:9',
    '--token-file',
    tokenFile,
    runId,
  ]);

describe('keybrake run stop', () => {
  // It said only "expected: keybrake run stop --key <ns>/<name> <runId>", which a/../b matches.
  it.each(['a/../b', './a', 'a/.'])('refuses the run id %j naming the segment rule', async (runId) => {
    const refusal = stop(runId);
    await expect(refusal).rejects.toThrow(UsageError);
    await expect(refusal).rejects.toThrow(/the run id must be .*no "\." or "\.\." segment between slashes/);
  });

  it('refuses a run id of characters outside the set without echoing it', async () => {
    await expect(stop('kb_stripe_secret token')).rejects.toThrow(/^(?!.*kb_stripe_secret).*run id must be/);
  });
});

describe('keybrake run exec', () => {
  // Sixth round: a name holding the parent token reached the command. Port 9 (discard) is never
  // contacted: the flag is refused before anything is minted.
  it('refuses an --env-var whose name holds the --token-file credential, without echoing it', async () => {
    const refusal = runCommand([
      'exec',
      '--key',
      'agents/bot',
      '--admin',
      'http://127.0.0.1:9',
      '--token-file',
      tokenFile,
      '--env-var',
      'MY_kb_stripe_parent_KEY',
      '--',
      'true',
    ]);
    await expect(refusal).rejects.toThrow(UsageError);
    await expect(refusal).rejects.toThrow(
      /^(?!.*kb_stripe_parent)--env-var: a name given holds the credential/,
    );
  });
});
