import { type Denial, deny } from '../../decision/reasons.ts';
import type { MicroUsd } from '../../money/micro-usd.ts';
import type { CostLookup } from '../types.ts';
import type { Destination } from './destinations.ts';

/**
 * Calls and texts to the account's own Twilio numbers and SIP domains (thirteenth round, probe
 * twmoney13, finding 1, ADR 0003). Twilio bills every leg: the outbound leg Keybrake prices, the
 * inbound leg on the account's number ($0.022 a minute toll-free), and whatever that number's own
 * Voice or SMS URL then does (a forward is a third leg, an auto-reply a further text), none of which
 * the request shows. A 70-minute call to the account's toll-free line was counted $0.98 and billed
 * $2.52 before its forward. So before such a call is priced, every number it reaches is looked up
 * among the account's IncomingPhoneNumbers with the real key, as other prices are looked up; a number
 * that is the account's own, or an answer that cannot be read, leaves the call unpriced
 * (price_unknown, fail closed: what the number's instructions do cannot be priced). A SIP address on
 * a Twilio host is refused outright: a SIP domain's Voice URL runs the same way, and the domains are
 * not read (`twilioSipDenial`).
 */

/** The most numbers one call's lookup reads (a TwiML document may dial dozens): more is price_unknown. */
export const MAX_OWN_NUMBER_READS = 20;

/** A number the lookup can ask about: E.164 digits only, so nothing in it is a Twilio filter wildcard. */
const E164 = /^\+[1-9]\d{5,14}$/;

const DESCRIBE =
  "the account's own numbers (IncomingPhoneNumbers): a call or text to one is billed on its inbound leg too and runs that number's own instructions, which Keybrake cannot price";

/** What a credential whose look-up Twilio refuses (a restricted API key: 401, code 20003) lacks. */
const NEEDS =
  "read access to IncomingPhoneNumbers (the account's phone numbers), which Keybrake reads before every text and call";

/** The distinct phone numbers among `to` the lookup asks about (WhatsApp, SIP, SDK parties are not numbers). */
export function ownNumberCandidates(to: readonly (Destination | undefined)[]): string[] {
  const numbers = new Set<string>();
  for (const d of to) if (d?.channel === 'phone' && E164.test(d.address)) numbers.add(d.address);
  return [...numbers];
}

/**
 * The reads that tell whether any of `numbers` is one of `account`'s own, one per number
 * (`?PhoneNumber=` filters the list; any entry means it is), then `then` when the call has a lookup of
 * its own; the call costs `micros` when none is and there is no `then`. Undefined when there is no
 * number to ask about (then `then` as it is); a Denial for more than MAX_OWN_NUMBER_READS numbers.
 */
export function ownNumberLookup(
  account: string,
  numbers: readonly string[],
  micros: MicroUsd,
  then?: CostLookup,
): CostLookup | Denial | undefined {
  if (numbers.length === 0) return then;
  if (numbers.length > MAX_OWN_NUMBER_READS) {
    return deny(
      'price_unknown',
      `The call reaches ${numbers.length} phone numbers; Keybrake checks at most ${MAX_OWN_NUMBER_READS} against the account's own numbers (a call or text to one costs more than its outbound leg).`,
    );
  }
  const read = (i: number): CostLookup => {
    const last = i === numbers.length - 1;
    return {
      // Alone, the reads find nothing but "not own": the price and parties are the request's.
      ...(then === undefined ? { confirms: true as const } : {}),
      // On api.twilio.com whichever host the call is on (a Conversations message's is conversations).
      subHost: 'api',
      path: `/2010-04-01/Accounts/${account}/IncomingPhoneNumbers.json?PhoneNumber=${encodeURIComponent(numbers[i]!)}&PageSize=1`,
      describe: DESCRIBE,
      needs: NEEDS,
      price: (body) => (notOwn(body) && last && then === undefined ? micros : undefined),
      next: (body) => (!notOwn(body) ? undefined : last ? then : read(i + 1)),
    };
  };
  return read(0);
}

/** Twilio's answer lists no number: an `incoming_phone_numbers` array that is empty; anything else is not read as "not own". */
function notOwn(body: unknown): boolean {
  if (typeof body !== 'object' || body === null) return false;
  const list = (body as Record<string, unknown>)['incoming_phone_numbers'];
  return Array.isArray(list) && list.length === 0;
}

/** A Twilio host: SIP domains (`<name>.sip.twilio.com`, regional `<name>.sip.<edge>.twilio.com`) and trunks. */
const TWILIO_HOST = /(?:^|\.)twilio\.com\.?$/i;

/** The host of a SIP address (`sip:user@host:port;params?headers`), lower-cased. */
function sipHost(address: string): string {
  const rest = address.slice(address.indexOf(':') + 1);
  const at = rest.lastIndexOf('@');
  return (at < 0 ? rest : rest.slice(at + 1)).split(/[:;?]/)[0]!.toLowerCase();
}

/**
 * A call or leg to a SIP address on a Twilio host is refused (price_unknown): a SIP domain's own Voice
 * URL runs for it, as an owned number's does (Twilio's SIP-to-PSTN pattern dials the user part on the
 * PSTN: `sip:+8816…@acme.sip.twilio.com` was counted at the SIP rate, $0.96 for 240 minutes, and may
 * be billed at a satellite number's), and Keybrake does not read which domains are the account's.
 */
export function twilioSipDenial(to: readonly (Destination | undefined)[]): Denial | undefined {
  const sip = to.find((d) => d?.channel === 'sip' && TWILIO_HOST.test(sipHost(d.address)));
  if (sip === undefined) return undefined;
  return deny(
    'price_unknown',
    "A SIP address on a Twilio host runs that SIP domain's own instructions (its legs are billed to the account), which Keybrake cannot price.",
  );
}
