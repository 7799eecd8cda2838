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
  readonly claimedElsewhere: Gauge;
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
    claimedElsewhere: new Gauge({
      name: 'keybrake_operator_namespaces_claimed_elsewhere',
      help: 'Namespaces holding VaultKeys or SpendPolicies that another Keybrake release has claimed: their keys are not served by this one.',
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

/** Keys rendered between two turns of the event loop: about a millisecond of work each. */
const KEYS_PER_TURN = 1_000;

/** Lets the event loop run (a revocation to publish, a Lease to renew) between two chunks of a render. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Spend per VaultKey against its daily cap, for dashboards and the cap alert: what `kubectl get vk`
 * shows as SPENT-TODAY and CAP. Only the leader reads spend, so a standby exports none.
 *
 * Rendered here, as prom-client would render two gauges, rather than by prom-client: its registry
 * writes a metric's every series in one go, and at 100 000 keys these two held the operator's event
 * loop for seconds per scrape (sixth round). This yields every KEYS_PER_TURN keys instead, and reads
 * each key once, as it goes, without copying the table.
 */
export const KEY_SPEND_METRICS = [
  {
    name: 'keybrake_vault_key_spent_today_usd',
    help: "USD a served VaultKey spent today (its policy's calendar day), read from the shared counters.",
  },
  {
    name: 'keybrake_vault_key_daily_cap_usd',
    help: "A served VaultKey's daily cap in USD (its SpendPolicy's perDayUsd), when it has one.",
  },
] as const;

/**
 * The two per-key gauges in the text exposition format, one block each as prom-client's registry
 * writes them (HELP, TYPE, series; blocks apart by a blank line; a final newline). A key whose spend
 * was not read has neither series.
 */
export async function renderKeySpend(
  keys: Iterable<KeySpend>,
  pause: () => Promise<void> = nextTurn,
): Promise<string> {
  const [spentMetric, capMetric] = KEY_SPEND_METRICS;
  const spent = header(spentMetric);
  const caps = header(capMetric);
  let sinceTurn = 0;
  for (const k of keys) {
    if (++sinceTurn === KEYS_PER_TURN) {
      sinceTurn = 0;
      await pause();
    }
    if (k.spentTodayUsd === undefined) continue;
    const labels = `{namespace="${labelValue(k.namespace)}",vault_key="${labelValue(k.vaultKey)}",vendor="${labelValue(k.vendor)}"}`;
    spent.push(`${spentMetric.name}${labels} ${sampleValue(k.spentTodayUsd)}`);
    if (k.dailyCapUsd !== undefined) caps.push(`${capMetric.name}${labels} ${sampleValue(k.dailyCapUsd)}`);
  }
  return `${spent.join('\n')}\n\n${caps.join('\n')}\n`;
}

const header = (m: { readonly name: string; readonly help: string }): string[] => [
  `# HELP ${m.name} ${m.help}`,
  `# TYPE ${m.name} gauge`,
];

/** prom-client's escaping of a label value (backslash, newline, double quote). */
const labelValue = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

/** prom-client's writing of a sample value. */
const sampleValue = (v: number): string =>
  Number.isNaN(v) ? 'Nan' : Number.isFinite(v) ? `${v}` : v < 0 ? '-Inf' : '+Inf';
