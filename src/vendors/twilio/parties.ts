import { NO_PARTIES, type Params, type Parties } from '../types.ts';
import { type Destination, destination, type TwilioChannel } from './destinations.ts';
import { strings } from './fields.ts';

/**
 * Reported for a destination whose country cannot be resolved (an unassigned code, a national number,
 * a SIP URI): ISO 3166's "unknown" code, so a country allowlist denies it instead of seeing no country.
 */
export const UNKNOWN_COUNTRY = 'ZZ';

/** Legs that stay inside Twilio: they name a recipient but no country. */
const INTERNAL: ReadonlySet<TwilioChannel> = new Set<TwilioChannel>(['client', 'conference', 'queue']);

/**
 * Who a message or call names, for the allowlists of the authorize stage: its destinations and
 * countries, and as sender the `From` numbers, else the Messaging Service that picks one.
 */
export function messagingParties(params: Params, to: readonly Destination[]): Parties {
  const senders = strings(params, 'From').map((f) => destination(f).address);
  if (senders.length === 0) senders.push(...strings(params, 'MessagingServiceSid').map((s) => s.trim()));
  return destinationParties(to, senders);
}

/** Recipients (E.164 or the raw address), their countries, and the given senders, each once. */
export function destinationParties(to: readonly Destination[], senders: readonly string[]): Parties {
  // Voice SDK clients, conferences and queues are Twilio-internal; everything else reaches some
  // country's network (a SIM roams anywhere).
  const countries = to
    .map((d) => d.country ?? (INTERNAL.has(d.channel) ? undefined : UNKNOWN_COUNTRY))
    .filter((c): c is string => c !== undefined);
  return {
    ...NO_PARTIES,
    recipients: [...new Set(to.map((d) => d.address))],
    countries: [...new Set(countries)],
    senders: [...new Set(senders)],
  };
}
