import type { SpendPolicy } from '../api/v1alpha1/spend-policy.ts';
import { compileEndpointPattern, type EndpointPattern, matchesEndpoint } from '../patterns/glob.ts';
import type { VendorName } from '../snapshot/types.ts';
import { compileOperations, type OperationRow } from '../vendors/operation-table.ts';
import { RESEND_OPERATIONS } from '../vendors/resend/operations.ts';
import { RESEND_LOOKUP_RULES } from '../vendors/resend/rules.ts';
import { STRIPE_OPERATIONS } from '../vendors/stripe/operations.ts';
import { STRIPE_LOOKUP_RULES } from '../vendors/stripe/rules.ts';
import { TWILIO_OPERATIONS } from '../vendors/twilio/operations.ts';
import { TWILIO_LOOKUP_RULES } from '../vendors/twilio/rules.ts';

/** How many of a policy's unpassable operations a warning names before it says how many more. */
const NAMED = 5;

/** Each vendor's money rows whose price may be looked up before the call is forwarded. */
const LOOKUP_ROWS: Record<VendorName, readonly OperationRow[]> = {
  stripe: lookupRows(STRIPE_OPERATIONS, STRIPE_LOOKUP_RULES),
  twilio: lookupRows(TWILIO_OPERATIONS, TWILIO_LOOKUP_RULES),
  resend: lookupRows(RESEND_OPERATIONS, RESEND_LOOKUP_RULES),
};

function lookupRows(rows: readonly OperationRow[], rules: ReadonlySet<string>): OperationRow[] {
  return rows.filter((r) => r.class === 'money' && r.rule !== undefined && rules.has(r.rule));
}

/**
 * `policy-check`'s warnings for policies whose `requestsPerMinute: 1` admits operations priced from a
 * lookup (ADR 0003, sixth round): the proxy counts the call and each read of its lookup, at least 2,
 * so such a call can never pass (429 rate_limited, nothing read). A warning, not an error: the policy
 * is served, and every other operation it admits passes.
 */
export function lookupRateWarnings(policies: readonly SpendPolicy[]): string[] {
  const lines: string[] = [];
  for (const policy of policies) {
    if (policy.spec.limits?.requestsPerMinute !== 1) continue;
    const admitted = admittedLookupOperations(policy.spec.vendor, policy.spec.allow?.endpoints);
    if (admitted.length === 0) continue;
    const named = admitted.slice(0, NAMED).join(', ');
    const more = admitted.length > NAMED ? ` and ${admitted.length - NAMED} more` : '';
    lines.push(
      `warning: SpendPolicy ${policy.metadata.namespace}/${policy.metadata.name}: requestsPerMinute 1 admits operations priced from a lookup (${named}${more}), which count the call and each upstream read of the lookup, at least 2 requests: they can never pass (429 rate_limited). Set requestsPerMinute to 2 or more to let them through.`,
    );
  }
  return lines;
}

/**
 * The catalog ids of the lookup-priced operations an endpoint allowlist admits (every one when the
 * policy sets none: a policy of caps only admits every priced money operation). A glob is tried on
 * each row's template with an id in every placeholder; an entry naming one call exactly
 * (`POST /v1/payment_intents/pi_1/confirm`) is found by the catalog's own matcher.
 */
function admittedLookupOperations(vendor: VendorName, endpoints: readonly string[] | undefined): string[] {
  const rows = LOOKUP_ROWS[vendor];
  if (endpoints === undefined) return rows.map((r) => r.id);
  const match = compileOperations(rows);
  const ids = new Set<string>();
  for (const source of endpoints) {
    const entry = compileEndpointPattern(source);
    for (const row of rows) if (admits(entry, row)) ids.add(row.id);
    if (entry.exact && entry.method !== '*') {
      const found = match(entry.method, source.slice(source.indexOf(' ') + 1));
      if (found) ids.add(found.row.id);
    }
  }
  return [...ids];
}

function admits(entry: EndpointPattern, row: OperationRow): boolean {
  return matchesEndpoint(entry, row.method, row.path.replace(/\{[^{}/]+\}/g, 'x1'));
}
