import { type Denial, deny } from '../../decision/reasons.ts';
import { spaceTrimmed } from '../parameter-spaces.ts';
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
 * countries, and as sender the `From` numbers, else the Messaging Service that picks one, plus
 * `more` (a call's caller IDs: senderAddresses).
 */
export function messagingParties(
  params: Params,
  to: readonly Destination[],
  more: readonly string[] = [],
): Parties {
  const senders = strings(params, 'From').map((f) => destination(f).address);
  // A service id with anything but ASCII spaces around it is judged as the raw text Twilio receives.
  if (senders.length === 0)
    senders.push(...strings(params, 'MessagingServiceSid').map((s) => spaceTrimmed(s) ?? s));
  return destinationParties(to, [...senders, ...more]);
}

/** An alpha sender ID once spaces are dropped (Twilio: up to 11 letters, digits and spaces, one letter at least). */
const ALPHA_SENDER = /^(?=[0-9]*[A-Za-z])[A-Za-z0-9]{1,11}$/;

/**
 * The addresses of caller IDs and senders other than `From` (a call's `CallerId`, TwiML `<Dial
 * callerId>`, `<Sms from>`, `<Message from>`), as `senders` judges them, or `body_invalid` for one
 * that is not one number, address or alpha sender ID: its raw text could match a pattern such as
 * `+1415555*` while Twilio reads another number (twelfth round).
 */
export function senderAddresses(from: readonly Destination[]): string[] | Denial {
  if (from.some((d) => d.unreadable && !ALPHA_SENDER.test(d.address))) {
    return deny(
      'body_invalid',
      'A caller ID or sender must be one phone number (E.164), one whatsapp:, client: or sip: address, or an alpha sender ID.',
    );
  }
  return [...new Set(from.map((d) => d.address))];
}

/**
 * Refuses recipients that are not one address (a phone or WhatsApp value that is a list or text): its
 * raw text is what an allowlist would see, not what Twilio dials (a tester had
 * `+14155550100,+19005550123` admitted by `+1415555*`). Undefined when every one is readable.
 */
export function unreadableRecipient(to: readonly (Destination | undefined)[]): Denial | undefined {
  if (!to.some((d) => d?.unreadable)) return undefined;
  return deny(
    'body_invalid',
    'A recipient must be one phone number (E.164), or one whatsapp:, client: or sip: address.',
  );
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
