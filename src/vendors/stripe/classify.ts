import { type Denial, deny, isDenial } from '../../decision/reasons.ts';
import type { ExchangeRates } from '../../money/exchange-rates.ts';
import {
  sensitiveDenial,
  uncountedOperation,
  unknownOperation,
  unpricedRuleDenial,
} from '../operation-class.ts';
import { compileOperations } from '../operation-table.ts';
import type { Operation, Params, VendorRequest } from '../types.ts';
import { bodyCost, lookupCost, type Priced, refundCost } from './costs.ts';
import { amount, isId, scalar } from './fields.ts';
import { STRIPE_OPERATIONS, type StripeOperationRow } from './operations.ts';
import { stripeParties } from './parties.ts';
import type { StripePricingRule } from './rules.ts';

const FREE: Priced = { movesMoney: false, costMicros: 0 };

/** The Stripe table, indexed once. */
export const matchStripeOperation = compileOperations(STRIPE_OPERATIONS);

/** The pricing rules applyRule implements; a money row with any other rule is denied with price_unknown. */
export const PRICED_STRIPE_RULES: ReadonlySet<StripePricingRule> = new Set<StripePricingRule>([
  'amount',
  'payment_intent_create',
  'payment_intent_confirm',
  'payment_intent_capture',
  'charge_capture',
  'refund',
  'invoice_pay',
]);

/**
 * Identifies and prices one Stripe call (price stage): its row of the generated operations table,
 * its class, parties and cost. A sensitive operation is refused; a call the table does not have
 * (any `/v2/…` path included) is `stripe.unknown`, money-moving at cost 0, so the pipeline lets it
 * through only when a policy names it exactly.
 */
export function classifyStripe(req: VendorRequest, params: Params, rates: ExchangeRates): Operation | Denial {
  const parties = stripeParties(req, params);
  if (isDenial(parties)) return parties;
  const match = matchStripeOperation(req.method, req.path);
  if (!match) return unknownOperation('stripe', parties);
  const { row, segments } = match;
  if (row.class === 'sensitive') return sensitiveDenial(row.id);
  const locks = resolveLocks(row, segments, params);
  if (isDenial(locks)) return locks;
  if (row.class !== 'money') return { ...uncountedOperation(row.id, row.class, parties), ...locks };
  // Path ids of a money call may go into a lookup path: only plain Stripe ids.
  if (!segments.every(isId)) return deny('path_invalid', 'The path does not name a valid Stripe object id.');
  const priced = applyRule(row, segments, params, rates);
  if (isDenial(priced)) return priced;
  return { id: row.id, class: row.class, ...priced, parties, ...locks };
}

/**
 * The objects this call locks (ADR 0007 §5), from its row's `locks`: `{name}` is the id in that path
 * placeholder, a bare name the body parameter naming the object (skipped when the call omits it).
 */
export function resolveLocks(
  row: StripeOperationRow,
  segments: readonly string[],
  params: Params,
): { locks?: readonly string[] } | Denial {
  if (!row.locks || row.locks.length === 0) return {};
  const placeholders = [...row.path.matchAll(/\{([^{}/]+)\}/g)].map((m) => m[1]);
  const locks: string[] = [];
  for (const lock of row.locks) {
    const name = /^\{(.+)\}$/.exec(lock)?.[1];
    const at = name === undefined ? -1 : placeholders.indexOf(name);
    // A lock naming no placeholder of its own path is a table bug: never let it pass unlocked.
    if (name !== undefined && at === -1) throw new Error(`${row.id}: lock ${lock} is not in ${row.path}`);
    const id = name === undefined ? scalar(params, lock) : segments[at];
    if (isDenial(id)) return id;
    if (id !== undefined && id !== '') locks.push(id);
  }
  return locks.length > 0 ? { locks } : {};
}

/** Prices a money call by its row's rule; `ids` are the object ids in its path (the intent, charge, invoice). */
function applyRule(
  row: StripeOperationRow,
  ids: readonly string[],
  params: Params,
  rates: ExchangeRates,
): Priced | Denial {
  switch (row.rule) {
    case 'amount':
      return bodyCost(params, rates);
    case 'payment_intent_create': {
      // Without confirm the intent only records an amount; anything but an explicit false may confirm.
      const confirm = scalar(params, 'confirm');
      if (isDenial(confirm)) return confirm;
      if (confirm === undefined || confirm === 'false') {
        const a = amount(params, 'amount');
        return isDenial(a) ? a : FREE;
      }
      return bodyCost(params, rates);
    }
    case 'payment_intent_confirm':
      return lookupCost(`/v1/payment_intents/${ids[0]}`, undefined, (o) => o['amount'], rates);
    case 'payment_intent_capture': {
      const requested = amount(params, 'amount_to_capture');
      if (isDenial(requested)) return requested;
      return lookupCost(
        `/v1/payment_intents/${ids[0]}`,
        requested,
        (o) => o['amount_capturable'] ?? o['amount'],
        rates,
      );
    }
    case 'charge_capture': {
      const requested = amount(params, 'amount');
      if (isDenial(requested)) return requested;
      return lookupCost(`/v1/charges/${ids[0]}`, requested, (o) => o['amount'], rates);
    }
    case 'refund':
      return refundCost(params, rates);
    case 'invoice_pay':
      return lookupCost(`/v1/invoices/${ids[0]}`, undefined, (o) => o['amount_remaining'], rates);
    default:
      // A money operation whose rule is not implemented yet (or a row without one): fail closed.
      return unpricedRuleDenial(row.id, row.rule ?? 'none');
  }
}
