import type { IncomingHttpHeaders } from 'node:http';
import { type Denial, isDenial } from '../../decision/reasons.ts';
import type { Params, Parties, VendorRequest } from '../types.ts';
import { nested, scalar } from './fields.ts';

const CUSTOMER_PATH = /^\/v1\/customers\/([^/]+)/;

/**
 * Who a Stripe call names, for the allowlists of the authorize stage:
 *   - customers: the `customer` parameter (body, or query of a read) and the id in `/v1/customers/:id…`;
 *   - accounts: the `Stripe-Account` header only (the connected account the call acts as);
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
  const destination = params['destination'];
  if (typeof destination === 'string') recipients.push(destination);
  else if (destination !== undefined) {
    const account = nested(params, 'destination', 'account');
    if (account === undefined)
      return { reason: 'body_invalid', message: 'Parameter "destination" is malformed.' };
    recipients.push(account);
  }
  const transferTo = nested(params, 'transfer_data', 'destination');
  if (transferTo !== undefined) recipients.push(transferTo);

  return {
    customers,
    accounts: headerValues(req.headers, 'stripe-account'),
    recipients,
    countries: [],
    currencies: currency ? [currency.toLowerCase()] : [],
    senders: [],
  };
}

function headerValues(headers: IncomingHttpHeaders, name: string): string[] {
  const v = headers[name];
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).map((s) => s.trim()).filter((s) => s.length > 0);
}
