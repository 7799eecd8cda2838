import { type Denial, type DenyReason, deny } from '../decision/reasons.ts';
import type { CatalogClass, Operation, OperationClass, Parties } from './types.ts';

/**
 * What every vendor's classify does with a row's class before its own pricing rules (price stage):
 * a sensitive operation is refused whatever the policy says (ADR 0007 §1), a money operation whose
 * rule the vendor does not implement yet is refused as unpriceable (fail closed), and the others are
 * reported with the flags the pipeline reads.
 */

/**
 * The reason a sensitive operation is refused with. ADR 0007 names `credential_operation`; until the
 * reason registry (src/decision) has it, the refusal uses the closest existing reason.
 */
export const SENSITIVE_REASON: DenyReason = 'endpoint_not_allowed';

export function sensitiveDenial(id: string): Denial {
  return deny(
    SENSITIVE_REASON,
    `${id} reveals, mints or deletes a credential, or changes who can access the account: Keybrake never forwards it.`,
  );
}

export function unpricedRuleDenial(id: string, rule: string): Denial {
  return deny(
    'price_unknown',
    `Keybrake cannot price ${id} yet (pricing rule "${rule}"), so it is not allowed.`,
  );
}

/** A call the catalog has no row for: money-moving at cost 0, admitted only by an exact endpoint entry. */
export function unknownOperation(vendor: string, parties: Parties): Operation {
  return {
    id: `${vendor}.unknown`,
    class: 'unknown',
    known: false,
    movesMoney: true,
    costMicros: 0,
    parties,
  };
}

/**
 * `known` as today's authorize stage reads it: whether it may admit the operation without the policy
 * naming it. ADR 0007 admits destructive and money_unpriced operations only by an exact endpoint
 * entry; until authorize enforces that from `class`, they are reported as not known, so that it keeps
 * requiring an entry for them as it did when they were unknown. Once it does, this is
 * `cls !== 'unknown'`.
 */
export function knownToAuthorize(cls: OperationClass): boolean {
  return cls !== 'unknown' && cls !== 'destructive' && cls !== 'money_unpriced';
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
    known: knownToAuthorize(cls),
    movesMoney: cls === 'money_unpriced',
    costMicros: 0,
    parties,
  };
}
