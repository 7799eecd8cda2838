import type { Params } from '../types.ts';
import { strings } from './fields.ts';

/**
 * Writes that rewrite who a message says wrote it (thirteenth round, probe fixes13t finding 1): a
 * Conversations message's `Author`, a Chat or IP Messaging v2 message's `From`. Whether the agent
 * reads a message's text is decided by who wrote it (message-bodies.ts): on Conversations by
 * `participant_sid`, which Twilio derives from the author and whose re-derivation on an author
 * update is not documented; a Conversations message is also a Chat message (same-objects.ts). A free
 * write to the author field could so turn the account's own message (a sign-in code the backend
 * posted) into one a participant seems to have written, and have its text answered. So a write that
 * sets the field (given at all, empty too) is destructive, an exact entry, whatever its row's class:
 * editing a message's text or attributes stays a write a glob admits. Pure: price stage.
 */
const AUTHOR_FIELDS: Readonly<Record<string, string>> = {
  'twilio.conversations.v1.update_conversation_message': 'Author',
  'twilio.conversations.v1.update_service_conversation_message': 'Author',
  'twilio.chat.v2.update_message': 'From',
  'twilio.ip_messaging.v2.update_message': 'From',
};

/**
 * What makes a call of operation `id` rewrite a message's author, in words for the refusal
 * (Operation.raisedBy); undefined when it does not.
 */
export function authorRewrite(id: string, params: Params): string | undefined {
  const field = Object.hasOwn(AUTHOR_FIELDS, id) ? AUTHOR_FIELDS[id]! : undefined;
  if (field === undefined || strings(params, field).length === 0) return undefined;
  return `${field} rewrites who the message says wrote it, which decides whether its text is withheld`;
}
