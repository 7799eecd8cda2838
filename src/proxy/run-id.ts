import type { IncomingHttpHeaders } from 'node:http';

const RUN_ID = /^[A-Za-z0-9._:@/-]{1,128}$/;

/**
 * The agent run a call belongs to (DESIGN.md §5): `Keybrake-Run-Id`, else W3C baggage
 * `keybrake.run_id`. Ids outside a conservative charset are ignored rather than trusted into logs.
 */
export function runIdOf(headers: IncomingHttpHeaders): string | undefined {
  const direct = headers['keybrake-run-id'];
  if (typeof direct === 'string') return RUN_ID.test(direct) ? direct : undefined;
  const baggage = headers.baggage;
  if (typeof baggage !== 'string') return undefined;
  for (const member of baggage.split(',')) {
    const [pair] = member.split(';');
    const eq = pair?.indexOf('=') ?? -1;
    if (eq < 0 || pair!.slice(0, eq).trim() !== 'keybrake.run_id') continue;
    let value: string;
    try {
      value = decodeURIComponent(pair!.slice(eq + 1).trim());
    } catch {
      return undefined;
    }
    return RUN_ID.test(value) ? value : undefined;
  }
  return undefined;
}
