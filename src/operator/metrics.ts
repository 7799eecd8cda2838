import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';

/**
 * The operator's registry (its admin listener's `/metrics`): the Node.js process metrics (heap,
 * event-loop lag, GC, CPU, file descriptors) beside what the operator and distribution register.
 */
export function createOperatorRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** What the operator's reconcilers count: each reconciler gets the one it updates. */
export interface OperatorMetrics {
  readonly leader: Gauge;
  readonly version: Gauge;
  readonly statusWrites: Counter;
  readonly minted: Counter;
  readonly revocations: Gauge;
}

export function operatorMetrics(registry: Registry): OperatorMetrics {
  return {
    leader: new Gauge({
      name: 'keybrake_operator_leader',
      help: '1 while this operator holds the leader Lease.',
      registers: [registry],
    }),
    version: new Gauge({
      name: 'keybrake_snapshot_version',
      help: 'Version of the policy snapshot last compiled.',
      registers: [registry],
    }),
    statusWrites: new Counter({
      name: 'keybrake_operator_status_writes_total',
      help: 'Status subresource writes sent (only when a status changed).',
      registers: [registry],
    }),
    minted: new Counter({
      name: 'keybrake_operator_tokens_minted_total',
      help: 'Vault tokens minted into Secrets.',
      registers: [registry],
    }),
    revocations: new Gauge({
      name: 'keybrake_operator_revoked_tokens',
      help: 'Tokens in the revocation ledger (revoked by deleting their VaultKey; never served again).',
      registers: [registry],
    }),
  };
}

/** One served VaultKey's spend as the leader last read it from the counter store. */
export interface KeySpend {
  readonly namespace: string;
  readonly vaultKey: string;
  readonly vendor: string;
  readonly spentTodayUsd?: number;
  readonly dailyCapUsd?: number;
}

/**
 * Spend per VaultKey against its daily cap, for dashboards and the cap alert: what `kubectl get vk`
 * shows as SPENT-TODAY and CAP. Only the leader reads spend, so a standby exports none.
 */
export function keySpendGauges(registry: Registry, read: () => readonly KeySpend[]): void {
  const labelNames = ['namespace', 'vault_key', 'vendor'] as const;
  new Gauge({
    name: 'keybrake_vault_key_spent_today_usd',
    help: "USD a served VaultKey spent today (its policy's calendar day), read from the shared counters.",
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const k of read())
        if (k.spentTodayUsd !== undefined)
          this.set({ namespace: k.namespace, vault_key: k.vaultKey, vendor: k.vendor }, k.spentTodayUsd);
    },
  });
  new Gauge({
    name: 'keybrake_vault_key_daily_cap_usd',
    help: "A served VaultKey's daily cap in USD (its SpendPolicy's perDayUsd), when it has one.",
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const k of read())
        if (k.dailyCapUsd !== undefined && k.spentTodayUsd !== undefined)
          this.set({ namespace: k.namespace, vault_key: k.vaultKey, vendor: k.vendor }, k.dailyCapUsd);
    },
  });
}
