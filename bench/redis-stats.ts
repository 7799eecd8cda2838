// Counting what the proxy costs Redis: script calls from the server's own INFO commandstats, and the
// calls the proxy handled from its /metrics, read before and after a phase.
import { rawCommand } from '../test/env/redis.ts';

/** EVALSHA + EVAL round trips the server has seen (executed, failed or rejected). */
export async function scriptCalls(port: number): Promise<number> {
  const info = await rawCommand(port, 'INFO commandstats', 2_000);
  let total = 0;
  for (const name of ['evalsha', 'eval']) {
    const line = new RegExp(`^cmdstat_${name}:(.*)$`, 'm').exec(info)?.[1] ?? '';
    for (const field of ['calls', 'rejected_calls']) {
      total += Number(new RegExp(`(?:^|,)${field}=(\\d+)`).exec(line)?.[1] ?? 0);
    }
  }
  return total;
}

/**
 * Calls the proxy has answered (every decision and reason), from keybrake_calls_total, and of them
 * those whose reservation was given back unsent (a second script): the load generator closes its
 * connections at the end of a phase, and a call whose client left before it was sent is dropped
 * (request_invalid), as is one that found no upstream connection in time (upstream_unavailable).
 */
export async function proxyCalls(adminUrl: string): Promise<{ calls: number; released: number }> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  let calls = 0;
  let released = 0;
  for (const m of text.matchAll(/^keybrake_calls_total\{([^}]*)\} (\d+(?:\.\d+)?)$/gm)) {
    const n = Number(m[2]);
    calls += n;
    if (/reason="(?:request_invalid|upstream_unavailable)"/.test(m[1]!)) released += n;
  }
  return { calls, released };
}
