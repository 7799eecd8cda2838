import { Counter, Gauge, type Registry } from 'prom-client';

export const RELOADS_TOTAL = 'keybrake_manifest_reloads_total';
export const LAST_RELOAD_SUCCESSFUL = 'keybrake_manifest_last_reload_successful';

/**
 * What `keybrake serve`'s compiles of its manifest files came to, the first one included: counted
 * from the compile thread's outcomes, which begin before the proxy and its registry exist, and read
 * into the registry at each scrape. Plain data, so serve need not load prom-client to count.
 */
export interface ReloadTally {
  applied: number;
  rejected: number;
  /** Whether the latest compile was applied; a rejected one leaves the previous table in force. */
  lastApplied: boolean;
}

/**
 * Shows the tally on a proxy's registry (serve only: `keybrake proxy` has no manifest files). A
 * refused edit keeps the last good policy (DESIGN.md §9), so /readyz stays ready: without these
 * metrics a rejected reload showed only on stderr.
 */
export function registerReloadMetrics(registry: Registry, tally: Readonly<ReloadTally>): void {
  new Counter({
    name: RELOADS_TOTAL,
    help: 'Compiles of the manifest files (keybrake serve), the first included: applied, or rejected (the last good policy stays in force).',
    labelNames: ['result'],
    registers: [registry],
    collect() {
      this.reset();
      this.inc({ result: 'applied' }, tally.applied);
      this.inc({ result: 'rejected' }, tally.rejected);
    },
  });
  new Gauge({
    name: LAST_RELOAD_SUCCESSFUL,
    help: 'Whether the latest compile of the manifest files (keybrake serve) was applied: 1 applied, 0 rejected (the last good policy stays in force until a valid edit).',
    registers: [registry],
    collect() {
      this.set(tally.lastApplied ? 1 : 0);
    },
  });
}
