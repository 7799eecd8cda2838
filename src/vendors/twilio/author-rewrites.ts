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
 * Writes that set who a conversation's participant is, the other side of the same match (thirteenth
 * round, probe fixes13x finding 1): `participant_sid` is the participant whose identity is the
 * message's author when the message is created. The backend posts its codes under a name no
 * participant has (`acme-notify-bot`), so they are withheld; a Chat or IP Messaging member created
 * with that identity (a Chat member is a Conversations participant, `MB…` on every host), or a
 * participant renamed to it, makes every message the backend posts afterwards a participant's, its
 * text answered, by one write that names no party. Creating a Conversations participant is
 * destructive already (contacts.ts reads its address); these routes to the same object are raised to
 * it when they set `Identity` (a member create always does, Twilio requires it). Left alone: a Chat
 * invite (`Identity` too), which makes no member until that identity's own client joins; a member
 * update, which cannot set `Identity`.
 */
const IDENTITY_FIELDS: Readonly<Record<string, string>> = {
  'twilio.chat.v1.create_member': 'Identity',
  'twilio.chat.v2.create_member': 'Identity',
  'twilio.ip_messaging.v1.create_member': 'Identity',
  'twilio.ip_messaging.v2.create_member': 'Identity',
  'twilio.conversations.v1.update_conversation_participant': 'Identity',
  'twilio.conversations.v1.update_service_conversation_participant': 'Identity',
};

/**
 * What makes a call of operation `id` rewrite a message's author, or who its author matches, in
 * words for the refusal (Operation.raisedBy); undefined when it does not.
 */
export function authorRewrite(id: string, params: Params): string | undefined {
  const author = Object.hasOwn(AUTHOR_FIELDS, id) ? AUTHOR_FIELDS[id]! : undefined;
  if (author !== undefined && strings(params, author).length > 0) {
    return `${author} rewrites who the message says wrote it, which decides whether its text is withheld`;
  }
  const identity = Object.hasOwn(IDENTITY_FIELDS, id) ? IDENTITY_FIELDS[id]! : undefined;
  if (identity !== undefined && strings(params, identity).length > 0) {
    return `${identity} sets who the conversation's participant is: every later message whose author is that identity counts as the participant's, and its text is no longer withheld`;
  }
  return undefined;
}
