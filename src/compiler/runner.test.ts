import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { supportBotKey, supportBotPolicy, supportBotSecrets } from '../../test/fixtures/support-bot.ts';
import type { ResourceSetUpdate } from '../api/resource-set.ts';
import { createValidationCache, validate } from '../api/validate.ts';
import { fixedClock } from '../clock.ts';
import { LayeredMap } from '../snapshot/layered-map.ts';
import { newToken, tokenDigest } from '../tokens/token.ts';
import { type CompileOutcome, createCompileRunner, ManifestError } from './runner.ts';

const TOKEN = newToken('stripe', { random: (n) => new Uint8Array(n).fill(3) });
const DIGEST = tokenDigest(TOKEN);
const NOW = '2026-06-01T00:00:00Z';

const policy = supportBotPolicy;
const key = supportBotKey;
const secrets = supportBotSecrets(TOKEN, 'sk_test_runner_test');

/** What the file source would emit for these files (name → YAML text). */
function update(files: Record<string, string>, changedAt = Date.parse(NOW)): ResourceSetUpdate {
  const docs = Object.entries(files).flatMap(([source, text]) =>
    parseAllDocuments(text).map((d, index) => ({ source, index, doc: d.toJS() })),
  );
  const { set, errors } = validate(docs);
  return { set, errors, changedAt };
}

const files = (policyYaml = policy('200'), keyYaml: string | null = key()) => ({
  'policy.yaml': policyYaml,
  ...(keyYaml !== null && { 'key.yaml': keyYaml }),
  'secrets.yaml': secrets,
});

const manifests = () => createCompileRunner({ clock: fixedClock(NOW), refuseChangesWithErrors: true });
const keyReason = (o: CompileOutcome) => o.statuses.find((s) => s.kind === 'VaultKey')?.conditions[0]?.reason;

/**
 * What the file source emits across updates: the documents of a file whose text did not change are
 * the same objects as before (it reads only the files that changed), and so are their resources.
 */
function fileSource() {
  const parsed = new Map<string, { text: string; docs: { source: string; index: number; doc: unknown }[] }>();
  const cache = createValidationCache();
  return (files: Record<string, string>): ResourceSetUpdate => {
    const docs = Object.entries(files).flatMap(([source, text]) => {
      let file = parsed.get(source);
      if (file?.text !== text) {
        file = { text, docs: parseAllDocuments(text).map((d, index) => ({ source, index, doc: d.toJS() })) };
        parsed.set(source, file);
      }
      return file.docs;
    });
    const { set, errors } = validate(docs, { cache });
    return { set, errors, changedAt: Date.parse(NOW) };
  };
}

describe("compile runner with patch: true (serve's compile thread)", () => {
  const options = {
    clock: fixedClock(NOW),
    refuseChangesWithErrors: true,
    readyStatuses: false,
    runKeyIndex: false,
  };

  it('compiles an edit of a key as a patch, with the outcome of a whole compile', () => {
    const patching = createCompileRunner({ ...options, patch: true });
    const whole = createCompileRunner(options);
    const source = fileSource();
    for (const edit of [
      files(),
      files(policy('200'), key('  suspended: true\n')),
      files(policy('200'), null),
    ]) {
      const u = source(edit);
      const [p, w] = [patching.run(u), whole.run(u)];
      expect([...p.snapshot.keys]).toEqual([...w.snapshot.keys]);
      expect(p.statuses).toEqual(w.statuses);
    }
    // The second and third were patches: their tables are layered over the first.
    expect(patching.current?.snapshot.keys).toBeInstanceOf(LayeredMap);
    expect(whole.current?.snapshot.keys).not.toBeInstanceOf(LayeredMap);
  });

  it('compiles whole again when a policy changes', () => {
    const runner = createCompileRunner({ ...options, patch: true });
    const source = fileSource();
    runner.run(source(files()));
    runner.run(source(files(policy('200'), key('  suspended: true\n'))));
    const u = runner.run(source(files(policy('300'), key('  suspended: true\n'))));
    expect(u.snapshot.keys).not.toBeInstanceOf(LayeredMap);
    expect(u.snapshot.keys.get(DIGEST)?.policy.limits.perDayMicros).toBe(300_000_000);
  });
});

describe('compile runner, as serve runs it (changes with errors refused whole)', () => {
  it('compiles the first update as version 1', () => {
    const first = manifests().run(update(files()));
    expect(first.applied).toBe(true);
    expect(first.snapshot.version).toBe(1);
    expect(first.snapshot.keys.get(DIGEST)?.policy.limits.perDayMicros).toBe(200_000_000);
    expect(keyReason(first)).toBe('Active');
  });

  it('applies a change as a new snapshot version', () => {
    const runner = manifests();
    runner.run(update(files()));
    const u = runner.run(update(files(policy('300'))));
    expect(u.applied).toBe(true);
    expect(u.snapshot.keys.get(DIGEST)?.policy.limits.perDayMicros).toBe(300_000_000);
    expect(u.snapshot.version).toBeGreaterThan(1);
  });

  it('compiles a key set to suspended as suspended', () => {
    const runner = manifests();
    runner.run(update(files()));
    const u = runner.run(update(files(policy('200'), key('  suspended: true\n'))));
    expect(u.snapshot.keys.get(DIGEST)?.suspended).toBe(true);
    expect(keyReason(u)).toBe('Suspended');
  });

  it('drops a deleted key from the table', () => {
    const runner = manifests();
    runner.run(update(files()));
    const u = runner.run(update(files(policy('200'), null)));
    expect(u.applied).toBe(true);
    expect(u.snapshot.keys.size).toBe(0);
    expect(u.statuses.some((s) => s.kind === 'VaultKey')).toBe(false);
  });

  it('keeps the last good snapshot when a change has errors, and says why', () => {
    const runner = manifests();
    const published: number[] = [];
    runner.publishTo((o) => published.push(o.snapshot.version));
    const first = runner.run(update(files()));
    const rejected = runner.run(
      update(files(policy('200', '  allow: { endpoints: ["POST v1/refunds"] }\n'))),
    );
    expect(rejected.applied).toBe(false);
    expect(rejected.snapshot).toBe(first.snapshot);
    expect(rejected.statuses).toBe(first.statuses);
    expect(rejected.errors[0]).toMatchObject({ kind: 'SpendPolicy', path: 'spec.allow.endpoints[0]' });
    expect(runner.current?.snapshot).toBe(first.snapshot);

    const fixed = runner.run(update(files(policy('250'))));
    expect(fixed.applied).toBe(true);
    expect(fixed.snapshot.version).toBe(2);
    expect(published).toEqual([1, 2]);
  });

  it('refuses a first update with errors, naming file, document and field', () => {
    const runner = manifests();
    const published: unknown[] = [];
    runner.publishTo((o) => published.push(o));
    let err: unknown;
    try {
      runner.run(update(files(policy('lots'))));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ManifestError);
    expect((err as ManifestError).lines).toEqual([
      'policy.yaml: document 1 (SpendPolicy agents/support-bot): spec.limits.perDayUsd: must be a decimal USD amount such as "200" or "12.50": at most 10 digits before the decimal point and 6 after it',
    ]);
    expect(published).toEqual([]);
    expect(runner.current).toBeUndefined();
  });
});

describe('compile runner, as the operator runs it (invalid objects become conditions)', () => {
  it('serves every valid object of an update that has errors', () => {
    const runner = createCompileRunner({ clock: fixedClock(NOW), refuseChangesWithErrors: false });
    const u = runner.run(update(files(policy('lots'))));
    expect(u.applied).toBe(true);
    expect(u.errors).toHaveLength(1);
    expect(u.snapshot.keys.size).toBe(0);
    expect(keyReason(u)).toBe('PolicyInvalid');
  });

  it('stamps each version from the previous one as told', () => {
    const floor = { value: 1_000 };
    const runner = createCompileRunner({
      clock: fixedClock(NOW),
      refuseChangesWithErrors: false,
      nextVersion: (previous) => Math.max(previous, floor.value) + 1,
    });
    expect(runner.run(update(files())).snapshot.version).toBe(1_001);
    floor.value = 5_000;
    expect(runner.run(update(files())).snapshot.version).toBe(5_001);
    expect(runner.run(update(files())).snapshot.version).toBe(5_002);
  });
});

describe('compile runner publishers and listeners', () => {
  it('hands a late publisher the snapshot in force at once, then every new one', () => {
    const runner = manifests();
    const first = runner.run(update(files()));
    const seen: CompileOutcome[] = [];
    runner.publishTo((o) => seen.push(o));
    expect(seen).toEqual([first]);
    const second = runner.run(update(files(policy('300'))));
    expect(seen).toEqual([first, second]);
  });

  it('tells outcome listeners about refused changes too, after the publishers', () => {
    const runner = manifests();
    const calls: string[] = [];
    runner.onOutcome((o) => calls.push(`listener ${o.applied}`));
    runner.publishTo((o) => calls.push(`publisher ${o.snapshot.version}`));
    runner.run(update(files()));
    runner.run(update(files(policy('lots'))));
    expect(calls).toEqual(['publisher 1', 'listener true', 'listener false']);
  });

  it('recompiles the statuses in force for the time now (expiry needs no change)', () => {
    const clock = fixedClock(NOW);
    const runner = createCompileRunner({ clock, refuseChangesWithErrors: true });
    expect(runner.statusesNow()).toEqual([]);
    const first = runner.run(update(files(policy('200'), key('  expiresAt: "2026-06-01T01:00:00Z"\n'))));
    expect(keyReason(first)).toBe('Active');
    // Before the expiry nothing can have changed: the statuses of the last compile, not a new one.
    clock.advance(3_600_000 - 1);
    expect(runner.statusesNow()).toBe(first.statuses);
    clock.advance(3_600_000 + 1);
    const now = runner.statusesNow();
    expect(now.find((s) => s.kind === 'VaultKey')?.conditions[0]?.reason).toBe('Expired');
    expect(runner.current?.snapshot).toBe(first.snapshot);
    // Compiled once for the time after the expiry, not again on every pass until the next change.
    clock.advance(10_000);
    expect(runner.statusesNow()).toBe(now);
    // A change makes its own compile the one in force.
    const changed = runner.run(update(files(policy('300'), key('  expiresAt: "2026-06-01T01:00:00Z"\n'))));
    expect(runner.statusesNow()).toBe(changed.statuses);
  });
});

describe('compile runner recompile (the operator, when its token ledger changes)', () => {
  it('compiles the update in force again with a new version, publishes it, and tells no outcome listener', () => {
    const revoked = new Set<string>();
    const clock = fixedClock(NOW);
    const runner = createCompileRunner({
      clock,
      refuseChangesWithErrors: false,
      tokens: {
        ownerOf: () => undefined,
        revoked: (d) => (revoked.has(d) ? { vaultKey: 'agents/old', at: 0 } : undefined),
      },
    });
    const published: CompileOutcome[] = [];
    let told = 0;
    runner.publishTo((o) => published.push(o));
    runner.onOutcome(() => told++);
    runner.run(update(files()));
    expect(published.at(-1)?.snapshot.keys.has(DIGEST)).toBe(true);

    revoked.add(DIGEST);
    clock.advance(5);
    const again = runner.recompile()!;
    expect(again.snapshot.version).toBeGreaterThan(published[0]!.snapshot.version);
    expect(again.snapshot.keys.has(DIGEST)).toBe(false);
    expect(keyReason(again)).toBe('TokenRevoked');
    expect(published.at(-1)).toBe(again);
    expect(runner.current).toBe(again);
    // Measured from now, not from the source change that produced the update.
    expect(again.update.changedAt).toBe(clock.now());
    expect(told).toBe(1);
    expect(runner.statusesNow().find((s) => s.kind === 'VaultKey')?.conditions[0]?.reason).toBe(
      'TokenRevoked',
    );
  });

  it('does nothing before the first update', () => {
    expect(manifests().recompile()).toBeUndefined();
    expect(manifests().removeKeys(new Set([DIGEST]), 0)).toBeUndefined();
  });

  it('removes keys at once under a new version, and a recompile of the older set does not serve them again', () => {
    const clock = fixedClock(NOW);
    const runner = createCompileRunner({ clock, refuseChangesWithErrors: false });
    const published: CompileOutcome[] = [];
    let told = 0;
    runner.publishTo((o) => published.push(o));
    runner.onOutcome(() => told++);
    runner.run(update(files()));
    expect(runner.removeKeys(new Set(['0'.repeat(64)]), 1)).toBeUndefined();

    clock.advance(3);
    const removed = runner.removeKeys(new Set([DIGEST]), clock.now())!;
    expect(removed.snapshot.keys.has(DIGEST)).toBe(false);
    expect(removed.snapshot.version).toBeGreaterThan(published[0]!.snapshot.version);
    expect(removed.update.changedAt).toBe(clock.now());
    expect(published.at(-1)).toBe(removed);
    expect(told).toBe(1);

    clock.advance(5);
    expect(runner.recompile()!.snapshot.keys.has(DIGEST)).toBe(false);
    // The source's next update is the truth again: here the key still exists, so it is served.
    expect(runner.run(update(files())).snapshot.keys.has(DIGEST)).toBe(true);
  });
});
