import type { IncomingHttpHeaders } from 'node:http';
import { type Denial, deny, isDenial } from '../../decision/reasons.ts';
import { trimOws } from '../../http-whitespace.ts';
import { partyId, spaceTrimmed, UNSEEN_ANYWHERE } from '../parameter-spaces.ts';
import { type Operation, type Params, type Parties, PLATFORM_ACCOUNT, type VendorRequest } from '../types.ts';
import { isObj } from './fields.ts';
import { SEARCH_PATH, searchCustomers } from './search.ts';

/**
 * `/v1/customers/{customer}…`, and the test helper that funds a customer's cash balance
 * (`/v1/test_helpers/customers/{customer}/fund_cash_balance`, found unjudged by the eleventh round's sweep).
 */
const CUSTOMER_PATH = /^\/v1\/(?:test_helpers\/)?customers\/([^/]+)/;
/** `/v1/accounts/{account}` and every path under it: the connected account it reads or changes. */
const ACCOUNT_PATH = /^\/v1\/accounts\/([^/]+)/;

/**
 * Named as a recipient when money goes to one the call describes rather than names (a Treasury
 * payment's `destination_payment_method_data`): no allowlist pattern but `*` matches it, so a
 * recipient allowlist denies the call instead of seeing no recipient at all.
 */
export const UNSEEN_RECIPIENT = '(unseen recipient)';
const ACCOUNT_ID = /^acct_[A-Za-z0-9]{1,255}$/;

/**
 * Who a Stripe call names, for the allowlists of the authorize stage. Parameters are read at every
 * depth, since Stripe takes the same parties nested (`phases[0][transfer_data][destination]`,
 * `price_data[currency]`, `payment_intent_data[transfer_data][destination]`): an allowlist that is
 * set applies to every party a call names, wherever it names it.
 *   - customers: every `customer` and `customer_account` parameter, and every `related_customer`
 *     and `related_customer_account` (an Identity verification session's) (body, or query of a read: a
 *     customer named by its account id, `acct_…`, is a customer party too), the id in
 *     `/v1/customers/:id…` and `/v1/test_helpers/customers/:id…` (not `GET /v1/customers/search`), every customer a search's `query` names
 *     (searchCustomers), and every customer id in a meter event's `payload` (meterCustomers);
 *   - accounts: every connected account the call acts on, from `Stripe-Account` and `Stripe-Context`
 *     (`accountsOf`); none means the platform account (authorize admits that only when
 *     `allow.accounts` lists `platform`); and every connected account the call names
 *     (namedAccounts): the `{account}` of a `/v1/accounts/{account}…` path, every `on_behalf_of`, a
 *     `source` that is an account (`acct_…`: an account debit takes that account's balance), the
 *     `account` of an invoice's `issuer` or of a tax `liability`, a
 *     top-level `account=acct_…` (account links and sessions). A money call that names one while
 *     no header names any also acts on the platform account (withPlatformAccount);
 *   - recipients: where money is sent to — every `destination` (of transfers and payouts: an
 *     `acct_…` or a bank account/card id, or `destination[account]`; `transfer_data[destination]`
 *     of charges, intents, subscriptions, checkout sessions…) — and every
 *     `destination_payment_method` (a Treasury outbound payment's or transfer's: the payment method
 *     id), or UNSEEN_RECIPIENT for a `destination_payment_method_data` (a recipient made by the call,
 *     which has no id yet), an old API version's `recipient` (`rp_…`, a transfer's), and every
 *     `payout_method` (a payout's v2 financial account, a balance-settings transfer rule's), and a
 *     Treasury financial account's `forwarding_settings` (forwardingRecipients) — so
 *     `allow.recipients` (globs such as `acct_1Abc*`) governs where an
 *     agent may send funds;
 *   - currencies: every `currency` parameter and every key of a `currency_options` object,
 *     lower-cased.
 * A party parameter that is not a single value (a list, an object where an id belongs), or whose id
 * has a blank, control or format character around or inside it (partyValue, pathId), is refused:
 * what Stripe would read from it cannot be checked. ASCII spaces around an id are dropped. `metadata` is skipped: its keys are the
 * caller's own names, and Stripe acts on none of them.
 */
export function stripeParties(req: VendorRequest, params: Params): Parties | Denial {
  const found: Found = { customers: [], accounts: [], recipients: [], currencies: [] };
  const invalid = collect(params, found);
  if (invalid) return invalid;
  // A search is a GET: `POST /v1/customers/search` is an update of the customer `search` (tenth
  // round: read as a search, its path customer was never judged), whatever Stripe makes of the id.
  const search = req.method === 'GET' && SEARCH_PATH.test(req.path);
  if (search) found.customers.push(...searchCustomers(params['query']));
  const inPath = search ? undefined : CUSTOMER_PATH.exec(req.path)?.[1];
  if (inPath) {
    const customer = pathId(inPath);
    if (isDenial(customer)) return customer;
    found.customers.push(customer);
  }
  const named = namedAccounts(req.path, params, found);
  if (named) return named;

  const acting = accountsOf(req.headers);
  if (isDenial(acting)) return acting;

  return {
    customers: [...new Set(found.customers)],
    accounts: [...new Set([...acting, ...found.accounts])],
    recipients: [...new Set(found.recipients)],
    countries: [],
    currencies: [...new Set(found.currencies)],
    senders: [],
  };
}

interface Found {
  readonly customers: string[];
  readonly accounts: string[];
  readonly recipients: string[];
  readonly currencies: string[];
}

/**
 * The connected accounts a call names outside its headers, which `allow.accounts` governs as it does
 * `Stripe-Account` (ADR 0007, fourth round): the `{account}` of a `/v1/accounts/{account}…` path
 * (as it is, whatever its shape: one the list does not name is refused) and a top-level
 * `account=acct_…` (an account link or session opens that account to whoever holds it). Found by a
 * security tester (fourth round): under `accounts: [acct_allowed]`, another account's persons,
 * external accounts, capabilities and unreject were reached by path, the header unset. The body's
 * `on_behalf_of` and `source=acct_…` are read with every other party (party).
 */
function namedAccounts(path: string, params: Params, found: Found): Denial | undefined {
  const inPath = ACCOUNT_PATH.exec(path)?.[1];
  if (inPath) {
    const account = pathId(inPath);
    if (isDenial(account)) return account;
    found.accounts.push(account);
  }
  if (!Object.hasOwn(params, 'account') || typeof params['account'] !== 'string') return undefined;
  const account = partyId(params['account']);
  if (account === undefined) return unseenCharacters('account');
  if (ACCOUNT_ID.test(account)) found.accounts.push(account);
  return undefined;
}

/**
 * A customer or account id in the path, as Stripe reads it: percent-decoded (the route stage has
 * refused escaped letters and digits, so an escape left is of a character no id holds) and then held
 * to partyId, so `/v1/customers/cus_good%C2%A0` is refused rather than matched by `cus_good*`.
 */
function pathId(segment: string): string | Denial {
  let decoded: string;
  try {
    decoded = decodeURIComponent(segment);
  } catch {
    // The route stage refuses a malformed escape before this runs (path_invalid, tenth round); kept
    // so that this function, judged on its own, fails closed too.
    return deny('path_invalid', 'The path holds an id that is not valid percent-encoding.');
  }
  return (
    partyId(decoded) ??
    deny('path_invalid', 'The path names an id with a blank, control or format character: an id holds none.')
  );
}

/**
 * A money call whose headers name no account acts on the platform account, which authorize requires
 * `allow.accounts` to list when the call names no account at all. One that names an account in its
 * path or body (namedAccounts) still acts on the platform (a charge `on_behalf_of` or debiting an
 * account is the platform's): so `platform` is one of its accounts, and a list without it refuses
 * the call as before.
 */
export function withPlatformAccount(op: Operation, req: VendorRequest): Operation {
  if (!op.movesMoney || op.parties.accounts.length === 0) return op;
  const acting = accountsOf(req.headers);
  if (isDenial(acting) || acting.length > 0) return op;
  return { ...op, parties: { ...op.parties, accounts: [...op.parties.accounts, PLATFORM_ACCOUNT] } };
}

/** Adds the parties named anywhere in `value` to `found`; a malformed party parameter is refused. */
function collect(value: unknown, found: Found): Denial | undefined {
  if (Array.isArray(value)) {
    for (const item of value) {
      const invalid = collect(item, found);
      if (invalid) return invalid;
    }
    return undefined;
  }
  if (!isObj(value)) return undefined;
  // for…in, not Object.entries: every Stripe call walks its parameters, and this makes no arrays.
  for (const name in value) {
    // Metadata is the caller's own key-value store: Stripe never reads a party from it.
    if (name === 'metadata' || !Object.hasOwn(value, name)) continue;
    const v = value[name];
    const invalid = party(name, v, found) ?? collect(v, found);
    if (invalid) return invalid;
  }
  return undefined;
}

function party(name: string, v: unknown, found: Found): Denial | undefined {
  switch (name) {
    case 'customer':
    case 'customer_account':
    // An Identity verification session's customer (its create): found by an adversarial probe
    // (twelfth round, fixesr), named nowhere a customer allowlist looked.
    case 'related_customer':
    case 'related_customer_account':
      return push(found.customers, name, v);
    case 'currency': {
      const currency = partyValue(name, v);
      if (isDenial(currency)) return currency;
      if (currency !== '') found.currencies.push(currency.toLowerCase());
      return undefined;
    }
    case 'currency_options':
      if (!isObj(v)) return deny('body_invalid', 'Parameter "currency_options" is malformed.');
      for (const key of Object.keys(v)) {
        const currency = partyId(key);
        if (currency === undefined) return unseenCharacters(`currency_options[${key}]`);
        found.currencies.push(currency.toLowerCase());
      }
      return undefined;
    case 'destination': {
      const account = typeof v === 'string' ? v : isObj(v) ? v['account'] : undefined;
      if (typeof account !== 'string') return deny('body_invalid', 'Parameter "destination" is malformed.');
      return push(found.recipients, name, account);
    }
    case 'destination_payment_method':
    // Found by an adversarial probe: a Treasury outbound payment or transfer named no recipient; and
    // an old API version's transfer (`Stripe-Version` 2014) named its recipient `recipient=rp_…`.
    case 'recipient':
    // Found by a security tester (fourth round): a payout to `payout_method` (the v2 financial
    // account it is sent to, in place of `destination`) named no recipient; the same field names
    // where a balance-settings transfer rule sweeps the balance.
    case 'payout_method':
      return push(found.recipients, name, v);
    // Found by a security tester (fourth round): a charge made on behalf of another account, or taking
    // money from its balance (`source=acct_…`, an account debit), got past `allow.accounts`.
    case 'on_behalf_of':
      return push(found.accounts, name, v);
    case 'source': {
      // A card, token or source otherwise (a legacy card may be given as an object): no party.
      if (typeof v !== 'string') return undefined;
      const source = partyId(v);
      if (source === undefined) return unseenCharacters(name);
      if (ACCOUNT_ID.test(source)) found.accounts.push(source);
      return undefined;
    }
    // Found by a security tester (fourth round, last probe): an invoice issued by another connected
    // account (`issuer[account]`, also under `invoice_settings` and Checkout's `invoice_data`), or
    // whose tax that account carries (`automatic_tax[liability][account]`), got past `allow.accounts`.
    case 'issuer':
    case 'liability': {
      if (!isObj(v)) return deny('body_invalid', `Parameter "${name}" is malformed.`);
      if (!Object.hasOwn(v, 'account')) return undefined;
      return push(found.accounts, `${name}[account]`, v['account']);
    }
    case 'destination_payment_method_data':
      if (!isObj(v)) return deny('body_invalid', `Parameter "${name}" is malformed.`);
      found.recipients.push(UNSEEN_RECIPIENT);
      return undefined;
    case 'forwarding_settings':
      return forwardingRecipients(v, found);
    default:
      return undefined;
  }
}

/**
 * Where a Treasury financial account's balance goes when it closes (`forwarding_settings`, of an
 * update or a close): its `payment_method` or `financial_account`. Elsewhere neither field names a
 * recipient (a payment method pays; an outbound payment's `financial_account` is where money comes
 * from), so they are read here only. Found by a security tester (fourth round): neither was checked.
 */
function forwardingRecipients(v: unknown, found: Found): Denial | undefined {
  if (!isObj(v)) return deny('body_invalid', 'Parameter "forwarding_settings" is malformed.');
  for (const field of ['payment_method', 'financial_account'] as const) {
    if (!Object.hasOwn(v, field)) continue;
    const invalid = push(found.recipients, `forwarding_settings[${field}]`, v[field]);
    if (invalid) return invalid;
  }
  return undefined;
}

/** Adds the party id `v` names to `list` (none when it is cleared, ''), or refuses it (partyValue). */
function push(list: string[], name: string, v: unknown): Denial | undefined {
  const id = partyValue(name, v);
  if (isDenial(id)) return id;
  if (id !== '') list.push(id);
  return undefined;
}

/**
 * The one id a party parameter names, without the ASCII spaces around it. A list or object where an
 * id belongs is refused, and so is an id with a blank, control or format character around or inside
 * it (partyId): `acct_good\u00a0` is not the account `acct_good*` admits, and whether Stripe reads it
 * as that one or another is unknown (sixth round: such destinations were judged as written and
 * forwarded).
 */
function partyValue(name: string, v: unknown): string | Denial {
  if (typeof v !== 'string') return single(name);
  return partyId(v) ?? unseenCharacters(name);
}

function unseenCharacters(name: string): Denial {
  return deny(
    'body_invalid',
    `Parameter "${name}" holds a blank, control or format character around or inside its id.`,
  );
}

/** A Stripe customer id, or a customer named by its account id (`customer_account`). */
const CUSTOMER_ID = /^(cus|acct)_[A-Za-z0-9]+$/;

/** The payload key a meter maps its events to a customer by unless it names another (Stripe's default). */
const DEFAULT_CUSTOMER_KEY = 'stripe_customer_id';

/**
 * A value that reads as a customer id once its case and its blank or invisible characters are set
 * aside (`CUS_evil`, `cus_ev\u200bil`): Stripe may read it as a customer, Keybrake cannot say which.
 */
const CUSTOMER_LIKE = /^(cus|acct)_/i;

/**
 * The customers a meter event names (classify adds them to its parties): Stripe bills the usage to
 * the customer later, on its own. The payload key that names the customer is the meter's own
 * setting (`customer_mapping.event_payload_key`, `stripe_customer_id` by default), which the call
 * does not show: so every payload value that is a customer id counts, and none can stand in for
 * another. The default key must hold one customer id (partyId, CUSTOMER_ID), and a value under any
 * other key that only resembles one (CUSTOMER_LIKE) is refused too: skipped, it let a decoy
 * `payload[x]=cus_allowed` be the call's only customer while Stripe billed `cus_ev\u200bil` or
 * `CUS_evil` (sixth round). A payload that names no customer id is refused under a customer
 * allowlist (classify), since its customer cannot be read. A value with blank or invisible characters
 * other than ASCII spaces around it (`cus_allowed\u00a0`) is refused: it is not the customer it
 * resembles, and whether Stripe reads it as that one or another is unknown.
 */
export function meterCustomers(params: Params): string[] | Denial {
  const payload = params['payload'];
  if (!isObj(payload)) return [];
  const ids: string[] = [];
  for (const key in payload) {
    if (!Object.hasOwn(payload, key)) continue;
    const v = payload[key];
    // Stripe's definition takes strings only: a list or object there has no reading to judge.
    if (typeof v !== 'string') return single(`payload[${key}]`);
    const trimmed = spaceTrimmed(v);
    if (trimmed === undefined) {
      return deny(
        'body_invalid',
        "A meter event's payload holds a value with blank or invisible characters around it.",
      );
    }
    // partyId of the value, trimmed once.
    const id = UNSEEN_ANYWHERE.test(trimmed) ? undefined : trimmed;
    if (id !== undefined && CUSTOMER_ID.test(id)) ids.push(id);
    else if (key === DEFAULT_CUSTOMER_KEY || CUSTOMER_LIKE.test(v.split(UNSEEN_ANYWHERE).join(''))) {
      return deny(
        'body_invalid',
        `Parameter "payload[${key}]" must be one customer id (cus_… or acct_…), with nothing blank or invisible inside it.`,
      );
    }
  }
  return ids;
}

function single(name: string): Denial {
  return deny('body_invalid', `Parameter "${name}" must be given once, as a single value.`);
}

/**
 * The connected accounts a call acts on (ADR 0007 §3): the `Stripe-Account` id and every `acct_…` of
 * a `Stripe-Context` path (`acct_1/acct_2`: an account of an account). A malformed value is
 * `header_invalid`; both headers naming different accounts is `account_not_allowed`, whatever the
 * allowlist, since Keybrake cannot tell which one Stripe would act on. Empty: the platform account.
 * The parse stage has already refused either header given twice.
 */
export function accountsOf(headers: IncomingHttpHeaders): string[] | Denial {
  const account = headerValue(headers, 'stripe-account', 'Stripe-Account');
  if (isDenial(account)) return account;
  const context = headerValue(headers, 'stripe-context', 'Stripe-Context');
  if (isDenial(context)) return context;
  if (account !== undefined && !ACCOUNT_ID.test(account)) {
    return deny('header_invalid', 'Stripe-Account must be one connected account id (acct_…).');
  }
  if (context === undefined) return account === undefined ? [] : [account];
  const path = context.split('/');
  if (!path.every((segment) => ACCOUNT_ID.test(segment))) {
    return deny(
      'header_invalid',
      'Stripe-Context must be an account id (acct_…) or a path of them joined by "/".',
    );
  }
  if (account !== undefined && (path.length !== 1 || path[0] !== account)) {
    return deny('account_not_allowed', 'Stripe-Account and Stripe-Context name different accounts.');
  }
  return [...new Set(path)];
}

function headerValue(headers: IncomingHttpHeaders, key: string, name: string): string | undefined | Denial {
  const value = headers[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') return deny('header_invalid', `${name} is given more than once.`);
  // Spaces and tabs only: `acct_allowed\xA0` is forwarded as it is, so it must not be judged as acct_allowed.
  return trimOws(value);
}
