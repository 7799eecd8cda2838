/**
 * Up to when the leader may say its tables are current: the moment every heartbeat's and table
 * head's `lagMs` counts back to (ADR 0005, eighth and ninth rounds). What its informers have seen
 * (`informersAt`, KubernetesSource.currentAt), but no later than `allowanceMs` past its last
 * successful Lease renewal (`sinceRenewalMs` ago). An established watch counts as current while it
 * is silent, and a connection that died without an RST is silent too: the renewals, every retry
 * period, are what shows the API server still answers (ninth round: a leader cut off vouched lag 0
 * until it stepped down at its renew deadline, and its proxies aged their tables from then, 38 s
 * of a deleted key's charges with the default 30 s --max-staleness). The allowance is the retry
 * period: a healthy leader's renewal is at most that (plus its own round trip) old, so its lag stays
 * at the informers' own.
 *
 * Undefined (the line vouches for nothing) when the informers never listed or no renewal ever
 * succeeded. All three times are milliseconds; `informersAt` and `now` on one wall clock.
 */
export function vouchedCurrentAt(
  informersAt: number | undefined,
  now: number,
  sinceRenewalMs: number,
  allowanceMs: number,
): number | undefined {
  if (informersAt === undefined || !Number.isFinite(sinceRenewalMs)) return undefined;
  return Math.min(informersAt, now - Math.max(0, sinceRenewalMs - allowanceMs));
}
