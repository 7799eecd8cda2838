import { Denial } from '../decision/reasons.ts';
import type { CatalogClass, Operation, Parties } from './types.ts';

/**
 * What every vendor's classify does with a row's class before its own pricing rules (price stage):
 * a sensitive operation is refused whatever the policy says (ADR 0007 §1), a money operation whose
 * rule the vendor does not implement yet is refused as unpriceable (fail closed), and the others are
 * reported with the flags the pipeline reads.
 */

export function sensitiveDenial(id: string): Denial {
  return new Denial(
    'credential_operation',
    `${id} reveals, mints or deletes a credential, or changes who can access the account: Keybrake never forwards it.`,
    id,
  );
}

export function unpricedRuleDenial(id: string, rule: string): Denial {
  return new Denial(
    'price_unknown',
    `Keybrake cannot price ${id} yet (pricing rule "${rule}"), so it is not allowed.`,
    id,
  );
}

/**
 * A call the catalog has no row for: money-moving at cost 0, admitted only by an exact endpoint entry.
 * `scope` is the vendor, and for Twilio its API host too (`twilio.studio`).
 */
export function unknownOperation(scope: string, parties: Parties): Operation {
  return {
    id: `${scope}.unknown`,
    class: 'unknown',
    movesMoney: true,
    costMicros: 0,
    parties,
  };
}

/**
 * A catalogued operation Keybrake counts at 0: free by its class (or a money operation whose rule
 * finds that this call moves nothing, such as a draft broadcast), or money it cannot price
 * (`money_unpriced`, never reported as free).
 */
export function uncountedOperation(id: string, cls: CatalogClass, parties: Parties): Operation {
  return {
    id,
    class: cls,
    movesMoney: cls === 'money_unpriced',
    costMicros: 0,
    parties,
  };
}
