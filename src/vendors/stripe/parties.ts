import type { IncomingHttpHeaders } from 'node:http';
import { type Denial, deny, isDenial } from '../../decision/reasons.ts';
import type { Params, Parties, VendorRequest } from '../types.ts';
import { nested, scalar } from './fields.ts';

const CUSTOMER_PATH = /^\/v1\/customers\/([^/]+)/;
const ACCOUNT_ID = /^acct_[A-Za-z0-9]{1,255}$/;

/**
 * Who a Stripe call names, for the allowlists of the authorize stage:
 *   - customers: the `customer` parameter (body, or query of a read) and the id in `/v1/customers/:id…`;
 *   - accounts: every connected account the call acts on, from `Stripe-Account` and `Stripe-Context`
 *     (`accountsOf`); none means the platform account (authorize admits that only when
 *     `allow.accounts` lists `platform`);
 *   - recipients: where money is sent to — `destination` of transfers and payouts (an `acct_…` or a
 *     bank account/card id) and `transfer_data[destination]` of charges and payment intents — so
 *     `allow.recipients` (globs such as `acct_1Abc*`) governs where an agent may send funds;
 *   - currencies: the `currency` parameter, lower-cased.
 */
export function stripeParties(req: VendorRequest, params: Params): Parties | Denial {
  const customers: string[] = [];
  const customer = scalar(params, 'customer');
  if (isDenial(customer)) return customer;
  if (customer) customers.push(customer);
  const inPath = CUSTOMER_PATH.exec(req.path)?.[1];
  if (inPath && !customers.includes(inPath)) customers.push(inPath);

  const currency = scalar(params, 'currency');
  if (isDenial(currency)) return currency;

  const recipients: string[] = [];
  const destination = Object.hasOwn(params, 'destination') ? params['destination'] : undefined;
  if (typeof destination === 'string') recipients.push(destination);
  else if (destination !== undefined) {
    const account = nested(params, 'destination', 'account');
    if (account === undefined) return deny('body_invalid', 'Parameter "destination" is malformed.');
    recipients.push(account);
  }
  const transferTo = nested(params, 'transfer_data', 'destination');
  if (transferTo !== undefined) recipients.push(transferTo);

  const accounts = accountsOf(req.headers);
  if (isDenial(accounts)) return accounts;

  return {
    customers,
    accounts,
    recipients,
    countries: [],
    currencies: currency ? [currency.toLowerCase()] : [],
    senders: [],
  };
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
  return value.trim();
}
