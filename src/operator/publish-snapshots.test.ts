import { Gauge, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { fixedClock } from '../clock.ts';
import { createCompileRunner } from '../compiler/runner.ts';
import type { Snapshot } from '../snapshot/types.ts';
import type { KubernetesSourceUpdate } from '../sources/kubernetes/source.ts';
import { silentLogger } from '../telemetry/logger.ts';
import { publishSnapshots, stampAbove } from './publish-snapshots.ts';

const NOW = Date.parse('2026-06-01T12:00:00Z');
const empty = (changedAt: number): KubernetesSourceUpdate => ({
  set: { policies: [], keys: [], secrets: [], rejected: [] },
  errors: [],
  deleted: [],
  changedAt,
});

describe('stampAbove', () => {
  it.each([
    ['the clock when it is ahead of everything published', 5, 100, NOW, NOW],
    ['one above what a proxy already holds when the clock is behind it', 5, NOW + 50, NOW, NOW + 51],
    ['one above the previous version within one millisecond', NOW, 0, NOW, NOW + 1],
  ])('stamps %s', (_n, previous, published, now, expected) => {
    expect(stampAbove(() => published, fixedClock(now))(previous)).toBe(expected);
  });
});

describe('publishSnapshots', () => {
  it('hands every compiled snapshot to distribution with the time its change was seen', async () => {
    const clock = fixedClock(NOW);
    const runner = createCompileRunner<KubernetesSourceUpdate>({
      clock,
      refuseChangesWithErrors: false,
      nextVersion: stampAbove(() => 0, clock),
    });
    const published: { snapshot: Snapshot; changedAt: number }[] = [];
    const registry = new Registry();
    const version = new Gauge({ name: 'v', help: 'v', registers: [registry] });
    publishSnapshots(runner, {
      publish: (snapshot, changedAt) => published.push({ snapshot, changedAt }),
      clock,
      log: silentLogger(),
      version,
    });
    runner.run(empty(NOW - 3));
    clock.advance(10);
    runner.run(empty(NOW + 7));
    expect(published.map((p) => [p.snapshot.version, p.changedAt])).toEqual([
      [NOW, NOW - 3],
      [NOW + 10, NOW + 7],
    ]);
    expect((await version.get()).values[0]?.value).toBe(NOW + 10);
  });
});
