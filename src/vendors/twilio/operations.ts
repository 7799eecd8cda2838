import { compileOperations, type OperationMatcher, type OperationRow } from '../operation-table.ts';

/**
 * The Twilio operations Keybrake knows, one row per host + method + path as Twilio's API definitions
 * write them (one definition per sub host: api, verify, lookups, …), with the pricing rule each
 * follows (applied by classify.ts). Calls missing here fall back by method in classify.ts: a read is
 * free, a DELETE under an account is free, anything else is unknown and treated as money-moving.
 */

/** How an operation is priced (classify.ts applies it, costs.ts holds the formulas). */
export type TwilioPricingRule =
  /** Costs nothing by itself: updating a message or call, a verification check, a new service. */
  | 'free'
  /** A message: per destination, by channel (SMS per segment, MMS, WhatsApp) and country. */
  | 'message'
  /** A call leg per destination: the reserved minutes at the destination rate, plus options. */
  | 'call'
  /** Buying a phone number. */
  | 'phone_number'
  /** Verify: the verification fee plus one contact over its channel. */
  | 'verification'
  /** Lookup v2: the paid `Fields` packages in the query string (none: free). */
  | 'lookup_v2'
  /** Lookup v1: the paid `Type`s and `AddOns` in the query string (none: free). */
  | 'lookup_v1';

/** One row of the Twilio operations table; `host` is the sub host (`api` for api.twilio.com). */
export interface TwilioOperationRow extends OperationRow<TwilioPricingRule> {
  readonly host: string;
}

const ACCOUNT = '/2010-04-01/Accounts/{AccountSid}';

export const TWILIO_OPERATIONS: readonly TwilioOperationRow[] = [
  {
    host: 'api',
    id: 'twilio.messages.create',
    method: 'POST',
    path: `${ACCOUNT}/Messages.json`,
    rule: 'message',
  },
  { host: 'api', id: 'twilio.calls.create', method: 'POST', path: `${ACCOUNT}/Calls.json`, rule: 'call' },
  {
    host: 'api',
    id: 'twilio.conferences.participants.create',
    method: 'POST',
    path: `${ACCOUNT}/Conferences/{ConferenceSid}/Participants.json`,
    rule: 'call',
  },
  {
    host: 'api',
    id: 'twilio.incoming_phone_numbers.create',
    method: 'POST',
    path: `${ACCOUNT}/IncomingPhoneNumbers.json`,
    rule: 'phone_number',
  },
  {
    host: 'api',
    id: 'twilio.incoming_phone_numbers.create',
    method: 'POST',
    path: `${ACCOUNT}/IncomingPhoneNumbers/Local.json`,
    rule: 'phone_number',
  },
  {
    host: 'api',
    id: 'twilio.incoming_phone_numbers.create',
    method: 'POST',
    path: `${ACCOUNT}/IncomingPhoneNumbers/Mobile.json`,
    rule: 'phone_number',
  },
  {
    host: 'api',
    id: 'twilio.incoming_phone_numbers.create',
    method: 'POST',
    path: `${ACCOUNT}/IncomingPhoneNumbers/TollFree.json`,
    rule: 'phone_number',
  },
  // Updating a message (redact, cancel) or a live call (redirect, hang up) costs nothing by itself.
  {
    host: 'api',
    id: 'twilio.messages.update',
    method: 'POST',
    path: `${ACCOUNT}/Messages/{Sid}.json`,
    rule: 'free',
  },
  {
    host: 'api',
    id: 'twilio.calls.update',
    method: 'POST',
    path: `${ACCOUNT}/Calls/{Sid}.json`,
    rule: 'free',
  },
  {
    host: 'verify',
    id: 'twilio.verify.verifications.create',
    method: 'POST',
    path: '/v2/Services/{ServiceSid}/Verifications',
    rule: 'verification',
  },
  // Checks and status updates are billed with the verification they belong to; creating a service is free.
  {
    host: 'verify',
    id: 'twilio.verify.verification_checks.create',
    method: 'POST',
    path: '/v2/Services/{ServiceSid}/VerificationCheck',
    rule: 'free',
  },
  {
    host: 'verify',
    id: 'twilio.verify.verifications.update',
    method: 'POST',
    path: '/v2/Services/{ServiceSid}/Verifications/{Sid}',
    rule: 'free',
  },
  { host: 'verify', id: 'twilio.verify.services.create', method: 'POST', path: '/v2/Services', rule: 'free' },
  // A lookup moves money although it is a GET: reads-when-the-store-is-down must not let it through.
  {
    host: 'lookups',
    id: 'twilio.lookups.v2.fetch',
    method: 'GET',
    path: '/v2/PhoneNumbers/{PhoneNumber}',
    rule: 'lookup_v2',
  },
  {
    host: 'lookups',
    id: 'twilio.lookups.v1.fetch',
    method: 'GET',
    path: '/v1/PhoneNumbers/{PhoneNumber}',
    rule: 'lookup_v1',
  },
];

const BY_HOST = new Map<string, OperationMatcher<TwilioOperationRow>>(
  [...new Set(TWILIO_OPERATIONS.map((row) => row.host))].map((host) => [
    host,
    compileOperations(TWILIO_OPERATIONS.filter((row) => row.host === host)),
  ]),
);

/** The row for a call to a Twilio sub host; undefined when the table has none. */
export function matchTwilioOperation(host: string, method: string, path: string) {
  return BY_HOST.get(host)?.(method, path);
}
