import { type Denial, deny } from '../../decision/reasons.ts';
import { formatUsd } from '../../money/micro-usd.ts';
import { matchesAny, matchesEndpoint } from '../../patterns/glob.ts';
import type { CompiledPolicy } from '../../snapshot/types.ts';
import type { Operation } from '../../vendors/types.ts';
import type { Stage } from '../context.ts';

/** What one authorize check sees: the policy, the call and its price (a CallContext past price). */
export interface AuthorizeInput {
  readonly policy: CompiledPolicy;
  readonly method: string;
  readonly path: string;
  readonly op: Operation;
}

/** A pure check: undefined passes, a Denial stops the chain. */
export type Check = (input: AuthorizeInput) => Denial | undefined;

/** Whether the endpoint allowlist names this call; unset means "everything the catalog knows". */
function endpointAllowed(policy: CompiledPolicy, method: string, path: string): boolean {
  return !policy.endpoints || policy.endpoints.some((e) => matchesEndpoint(e, method, path));
}

export const checkEndpoint: Check = ({ policy, method, path, op }) => {
  if (!endpointAllowed(policy, method, path)) {
    return deny('endpoint_not_allowed', `${method} ${path} is not in this key's endpoint allowlist.`);
  }
  // An operation the catalog cannot price passes only when the allowlist names it explicitly.
  if (!op.known && (op.movesMoney || method !== 'GET') && !policy.endpoints) {
    return deny(
      'price_unknown',
      `Keybrake cannot price ${method} ${path}; allow it explicitly in the policy's endpoints to let it through.`,
    );
  }
  return undefined;
};

export const checkCustomer: Check = ({ policy, op }) => {
  if (!policy.customers) return undefined;
  const outside = op.parties.customers.find((c) => !policy.customers!.has(c));
  if (outside)
    return deny('customer_not_allowed', `Customer ${outside} is not in this key's customer allowlist.`);
  if (op.movesMoney && op.parties.customers.length === 0) {
    return deny(
      'customer_not_allowed',
      'This key may only move money for allowlisted customers, and this call names none.',
    );
  }
  return undefined;
};

export const checkAccount: Check = ({ policy, op }) => {
  if (!policy.accounts) return undefined;
  const outside = op.parties.accounts.find((a) => !policy.accounts!.has(a));
  return outside
    ? deny('account_not_allowed', `Account ${outside} is not in this key's account allowlist.`)
    : undefined;
};

export const checkRecipient: Check = ({ policy, op }) => {
  if (!policy.recipients) return undefined;
  const outside = op.parties.recipients.find((r) => !matchesAny(policy.recipients!, r));
  if (outside)
    return deny('recipient_not_allowed', `Recipient ${outside} is not in this key's recipient allowlist.`);
  return undefined;
};

export const checkCountry: Check = ({ policy, op }) => {
  if (!policy.countries) return undefined;
  const outside = op.parties.countries.find((c) => !policy.countries!.has(c));
  return outside
    ? deny('country_not_allowed', `Destination country ${outside} is not allowed by this key's policy.`)
    : undefined;
};

export const checkCurrency: Check = ({ policy, op }) => {
  if (!policy.currencies) return undefined;
  const outside = op.parties.currencies.find((c) => !policy.currencies!.has(c));
  return outside
    ? deny('currency_not_allowed', `Currency ${outside} is not allowed by this key's policy.`)
    : undefined;
};

export const checkSender: Check = ({ policy, op }) => {
  if (!policy.senders) return undefined;
  const outside = op.parties.senders.find((s) => !matchesAny(policy.senders!, s));
  return outside
    ? deny('sender_not_allowed', `Sender ${outside} is not in this key's sender allowlist.`)
    : undefined;
};

export const checkPerCall: Check = ({ policy, op }) => {
  const limit = policy.limits.perCallMicros;
  if (limit === undefined || op.costMicros <= limit) return undefined;
  return deny(
    'per_call_limit_exceeded',
    `This call costs $${formatUsd(op.costMicros)}, over the per-call limit of $${formatUsd(limit)}.`,
  );
};

/** Checks that need nothing a cost lookup could fill in: they run before any upstream read. */
export const BEFORE_LOOKUP: readonly Check[] = [checkEndpoint];

/** Checks on the parties and the amount, which a cost lookup may supply. */
export const AFTER_LOOKUP: readonly Check[] = [
  checkCustomer,
  checkAccount,
  checkRecipient,
  checkCountry,
  checkCurrency,
  checkSender,
  checkPerCall,
];

/** The order is part of the contract: the first denial wins (DESIGN.md §4). */
export const AUTHORIZE_CHAIN: readonly Check[] = [...BEFORE_LOOKUP, ...AFTER_LOOKUP];

/** Runs a chain of checks; the first denial wins. */
export function authorize(
  input: AuthorizeInput,
  chain: readonly Check[] = AUTHORIZE_CHAIN,
): Denial | undefined {
  for (const check of chain) {
    const denial = check(input);
    if (denial) return denial;
  }
  return undefined;
}

// Past the price stage a CallContext carries every field a check reads (policy, method, path, op),
// so the checks judge the context itself rather than a copy of it.

/** The authorize stage, first half: the checks that need no cost lookup. */
export const authorizeBeforeLookup: Stage = (ctx) => authorize(ctx as AuthorizeInput, BEFORE_LOOKUP);

/** The authorize stage, second half: the checks on what a cost lookup may have filled in. */
export const authorizeAfterLookup: Stage = (ctx) => authorize(ctx as AuthorizeInput, AFTER_LOOKUP);
