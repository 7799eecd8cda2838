import { destination } from '../../vendors/twilio/destinations.ts';
import { plusless, pluslessHint } from './plusless-number.ts';

/**
 * Why a destination's country is unknown (`ZZ`), for the refusal of a country list: "Destination
 * country ZZ is not allowed" alone left a new user with `To=+15555550100` (the fictional 555 range)
 * or `+447700900123` (a UK drama range) looking for a country called ZZ (ninth round). The number
 * itself is not quoted: the refusal never named it, and the caller knows what it sent.
 */
export function unknownCountryHint(recipients: readonly string[]): string {
  const number = plusless(recipients);
  if (number !== undefined) return pluslessHint(number, 'To');
  // Only a refusal pays for this second reading of the numbers.
  const unplanned = recipients.some((r) => E164.test(r) && destination(r).country === undefined);
  return unplanned
    ? " A destination is not a valid phone number in any country's numbering plan (such as the fictional +1 555-01xx numbers or the UK's drama ranges), so its country cannot be known (ZZ); a countries list admits it only when it names ZZ."
    : ' A destination that is not a phone number (such as an e-mail address, a sip: address or a <Sim>) has no country (ZZ); a countries list admits it only when it names ZZ.';
}

/** A phone party in E.164 form, as the Twilio parser gives every number with its `+`. */
const E164 = /^\+\d+$/;
