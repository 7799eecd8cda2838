import type { MicroUsd } from '../../money/micro-usd.ts';
import { isBlank } from '../parameter-spaces.ts';
import type { Params } from '../types.ts';
import { mmsCost, textSegments } from './costs.ts';
import { type Destination, destination } from './destinations.ts';
import { single, strings } from './fields.ts';
import { ratesFor, type TwilioPrices } from './prices.ts';

/**
 * A Conversations message is delivered to every participant of the conversation that is reached over
 * SMS, MMS or WhatsApp (a `messaging_binding`), at messaging rates; and every participant, chat ones
 * (an `identity`) included, can become an active user of the month, billed once a month. The
 * participants are not in the request, so the price stage looks the list up with the real key
 * (`GET …/Participants?PageSize=100`) and prices it here. Pure.
 */

/** Twilio's largest page of participants. */
export const PARTICIPANTS_PAGE_SIZE = 100;
/** Pages read at most (1000 participants); a longer list is not priced (fail closed). */
export const MAX_PARTICIPANT_PAGES = 10;

/** What one message costs per SMS recipient: its segments, and whether it goes as MMS. */
export interface ConversationMessage {
  /** With media, the segments it becomes as SMS with a link (MMS Converter). */
  readonly segments: number;
  readonly media: boolean;
}

/** Reads the message being sent: the segments of its text (`textSegments`), `MediaSid`. */
export function conversationMessage(params: Params): ConversationMessage {
  const media = !isBlank(single(params, 'MediaSid') ?? '');
  const templated = strings(params, 'ContentSid').length > 0;
  const text = textSegments(single(params, 'Body'), templated, media ? 1 : 0);
  return { segments: media ? text.converted : text.sms, media };
}

/** The priced delivery of one message to a looked-up participant list; undefined when it cannot be read. */
export interface ConversationDelivery {
  readonly micros: MicroUsd;
  /** The SMS and WhatsApp participants: the message's recipients. */
  readonly recipients: readonly Destination[];
}

/**
 * Prices one message for one page of the participant list Twilio returned; undefined (so the call is
 * denied) when the body is not a participant list. Per SMS participant: with media, an MMS or the SMS
 * it may become (`mmsCost`); in a group MMS (a participant with a `projected_address`), an MMS; else
 * segments × the SMS rate of its country (after the first page, where a group cannot be seen, the
 * dearer of that and an MMS); per WhatsApp participant the WhatsApp rate; a binding of any other type
 * the dearest of these.
 */
export function conversationDelivery(
  prices: TwilioPrices,
  message: ConversationMessage,
  body: unknown,
  firstPage = true,
): ConversationDelivery | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const list = (body as Record<string, unknown>)['participants'];
  if (!Array.isArray(list)) return undefined;
  // Every participant a message reaches may become one of the month's active users (a monthly fee
  // per user): Keybrake cannot know who already is, so every message counts it for each of them.
  let micros = list.length * prices.conversationsActiveUser;
  const bindings: Record<string, unknown>[] = [];
  for (const participant of list) {
    if (typeof participant !== 'object' || participant === null) return undefined;
    const binding = (participant as Record<string, unknown>)['messaging_binding'];
    if (binding === null || binding === undefined) continue;
    if (typeof binding !== 'object') return undefined;
    bindings.push(binding as Record<string, unknown>);
  }
  const groupMms = bindings.some(
    (b) => typeof b['projected_address'] === 'string' && b['projected_address'] !== '',
  );
  const recipients: Destination[] = [];
  for (const binding of bindings) {
    const address = typeof binding['address'] === 'string' ? binding['address'] : undefined;
    // A group MMS's own side (only a projected address) is the sender, not a recipient.
    if (address === undefined || isBlank(address)) {
      if (typeof binding['projected_address'] === 'string') continue;
      return undefined;
    }
    const to = destination(address);
    const type = typeof binding['type'] === 'string' ? binding['type'].toLowerCase() : '';
    const rates = ratesFor(prices, to);
    const sms = message.segments * rates.smsPerSegment;
    if (type === 'whatsapp' || to.channel === 'whatsapp') {
      micros += prices.whatsappPerMessage;
    } else if (type === 'sms') {
      // Media may reach the participant as SMS and a link (MMS Converter), as on Messages.json.
      if (message.media) micros += mmsCost(rates, message.segments);
      else if (groupMms) micros += rates.mmsPerMessage;
      else micros += firstPage ? sms : Math.max(sms, rates.mmsPerMessage);
    } else {
      micros += Math.max(sms, rates.mmsPerMessage, prices.whatsappPerMessage);
    }
    recipients.push(to);
  }
  return { micros, recipients };
}

/**
 * The vendor-relative path of the next page of a participant list (`meta.next_page_url`), accepted only
 * on conversations.twilio.com and for the same list; undefined on the last page. Throws nothing: a next
 * page Keybrake will not follow is reported as `'unreadable'`.
 */
export function nextParticipantsPage(body: unknown, list: string): string | 'unreadable' | undefined {
  const meta =
    typeof body === 'object' && body !== null ? (body as Record<string, unknown>)['meta'] : undefined;
  const next =
    typeof meta === 'object' && meta !== null
      ? (meta as Record<string, unknown>)['next_page_url']
      : undefined;
  if (next === undefined || next === null || next === '') return undefined;
  if (typeof next !== 'string') return 'unreadable';
  let url: URL;
  try {
    url = new URL(next);
  } catch {
    return 'unreadable';
  }
  if (url.protocol !== 'https:' || url.hostname !== 'conversations.twilio.com' || url.pathname !== list) {
    return 'unreadable';
  }
  return `${url.pathname}${url.search}`;
}
