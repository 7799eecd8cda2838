import { vi } from 'vitest';

/** What a wait in a unit test may take before it fails: a bound on a hang, not a speed assertion. */
const WAIT_MS = 10_000;

/**
 * `vi.waitFor` with room for a loaded CI box. Its default of 1 s made the waits for a heartbeat or a
 * reconnect on a loopback socket speed assertions: at a load average of 16 (probes and a CI run on
 * two cores) a distribution test's 20 ms heartbeat did not arrive within it. A smaller `timeout`
 * given is raised to this; the condition is still polled every `interval` (50 ms by default).
 */
export function waitFor<T>(
  check: () => T | Promise<T>,
  opts: { readonly timeout?: number; readonly interval?: number } = {},
): Promise<T> {
  return vi.waitFor(check, { ...opts, timeout: Math.max(opts.timeout ?? 0, WAIT_MS) });
}
