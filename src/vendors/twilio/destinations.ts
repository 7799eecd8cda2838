// The max metadata: the min build classifies number types only where countries share a calling code
// (+1, +44), so it cannot tell `+33 899…` (premium) from a French landline.
import { getCountries, type NumberType, parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { spaceTrimmed } from '../parameter-spaces.ts';

/**
 * How a `To`/`From` value reaches its party: the phone network, WhatsApp, or a non-phone endpoint; the
 * last three only as TwiML `<Dial>` nouns (a conference, a queue, a Programmable Wireless SIM).
 */
export type TwilioChannel =
  | 'phone'
  | 'whatsapp'
  | 'client'
  | 'sip'
  | 'other'
  | 'conference'
  | 'queue'
  | 'sim';

/** One party of a call or message, normalised for the allowlists and the price table. */
export interface Destination {
  readonly channel: TwilioChannel;
  /** E.164 (`+14155550100`) for phone numbers, without any `whatsapp:` prefix; the raw value otherwise. */
  readonly address: string;
  /**
   * ISO 3166 alpha-2 territory libphonenumber resolves the number to. Numbers sharing a calling code
   * resolve to the territory that owns the range (`+44 7911…` is GG, not GB): that is what Twilio bills.
   */
  readonly country?: string;
  /**
   * Set for a number outside its country's ordinary rates: one libphonenumber does not classify as a
   * landline, mobile or toll-free number (premium rate, personal, shared cost, UAN, VoIP, pager,
   * voicemail, or a range it does not know). Twilio bills such ranges above the country's rate (a UK
   * 09 number costs pounds a minute), so they are priced at the unknown-destination rate; `country`
   * stays for the allowlists.
   */
  readonly specialRate?: true;
  /**
   * Set for a phone or WhatsApp value that is not one number (`+14155550100,+19005550123`, letters),
   * and for any value with blank or invisible characters other than ASCII spaces around it
   * (`\u00a0+19005550123`, `client:alice\u2028`): its raw text could match an allowlist pattern while
   * Twilio reads something else, so classify refuses the call.
   */
  readonly unreadable?: true;
}

/**
 * Every territory a `Destination.country` can be (libphonenumber's, ISO 3166 alpha-2 and a few it
 * adds: `AC`, `TA`, `XK`): `policy-check` warns of a `countries` entry outside it, which admits nothing.
 */
export function resolvableCountries(): ReadonlySet<string> {
  return new Set(getCountries());
}

const PREFIXED = /^([a-z]+):(.*)$/i;
/** ASCII spaces only: a tab, a line break or a no-break space inside a number is not punctuation. */
const PHONE_PUNCTUATION = /[ ().-]/g;
/** One number, as digits after the punctuation Twilio ignores: E.164, or national (no country). */
const ONE_NUMBER = /^\+?\d+$/;

/** Parses a Twilio address (`+1 415…`, `whatsapp:+44…`, `client:alice`, `sip:…`, `sips:…`). */
export function destination(raw: string): Destination {
  const value = spaceTrimmed(raw);
  if (value === undefined) return { channel: 'other', address: raw, unreadable: true };
  const prefixed = PREFIXED.exec(value);
  if (prefixed && !value.startsWith('+')) {
    const scheme = prefixed[1]!.toLowerCase();
    if (scheme === 'whatsapp') return { ...phone(prefixed[2]!), channel: 'whatsapp' };
    if (scheme === 'client') return { channel: 'client', address: value };
    if (scheme === 'sip' || scheme === 'sips') return sipDestination(value);
    return { channel: 'other', address: value };
  }
  return phone(value);
}

/** The schemes of a SIP URI: `sips:` is the same URI reached over TLS (RFC 3261 §19.1). */
export const SIP_SCHEME = /^sips?:/i;
/** Where a SIP URI's user and host end: its URI parameters (`;`) or headers (`?`) start. */
const SIP_TAIL = /[;?]/;
/** Printable ASCII without a space: a SIP URI escapes anything else. */
const SIP_TEXT = /^[\x21-\x7e]+$/;
/**
 * The URI parameters Twilio documents for a SIP destination (`<Sip>`, a call's `To`): the transport,
 * the region and edge Twilio sends from, SRTP. None names another host; RFC 3261 §19.1.1's `maddr`
 * does (it overrides the host the request is sent to), and so might a parameter no one documents.
 */
const SIP_PARAMETERS: ReadonlySet<string> = new Set(['transport', 'region', 'edge', 'secure']);
/** A parameter, name and optional value (RFC 3261 pname and pvalue, without escapes). */
const SIP_PARAMETER = /^([A-Za-z0-9-]+)(?:=[A-Za-z0-9\-_.!~*'()[\]/:&+$]+)?$/;
/**
 * A header Twilio passes on in the INVITE: a custom `X-` header, or User-to-User (UUI, which Twilio
 * documents); a value is RFC 3261's hvalue, escapes included (Twilio's example: `Bob%2CShield`).
 * A `Route` header would send the INVITE through another server, so no other name is taken.
 */
const SIP_HEADER = /^(?:X-[A-Za-z0-9-]+|User-to-User)=[A-Za-z0-9\-_.!~*'()[\]/?:+$%]*$/i;

/**
 * A `sip:` or `sips:` destination as the allowlists see it: `sip:user@host[:port]` (or `sips:…`), what
 * comes before its URI parameters and headers. Unreadable when it holds anything but printable ASCII,
 * or an `@` other than the one between user and host (a second one, or one in its parameters or
 * headers): RFC 3261 lets a user part hold `;` and `?`, so `sip:x@evil.example?h=@pbx.ok.com` has no
 * one reading of its host (sixth round: its raw text, ending in `@pbx.ok.com`, matched
 * `sip:*@pbx.ok.com`; a `sips:` URI, raw text too, did the same under `sips:*@pbx.ok.com`). Unreadable
 * too when its tail could send the call elsewhere than that host (sipTailKept).
 */
export function sipDestination(value: string): Destination {
  const tail = value.search(SIP_TAIL);
  const target = tail < 0 ? value : value.slice(0, tail);
  const ats = value.split('@').length - 1;
  const readable =
    SIP_TEXT.test(value) &&
    ats === target.split('@').length - 1 &&
    ats <= 1 &&
    (tail < 0 || sipTailKept(value.slice(tail)));
  // The scheme lower-cased so that `SIP:` is the same address as `sip:`.
  const colon = target.indexOf(':');
  const address = `${target.slice(0, colon).toLowerCase()}${target.slice(colon)}`;
  return readable ? { channel: 'sip', address } : { channel: 'sip', address: value, unreadable: true };
}

/**
 * Whether a SIP URI's parameters and headers (`;transport=tls?X-Note=hi`) leave its host the one the
 * call goes to: every parameter one Twilio documents (SIP_PARAMETERS), every header a custom or UUI
 * one (SIP_HEADER), each well formed and named once. Sixth round: `;maddr=evil.example` and
 * `?Route=%3Csip:evil.example;lr%3E` were admitted under `sip:*@pbx.ok.com`, and Twilio would have
 * sent the INVITE to evil.example. Closed: a name not listed is refused, whatever it does.
 */
function sipTailKept(tail: string): boolean {
  const query = tail.indexOf('?');
  const parameters = (query < 0 ? tail : tail.slice(0, query)).split(';').slice(1);
  const headers = query < 0 ? [] : tail.slice(query + 1).split('&');
  const names = new Set<string>();
  for (const parameter of parameters) {
    const name = SIP_PARAMETER.exec(parameter)?.[1]?.toLowerCase();
    if (name === undefined || !SIP_PARAMETERS.has(name) || names.has(name)) return false;
    names.add(name);
  }
  for (const header of headers) {
    const name = SIP_HEADER.test(header) ? header.slice(0, header.indexOf('=')).toLowerCase() : undefined;
    if (name === undefined || names.has(name)) return false;
    names.add(name);
  }
  return true;
}

function phone(value: string): Destination {
  const compact = value.replace(PHONE_PUNCTUATION, '');
  if (!ONE_NUMBER.test(compact)) return { channel: 'phone', address: compact, unreadable: true };
  const parsed = compact.startsWith('+') ? parsePhoneNumberFromString(compact) : undefined;
  if (!parsed) return { channel: 'phone', address: compact };
  return {
    channel: 'phone',
    address: parsed.number,
    ...(parsed.country ? { country: parsed.country } : {}),
    ...(ORDINARY.has(parsed.getType()) ? {} : { specialRate: true }),
  };
}

/** The number types a country's ordinary (landline or mobile) rate covers; any other is dearer or unknown. */
const ORDINARY: ReadonlySet<NumberType> = new Set<NumberType>([
  'FIXED_LINE',
  'MOBILE',
  'FIXED_LINE_OR_MOBILE',
  'TOLL_FREE',
]);
