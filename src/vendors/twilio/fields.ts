import type { Params } from '../types.ts';

/**
 * Reads of Twilio form parameters for classify and its cost formulas. Twilio takes repeated keys for
 * lists, so every read tolerates repetition and resolves it towards the higher price.
 */

/** Every string value of a form parameter: `To=a` → ['a'], `MediaUrl=a&MediaUrl=b` → ['a','b']. */
export function strings(params: Params, name: string): string[] {
  const value = params[name];
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return [];
}

/** The one value of a parameter; the longest when repeated, so an ambiguous body is priced high. */
export function single(params: Params, name: string): string | undefined {
  const values = strings(params, name);
  let longest: string | undefined;
  for (const v of values) if (longest === undefined || v.length > longest.length) longest = v;
  return longest;
}

/** Twilio booleans arrive as `true`/`false` strings. */
export function flag(params: Params, name: string): boolean {
  return strings(params, name).some((v) => v.toLowerCase() === 'true');
}
