import type { Explanation } from '../proxy/explain.ts';
import { type TokenPrefixes, withoutToken, withoutTokenShapes } from '../tokens/redact.ts';
import { fingerprint } from '../tokens/token.ts';

/** Shorter than any credential Keybrake takes (key_unknown): redacted by value, it would hit ordinary text. */
const MIN_TOKEN_LENGTH = 16;

/**
 * An explanation as `policy-check --explain` may print it: every Keybrake key in it (the request's
 * path and query, a party read from the path or body, a step's detail) replaced by its fingerprint,
 * the key's own token by value whatever its shape, as the proxy records a call's path (ADR 0007 §1:
 * no token in any output). The request is the user's, but its explanation lands in terminals, CI logs
 * and tickets.
 */
export function redactedExplanation(
  explanation: Explanation,
  prefixes: TokenPrefixes,
  token?: string,
): Explanation {
  const byValue = token !== undefined && token.length >= MIN_TOKEN_LENGTH ? token : undefined;
  // A party is shown as the allowlists compare it, an address lowercased: the token in it too.
  const anyCase =
    byValue === undefined ? undefined : new RegExp(byValue.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'gi');
  const clean = (text: string) => {
    const own =
      byValue === undefined ? text : withoutToken(text, byValue).replace(anyCase!, fingerprint(byValue));
    return withoutTokenShapes(own, prefixes);
  };
  return mapStrings(explanation, clean);
}

/** `value` with every string in it, at any depth, given through `f` (keys are field names: kept). */
function mapStrings<T>(value: T, f: (text: string) => string): T {
  if (typeof value === 'string') return f(value) as T;
  if (Array.isArray(value)) return value.map((v) => mapStrings(v, f)) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapStrings(v, f)])) as T;
  }
  return value;
}
