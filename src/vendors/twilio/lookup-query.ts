import { type Denial, deny } from '../../decision/reasons.ts';
import { printableName } from '../names.ts';

/**
 * The query of a paid Lookup read has one reading (price stage, ADR 0007 §2): only the parameters
 * Twilio's definition declares for the operation, spelt as declared. Its price is read from `Fields`
 * (v2) or `Type` and `AddOns` (v1), so a spelling Keybrake does not price but Twilio might read as one
 * of them (`Fields[]=sim_swap` was forwarded free, fifth round) is refused, whatever it is: a list of
 * spellings to price would never be complete.
 */

/**
 * Per pricing rule, the query parameters @twilio-alpha/mcp 0.7.0 (twilio_lookups_v1.json,
 * twilio_lookups_v2.json) declares for `GET /v1|v2/PhoneNumbers/{PhoneNumber}`; a test checks them
 * against the pinned definition.
 */
export const LOOKUP_QUERY_NAMES = {
  lookup_v1: ['CountryCode', 'Type', 'AddOns', 'AddOnsData'],
  lookup_v2: [
    'Fields',
    'CountryCode',
    'FirstName',
    'LastName',
    'AddressLine1',
    'AddressLine2',
    'City',
    'State',
    'PostalCode',
    'AddressCountryCode',
    'NationalId',
    'DateOfBirth',
    'LastVerifiedDate',
    'VerificationSid',
    'PartnerSubId',
  ],
} as const satisfies Record<string, readonly string[]>;

export type LookupRule = keyof typeof LOOKUP_QUERY_NAMES;

const KNOWN: Readonly<Record<LookupRule, ReadonlySet<string>>> = {
  lookup_v1: new Set(LOOKUP_QUERY_NAMES.lookup_v1),
  lookup_v2: new Set(LOOKUP_QUERY_NAMES.lookup_v2),
};

/**
 * v1's `AddOnsData` map as Twilio's SDKs send it: `AddOns.<add-on>.<key>=…`, the data of add-ons that
 * `AddOns` names (and prices); an add-on runs only when `AddOns` names it.
 */
const ADD_ON_DATA = /^AddOns\.[A-Za-z0-9_-]+\.[^.]/;

/** Why a Lookup read's query cannot be priced as it is written; undefined when every name is declared. */
export function lookupQueryDenial(rule: LookupRule, query: URLSearchParams): Denial | undefined {
  for (const name of query.keys()) {
    if (KNOWN[rule].has(name)) continue;
    if (rule === 'lookup_v1' && ADD_ON_DATA.test(name)) continue;
    return deny(
      'body_invalid',
      `Lookup does not take the query parameter ${printableName(name)}: Keybrake prices a Lookup by its declared parameters only (${rule === 'lookup_v2' ? 'Fields' : 'Type, AddOns'}), spelt as Twilio declares them.`,
    );
  }
  return undefined;
}
