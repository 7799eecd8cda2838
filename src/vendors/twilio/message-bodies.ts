import { type Denial, deny } from '../../decision/reasons.ts';
import { endOfLiteral, skipSpace } from '../json-text.ts';
import { type Operation, WITHHELD } from '../types.ts';

/**
 * What of an answer to a message read the agent does not receive (the withhold stage, ADR 0007 §1):
 * the text of every message the account itself sent. The Twilio twin of Resend's sent-mail.ts
 * (thirteenth round, probe leaks13): `GET /2010-04-01/Accounts/{AC}/Messages.json` answers every SMS
 * the account sent, by any key and by the merchant's own sign-in service, so a caps-only policy or a
 * `GET /2010-04-01/**` glob handed the agent the sign-in codes and magic links the app texts its
 * customers; with one the agent signs in as that customer. So the `body` of each message the account
 * sent is replaced by `withheld_by_keybrake`; `to`, `from`, `status`, `num_segments`, `price` and the
 * rest stay (what an agent checking its own sends needs), and every other byte is Twilio's.
 *
 * What the account sent is read from the message itself, per API, failing closed: a message whose
 * answer does not say it came in keeps no body.
 *   - Programmable Messaging: `direction` exactly `inbound` is a message texted TO the account (a
 *     customer's reply, kept: a support agent reads them); `outbound-api`, `outbound-reply`,
 *     `outbound-call`, anything else or none is the account's.
 *   - Conversations: no direction; Twilio's definition gives a message's `participant_sid` as "the
 *     unique ID of messages's author participant. Null in case of `system` sent message", so a message
 *     with a participant (`MB…`, a customer over SMS or chat, or the merchant's staff) keeps its body
 *     and one the account's backend posted as `system` (where a notification or code would stand)
 *     does not.
 *   - Programmable Chat / IP Messaging: every message's body is withheld, whoever wrote it
 *     (thirteenth round, probe fixes13t finding 1). `from` was trusted as the author (`system` the
 *     account's), but it says nothing of who wrote a message: a Conversations conversation IS a Chat
 *     channel (same-objects.ts), so a message the backend posted in a conversation under a bot name
 *     (`author: acme-notify-bot`, no participant, withheld on the Conversations host) was read whole
 *     on the Chat host as `from: acme-notify-bot`; and `From` is a plain field of Chat's
 *     `update_message`, so one free write turned any `system` message readable. Chat answers have no
 *     field the account cannot rewrite that says a customer wrote a message, so none is kept (fail
 *     closed). A support agent reads customers' messages on the Conversations host, where
 *     `participant_sid` says who wrote them; Chat is end-of-life.
 *   - Programmable Wireless Commands and Super SIM SMS / IP Commands (probe fixes13t finding 3): the
 *     text is `command` (Wireless) or `payload` (Super SIM), "the message body of the Command";
 *     `direction` exactly `from_sim` is a message a device sent the account and keeps it, `to_sim`
 *     (what the account sent its SIMs: provisioning, device credentials, codes), anything else or
 *     none does not.
 *
 * The answers of these reads, and of the updates (an update answers the whole message, so a free
 * write to any message would read it); a create answers the agent's own message, which it wrote.
 * By field, at any depth: every object holding a `body` is judged by its own field. An answer that
 * is not JSON (the 2010 API answers XML to a path without `.json`) is withheld whole: Keybrake cannot
 * tell where a message's text stands in it.
 */

/** How a message says it was written by someone other than the account: a field and its values. */
interface Author {
  /** The field of the message object that says who wrote it; none when no field can say so. */
  readonly field?: string;
  /** Whether that field's value (a string, else `undefined`) says the account did not write it. */
  readonly notTheAccount: (value: string | undefined) => boolean;
}

const BY_DIRECTION: Author = { field: 'direction', notTheAccount: (value) => value === 'inbound' };
const BY_PARTICIPANT: Author = {
  field: 'participant_sid',
  notTheAccount: (value) => value !== undefined && /^MB[0-9a-fA-F]{32}$/.test(value),
};
/** Chat and IP Messaging: no field of a message says, beyond the account's rewriting, who wrote it. */
const NO_ONE_ELSE: Author = { notTheAccount: () => false };
const BY_SIM_DIRECTION: Author = { field: 'direction', notTheAccount: (value) => value === 'from_sim' };

/** Where an API keeps a message's text, and how it says who wrote one. */
interface Messages {
  /** The field holding a message's text. */
  readonly body: string;
  readonly author: Author;
}

const by = (author: Author, body = 'body'): Messages => ({ body, author });

/** The operations whose answers hold messages, and how each API says who wrote one. */
const MESSAGE_ANSWERS: ReadonlyMap<string, Messages> = new Map([
  ['twilio.api.list_message', by(BY_DIRECTION)],
  ['twilio.api.fetch_message', by(BY_DIRECTION)],
  ['twilio.messages.update', by(BY_DIRECTION)],
  ...[
    'list_conversation_message',
    'fetch_conversation_message',
    'update_conversation_message',
    'list_service_conversation_message',
    'fetch_service_conversation_message',
    'update_service_conversation_message',
  ].map((name) => [`twilio.conversations.v1.${name}`, by(BY_PARTICIPANT)] as const),
  ...['chat.v1', 'chat.v2', 'ip_messaging.v1', 'ip_messaging.v2'].flatMap((api) =>
    ['list_message', 'fetch_message', 'update_message'].map(
      (name) => [`twilio.${api}.${name}`, by(NO_ONE_ELSE)] as const,
    ),
  ),
  ...[
    'twilio.wireless.v1.list_command',
    'twilio.wireless.v1.fetch_command',
    'twilio.preview.list_wireless_command',
    'twilio.preview.fetch_wireless_command',
  ].map((id) => [id, by(BY_SIM_DIRECTION, 'command')] as const),
  ...[
    'twilio.supersim.v1.list_sms_command',
    'twilio.supersim.v1.fetch_sms_command',
    'twilio.supersim.v1.list_ip_command',
    'twilio.supersim.v1.fetch_ip_command',
  ].map((id) => [id, by(BY_SIM_DIRECTION, 'payload')] as const),
]);

const QUOTED_MARKER = JSON.stringify(WITHHELD);

/**
 * The body of an answer as the agent gets it: the same Buffer for any other operation, an empty
 * answer or one with nothing to withhold, else a copy with the text of each message the account
 * sent withheld (every other byte as Twilio sent it); a Denial when it cannot be taken out.
 */
export function withholdMessageBodies(body: Buffer, op?: Operation | null): Buffer | Denial {
  const messages = op == null ? undefined : MESSAGE_ANSWERS.get(op.id);
  if (messages === undefined || body.length === 0) return body;
  const text = body.toString('utf8');
  try {
    JSON.parse(text);
  } catch {
    return unreadable('was not JSON');
  }
  const rewritten = withheldBodies(text, messages);
  if (rewritten === undefined) return unreadable('held a message text that was no string');
  return rewritten === text ? body : Buffer.from(rewritten, 'utf8');
}

function unreadable(why: string): Denial {
  return deny(
    'credential_in_response',
    `The twilio API's answer to a read of messages ${why}, so Keybrake could not take the text of the account's own messages out of it and withheld the answer. Read messages in JSON (the .json path).`,
  );
}

/** One object of the answer being walked: where its `body` strings stand and who wrote it. */
interface Frame {
  readonly bodies: [start: number, end: number][];
  /** Whether the object holds the author field, and whether every copy of it names another writer. */
  authorSeen: boolean;
  notTheAccount: boolean;
}

/**
 * Valid JSON text with the text (`body`, or the API's own field) string of every object the account
 * wrote replaced, or undefined when such a field holds something other than a string or null (it could not be withheld in place). It
 * walks braces and string literals only: a literal followed by `:` is a key of the innermost open
 * object, and its value is read after the `:`. A key given twice is judged by every copy (a reader
 * may take either), so an object is another writer's only when each copy of its author field says so.
 */
function withheldBodies(text: string, { body: bodyField, author }: Messages): string | undefined {
  const open: Frame[] = [];
  const withheld: [number, number][] = [];
  const token = /["{}]/g;
  for (let match = token.exec(text); match !== null; match = token.exec(text)) {
    const at = match.index;
    if (text[at] === '{') {
      open.push({ bodies: [], authorSeen: false, notTheAccount: true });
    } else if (text[at] === '}') {
      const frame = open.pop()!;
      if (!(frame.authorSeen && frame.notTheAccount)) withheld.push(...frame.bodies);
    } else {
      const end = endOfLiteral(text, at);
      token.lastIndex = end;
      const colon = skipSpace(text, end, 1);
      if (text[colon] !== ':') continue;
      const name = JSON.parse(text.slice(at, end)) as string;
      const frame = open[open.length - 1]!;
      const valueAt = skipSpace(text, colon + 1, 1);
      const value = text[valueAt] === '"' ? [valueAt, endOfLiteral(text, valueAt)] : undefined;
      if (name === author.field) {
        frame.authorSeen = true;
        const written = value && (JSON.parse(text.slice(value[0], value[1])) as string);
        frame.notTheAccount &&= author.notTheAccount(written);
      } else if (name === bodyField) {
        if (value) frame.bodies.push(value as [number, number]);
        else if (!text.startsWith('null', valueAt)) return undefined;
      }
    }
  }
  if (withheld.length === 0) return text;
  withheld.sort((a, b) => a[0] - b[0]);
  let out = '';
  let copied = 0;
  for (const [start, end] of withheld) {
    out += text.slice(copied, start) + QUOTED_MARKER;
    copied = end;
  }
  return out + text.slice(copied);
}
