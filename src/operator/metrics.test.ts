import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { operatorListenerLimits } from '../distribution/server.ts';
import { silentLogger } from '../telemetry/logger.ts';
import { createOperatorAdmin } from './admin.ts';
import { createOperatorRegistry, type KeySpend, keySpendGauges, operatorMetrics } from './metrics.ts';

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
  it('exports what the leader read, by namespace, vault_key and vendor, and nothing for keys it has not read', async () => {
    const registry = new Registry();
    let keys: KeySpend[] = [
      { namespace: 'agents', vaultKey: 'bot', vendor: 'stripe', spentTodayUsd: 12.4, dailyCapUsd: 200 },
      { namespace: 'agents', vaultKey: 'unread', vendor: 'resend', dailyCapUsd: 5 },
    ];
    keySpendGauges(registry, () => keys);
    const text = await registry.metrics();
    expect(text).toContain(
      'keybrake_vault_key_spent_today_usd{namespace="agents",vault_key="bot",vendor="stripe"} 12.4',
    );
    expect(text).toContain(
      'keybrake_vault_key_daily_cap_usd{namespace="agents",vault_key="bot",vendor="stripe"} 200',
    );
    expect(text).not.toContain('unread');
    keys = [];
    expect(await registry.metrics()).not.toContain('vault_key="bot"');
  });
});
