import { isBlank, spaceTrimmed } from '../parameter-spaces.ts';
import type { Params, RemoteInstruction } from '../types.ts';
import { type Destination, destination } from './destinations.ts';
import { strings } from './fields.ts';

/**
 * The parameters of Twilio operations that make Twilio fetch call or message instructions (TwiML) —
 * now for a live call, or later for every call or message a number, application, domain or service
 * receives — or ship a call's audio to a URL (ADR 0007 §7). Reviewed against every write of the
 * pinned definitions: instructions.test.ts fails when an operation gains a URL parameter this table
 * and NOT_INSTRUCTIONS do not account for. Read by classify (price stage); the authorize stage admits
 * each URL only from `allow.twimlHosts`.
 *
 * Callbacks (`StatusCallback`, `…CallbackUrl`) are not here: Twilio ignores what they answer.
 */
export interface InstructionParams {
  /** URLs Twilio fetches TwiML from (or streams audio to). */
  readonly urls?: readonly string[];
  /** SIDs of a resource whose instructions live elsewhere (a TwiML application): never checkable. */
  readonly opaque?: readonly (readonly [param: string, what: string])[];
}

const NUMBER_ROUTING: InstructionParams = {
  urls: ['VoiceUrl', 'VoiceFallbackUrl', 'SmsUrl', 'SmsFallbackUrl'],
  opaque: [
    ['VoiceApplicationSid', 'a TwiML application'],
    ['SmsApplicationSid', 'a TwiML application'],
  ],
};
const SMS_ROUTING: InstructionParams = {
  urls: ['SmsUrl', 'SmsFallbackUrl'],
  opaque: [['SmsApplicationSid', 'a TwiML application']],
};
const SIM_ROUTING: InstructionParams = { urls: ['VoiceUrl', 'VoiceFallbackUrl', 'SmsUrl', 'SmsFallbackUrl'] };
const RESERVATION: InstructionParams = { urls: ['CallUrl', 'RedirectUrl', 'WaitUrl'] };
const STUDIO_AUTO_CREATION: InstructionParams = { opaque: [['AutoCreation.StudioFlowSid', 'a Studio flow']] };
const STUDIO_WEBHOOK: InstructionParams = { opaque: [['Configuration.FlowSid', 'a Studio flow']] };
const FLEX_FLOW: InstructionParams = { opaque: [['Integration.FlowSid', 'a Studio flow']] };

/** Per operation id (operations.ts), the parameters that are instructions. */
export const TWILIO_INSTRUCTION_PARAMS: Readonly<Record<string, InstructionParams>> = {
  // A call now.
  'twilio.calls.create': {
    urls: ['Url', 'FallbackUrl'],
    opaque: [['ApplicationSid', 'a TwiML application']],
  },
  'twilio.calls.update': { urls: ['Url', 'FallbackUrl'] },
  'twilio.conferences.participants.create': { urls: ['WaitUrl'] },
  'twilio.api.update_participant': { urls: ['WaitUrl', 'HoldUrl', 'AnnounceUrl'] },
  'twilio.api.update_conference': { urls: ['AnnounceUrl'] },
  'twilio.api.update_member': { urls: ['Url'] },
  'twilio.api.create_stream': { urls: ['Url'] },
  // Every future call or message to a number, short code, SIP domain, application, SIM or service.
  'twilio.incoming_phone_numbers.create': NUMBER_ROUTING,
  'twilio.api.create_incoming_phone_number_local': NUMBER_ROUTING,
  'twilio.api.create_incoming_phone_number_mobile': NUMBER_ROUTING,
  'twilio.api.create_incoming_phone_number_toll_free': NUMBER_ROUTING,
  'twilio.api.update_incoming_phone_number': NUMBER_ROUTING,
  'twilio.api.create_application': { urls: ['VoiceUrl', 'VoiceFallbackUrl', 'SmsUrl', 'SmsFallbackUrl'] },
  'twilio.api.update_application': { urls: ['VoiceUrl', 'VoiceFallbackUrl', 'SmsUrl', 'SmsFallbackUrl'] },
  'twilio.api.update_short_code': { urls: ['SmsUrl', 'SmsFallbackUrl'] },
  'twilio.api.create_sip_domain': { urls: ['VoiceUrl', 'VoiceFallbackUrl'] },
  'twilio.api.update_sip_domain': { urls: ['VoiceUrl', 'VoiceFallbackUrl'] },
  'twilio.messaging.v1.create_service': { urls: ['InboundRequestUrl', 'FallbackUrl'] },
  'twilio.messaging.v1.update_service': { urls: ['InboundRequestUrl', 'FallbackUrl'] },
  'twilio.numbers.v2.create_hosted_number_order': SMS_ROUTING,
  'twilio.preview.create_hosted_numbers_hosted_number_order': SMS_ROUTING,
  'twilio.preview.update_wireless_sim': SIM_ROUTING,
  'twilio.wireless.v1.update_sim': SIM_ROUTING,
  'twilio.proxy.v1.create_service': { urls: ['OutOfSessionCallbackUrl'] },
  'twilio.proxy.v1.update_service': { urls: ['OutOfSessionCallbackUrl'] },
  'twilio.voice.v1.create_byoc_trunk': { urls: ['VoiceUrl', 'VoiceFallbackUrl'] },
  'twilio.voice.v1.update_byoc_trunk': { urls: ['VoiceUrl', 'VoiceFallbackUrl'] },
  'twilio.trunking.v1.create_trunk': { urls: ['DisasterRecoveryUrl'] },
  'twilio.trunking.v1.update_trunk': { urls: ['DisasterRecoveryUrl'] },
  // TaskRouter: the answer to an assignment callback can dial and dequeue; reservations dial.
  'twilio.taskrouter.v1.create_workflow': {
    urls: ['AssignmentCallbackUrl', 'FallbackAssignmentCallbackUrl'],
  },
  'twilio.taskrouter.v1.update_workflow': {
    urls: ['AssignmentCallbackUrl', 'FallbackAssignmentCallbackUrl'],
  },
  'twilio.taskrouter.v1.update_task_reservation': RESERVATION,
  'twilio.taskrouter.v1.update_worker_reservation': RESERVATION,
  // A Studio flow run by inbound messages: its definition can text or dial anyone, and Keybrake
  // cannot read it. Creating or updating a flow is destructive (review.ts).
  'twilio.conversations.v1.create_configuration_address': STUDIO_AUTO_CREATION,
  'twilio.conversations.v1.update_configuration_address': STUDIO_AUTO_CREATION,
  'twilio.conversations.v1.create_conversation_scoped_webhook': STUDIO_WEBHOOK,
  'twilio.conversations.v1.update_conversation_scoped_webhook': STUDIO_WEBHOOK,
  'twilio.conversations.v1.create_service_conversation_scoped_webhook': STUDIO_WEBHOOK,
  'twilio.conversations.v1.update_service_conversation_scoped_webhook': STUDIO_WEBHOOK,
  'twilio.chat.v2.create_channel_webhook': STUDIO_WEBHOOK,
  'twilio.chat.v2.update_channel_webhook': STUDIO_WEBHOOK,
  'twilio.ip_messaging.v2.create_channel_webhook': STUDIO_WEBHOOK,
  'twilio.ip_messaging.v2.update_channel_webhook': STUDIO_WEBHOOK,
  'twilio.flex_api.v1.create_flex_flow': FLEX_FLOW,
  'twilio.flex_api.v1.update_flex_flow': FLEX_FLOW,
};

/**
 * URL-like parameters of the definitions that are not instructions, each with why (read by the
 * completeness test). A name here is not an instruction in any operation that declares it.
 */
export const NOT_INSTRUCTIONS: Readonly<Record<string, string>> = {
  MediaUrl: 'media Twilio attaches to a message, not instructions',
  ApplicationSid: "on Messages.json only routes the message's status callbacks",
  AuthorizeRedirectUrl: 'Connect Apps: a browser redirect (the operation is sensitive anyway)',
  DeauthorizeCallbackUrl: 'a callback',
  HomepageUrl: 'a link shown to users',
  StatusCallbackUrl: 'a callback',
  CallbackUrl: 'a callback',
  WebhookUrl: 'an event webhook: its answer is not TwiML',
  PreWebhookUrl:
    'a Conversations/Chat event webhook: its answer can only block or edit the event (a standing webhook: destructive)',
  PostWebhookUrl: 'an event webhook: its answer is ignored (a standing webhook: destructive)',
  'Configuration.Url': 'a Conversations/Chat event webhook (a standing webhook: destructive)',
  'AutoCreation.WebhookUrl': 'a Conversations event webhook (a standing webhook: destructive)',
  'Integration.Url': 'a Flex Flow external webhook (events, not TwiML)',
  PluginUrl: 'a Flex plugin bundle (putting it live is the sensitive release)',
  AwsS3Url: "where the account's recordings are stored, not instructions",
  RedirectUri: 'OAuth (sensitive operations)',
  redirect_uri: 'OAuth (sensitive operations)',
  SipUrl: 'a SIP trunk origination target (trunk operations are destructive)',
  IpCommandsUrl: 'a Super SIM command webhook',
  SmsCommandsUrl: 'a Super SIM command webhook',
  BusinessWebsiteUrl: 'data of a compliance inquiry',
  FallbackUrl:
    'on link-shortening domains a browser redirect; on calls and messaging services it is listed above',
  Url: 'on a Stream it is listed above; elsewhere an event sink or webhook',
  VoiceStatusCallbackUrl: 'a callback',
  DequeueStatusCallbackUrl: 'a callback',
  CallStatusCallbackUrl: 'a callback',
  EventCallbackUrl: "a TaskRouter workspace's event webhook (a standing webhook: destructive)",
  DeliveryCallbackUrl: 'a callback',
  InterceptCallbackUrl: 'a Proxy interception callback: its answer can only block the interaction',
  WorkflowSid: 'a TaskRouter workflow: its assignment callback URLs are checked when they are set',
  'Integration.WorkflowSid':
    'a TaskRouter workflow: its assignment callback URLs are checked when they are set',
  FlexFlowSid: 'a Flex flow: its Studio flow is refused when it is set',
};

/** Families of names that are not instructions (read by the completeness test), with why. */
export const NOT_INSTRUCTION_PATTERNS: readonly (readonly [RegExp, string])[] = [
  [
    /^Webhooks\.[A-Za-z]+\.Url$/,
    'Programmable Chat event webhooks: their answer is not TwiML (a standing webhook: destructive)',
  ],
];

/** The instructions a call's parameters carry, for the operations of the table. */
export function instructionParams(id: string, params: Params): RemoteInstruction[] {
  const entry = Object.hasOwn(TWILIO_INSTRUCTION_PARAMS, id) ? TWILIO_INSTRUCTION_PARAMS[id]! : undefined;
  if (!entry) return [];
  const found: RemoteInstruction[] = [];
  for (const name of entry.urls ?? []) {
    for (const url of strings(params, name)) {
      // An empty value clears the setting: nothing is fetched. One with other blank or invisible
      // characters around it is judged raw, which no allowed host's URL is.
      if (!isBlank(url)) found.push({ kind: 'url', where: name, url: spaceTrimmed(url) ?? url });
    }
  }
  for (const [name, what] of entry.opaque ?? []) {
    if (strings(params, name).some((v) => !isBlank(v))) found.push({ kind: 'opaque', where: name, what });
  }
  return found;
}

/**
 * What the agent wrote into instruction URLs for their host to build TwiML from (sixteenth round,
 * money16 finding 2): `allow.twimlHosts` trusts a host's instructions, but a TwiML Bin
 * (`handler.twilio.com`, `<Dial>{{Target}}</Dial>`), a Twimlet (`twimlets.com/forward?PhoneNumber=`,
 * `/simulring?PhoneNumbers[0]=`) or a Function (`*.twil.io`, `event.To`) dials what the URL's query
 * says, so an agent dialled +44 9 and +882 numbers past `recipients` and `countries`. So:
 * - `destinations`: every query name and value, and every path segment, that reads as a destination
 *   (`destinationsIn`), each judged and priced by classify as an inline `<Dial>` leg to it is;
 * - `instructions`: the URLs given, and the instructions their values name in turn, each judged by
 *   the authorize stage: a URL (a Twimlet's `FailUrl`, `/echo?Twiml=` aside) as any instruction URL
 *   is, its own query read the same way; TwiML markup (`<`), or URLs nested deeper than
 *   `MAX_NESTING`, as instructions Keybrake cannot check.
 * Read from the raw URL, each value percent-decoded once, twice and three times (a host may decode
 * more than once), `+` kept as itself: a number with a `+` anywhere (`+44+909…`, which a host reading
 * `+` as a space sees as ` 44 909…`) is read as the international number its digits make.
 */
export function writtenIntoUrls(instructions: readonly RemoteInstruction[]): {
  instructions: RemoteInstruction[];
  destinations: Destination[];
} {
  const all: RemoteInstruction[] = [];
  const destinations = new Map<string, Destination>();
  const visit = (instruction: RemoteInstruction, depth: number): void => {
    all.push(instruction);
    if (instruction.kind !== 'url') return;
    for (const [reading, named] of urlReadings(instruction.url)) {
      const text = reading.trim();
      if (text.includes('<')) {
        all.push({ kind: 'opaque', where: instruction.where, what: 'TwiML markup written into its URL' });
      } else if (NESTED_URL.test(text)) {
        const where = `${instruction.where} (a URL written into it)`;
        if (depth >= MAX_NESTING) all.push({ kind: 'opaque', where, what: 'URLs nested too deep to read' });
        else visit({ kind: 'url', where, url: text }, depth + 1);
      } else {
        for (const d of destinationsIn(text, named)) destinations.set(`${d.channel} ${d.address}`, d);
      }
    }
  };
  for (const instruction of instructions) visit(instruction, 0);
  return { instructions: all, destinations: [...destinations.values()] };
}

/** How deep URLs written into URLs are followed: beyond, the instructions are not checkable. */
const MAX_NESTING = 3;
/** A value that is itself a URL: `scheme://…`, or scheme-relative `//host/…`. */
const NESTED_URL = /^(?:[a-z][a-z0-9+.-]*:)?\/\//i;
/** A value naming a destination by its scheme, as a `To` or a `<Dial>` noun does. */
const ADDRESS_SCHEME = /^(?:sips?|client|whatsapp|tel):/i;
const PERCENT_ESCAPE = /%[0-9A-Fa-f]{2}/;
/** Digits, `+` (fullwidth too), parentheses, dashes, dots, blanks and control or format characters. */
const NUMBER_LIKE = /^[\p{Nd}+\uFF0B().\uFF08\uFF09\p{Pd}\p{Z}\s\p{Cc}\p{Cf}]*$/u;
/** Digits a value needs to read as a phone number (E.164 numbers have at least 7 with their code). */
const PHONE_DIGITS = 7;
/**
 * Digits a value with a `+` needs to read as a number wherever it stands (sixteenth round, probe
 * fixes16b finding 2): `+911`, `+882`; fewer than three is no number a `+` could prefix.
 */
const PLUS_DIGITS = 3;
/**
 * Words of a query name that name a destination, so that its value is read as a number whatever its
 * length (sixteenth round, probe fixes16b finding 2: `?Target=911`, `?Target=118118` were under seven
 * digits and dialled past `allow.recipients`). A name's words are split at case changes, digits and
 * anything else (`PhoneNumbers[0]`: phone, numbers; `forward_to`: forward, to; `callerId`: caller,
 * id), and compared in lower case. `number` alone counts too (`{{Number}}` is what a Bin author would
 * write): an `OrderNumber` of a few digits is then read as a number, the fail-closed side.
 */
const DESTINATION_WORDS: ReadonlySet<string> = new Set([
  'to',
  'target',
  'targets',
  'number',
  'numbers',
  'phone',
  'phones',
  'phonenumber',
  'phonenumbers',
  'dial',
  'forward',
  'forwardto',
  'destination',
  'destinations',
  'recipient',
  'recipients',
  'caller',
  'callerid',
  'callee',
  'msisdn',
  'mobile',
  'cell',
  'tel',
  'sip',
  'client',
  'whatsapp',
]);

/**
 * Word stems a name written in one case names a destination by (`targetnumber`, `dialto`,
 * `forwardnumber`, `recipientlist`): at its end or at its start. `to` is no stem (`token`, `photo`).
 */
const DESTINATION_ENDS = /(?:numbers?|phones?|target|recipients?|destinations?|callerid|msisdn)$/;
const DESTINATION_STARTS = /^(?:dial|forward|phone|target|recipient|destination|caller|callee)/;

/** Whether a query name (one of its readings) names a destination (`DESTINATION_WORDS`). */
function namesDestination(name: string): boolean {
  const words = name.match(/[A-Z]?[a-z]+|[A-Z]+(?![a-z])/g) ?? [];
  return words.some((word) => {
    const lower = word.toLowerCase();
    return DESTINATION_WORDS.has(lower) || DESTINATION_ENDS.test(lower) || DESTINATION_STARTS.test(lower);
  });
}

/**
 * Each path segment and each query name and value of a URL (split on `&` and `;`, and on `&` alone;
 * names at the first `=`; its fragment is never sent), raw and percent-decoded up to three times,
 * each with whether it is the value of a name that names a destination (any reading of the name).
 */
function urlReadings(url: string): Map<string, boolean> {
  const sent = url.split('#')[0] ?? '';
  const mark = sent.indexOf('?');
  const path = (mark < 0 ? sent : sent.slice(0, mark)).replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, '');
  const query = mark < 0 ? '' : sent.slice(mark + 1);
  // Split on `&` alone too: a host that does not split on `;` reads `sip:x@pbx.ok.com;maddr=evil`
  // whole, and so must Keybrake (`destination` refuses the `maddr`).
  const pairs = [...query.split(/[&;]/), ...query.split('&')];
  const pieces: [string, boolean][] = [
    ...path.split('/').map((segment): [string, boolean] => [segment, false]),
    ...pairs.flatMap((pair): [string, boolean][] => {
      const eq = pair.indexOf('=');
      if (eq < 0) return [[pair, false]];
      const name = pair.slice(0, eq);
      return [
        [name, false],
        [pair.slice(eq + 1), decodings(name).some(namesDestination)],
      ];
    }),
  ];
  const readings = new Map<string, boolean>();
  for (const [piece, named] of pieces) {
    for (const text of decodings(piece)) readings.set(text, named || (readings.get(text) ?? false));
  }
  return readings;
}

/** A text raw and percent-decoded up to three times (a host may decode more than once). */
function decodings(piece: string): string[] {
  const out: string[] = [];
  let text = piece;
  for (let i = 0; i < 4 && text !== '' && !out.includes(text); i++) {
    out.push(text);
    text = percentDecoded(text);
  }
  return out;
}

/** Percent escapes decoded as UTF-8 (a malformed sequence as U+FFFD), anything else left as it is. */
function percentDecoded(text: string): string {
  return text.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) =>
    new TextDecoder().decode(Buffer.from(run.replaceAll('%', ''), 'hex')),
  );
}

/**
 * The destinations a value names: the whole value when it has an address scheme (`sip:`, `client:`,
 * `whatsapp:`, `tel:`) and no percent escape left, else each of its comma- or semicolon-separated parts
 * that holds no letter and enough digits to be a number: `PHONE_DIGITS` anywhere; `PLUS_DIGITS` with
 * a `+` in it; any, one or more, as the value of a name that names a destination (`named`:
 * `?Target=911`, as `<Dial>911</Dial>` is judged; sixteenth round). A part of digits with nothing
 * but phone punctuation and `+` between them is read as that number; any other without letters (a
 * tab, a no-break space or a non-breaking hyphen inside, a NUL after, fullwidth digits) is passed as
 * written, which `destination` reads as unreadable (refused), as an inline `<Number>` with them is.
 */
function destinationsIn(text: string, named: boolean): Destination[] {
  // An address still percent-encoded is judged as its decoded reading (urlReadings gives that too).
  if (ADDRESS_SCHEME.test(text)) return PERCENT_ESCAPE.test(text) ? [] : [destination(text)];
  const found: Destination[] = [];
  for (const part of text.split(/[,;]/)) {
    const trimmed = part.trim();
    // Digits with phone punctuation, blanks, dashes and invisible characters only: anything else
    // (a letter, `:` or `/` of a time or a date) is no number.
    if (!NUMBER_LIKE.test(trimmed)) continue;
    const plus = /[+\uFF0B]/.test(trimmed);
    const count = trimmed.match(/\p{Nd}/gu)?.length ?? 0;
    if (count < (named ? 1 : plus ? PLUS_DIGITS : PHONE_DIGITS)) continue;
    const digits = trimmed.replace(/[\s().+-]/g, '');
    const plain = /^\d+$/.test(digits) && /^[\d ().+-]+$/.test(trimmed);
    found.push(destination(plain ? `${plus ? '+' : ''}${digits}` : trimmed));
  }
  return found;
}
