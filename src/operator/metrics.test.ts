import { describe, expect, it } from 'vitest';
import { createOperatorAdmin } from './admin.ts';
import { createOperatorRegistry, operatorMetrics } from './metrics.ts';

describe('operator metrics', () => {
  it('serves the Node.js process metrics beside the operator ones on /metrics', async () => {
    const registry = createOperatorRegistry();
    operatorMetrics(registry).leader.set(1);
    const admin = createOperatorAdmin({ registry, isLeader: () => true, version: () => 1 });
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
