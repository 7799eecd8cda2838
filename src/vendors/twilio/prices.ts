import type { MicroUsd } from '../../money/micro-usd.ts';
import { type Destination, resolvableCountries } from './destinations.ts';

/** Per-destination-country rates, micro-USD. */
export interface CountryRates {
  /** Outbound SMS, per segment, highest carrier of the country, carrier pass-through fees included. */
  readonly smsPerSegment: MicroUsd;
  /** Outbound MMS, per message; absent where Twilio has no MMS (the unknown-country rate applies). */
  readonly mmsPerMessage?: MicroUsd;
  /** Outbound voice, per minute, to the dearer of mobile and landline. */
  readonly voicePerMinute: MicroUsd;
}

/**
 * The Twilio price table classify reads (price stage); built once per adapter (defaults merged with
 * overrides), consulted per request by the cost formulas in costs.ts.
 */
export interface TwilioPrices {
  readonly countries: Readonly<Record<string, CountryRates>>;
  /**
   * Rates for a destination the table does not list or cannot resolve, and for numbers outside a
   * country's ordinary rates (premium, personal, shared cost…): deliberately high, never free.
   */
  readonly unknownCountry: Required<CountryRates>;
  /** Twilio fee plus the dearest Meta template category, per WhatsApp message, any country. */
  readonly whatsappPerMessage: MicroUsd;
  /** Voice SDK (`client:`) and SIP (`sip:`) legs, per minute. */
  readonly clientOrSipPerMinute: MicroUsd;
  /** Call recording, per minute (`Record=true`). */
  readonly recordingPerMinute: MicroUsd;
  /** Answering machine detection, per call (`MachineDetection`) and per `<Number>`/`<Sip>` leg asking for it. */
  readonly machineDetectionPerCall: MicroUsd;
  /**
   * Engagement Suite fee, once per message that uses one of its features, link shortening
   * (`ShortenUrls`) or scheduling (`ScheduleType`, `SendAt`; sixteenth round): Twilio adds it to each
   * such message past the account's first 1000 a month, which Keybrake cannot count, so it is every
   * message's.
   */
  readonly engagementSuitePerMessage: MicroUsd;
  /**
   * Reserved length of a call that sets no `TimeLimit`: Twilio ends a call after 4 hours unless the
   * account raised its limit (to at most 24 hours); such accounts should override this to 1440.
   */
  readonly defaultCallMinutes: number;
  /** Media Streams (`<Start><Stream>`, `<Connect><Stream>`), per minute of the call. */
  readonly mediaStreamPerMinute: MicroUsd;
  /** Verify: per verification started, before channel fees. */
  readonly verifyPerVerification: MicroUsd;
  /** Lookup v2 data packages (`Fields=`), per request; `validation` is free. */
  readonly lookupFields: Readonly<Record<string, MicroUsd>>;
  /** Lookup v1 (`Type=carrier|caller-name`), per request. */
  readonly lookupV1Types: Readonly<Record<string, MicroUsd>>;
  /** A Lookup field, v1 type or add-on the table does not know. */
  readonly lookupUnknown: MicroUsd;
  /** Conversations: per participant active in a month (counted on every message, see conversations.ts). */
  readonly conversationsActiveUser: MicroUsd;
  /** Buying a phone number: the first month of the dearest common number types. */
  readonly phoneNumberPurchase: MicroUsd;
}

/** Configuration overrides (`createTwilioAdapter({ prices })`); countries merge per field. */
export interface TwilioPriceOverrides extends Partial<Omit<TwilioPrices, 'countries' | 'unknownCountry'>> {
  readonly countries?: Readonly<Record<string, Partial<CountryRates>>>;
  readonly unknownCountry?: Partial<CountryRates>;
}

/**
 * Source: Twilio's public pricing pages (twilio.com/en-us/sms/pricing/<cc>, /voice/pricing/<cc>,
 * /verify/pricing, /user-authentication-identity/pricing/lookup), consulted 2026-11-26, list prices
 * without volume discounts, rounded up. US SMS is $0.0083 base + up to $0.0035 carrier fee; US MMS
 * $0.0220 + carrier fee. Canadian SMS is the same base plus the dearest Canadian carrier fee Twilio
 * documents (Vidéotron $0.0055 on top of the rate: support article 360036587593), $0.0138. Other
 * countries are the published per-country rates rounded up to the dearest carrier; confirm against the
 * Pricing API (pricing.twilio.com/v1/Messaging/Countries/<cc>) for an account with negotiated rates
 * and override.
 *
 * Voice to GB, DE and FR (thirteenth round): Twilio prices European destinations by the caller ID's
 * origin (support article 223183188: a French mobile $0.05/min from a French number, $0.125 from a US
 * one), and a call's rate is not read from its `From`. So these rows hold a bound above the dearest
 * origin (non-EEA, "rest of world") for the dearest carrier, which Twilio's Pricing API gives
 * (`/v2/Voice/Countries/<cc>`, `OriginationPrefixes` ROW); the bounds are not confirmed against it
 * here (docs/pricing.md), so an account that only calls from European numbers should override them.
 */
export const TWILIO_PRICES_SOURCE =
  'twilio.com public pricing pages, consulted 2026-11-26, list prices rounded up';

export const DEFAULT_TWILIO_PRICES: TwilioPrices = {
  countries: {
    US: { smsPerSegment: 11_800, mmsPerMessage: 32_000, voicePerMinute: 14_000 },
    CA: { smsPerSegment: 13_800, mmsPerMessage: 32_000, voicePerMinute: 14_000 },
    GB: { smsPerSegment: 52_400, voicePerMinute: 200_000 },
    DE: { smsPerSegment: 95_000, voicePerMinute: 400_000 },
    FR: { smsPerSegment: 85_000, voicePerMinute: 300_000 },
    IN: { smsPerSegment: 90_000, voicePerMinute: 50_000 },
    AU: { smsPerSegment: 55_000, voicePerMinute: 70_000 },
  },
  unknownCountry: { smsPerSegment: 500_000, mmsPerMessage: 500_000, voicePerMinute: 1_000_000 },
  whatsappPerMessage: 155_000,
  clientOrSipPerMinute: 4_000,
  recordingPerMinute: 2_500,
  machineDetectionPerCall: 7_500,
  // Not confirmed (twilio.com/en-us/sms/pricing lists it; not read here): a bound above a US SMS.
  engagementSuitePerMessage: 20_000,
  defaultCallMinutes: 240,
  mediaStreamPerMinute: 4_000,
  verifyPerVerification: 50_000,
  lookupFields: {
    validation: 0,
    line_type_intelligence: 8_000,
    caller_name: 10_000,
    line_status: 5_000,
    reassigned_number: 5_000,
    sms_pumping_risk: 25_000,
    sim_swap: 150_000,
    call_forwarding: 150_000,
    identity_match: 150_000,
  },
  lookupV1Types: { carrier: 5_000, 'caller-name': 10_000 },
  lookupUnknown: 250_000,
  phoneNumberPurchase: 20_000_000,
  conversationsActiveUser: 50_000,
};

/** Merges configuration overrides into the defaults; unknown countries stay priced by `unknownCountry`. */
export function resolveTwilioPrices(overrides: TwilioPriceOverrides = {}): TwilioPrices {
  checkTwilioShape(overrides);
  const {
    countries: countryOverrides = {},
    unknownCountry,
    lookupFields,
    lookupV1Types,
    ...scalars
  } = overrides;
  const unknown = { ...DEFAULT_TWILIO_PRICES.unknownCountry, ...unknownCountry };
  const countries: Record<string, CountryRates> = { ...DEFAULT_TWILIO_PRICES.countries };
  for (const [code, rates] of Object.entries(countryOverrides)) {
    const key = code.toUpperCase();
    const base = countries[key] ?? unknown;
    countries[key] = { ...base, ...rates };
  }
  const prices: TwilioPrices = {
    ...DEFAULT_TWILIO_PRICES,
    ...scalars,
    countries,
    unknownCountry: unknown,
    lookupFields: { ...DEFAULT_TWILIO_PRICES.lookupFields, ...lookupFields },
    lookupV1Types: { ...DEFAULT_TWILIO_PRICES.lookupV1Types, ...lookupV1Types },
  };
  checkTwilioPrices(prices);
  return prices;
}

const RATE_FIELDS: ReadonlySet<string> = new Set(['smsPerSegment', 'mmsPerMessage', 'voicePerMinute']);
/** Call lengths are capped where Twilio caps them (24 h at most, on request). */
const MAX_CALL_MINUTES = 1440;

/**
 * Refuses overrides whose shape would leave a price at its default, before they are merged: a
 * misspelt field, and (sixteenth round) a scalar or list where a mapping goes (`countries: 5`,
 * `countries: { GB: 5 }`, `lookupFields: 5`), which the merge read as a mapping of nothing, so the
 * table's rate priced every call; a null one failed the start with a bare TypeError.
 */
function checkTwilioShape(overrides: TwilioPriceOverrides): void {
  // `where` is the path in the section; the section itself is "" (it read "twilio price : unknown field").
  const at = (where: string) => (where === '' ? 'twilio price' : `twilio price ${where}`);
  const mapping = (where: string, v: unknown) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v))
      throw new Error(
        `${at(where)}: expected a mapping, got ${v === null ? 'nothing' : Array.isArray(v) ? 'a list' : JSON.stringify(v)}`,
      );
  };
  const fields = (where: string, o: object, known: ReadonlySet<string>) => {
    const unknown = Object.keys(o).find((k) => !known.has(k));
    if (unknown !== undefined)
      throw new Error(
        `${at(where)}: unknown field ${JSON.stringify(unknown.slice(0, 64))} (expected ${[...known].join(', ')})`,
      );
  };
  mapping('', overrides);
  fields('', overrides, new Set(Object.keys(DEFAULT_TWILIO_PRICES)));
  for (const name of ['countries', 'unknownCountry', 'lookupFields', 'lookupV1Types'] as const) {
    if (Object.hasOwn(overrides, name)) mapping(name, overrides[name]);
  }
  checkCountryCodes(Object.keys(overrides.countries ?? {}));
  for (const [code, rates] of Object.entries(overrides.countries ?? {})) {
    mapping(`countries.${code}`, rates);
    fields(`countries.${code}`, rates, RATE_FIELDS);
  }
  fields('unknownCountry', overrides.unknownCountry ?? {}, RATE_FIELDS);
}

/**
 * Refuses prices that would price wrongly rather than loudly: a price that is not a whole number of
 * micro-USD (a string "0.0118", 1.5, a negative: each later failed every call as a counter-store
 * error), and a zero price, which would make a message or call free and every cap unreachable (a
 * new-user walkthrough did all of these). Only a Lookup field may be free (`validation` is, at Twilio).
 */
function checkTwilioPrices(prices: TwilioPrices): void {
  const price = (where: string, v: unknown, min = 1) => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
      throw new Error(
        `twilio price ${where}: expected a whole number of micro-USD${min > 0 ? ' of at least 1' : ''} (e.g. 11800 for $0.0118), got ${JSON.stringify(v)}`,
      );
    }
  };
  for (const [code, rates] of Object.entries(prices.countries)) {
    for (const [name, v] of Object.entries(rates)) price(`countries.${code}.${name}`, v);
  }
  for (const [name, v] of Object.entries(prices.unknownCountry)) price(`unknownCountry.${name}`, v);
  for (const [name, v] of Object.entries(prices.lookupFields)) price(`lookupFields.${name}`, v, 0);
  for (const [name, v] of Object.entries(prices.lookupV1Types)) price(`lookupV1Types.${name}`, v);
  for (const name of [
    'whatsappPerMessage',
    'clientOrSipPerMinute',
    'recordingPerMinute',
    'machineDetectionPerCall',
    'engagementSuitePerMessage',
    'mediaStreamPerMinute',
    'verifyPerVerification',
    'lookupUnknown',
    'conversationsActiveUser',
    'phoneNumberPurchase',
  ] as const) {
    price(name, prices[name]);
  }
  price('defaultCallMinutes', prices.defaultCallMinutes);
  if (prices.defaultCallMinutes > MAX_CALL_MINUTES)
    throw new Error(`twilio price defaultCallMinutes: at most ${MAX_CALL_MINUTES} (Twilio's longest call)`);
}

/** Codes people write for a country whose ISO 3166 code is another: named in the refusal. */
const ISO_CODE_FOR: Readonly<Record<string, string>> = { UK: 'GB', EL: 'GR' };

/**
 * Refuses a country rate that could never apply, or whose value hangs on line order (twelfth round):
 * - a code no number resolves to (`UK`, `XX`): ratesFor looks a destination up by the territory
 *   libphonenumber gives (`GB` for a UK number), so such an entry was accepted and GB numbers kept the
 *   table's rate, the operator's price never used;
 * - one country in two letter cases (`US` and `us`): resolveTwilioPrices upper-cases the codes, so the
 *   later silently replaced the earlier and two rates 900 000× apart priced a message by the order of
 *   two lines. Refused naming both spellings, as an `exchangeRates` currency given twice is.
 */
function checkCountryCodes(codes: readonly string[]): void {
  let territories: ReadonlySet<string> | undefined;
  const spelt = new Map<string, string>();
  for (const raw of codes) {
    const shown = JSON.stringify(raw.slice(0, 8));
    if (!/^[A-Za-z]{2}$/.test(raw))
      throw new Error(
        `twilio price countries: ${shown} is not an ISO 3166 alpha-2 code (two letters, such as "GB")`,
      );
    const code = raw.toUpperCase();
    territories ??= resolvableCountries();
    if (!territories.has(code)) {
      const meant = ISO_CODE_FOR[code];
      throw new Error(
        `twilio price countries: ${shown} is no country a phone number resolves to (ISO 3166 alpha-2), so its rates would never apply${meant ? `; the code for that country is ${meant}` : ''}`,
      );
    }
    const earlier = spelt.get(code);
    if (earlier !== undefined)
      throw new Error(
        `twilio price countries: country ${code} is given twice (${JSON.stringify(earlier)} and ${JSON.stringify(raw)}); country codes are case-insensitive, keep one`,
      );
    spelt.set(code, raw);
  }
}

/**
 * Rates for a destination: its country's, or the conservative unknown-destination rates when the
 * country is absent, unresolved or not in the table, or the number is outside the country's ordinary
 * rates (`Destination.specialRate`: premium, personal, shared cost…). Every price of a message, call,
 * leg or verification reads its rates here, so a number costs the same whichever way it is reached.
 */
export function ratesFor(prices: TwilioPrices, to: Destination | undefined): Required<CountryRates> {
  const country = to?.specialRate ? undefined : to?.country;
  const rates =
    country !== undefined && Object.hasOwn(prices.countries, country) ? prices.countries[country] : undefined;
  if (!rates) return prices.unknownCountry;
  return { ...rates, mmsPerMessage: rates.mmsPerMessage ?? prices.unknownCountry.mmsPerMessage };
}
