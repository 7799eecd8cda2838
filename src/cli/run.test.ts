import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { mintRunToken } from '../tokens/run-token.ts';
import { newToken, tokenDigest } from '../tokens/token.ts';
import { nameFlagSource, UsageError } from './args.ts';
import { RUN_FLAGS, runCommand } from './run.ts';

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

/** A run API that records each request and answers as serve's admin listener does. */
async function recordingRunApi(): Promise<{
  url: string;
  seen: { method: string; path: string; body: string }[];
  server: Server;
}> {
  const seen: { method: string; path: string; body: string }[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    req.on('end', () => {
      seen.push({ method: req.method!, path: req.url!, body });
      res.setHeader('content-type', 'application/json');
      if (req.method === 'DELETE') {
        res.end('{"stopped":true}');
        return;
      }
      const { key } = JSON.parse(body) as { key: string };
      res.end(
        JSON.stringify({
          token: 'kb_stripe_r1_child',
          runId: 'run-1',
          vaultKey: key,
          vendor: 'stripe',
          expiresAt: '2026-12-01T01:00:00Z',
          capUsd: null,
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server };
}

describe('keybrake run --key', () => {
  let api: Awaited<ReturnType<typeof recordingRunApi>>;
  beforeAll(async () => {
    api = await recordingRunApi();
  });
  afterAll(() => new Promise<void>((resolve) => api.server.close(() => resolve())));
  afterEach(() => {
    api.seen.length = 0;
    vi.restoreAllMocks();
  });
  const run = (...args: string[]) => runCommand([...args, '--admin', api.url, '--token-file', tokenFile]);

  // A new-user walkthrough (sixth round): `run start --key support-bot-stripe` answered "--key
  // <namespace>/<vaultkey> is required" although --key was given; policy-check reads it as default/….
  it('reads a bare name in namespace default, as policy-check does', async () => {
    vi.spyOn(process.stdout, 'write').mockReturnValue(true);
    vi.spyOn(process.stderr, 'write').mockReturnValue(true);
    await expect(run('start', '--key', 'support-bot-stripe')).resolves.toBe(0);
    await expect(run('stop', '--key', 'support-bot-stripe', 'run-1')).resolves.toBe(0);
    expect(api.seen).toEqual([
      { method: 'POST', path: '/v1/runs', body: JSON.stringify({ key: 'default/support-bot-stripe' }) },
      { method: 'DELETE', path: '/v1/runs/default/support-bot-stripe/run-1', body: '' },
    ]);
  });

  // Eighth round: start sent the id and exited 1 on the server's 400, while stop refused it itself.
  it.each(['a/./b', '../x', 'kb_stripe_secret token'])(
    'start refuses the run id %j as stop does, before any request, without echoing it',
    async (runId) => {
      const refusal = run('start', '--key', 'agents/bot', '--run-id', runId);
      await expect(refusal).rejects.toThrow(UsageError);
      await expect(refusal).rejects.toThrow(
        /^the run id must be .*no "\." or "\.\." segment between slashes/,
      );
      await expect(refusal).rejects.toThrow(/^(?!.*kb_stripe_secret)/);
      expect(api.seen).toEqual([]);
    },
  );

  // Ninth round: each was sent with the parent token, and the API's 400 was an exit 1.
  it.each([
    ['--cap', '5.1234567', /^--cap: must be a decimal USD amount .*at most 6 decimals/],
    ['--cap', '1e2', /^--cap: must be a decimal USD amount/],
    ['--cap', '$5', /^--cap: must be a decimal USD amount/],
    ['--ttl', '200h', /^--ttl: must be a duration .*at most 168h/],
    ['--ttl', 'abc', /^--ttl: must be a duration/],
    ['--ttl', '0', /^--ttl: must be positive, a duration/],
  ])('start refuses %s %j by the API rule, before any request', async (flag, value, message) => {
    const refusal = run('start', '--key', 'agents/bot', flag, value);
    await expect(refusal).rejects.toThrow(UsageError);
    await expect(refusal).rejects.toThrow(message);
    expect(api.seen).toEqual([]);
  });

  it('names KEYBRAKE_TTL when a bad --ttl came from it, before any request', async () => {
    vi.stubEnv('KEYBRAKE_TTL', 'abc');
    try {
      const argv = ['start', '--key', 'agents/bot'];
      const refusal = run(...argv);
      await expect(refusal).rejects.toThrow(UsageError);
      const message = await refusal.catch((err: Error) => err.message);
      expect(nameFlagSource(message as string, RUN_FLAGS, argv)).toMatch(
        /^--ttl \(from KEYBRAKE_TTL\): must be a duration/,
      );
      expect(api.seen).toEqual([]);
    } finally {
      vi.unstubAllEnvs();
    }
  });

  const parent = newToken('stripe');
  const runKey = mintRunToken(
    { tokenPrefix: 'kb_stripe_', runSecret: 'secret', digest: tokenDigest(parent) },
    { runId: 'run-1', issuedAt: 1_700_000_000_000, expiresAt: 1_700_003_600_000 },
  );
  it.each([
    ['a run key', runKey],
    ['a vault key', parent],
  ])('stop refuses %s as its id, before any request, without echoing it', async (_, token) => {
    const refusal = run('stop', '--key', 'agents/bot', token);
    await expect(refusal).rejects.toThrow(UsageError);
    await expect(refusal).rejects.toThrow(/^that is a Keybrake key, not a run id/);
    const message = await refusal.catch((err: Error) => err.message);
    expect(message).not.toContain(token.slice(10, 30));
    expect(api.seen).toEqual([]);
  });

  it.each(['a/b/c', 'Support_Bot', '/bot'])(
    'refuses %j saying the form it takes, before any request',
    async (key) => {
      const refusal = run('start', '--key', key);
      await expect(refusal).rejects.toThrow(UsageError);
      await expect(refusal).rejects.toThrow(
        /^--key must be <namespace>\/<name>, or a name in namespace default/,
      );
      expect(api.seen).toEqual([]);
    },
  );

  // Tenth round: a run minted without --cap under a policy without perRunUsd said only "cap none";
  // run --help did not say what --cap defaults to.
  it('says a run started without any cap has none of its own, and run --help says when', async () => {
    vi.spyOn(process.stdout, 'write').mockReturnValue(true);
    const stderr = vi.spyOn(process.stderr, 'write').mockReturnValue(true);
    await expect(run('start', '--key', 'agents/bot')).resolves.toBe(0);
    expect(stderr).toHaveBeenCalledWith(
      "keybrake run: started run run-1 of agents/bot (no run cap: no --cap, and the policy has no perRunUsd; the key's other limits apply, expires 2026-12-01T01:00:00Z)\n",
    );
    expect(RUN_FLAGS.cap.help).toContain(
      'Without it the run is capped by perRunUsd; on a policy without perRunUsd the run has no cap of its own',
    );
  });

  // A new-user walkthrough (sixth round): a stop of an id that never existed said "stopped run X",
  // as if there had been one (stops are stateless, ADR 0010).
  it('says a stop is recorded whether or not such a run was started', async () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockReturnValue(true);
    await run('stop', '--key', 'agents/bot', 'run-never-started');
    expect(stderr).toHaveBeenCalledWith(
      'keybrake run: stopped run run-never-started of agents/bot (a stop is recorded whether or not such a run was started)\n',
    );
  });
});
