import type { Params } from '../types.ts';
import { strings } from './fields.ts';

/**
 * Writes that choose what later sends leave from (twelfth round, ADR 0008): a Verify service's
 * Messaging Service per country and its WhatsApp sender, a Notify service's Messaging Service, a
 * conversation's (or the account's default) Messaging Service, a Chat channel's. Every later send of
 * the service or conversation, the merchant's own included, then leaves from what the write named,
 * while such a send names only the service or conversation: the same reasoning as a sender added to
 * a Messaging Service's pool (eleventh round). So the fields are senders (contacts.ts), and a write
 * that sets one is destructive (an exact entry) whatever its row's class: renaming the service stays
 * a write a glob admits. Pure: price stage.
 *
 * Thirteenth round (probe fixes13t finding 2): a Verify service's `Email.From` is the address every
 * later verification email of the service leaves from, the merchant's own too, while such a
 * verification names only the service (a call's `ChannelConfiguration` from is judged per call,
 * verify-email.ts). It was forwarded as a free write under a `POST /v2/Services/*` glob, unjudged by
 * `allow.senders`. It is a sender like `Whatsapp.From`, read as one bare address (EMAIL_SENDERS).
 * `Email.FromName` (a display name) and `Email.ContentTemplateId` (the mail's template) are not
 * senders, as a call's `from_name` is not; but see EMAIL_SENDER_NAMES.
 */
export const SENDER_CHOICES: Readonly<Record<string, readonly string[]>> = {
  'twilio.verify.v2.create_messaging_configuration': ['MessagingServiceSid'],
  'twilio.verify.v2.update_messaging_configuration': ['MessagingServiceSid'],
  'twilio.verify.services.create': ['Whatsapp.From', 'Whatsapp.MsgServiceSid', 'Email.From'],
  'twilio.verify.v2.update_service': ['Whatsapp.From', 'Whatsapp.MsgServiceSid', 'Email.From'],
  'twilio.notify.v1.create_service': ['MessagingServiceSid'],
  'twilio.notify.v1.update_service': ['MessagingServiceSid'],
  'twilio.conversations.v1.create_conversation': ['MessagingServiceSid'],
  'twilio.conversations.v1.update_conversation': ['MessagingServiceSid'],
  'twilio.conversations.v1.create_service_conversation': ['MessagingServiceSid'],
  'twilio.conversations.v1.update_service_conversation': ['MessagingServiceSid'],
  'twilio.conversations.v1.create_conversation_with_participants': ['MessagingServiceSid'],
  'twilio.conversations.v1.create_service_conversation_with_participants': ['MessagingServiceSid'],
  'twilio.conversations.v1.update_configuration': ['DefaultMessagingServiceSid'],
  'twilio.chat.v3.update_channel': ['MessagingServiceSid'],
};

/** The fields above that name an email address, not a number or SID: read as one bare address. */
export const EMAIL_SENDERS: ReadonlySet<string> = new Set(['Email.From']);

/**
 * The fields that set the display name every later email of the service shows before its
 * `Email.From` (fourteenth round, probe fixtwre14 finding 3): a reader shows the name first, so
 * `Email.FromName=CEO <ceo@evil.test>` or an RFC 2047 encoded word decoding to it went out stored
 * beside an allowed sender. Judged as a display name (contacts.ts, mailbox.ts `isDisplayName`, as
 * Resend's `from_name` is); a plain name stays a write a glob admits, as a Resend inbox's name.
 */
export const EMAIL_SENDER_NAMES: Readonly<Record<string, readonly string[]>> = {
  'twilio.verify.services.create': ['Email.FromName'],
  'twilio.verify.v2.update_service': ['Email.FromName'],
};

/**
 * The sender field a call of operation `id` sets, in words for the refusal (Operation.raisedBy);
 * undefined when it sets none. A field given empty counts: it moves later sends to the default.
 */
export function senderChoice(id: string, params: Params): string | undefined {
  const fields = Object.hasOwn(SENDER_CHOICES, id) ? SENDER_CHOICES[id]! : [];
  const set = fields.find((field) => strings(params, field).length > 0);
  return set === undefined ? undefined : `${set} chooses what every later send it governs leaves from`;
}
