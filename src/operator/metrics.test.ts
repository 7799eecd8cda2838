import { Gauge, Registry } from 'prom-client';
import { describe, expect, it, vi } from 'vitest';
import { fixedClock } from '../clock.ts';
import { operatorListenerLimits } from '../distribution/server.ts';
import { MAX_SCRAPES_IN_FLIGHT } from '../listener/metrics-route.ts';
import { silentLogger } from '../telemetry/logger.ts';
import { createOperatorAdmin } from './admin.ts';
import {
  createOperatorRegistry,
  KEY_SPEND_METRICS,
  type KeySpend,
  operatorMetrics,
  renderKeySpend,
} from './metrics.ts';

describe('operator metrics', () => {
  it('serves the Node.js process metrics beside the operator ones on /metrics', async () => {
    const registry = createOperatorRegistry();
    operatorMetrics(registry).leader.set(1);
    const admin = createOperatorAdmin({
      registry,
      isLeader: () => true,
      version: () => 1,
      limits: operatorListenerLimits(),
      log: silentLogger(),
    });
    try {
      const res = await admin.inject({ method: 'GET', url: '/metrics' });
      expect(res.statusCode).toBe(200);
      for (const name of [
        'process_cpu_user_seconds_total',
        'process_resident_memory_bytes',
        'nodejs_heap_size_used_bytes',
        'nodejs_eventloop_lag_seconds',
        'keybrake_operator_leader 1',
      ]) {
        expect(res.body).toContain(name);
      }
    } finally {
      await admin.close();
    }
  });
});

describe('spend per VaultKey against its daily cap', () => {
  const keys: KeySpend[] = [
    { namespace: 'agents', vaultKey: 'bot', vendor: 'stripe', spentTodayUsd: 12.4, dailyCapUsd: 200 },
    { namespace: 'agents', vaultKey: 'uncapped', vendor: 'twilio', spentTodayUsd: 0 },
    { namespace: 'agents', vaultKey: 'unread', vendor: 'resend', dailyCapUsd: 5 },
    { namespace: 'odd', vaultKey: 'a"b\\c\nd', vendor: 'stripe', spentTodayUsd: 1e-7, dailyCapUsd: 1e21 },
  ];

  it('is written exactly as prom-client writes the two gauges, and nothing for keys not read', async () => {
    const registry = new Registry();
    const labelNames = ['namespace', 'vault_key', 'vendor'] as const;
    const [spent, cap] = KEY_SPEND_METRICS.map(
      ({ name, help }) => new Gauge({ name, help, labelNames, registers: [registry] }),
    );
    for (const k of keys) {
      if (k.spentTodayUsd === undefined) continue;
      const labels = { namespace: k.namespace, vault_key: k.vaultKey, vendor: k.vendor };
      spent!.set(labels, k.spentTodayUsd);
      if (k.dailyCapUsd !== undefined) cap!.set(labels, k.dailyCapUsd);
    }
    const text = await renderKeySpend(keys);
    expect(text).toBe(await registry.metrics());
    expect(text).toContain(
      'keybrake_vault_key_spent_today_usd{namespace="agents",vault_key="bot",vendor="stripe"} 12.4',
    );
    expect(text).not.toContain('unread');
  });

  it('lets the event loop run every thousand keys, so no render holds it for long', async () => {
    let pauses = 0;
    const many = Array.from({ length: 2_500 }, (_, i) => ({ ...keys[0]!, vaultKey: `bot-${i}` }));
    const text = await renderKeySpend(many, async () => {
      pauses++;
    });
    expect(pauses).toBe(2);
    expect(text.split('\n').filter((l) => l.startsWith('keybrake_vault_key_daily_cap_usd{'))).toHaveLength(
      2_500,
    );
  });

  it('is served on /metrics after the registry, one render for scrapes that come together', async () => {
    const monotonic = fixedClock(0);
    let renders = 0;
    const registry = new Registry();
    operatorMetrics(registry).leader.set(1);
    const admin = createOperatorAdmin({
      registry,
      // A render that takes 100 ms is shared for 900 ms after it.
      moreSeries: async () => {
        renders++;
        monotonic.advance(100);
        return renderKeySpend(keys);
      },
      monotonic: monotonic.now,
      isLeader: () => true,
      version: () => 1,
      limits: operatorListenerLimits(),
      log: silentLogger(),
    });
    try {
      const scrape = () => admin.inject({ method: 'GET', url: '/metrics' });
      const answers = await Promise.all(Array.from({ length: MAX_SCRAPES_IN_FLIGHT }, scrape));
      expect(renders).toBe(1);
      const expected = `${await registry.metrics()}\n${await renderKeySpend(keys)}`;
      for (const res of answers) expect(res.body).toBe(expected);
      monotonic.advance(900);
      await scrape();
      expect(renders).toBe(2);
    } finally {
      await admin.close();
    }
  });

  // Sixth round: renders were timed by the wall clock, so a step back of D served the old /metrics
  // for D (and a step forward during a render stretched the window ninefold).
  it('times the reuse of a render by the monotonic clock: a wall clock stepped back an hour changes nothing', async () => {
    const monotonic = fixedClock(0);
    let renders = 0;
    const admin = createOperatorAdmin({
      registry: new Registry(),
      moreSeries: async () => {
        renders++;
        monotonic.advance(100);
        return `keybrake_render ${renders}\n`;
      },
      monotonic: monotonic.now,
      isLeader: () => true,
      version: () => 1,
      limits: operatorListenerLimits(),
      log: silentLogger(),
    });
    // Only Date is faked: the wall clock, which the operator's timestamps and TTLs read.
    vi.useFakeTimers({ toFake: ['Date'], now: Date.parse('2026-12-01T12:00:00Z') });
    try {
      const scrape = async () => (await admin.inject({ method: 'GET', url: '/metrics' })).body;
      expect(await scrape()).toContain('keybrake_render 1');
      vi.setSystemTime(Date.parse('2026-12-01T11:00:00Z'));
      monotonic.advance(900);
      expect(await scrape()).toContain('keybrake_render 2');
    } finally {
      vi.useRealTimers();
      await admin.close();
    }
  });
});
