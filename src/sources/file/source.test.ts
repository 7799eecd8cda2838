import { mkdtemp, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fixedClock } from '../../clock.ts';
import { silentLogger } from '../../telemetry/logger.ts';
import { newToken, tokenDigest } from '../../tokens/token.ts';
import { createFileSource, type FileSource, type FileSourceUpdate, ManifestError } from './source.ts';

const TOKEN = newToken('stripe', { random: (n) => new Uint8Array(n).fill(3) });
const DIGEST = tokenDigest(TOKEN);

const policy = (perDay: string, extra = '') => `apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: support-bot, namespace: agents }
spec:
  vendor: stripe
  limits: { perDayUsd: "${perDay}" }
${extra}`;

const key = (extra = '') => `apiVersion: keybrake.dev/v1alpha1
kind: VaultKey
metadata: { name: support-bot-stripe, namespace: agents }
spec:
  vendor: stripe
  policyRef: { name: support-bot }
  upstreamSecretRef: { name: stripe-live, key: apiKey }
  tokenSecretRef: { name: support-bot-stripe-token }
${extra}`;

const secrets = `apiVersion: v1
kind: Secret
metadata: { name: stripe-live, namespace: agents }
stringData: { apiKey: sk_test_source_test }
---
apiVersion: v1
kind: Secret
metadata: { name: support-bot-stripe-token, namespace: agents }
stringData: { token: ${TOKEN} }
`;

let dir: string;
let source: FileSource | undefined;
let updates: FileSourceUpdate[];
let waiters: { pred: (u: FileSourceUpdate) => boolean; resolve: (u: FileSourceUpdate) => void }[];

// Editors and kubectl-style tools replace files atomically; so do the tests, so a reload never sees half a file.
async function put(name: string, text: string): Promise<void> {
  const tmp = join(dir, `.${name}.tmp`);
  await writeFile(tmp, text);
  await rename(tmp, join(dir, name));
}

function next(pred: (u: FileSourceUpdate) => boolean): Promise<FileSourceUpdate> {
  const seen = updates.find(pred);
  if (seen) return Promise.resolve(seen);
  return new Promise((resolve) => waiters.push({ pred, resolve }));
}

async function startSource(): Promise<{ source: FileSource; first: FileSourceUpdate }> {
  const s = createFileSource([dir], {
    clock: fixedClock('2026-06-01T00:00:00Z'),
    log: silentLogger(),
    debounceMs: 20,
  });
  source = s;
  s.onUpdate((u) => {
    updates.push(u);
    for (const w of [...waiters]) {
      if (w.pred(u)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(u);
      }
    }
  });
  const first = await s.start();
  updates = [];
  return { source: s, first };
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keybrake-source-'));
  updates = [];
  waiters = [];
  await put('policy.yaml', policy('200'));
  await put('key.yaml', key());
  await put('secrets.yaml', secrets);
});

afterEach(async () => {
  source?.close();
  source = undefined;
  await rm(dir, { recursive: true, force: true });
});

describe('createFileSource', () => {
  it('compiles the manifests on start as version 1', async () => {
    const { first } = await startSource();
    expect(first.applied).toBe(true);
    expect(first.snapshot.version).toBe(1);
    expect(first.snapshot.keys.get(DIGEST)?.policy.limits.perDayMicros).toBe(200_000_000);
    expect(first.statuses.find((s) => s.kind === 'VaultKey')?.conditions[0]?.reason).toBe('Active');
  });

  it('applies an edit as a new snapshot version', async () => {
    await startSource();
    await put('policy.yaml', policy('300'));
    const u = await next(
      (x) => x.applied && x.snapshot.keys.get(DIGEST)?.policy.limits.perDayMicros === 300_000_000,
    );
    expect(u.snapshot.version).toBeGreaterThan(1);
  });

  it('compiles a key set to suspended as suspended', async () => {
    await startSource();
    await put('key.yaml', key('  suspended: true\n'));
    const u = await next((x) => x.applied && x.snapshot.keys.get(DIGEST)?.suspended === true);
    expect(u.statuses.find((s) => s.kind === 'VaultKey')?.conditions[0]?.reason).toBe('Suspended');
  });

  it('drops a deleted key from the table', async () => {
    await startSource();
    await unlink(join(dir, 'key.yaml'));
    const u = await next((x) => x.applied && x.snapshot.keys.size === 0);
    expect(u.statuses.some((s) => s.kind === 'VaultKey')).toBe(false);
  });

  it('keeps the last good snapshot when an edit is invalid, and says why', async () => {
    const { first } = await startSource();
    await put('policy.yaml', policy('200', '  allow: { endpoints: ["POST v1/refunds"] }\n'));
    const rejected = await next((x) => !x.applied);
    expect(rejected.snapshot).toBe(first.snapshot);
    expect(rejected.errors[0]).toMatchObject({ kind: 'SpendPolicy', path: 'spec.allow.endpoints[0]' });
    expect(source!.current?.snapshot).toBe(first.snapshot);

    await put('policy.yaml', policy('250'));
    const fixed = await next((x) => x.applied);
    expect(fixed.snapshot.version).toBe(2);
  });

  it('refuses to start when the first load has errors, naming file, document and field', async () => {
    await put('policy.yaml', policy('lots'));
    const s = createFileSource([dir], { clock: fixedClock(0), log: silentLogger(), watch: false });
    const err = await s.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ManifestError);
    expect((err as ManifestError).lines).toEqual([
      `${join(dir, 'policy.yaml')}: document 1 (SpendPolicy agents/support-bot): spec.limits.perDayUsd: must be a decimal USD amount such as "200" or "12.50" (at most 6 decimals)`,
    ]);
  });

  it('coalesces reloads requested while one is running', async () => {
    const s = createFileSource([dir], { clock: fixedClock(0), log: silentLogger(), watch: false });
    await s.start();
    const [a, b, c] = await Promise.all([s.reload(), s.reload(), s.reload()]);
    expect(a.snapshot.version).toBe(2);
    expect(b).toBe(c);
    expect(b.snapshot.version).toBe(3);
  });
});
