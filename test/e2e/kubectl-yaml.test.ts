import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StripeEmulator, startStripeEmulator } from '../../src/emulators/stripe.ts';
import { type KeybrakeProcess, manifestDir, runKeybrake, serveArgs, startKeybrake } from '../env/keybrake.ts';
import { keyManifests, mintKeys, UPSTREAM_KEY } from './fixtures/replicas.ts';

// `serve` reads manifests as `kubectl apply` does (YAML 1.1 scalars through sigs.k8s.io/yaml): a tester
// saved `suspended: yes` to pause a runaway key, serve refused it as "must be true or false" and kept
// the key spending; `requestsPerMinute: 017` was 17 to serve and 15 in a cluster. And a file cut into
// lines otherwise by kubectl is refused: `# paused by ops<CR>  suspended: true` was a comment to serve
// and policy-check (the key live) and a field to kubectl (suspended).

/** One read with `token` on the Stripe listener: its status and Keybrake's reason. */
async function call(base: string, token: string): Promise<{ status: number; reason: string | undefined }> {
  const res = await request(`${base}/v1/customers?limit=1`, {
    headers: { authorization: `Bearer ${token}` },
  });
  await res.body.dump();
  const header = String(res.headers['keybrake-decision'] ?? '');
  return { status: res.statusCode, reason: /reason=([a-z_]+)/.exec(header)?.[1] };
}

describe('manifest YAML read as kubectl reads it', () => {
  let emulator: StripeEmulator;
  let kb: KeybrakeProcess;
  let dir: Awaited<ReturnType<typeof manifestDir>>;
  const spec = { name: 'bot' as const, limits: { perDayUsd: '10', requestsPerMinute: 1000 } };
  const { files, keys } = mintKeys([spec]);

  beforeAll(async () => {
    emulator = await startStripeEmulator({ validKeys: [UPSTREAM_KEY] });
    dir = await manifestDir(files);
    kb = await startKeybrake(serveArgs(dir.dir, { stripe: emulator.url }));
  });

  afterAll(async () => {
    await kb?.stop();
    await emulator?.close();
    await dir?.remove();
  });

  it('suspends a key saved with `suspended: yes` while serve runs: refused, nothing forwarded', async () => {
    expect((await call(kb.urls['stripe']!, keys.bot.token)).status).toBe(200);
    const reloaded = kb.waitForNextLog((l) => l.msg === 'policy reloaded');
    await dir.write(
      'bot.yaml',
      keyManifests(spec, keys.bot.token).replace('  policyRef:', '  suspended: yes\n  policyRef:'),
    );
    await reloaded;
    const forwarded = emulator.requests.length;
    expect(await call(kb.urls['stripe']!, keys.bot.token)).toEqual({ status: 401, reason: 'key_suspended' });
    expect(emulator.requests.length).toBe(forwarded);
  });

  it('policy-check reads `requestsPerMinute: 017` as 15, the octal kubectl reads', async () => {
    const octal = await manifestDir({
      ...files,
      'bot.yaml': keyManifests(spec, keys.bot.token).replace(
        'requestsPerMinute: 1000',
        'requestsPerMinute: 017',
      ),
    });
    try {
      const out = await runKeybrake([
        'policy-check',
        octal.dir,
        '--explain',
        '--json',
        '--key',
        'agents/bot',
        '--request',
        'GET /v1/customers',
      ]);
      const steps = (JSON.parse(out.stdout) as { steps: { check: string; detail: string }[] }).steps;
      expect(steps.find((s) => s.check === 'minute')?.detail).toBe(
        'counts 1 call toward 15 requests per minute',
      );
    } finally {
      await octal.remove();
    }
  });

  it('policy-check refuses a file where a lone CR ends a comment, naming the file, line and character', async () => {
    const policyRef = '  policyRef: { name: bot }';
    const cr = await manifestDir({
      ...files,
      'bot.yaml': keyManifests(spec, keys.bot.token).replace(
        policyRef,
        `${policyRef} # paused by ops\r  suspended: true`,
      ),
    });
    try {
      const out = await runKeybrake(['policy-check', cr.dir]);
      expect(out.code).toBe(1);
      expect(out.stderr).toContain(
        'bot.yaml: document 1: YAML error at line 15, column 43: a carriage return (U+000D) not followed ' +
          'by a line feed ends a line for kubectl, not for YAML 1.2: save the file with LF or CRLF line endings',
      );
    } finally {
      await cr.remove();
    }
  });
});
