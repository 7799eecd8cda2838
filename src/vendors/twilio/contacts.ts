import { type Denial, deny, isDenial } from '../../decision/reasons.ts';
import { scanJson } from '../json.ts';
import { isDisplayName, normaliseBareAddress } from '../mailbox.ts';
import { spaceTrimmed } from '../parameter-spaces.ts';
import { NO_PARTIES, type Params, type Parties } from '../types.ts';
import { type Destination, destination } from './destinations.ts';
import { single, strings } from './fields.ts';
import { destinationParties, unreadableRecipient } from './parties.ts';
import { EMAIL_SENDER_NAMES, EMAIL_SENDERS, SENDER_CHOICES } from './sender-choices.ts';

/**
 * Named as the recipient when an operation reaches people Keybrake cannot read from the request (a
 * Notify identity or tag, a Flex channel): no allowlist pattern but `*` matches it, so a recipient
 * allowlist refuses the call instead of seeing no recipient at all. A phone-shaped party it is not:
 * its country is unknown, so a country allowlist refuses it too.
 */
export const UNSEEN_RECIPIENT = '(unseen recipient)';

/** Where one operation outside the priced rules names the people it calls, texts or adds. */
export interface ContactFields {
  /** Parameters holding one address each (`To`, `PhoneNumber`). */
  readonly to?: readonly string[];
  /** Parameters naming the sender (a Twilio number, an alpha sender ID, a sender's SID). */
  readonly from?: readonly string[];
  /**
   * Parameters naming the sender by one email address (a Verify service's `Email.From`), read as one
   * bare address; one that is not (a display name, a list) is `body_invalid`.
   */
  readonly fromEmail?: readonly string[];
  /**
   * Parameters holding the display name shown before a `fromEmail` address (a Verify service's
   * `Email.FromName`): one that is no display name (mailbox.ts `isDisplayName`) is `body_invalid`.
   */
  readonly fromEmailName?: readonly string[];
  /**
   * Path placeholders naming a sender too: the Messaging Service whose pool a write adds to, which
   * a send through the service names as its sender (parties.ts).
   */
  readonly pathFrom?: readonly string[];
  /**
   * A parameter whose values are JSON objects with the address at `path` (`ToBinding`); when
   * `optional`, an object that leaves the address out names nobody (a worker without `contact_uri`).
   */
  readonly json?: { readonly field: string; readonly path: readonly string[]; readonly optional?: boolean };
  /**
   * A parameter holding an address only for some kinds (a Notify binding's `Address` is a phone
   * number for `sms`, a device token for `apn`), the kind given by parameter `kind`: for any other
   * kind, or none, the call names the unseen recipient.
   */
  readonly byKind?: { readonly field: string; readonly kind: string; readonly addressed: readonly string[] };
  /** Parameters that reach people by something other than an address. */
  readonly unseen?: readonly string[];
  /** Reaches someone the request does not name at all (a participant by its SID). */
  readonly alwaysUnseen?: boolean;
  /**
   * `Instruction` values that dial someone, each with the parameters naming whom; an instruction
   * given without them reaches someone the request does not name.
   */
  readonly dials?: Readonly<Record<string, readonly string[]>>;
}

/**
 * A reservation's call, dequeue and conference instructions dial the worker: `CallTo`, `DequeueTo`,
 * `To`, or when absent the worker's `contact_uri`, which the key can set through the worker's
 * `Attributes` (third probe round: a dequeue to a premium number the allowlists never saw).
 */
const RESERVATION = {
  to: ['To', 'CallTo', 'DequeueTo'],
  from: ['From', 'CallFrom', 'DequeueFrom'],
  dials: { call: ['CallTo'], dequeue: ['DequeueTo'], conference: ['To'] },
} as const;
/**
 * A conversation participant's `ProxyAddress` (and, for group MMS, `ProjectedAddress`) is the number
 * every later message of the conversation to it leaves from, whoever sends it. An update can move
 * both, though not the participant's own address (eleventh probe round, fixes probe: an update
 * moved a participant created from an allowed number to any other).
 */
const PARTICIPANT_SENDERS = ['MessagingBinding.ProxyAddress', 'MessagingBinding.ProjectedAddress'] as const;
const PARTICIPANT = { to: ['MessagingBinding.Address'], from: PARTICIPANT_SENDERS } as const;
const PARTICIPANT_UPDATE = { from: PARTICIPANT_SENDERS } as const;
const WITH_PARTICIPANTS = { json: { field: 'Participant', path: ['messaging_binding', 'address'] } } as const;
const STUDIO = { to: ['To'], from: ['From'] } as const;
/**
 * Eleventh probe round: each item of a consent or contact write (a JSON object) is about the person
 * its `contact_id` names; an opt-in there undoes their STOP.
 */
const BULK_CONTACTS = { json: { field: 'Items', path: ['contact_id'] } } as const;
/**
 * Eleventh probe round: a sender added to a Messaging Service's pool is what a send through the
 * service may leave from, so it is judged as that send's sender would be, with the service. A number
 * or short code is named by its SID, which only an allowlist entry of that SID (or `*`) admits.
 */
const POOL = (field: string) => ({ from: [field], pathFrom: ['{ServiceSid}'] }) as const;
/**
 * Fourth probe round: every voice task routed to a worker dials its `contact_uri`, through
 * reservations Flex accepts with its own token, which Keybrake never sees.
 */
const WORKER = { json: { field: 'Attributes', path: ['contact_uri'], optional: true } } as const;

/**
 * The operations outside the priced rules that call, text or add someone (found in Twilio's
 * definitions by their parameters; ADR 0007 §7): an allowlist that is set applies to them as to a
 * message, whatever class their row has. A party allowlist never sees a call that names nobody.
 */
const NAMED: Readonly<Record<string, ContactFields>> = {
  'twilio.api.create_validation_request': { to: ['PhoneNumber'] },
  'twilio.studio.v1.create_engagement': STUDIO,
  'twilio.studio.v1.create_execution': STUDIO,
  'twilio.studio.v2.create_execution': STUDIO,
  'twilio.proxy.v1.create_participant': { to: ['Identifier'] },
  'twilio.proxy.v1.create_session': { json: { field: 'Participants', path: ['Identifier'] } },
  'twilio.proxy.v1.create_message_interaction': { alwaysUnseen: true },
  // Third probe round: a Chat channel is a conversation whose participants the request does not name.
  'twilio.chat.v1.create_message': { alwaysUnseen: true },
  'twilio.chat.v2.create_message': { alwaysUnseen: true },
  'twilio.ip_messaging.v1.create_message': { alwaysUnseen: true },
  'twilio.ip_messaging.v2.create_message': { alwaysUnseen: true },
  'twilio.taskrouter.v1.update_task_reservation': { ...RESERVATION, to: [...RESERVATION.to, 'Supervisor'] },
  'twilio.taskrouter.v1.update_worker_reservation': RESERVATION,
  'twilio.taskrouter.v1.create_worker': WORKER,
  'twilio.taskrouter.v1.update_worker': WORKER,
  'twilio.accounts.v1.create_bulk_consents': BULK_CONTACTS,
  'twilio.accounts.v1.create_bulk_contacts': BULK_CONTACTS,
  'twilio.messaging.v1.create_alpha_sender': POOL('AlphaSender'),
  'twilio.messaging.v1.create_destination_alpha_sender': POOL('AlphaSender'),
  'twilio.messaging.v1.create_phone_number': POOL('PhoneNumberSid'),
  'twilio.messaging.v1.create_short_code': POOL('ShortCodeSid'),
  'twilio.messaging.v1.create_channel_sender': { from: ['Sid'], pathFrom: ['{MessagingServiceSid}'] },
  // A Proxy service's pool, by a number's SID or the number itself: every later session's proxy
  // number is taken from it (eleventh probe round, fixes probe).
  'twilio.proxy.v1.create_phone_number': { from: ['Sid', 'PhoneNumber'], pathFrom: ['{ServiceSid}'] },
  'twilio.conversations.v1.create_conversation_participant': PARTICIPANT,
  'twilio.conversations.v1.create_service_conversation_participant': PARTICIPANT,
  'twilio.conversations.v1.update_conversation_participant': PARTICIPANT_UPDATE,
  'twilio.conversations.v1.update_service_conversation_participant': PARTICIPANT_UPDATE,
  'twilio.conversations.v1.create_conversation_with_participants': WITH_PARTICIPANTS,
  'twilio.conversations.v1.create_service_conversation_with_participants': WITH_PARTICIPANTS,
  // Fourth probe round: a binding's address receives every later notification to its identity or
  // tags, sent outside Keybrake. Facebook Messenger takes an E.164 number too; a push binding's
  // device token is no address an allowlist can read.
  'twilio.notify.v1.create_binding': {
    byKind: { field: 'Address', kind: 'BindingType', addressed: ['sms', 'facebook-messenger'] },
  },
  'twilio.notify.v1.create_notification': {
    json: { field: 'ToBinding', path: ['address'] },
    unseen: ['Identity', 'Tag', 'Segment'],
  },
  'twilio.flex_api.v1.create_interaction': { unseen: ['Channel'] },
  // Fourth probe round: a Flex channel's messages, its flow's and its agents' replies, go to `Target`.
  'twilio.flex_api.v1.create_channel': { to: ['Target'] },
  'twilio.flex_api.v1.create_interaction_channel_participant': { unseen: ['MediaProperties'] },
  // Fourth probe round: hosting a number has Twilio call or text it, or the order's contact, to verify
  // ownership; an order updated to `pending-verification` (or a bulk order, whose JSON list Keybrake
  // does not read) calls numbers the request does not name. A WhatsApp sender's registration has
  // Meta text or call its number the same way.
  'twilio.numbers.v2.create_hosted_number_order': { to: ['PhoneNumber', 'ContactPhoneNumber'] },
  'twilio.numbers.v2.create_bulk_hosted_number_order': { alwaysUnseen: true },
  'twilio.numbers.v2.update_hosted_number_order': { alwaysUnseen: true },
  'twilio.numbers.v2.create_authorization_document': { to: ['ContactPhoneNumber'] },
  'twilio.preview.create_hosted_numbers_hosted_number_order': { to: ['PhoneNumber'] },
  'twilio.preview.update_hosted_numbers_hosted_number_order': { alwaysUnseen: true },
  'twilio.preview.create_hosted_numbers_authorization_document': { to: ['ContactPhoneNumber'] },
  'twilio.preview.update_hosted_numbers_authorization_document': { to: ['ContactPhoneNumber'] },
  'twilio.messaging.v2.create_channels_sender': { to: ['sender_id'] },
  'twilio.messaging.v2.update_channels_sender': { alwaysUnseen: true },
  // Fourth probe round: texts a code to the brand contact's mobile, which the brand holds, not the request.
  'twilio.messaging.v1.create_brand_registration_otp': { alwaysUnseen: true },
};

/**
 * Every operation that names parties: those above, and the writes that choose what later sends
 * leave from (sender-choices.ts), whose fields are senders as a send's `From` is (twelfth round).
 */
export const CONTACTS: Readonly<Record<string, ContactFields>> = {
  ...NAMED,
  ...Object.fromEntries(
    Object.entries(SENDER_CHOICES).map(([id, fields]) => {
      const named = Object.hasOwn(NAMED, id) ? NAMED[id] : undefined;
      const email = fields.filter((field) => EMAIL_SENDERS.has(field));
      const other = fields.filter((field) => !EMAIL_SENDERS.has(field));
      return [
        id,
        {
          ...named,
          from: [...(named?.from ?? []), ...other],
          fromEmail: [...(named?.fromEmail ?? []), ...email],
          fromEmailName: Object.hasOwn(EMAIL_SENDER_NAMES, id) ? EMAIL_SENDER_NAMES[id] : [],
        },
      ];
    }),
  ),
};

/** Where a call's path placeholders sit: the catalog row's template and the values the call gave. */
export interface CallPath {
  readonly template: string;
  readonly segments: readonly string[];
}

/**
 * Who a call of operation `id` outside the priced rules reaches; NO_PARTIES for one that reaches
 * nobody; a denial when a recipient is not one address (`unreadableRecipient`).
 */
export function contactParties(id: string, params: Params, path?: CallPath): Parties | Denial {
  const fields = Object.hasOwn(CONTACTS, id) ? CONTACTS[id] : undefined;
  if (!fields) return NO_PARTIES;
  const to: Destination[] = (fields.to ?? []).flatMap((name) => strings(params, name).map(destination));
  if (fields.json) {
    for (const text of strings(params, fields.json.field)) {
      const found = jsonDestination(text, fields.json.path, fields.json.optional === true);
      if (isDenial(found)) return found;
      if (found) to.push(found);
    }
  }
  if (fields.byKind) to.push(...kindDestinations(fields.byKind, params));
  if (
    fields.alwaysUnseen ||
    (fields.unseen ?? []).some((name) => strings(params, name).length > 0) ||
    dialsUnnamed(fields, params)
  )
    to.push(UNSEEN);
  const unreadable = unreadableRecipient(to);
  if (unreadable) return unreadable;
  const senders = (fields.from ?? []).flatMap((name) =>
    strings(params, name).map((f) => destination(f).address),
  );
  senders.push(...pathSenders(fields.pathFrom ?? [], path));
  for (const name of fields.fromEmail ?? []) {
    for (const raw of strings(params, name)) {
      const address = normaliseBareAddress(raw);
      if (address === undefined) {
        return deny(
          'body_invalid',
          `${name} must be one email address alone (no display name, list or separator), without blank or invisible characters around it.`,
        );
      }
      senders.push(address);
    }
  }
  for (const name of fields.fromEmailName ?? []) {
    // What a reader shows before the sender: judged as Resend's `from_name` is (fourteenth round).
    if (strings(params, name).some((raw) => !isDisplayName(raw))) {
      return deny(
        'body_invalid',
        `${name} must be a display name as a quoted one in a From: no line break, control character, \`\\\`, \`<\`, \`>\`, \`@\`, \`,\`, a \`"\` but around it, an encoded word \`=?…?=\`, or a lookalike of one.`,
      );
    }
  }
  return to.length === 0 && senders.length === 0 ? NO_PARTIES : destinationParties(to, senders);
}

const UNSEEN: Destination = { channel: 'other', address: UNSEEN_RECIPIENT };

/**
 * The values the call gave for `placeholders` of its path. A table row naming a placeholder its path
 * lacks, or a call judged without its path, is a bug: it would let the sender go unjudged.
 */
function pathSenders(placeholders: readonly string[], path: CallPath | undefined): string[] {
  if (placeholders.length === 0) return [];
  const names = path ? [...path.template.matchAll(/\{[^{}/]+\}/g)].map((m) => m[0]) : [];
  return placeholders.map((placeholder) => {
    const at = names.indexOf(placeholder);
    const value = at === -1 ? undefined : path?.segments[at];
    if (value === undefined) throw new Error(`sender ${placeholder} is not a placeholder of the call's path`);
    return value;
  });
}

/** The addresses of a `byKind` parameter: read when its kind is addressed, the unseen recipient otherwise. */
function kindDestinations(byKind: NonNullable<ContactFields['byKind']>, params: Params): Destination[] {
  const addresses = strings(params, byKind.field);
  if (addresses.length === 0) return [];
  const kind = spaceTrimmed(single(params, byKind.kind) ?? '')?.toLowerCase();
  return kind !== undefined && byKind.addressed.includes(kind) ? addresses.map(destination) : [UNSEEN];
}

/** Whether the call's `Instruction` dials someone while no parameter that names whom is set. */
function dialsUnnamed(fields: ContactFields, params: Params): boolean {
  if (!fields.dials) return false;
  const instruction = spaceTrimmed(single(params, 'Instruction') ?? '')?.toLowerCase();
  // One with other blank or invisible characters around it may be read as any instruction.
  if (instruction === undefined) return true;
  const named = Object.hasOwn(fields.dials, instruction) ? fields.dials[instruction]! : undefined;
  return named !== undefined && !named.some((name) => strings(params, name).length > 0);
}

/**
 * The address at `path` of a JSON object parameter; the unseen recipient when it is not one, or
 * undefined when `optional` and the object leaves it out. A key given twice (exactly or ignoring
 * case) is refused: `JSON.parse` reads the last, Twilio might read the first.
 */
function jsonDestination(
  text: string,
  path: readonly string[],
  optional: boolean,
): Destination | Denial | undefined {
  // The text is bounded by the body's size: only the duplicate keys are of interest here.
  const repeated = scanJson(text, {
    maxDepth: Number.POSITIVE_INFINITY,
    maxParams: Number.POSITIVE_INFINITY,
  });
  if (repeated) return repeated;
  let node: unknown;
  try {
    node = JSON.parse(text);
  } catch {
    return UNSEEN;
  }
  for (const key of path) {
    if (typeof node !== 'object' || node === null || Array.isArray(node)) return UNSEEN;
    if (!Object.hasOwn(node, key)) return optional ? undefined : UNSEEN;
    node = (node as Record<string, unknown>)[key];
  }
  return typeof node === 'string' ? destination(node) : UNSEEN;
}
