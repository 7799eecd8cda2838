import type { MicroUsd } from '../../money/micro-usd.ts';
import { spaceTrimmed } from '../parameter-spaces.ts';
import type { Params } from '../types.ts';
import type { Destination } from './destinations.ts';
import { flag, single, strings } from './fields.ts';
import { type CountryRates, ratesFor, type TwilioPrices } from './prices.ts';
import { MAX_BODY_LENGTH, MAX_SEGMENTS, maxSegments, smsSegments, smsSegmentsAppended } from './segments.ts';
import type { TwimlReading } from './twiml.ts';

/** A priced message or call: the reservation plus what settle needs to correct it from the response. */
export interface TwilioCost {
  readonly micros: MicroUsd;
  /**
   * Set for an SMS to one number whose text Keybrake counted from its `Body`: settle multiplies
   * Twilio's `num_segments` by it. Never for content Twilio takes from elsewhere (`CONTENT_ELSEWHERE`).
   */
  readonly perSegmentMicros?: MicroUsd;
  /**
   * Set for a message to one number: the MMS price there, below which settle never counts a message
   * Twilio answers carries media.
   */
  readonly mmsMicros?: MicroUsd;
}

/**
 * Messages create parameters (Twilio's definition) by which the content Twilio sends is not the
 * request's `Body` and `MediaUrl`: a Content template (`ContentSid`, filled by `ContentVariables`) may
 * be a media template, sent and billed as MMS whatever `num_segments` says (ninth round: 18 template
 * sends settled at one SMS segment each passed a $0.50 daily cap an MMS each breaks); `PersistentAction`
 * is rich content (a WhatsApp location). Present at all, even empty, settle keeps the reservation.
 */
const CONTENT_ELSEWHERE: readonly string[] = ['ContentSid', 'ContentVariables', 'PersistentAction'];

/**
 * Messages.json create: WhatsApp per message, MMS (any `MediaUrl`, or `SendAsMms`) per message or as the
 * SMS it may become (`mmsCost`), SMS per segment of the text (`textSegments`). A Content template is
 * priced as the dearest thing it may be (thirteenth round): a `twilio/media` template holds up to 1600
 * characters and media, so an MMS or, under MMS Converter, that text with a link per media item; it was
 * reserved at 25 SMS segments, below what the same content inline is counted at. An Engagement Suite
 * feature (`usesEngagementSuite`: link shortening, message scheduling) adds Twilio's Engagement Suite
 * fee once per message; link shortening may also lengthen the text (`shortenedLinks`).
 */
export function messageCost(prices: TwilioPrices, params: Params, to: readonly Destination[]): TwilioCost {
  const media = strings(params, 'MediaUrl').length;
  const templated = strings(params, 'ContentSid').length > 0;
  const isMms = media > 0 || flag(params, 'SendAsMms') || templated;
  const shortened = shortensLinks(params);
  const engagement = usesEngagementSuite(params);
  const body = single(params, 'Body');
  const text = textSegments(body, templated, media, shortened ? shortenedLinks(body ?? '') : 0);
  const segments = isMms ? text.converted : text.sms;
  // Twilio rejects a message without `To`, but pricing must not depend on that: one unknown destination.
  const destinations: readonly (Destination | undefined)[] = to.length > 0 ? to : [undefined];
  let micros = 0;
  for (const d of destinations) {
    const rates = ratesFor(prices, d);
    if (d?.channel === 'whatsapp') micros += prices.whatsappPerMessage;
    else if (isMms) micros += mmsCost(rates, segments);
    else micros += segments * rates.smsPerSegment;
    if (engagement) micros += prices.engagementSuitePerMessage;
  }
  const only = destinations.length === 1 ? destinations[0] : undefined;
  if (only?.channel !== 'phone') return { micros };
  const rates = ratesFor(prices, only);
  // A shortened or scheduled message is not settled from `num_segments`: Twilio's count may be of the
  // text before its links were rewritten, and the Engagement Suite fee is no segment's (sixteenth
  // round: a scheduled message settled down to its segments lost the fee it was reserved with).
  const counted =
    !isMms &&
    !engagement &&
    (body ?? '').length > 0 &&
    !CONTENT_ELSEWHERE.some((name) => strings(params, name).length > 0);
  return counted
    ? { micros, perSegmentMicros: rates.smsPerSegment, mmsMicros: rates.mmsPerMessage }
    : { micros, mmsMicros: rates.mmsPerMessage };
}

/**
 * Whether a message uses an Engagement Suite feature, which Twilio bills its Engagement Suite fee for
 * once per message however many it uses ("Link Shortening with Engagement Suite", Twilio support
 * article 31039870471963: "Message Scheduling and Link Shortening … the Engagement Suite fee once
 * per message"): link shortening (`shortensLinks`), or message scheduling, `ScheduleType` given at
 * all, with any value, even empty (Twilio's one value is `fixed`; a value Keybrake cannot read is
 * read as scheduling, the dearer reading), or a `SendAt`, which only a scheduled message carries.
 * Sixteenth round: a scheduled message was counted as a plain SMS, so about 2.7 of them passed
 * under the day cap one was priced at.
 */
function usesEngagementSuite(params: Params): boolean {
  return (
    shortensLinks(params) ||
    strings(params, 'ScheduleType').length > 0 ||
    strings(params, 'SendAt').length > 0
  );
}

/**
 * Whether a message asks Twilio to shorten its links: `ShortenUrls` given with any value but `false`
 * (Twilio's boolean; a value Keybrake cannot read as false is read as on, the dearer reading).
 */
function shortensLinks(params: Params): boolean {
  const values = strings(params, 'ShortenUrls');
  return values.length > 0 && values.some((v) => spaceTrimmed(v)?.toLowerCase() !== 'false');
}

/**
 * The links of a body Twilio's link shortening may rewrite: each `http://`, `https://` or `www.`
 * (counted apart, so `https://www.` is two). Each is reserved `MEDIA_LINK_LENGTH` more characters,
 * above a shortened link's own length (`https://` + a branded domain + `/` + 10 characters), so a
 * short link (`a.co/x`) that grows is counted grown.
 */
function shortenedLinks(body: string): number {
  return (body.match(/https?:\/\/|www\./gi) ?? []).length;
}

/**
 * GSM-7 characters reserved for one media link MMS Converter appends (a space and the link): more
 * than Twilio's short links.
 */
export const MEDIA_LINK_LENGTH = 64;

/** The most `MediaUrl` a message takes: "up to ten `media_url` parameters per message" (Twilio's definition). */
export const MAX_MEDIA_URLS = 10;

/**
 * The segments a Content template is counted at: the longest text it holds with a link per media item
 * it may carry (`textSegments`).
 */
export const TEMPLATE_SEGMENTS = maxSegments(MAX_BODY_LENGTH + MAX_MEDIA_URLS * MEDIA_LINK_LENGTH);

/** The segments of a message's text: as SMS, and as the SMS an MMS becomes (`converted`). */
export interface TextSegments {
  readonly sms: number;
  /**
   * Where Twilio's MMS Converter (on by default) cannot deliver an MMS as MMS: the text with a link
   * per media item (at least one) appended.
   */
  readonly converted: number;
}

/**
 * The segments of the text a message sends: its `Body`, or with a Content template (`templated`:
 * Twilio sends the template, whatever `Body` says) or without a body and media, the longest text
 * Twilio takes. A template is counted with `MAX_MEDIA_URLS` links, as many as a `twilio/media`
 * template may carry for all Keybrake can tell (thirteenth round: one). A body over 1600 characters
 * (a Conversations message) is bounded, not counted. The links (media, and `grown` shortened ones)
 * are counted, never written out (`smsSegmentsAppended`): the work is the body's, whatever `media`
 * says.
 */
export function textSegments(
  body: string | undefined,
  templated: boolean,
  media: number,
  grown = 0,
): TextSegments {
  const links = Math.max(1, media);
  const text = body ?? '';
  if (templated) return { sms: TEMPLATE_SEGMENTS, converted: TEMPLATE_SEGMENTS };
  if (text.length === 0 && media === 0) {
    return { sms: MAX_SEGMENTS, converted: maxSegments(MAX_BODY_LENGTH + links * MEDIA_LINK_LENGTH) };
  }
  const added = grown * MEDIA_LINK_LENGTH;
  const counted = smsSegmentsAppended(text, added + links * MEDIA_LINK_LENGTH);
  const alone = added > 0 ? smsSegmentsAppended(text, added).appended : counted.alone;
  return { sms: text.length === 0 ? MAX_SEGMENTS : alone, converted: counted.appended };
}

/**
 * One MMS to a destination with these rates: the MMS rate or, when dearer, the SMS it may become
 * (`TextSegments.converted` at the SMS rate). A security tester sent 800 emoji with a `MediaUrl` to
 * Germany for the flat MMS rate ($0.50) while the same text as SMS cost $2.375.
 */
export function mmsCost(rates: Required<CountryRates>, segments: number): MicroUsd {
  return Math.max(rates.mmsPerMessage, segments * rates.smsPerSegment);
}

/**
 * Minutes a call may last: `TimeLimit` (seconds, ASCII spaces around it aside) rounded up, else the
 * configured default: `60` with a no-break space is no limit Keybrake can read.
 */
export function callMinutes(prices: TwilioPrices, params: Params): number {
  const limit = spaceTrimmed(single(params, 'TimeLimit') ?? '');
  const seconds = limit !== undefined && /^\d{1,9}$/.test(limit) ? Number(limit) : undefined;
  if (seconds === undefined || seconds === 0) return prices.defaultCallMinutes;
  return Math.ceil(seconds / 60);
}

/** Per minute of a call or leg to a destination: SDK and SIP legs at their flat rate, numbers at `ratesFor`. */
export function voicePerMinute(prices: TwilioPrices, to: Destination | undefined): MicroUsd {
  switch (to?.channel) {
    case 'client':
    case 'sip':
    // A conference or queue leg bridges calls inside Twilio: at most the SDK/SIP rate per minute.
    case 'conference':
    case 'queue':
      return prices.clientOrSipPerMinute;
    // WhatsApp Business calling and Programmable Wireless SIMs have no rate in the table.
    case 'whatsapp':
    case 'sim':
    case 'other':
      return prices.unknownCountry.voicePerMinute;
    default:
      return ratesFor(prices, to).voicePerMinute;
  }
}

/** Calls.json (and conference participant) create: the whole reserved duration at the destination rate. */
export function callCost(prices: TwilioPrices, params: Params, to: Destination | undefined): MicroUsd {
  const minutes = callMinutes(prices, params);
  // The same rate as a `<Dial>` leg to the same destination: a `whatsapp:` callee (WhatsApp Business
  // calling, no rate in the table) was priced at its country's voice rate here and at the unknown
  // rate as a leg (fifth round); the dearer reading holds for both.
  let micros = minutes * voicePerMinute(prices, to);
  if (flag(params, 'Record')) micros += minutes * prices.recordingPerMinute;
  // A conference participant: the conference's own recording (`true`, `record-from-start`), as the
  // TwiML `<Conference record>` is counted (an adversarial probe found it free). Absent is '';
  // undefined, a value with other blank or invisible characters around it, records.
  const conference = spaceTrimmed(single(params, 'ConferenceRecord') ?? '')?.toLowerCase();
  if (conference !== '' && conference !== 'false' && conference !== 'do-not-record')
    micros += minutes * prices.recordingPerMinute;
  const amd = single(params, 'MachineDetection');
  if (amd !== undefined && amd.toLowerCase() !== 'none') micros += prices.machineDetectionPerCall;
  return micros;
}

/**
 * What inline TwiML adds to one call of `minutes` (ADR 0007 §7): every `<Dial>` leg for the call's
 * minutes (or its Dial's `timeLimit`, when shorter) at its destination's rate, recorded legs and a
 * recorded or streamed call per minute, and every `<Sms>` at its destination's rate per segment (a
 * `<Message>` with `<Media>` as an MMS there). An `<Sms>` without `to` goes to the other party of the
 * call: `callee`, or the unknown-country rate.
 */
export function twimlCost(
  prices: TwilioPrices,
  twiml: TwimlReading,
  minutes: number,
  callee: Destination | undefined,
): MicroUsd {
  let micros = 0;
  for (const dial of twiml.dials) {
    const legMinutes =
      dial.timeLimitSeconds === undefined
        ? minutes
        : Math.min(minutes, Math.ceil(dial.timeLimitSeconds / 60));
    micros += legMinutes * voicePerMinute(prices, dial.to);
    if (dial.recorded) micros += legMinutes * prices.recordingPerMinute;
    // `<Number machineDetection>`, `<Sip machineDetection>`: AMD on that leg (thirteenth round).
    if (dial.machineDetection) micros += prices.machineDetectionPerCall;
  }
  // Each recording and each stream fork for the whole call (thirteenth round: one was counted
  // however many the document started; each stream is a resource of its own at Twilio).
  micros += twiml.recordings * minutes * prices.recordingPerMinute;
  micros += twiml.streams * minutes * prices.mediaStreamPerMinute;
  for (const sms of twiml.sms) {
    const to = sms.to ?? callee;
    const media = sms.media ?? 0;
    if (to?.channel === 'whatsapp') micros += prices.whatsappPerMessage;
    // A `<Message>` with `<Media>` is an MMS, priced as Messages create prices `MediaUrl`: the MMS
    // rate or the dearer SMS it may become (thirteenth round: it was priced as SMS segments).
    else if (media > 0)
      micros += mmsCost(ratesFor(prices, to), textSegments(sms.body, false, media).converted);
    else micros += smsSegments(sms.body).segments * ratesFor(prices, to).smsPerSegment;
  }
  return micros;
}

/** Verify: the verification fee plus what its channel costs to reach the destination once. */
export function verificationCost(
  prices: TwilioPrices,
  channel: string,
  to: Destination | undefined,
): MicroUsd {
  const rates = ratesFor(prices, to);
  switch (channel.toLowerCase()) {
    case 'sms':
      return prices.verifyPerVerification + rates.smsPerSegment;
    case 'whatsapp':
      return prices.verifyPerVerification + prices.whatsappPerMessage;
    case 'call':
      return prices.verifyPerVerification + 2 * rates.voicePerMinute;
    case 'email':
      return prices.verifyPerVerification;
    default:
      // sna, rcs, auto, … : the dearest of the phone channels.
      return (
        prices.verifyPerVerification +
        Math.max(rates.smsPerSegment, prices.whatsappPerMessage, 2 * rates.voicePerMinute)
      );
  }
}

/** Lookup v2 `Fields` (comma-separated and/or repeated); each paid package is billed per request. */
export function lookupV2Cost(prices: TwilioPrices, query: URLSearchParams): MicroUsd {
  const fields = query
    .getAll('Fields')
    .flatMap((v) => v.split(','))
    // A field with other blank or invisible characters around it is no package Keybrake knows.
    .map((f) => spaceTrimmed(f)?.toLowerCase() ?? f)
    .filter((f) => f.length > 0);
  let micros = 0;
  for (const field of new Set(fields)) {
    micros += Object.hasOwn(prices.lookupFields, field) ? prices.lookupFields[field]! : prices.lookupUnknown;
  }
  return micros;
}

/** Lookup v1 `Type` (carrier, caller-name) and `AddOns`, each billed per request. */
export function lookupV1Cost(prices: TwilioPrices, query: URLSearchParams): MicroUsd {
  let micros = 0;
  for (const type of new Set(query.getAll('Type').map((t) => spaceTrimmed(t)?.toLowerCase() ?? t))) {
    micros += Object.hasOwn(prices.lookupV1Types, type) ? prices.lookupV1Types[type]! : prices.lookupUnknown;
  }
  micros += new Set(query.getAll('AddOns')).size * prices.lookupUnknown;
  return micros;
}
