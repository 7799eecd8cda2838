import { type Denial, deny } from '../../decision/reasons.ts';
import type { Params } from '../types.ts';
import { valuesNamed } from './fields.ts';

/**
 * Stripe v2 reads: what their `include` parameter, v2's `expand`, makes Stripe return, and the one
 * v2 object whose every answer holds a full bank account number. No v2 operation is in the catalog
 * (Keybrake forwards a `/v2/…` call only where a policy names it exactly, `stripe.unknown`), so
 * nothing judged what it reveals: with `GET /v2/money_management/financial_addresses/fadr_1` listed,
 * `?include[0]=credentials.us_bank_account.account_number` was forwarded, though the v1 `expand` of
 * an `account_number` is refused whatever the policy says (twelfth round, wire probe's lead).
 *
 * From Stripe's own definitions (stripe-node 23.1.0, API v2596, read 2026-12-02; the preview SDKs'
 * enums as published in stripe/openapi):
 * - the preview's financial address `include` values reveal full numbers:
 *   `credentials.us_bank_account.account_number`, `credentials.gb_bank_account.account_number`,
 *   `credentials.sepa_bank_account.iban`;
 * - an event destination's create takes `webhook_endpoint.signing_secret` (the secret that signs
 *   events to the merchant's server) and `webhook_endpoint.url`;
 * - a financial account's reads take `storage.deposit_insurance_eligibility`; a v2 account's
 *   `configuration.*`, `defaults`, `identity`, `requirements` and `future_requirements`;
 * - the current v2 financial address (`v2.money_management.financial_address`) answers its list,
 *   its read and its create with `bank_account.aba.account_number` ("the full account number"),
 *   `bank_account.iban.iban` and `bank_account.sort_code.account_number`, no `include` needed.
 */

/** Field names whose value is a credential to move money, an identity number or a signing secret. */
const SECRET_FIELDS = new Set(['account_number', 'iban', 'number', 'cvc', 'id_number']);

/**
 * The `include` values of v2 money-management paths Stripe's definition documents and that reveal
 * nothing secret. Any other value there is refused: Stripe adds values to these open enums, and the
 * paths hold bank details (fail closed).
 */
const MONEY_MANAGEMENT_INCLUDES = new Set(['storage.deposit_insurance_eligibility']);

const MONEY_MANAGEMENT = '/v2/money_management/';
const FINANCIAL_ADDRESSES = '/v2/money_management/financial_addresses';

/**
 * The refusal (price stage) of a Stripe call that would reveal a secret through v2, whatever the
 * policy says; undefined when it reveals none. `path` is the canonical path, without its query.
 */
export function v2RevealDenial(path: string, params: Params): Denial | undefined {
  if (path === FINANCIAL_ADDRESSES || path.startsWith(`${FINANCIAL_ADDRESSES}/`)) {
    return deny(
      'credential_operation',
      "A Stripe v2 financial address's answer holds its full bank account number or IBAN, a credential for moving money: Keybrake never forwards it.",
    );
  }
  for (const value of includeValues(params)) {
    // Read as `expand` is (classify.ts secretExpansion): every value, however given, every segment
    // with anything a field name cannot hold dropped, so no spelling Stripe might ignore gets past.
    const segments = value.split('.').map(fieldNameOf);
    if (segments.some((s) => SECRET_FIELDS.has(s) || s.endsWith('secret'))) {
      return deny(
        'credential_operation',
        `include ${value} reveals a bank account number, an identity number or a signing secret: Keybrake never forwards it.`,
      );
    }
    if (path.startsWith(MONEY_MANAGEMENT) && !MONEY_MANAGEMENT_INCLUDES.has(segments.join('.'))) {
      return deny(
        'credential_operation',
        `include ${value} on a Stripe v2 money-management path is not one Keybrake knows reveals no bank details, so it is not forwarded.`,
      );
    }
  }
  return undefined;
}

/**
 * Every value of every parameter that may be the include: `include`, and any name that is `include`
 * once lower-cased with everything but letters dropped (`Include`, `INCLUDE`, `in_clude`). The
 * values were read in any form, the name only as spelt, so `?Include=webhook_endpoint.signing_secret`
 * was forwarded unread (fixes12b finding 4); whether Stripe's v2 router takes such a name is
 * unknown, and judging it as the include costs nothing where it reveals nothing.
 */
function includeValues(params: Params): string[] {
  return valuesNamed(params, 'include').flatMap(stringsIn);
}

/** A segment as a field name: lower case, with anything a field name cannot hold dropped. */
function fieldNameOf(segment: string): string {
  return segment.toLowerCase().replace(/[^a-z0-9_]/g, '');
}

/** Every string a parameter holds, at any depth (a list, an object of strings, a nested one). */
function stringsIn(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (typeof value !== 'object' || value === null) return [];
  return Object.values(value).flatMap(stringsIn);
}
