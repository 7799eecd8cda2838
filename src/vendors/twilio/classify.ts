import { type Denial, deny, isDenial, refusing } from '../../decision/reasons.ts';
import { type MicroUsd, parseUsd } from '../../money/micro-usd.ts';
import type { CompiledKey } from '../../snapshot/types.ts';
import { normaliseBareAddress } from '../mailbox.ts';
import {
  sensitiveDenial,
  uncountedOperation,
  unknownOperation,
  unpricedRuleDenial,
} from '../operation-class.ts';
import { compileOperations, type OperationMatcher } from '../operation-table.ts';
import { isBlank } from '../parameter-spaces.ts';
import {
  type CostLookup,
  NO_PARTIES,
  type Operation,
  type Params,
  type Parties,
  type RemoteInstruction,
  type VendorRequest,
} from '../types.ts';
import { authorRewrite } from './author-rewrites.ts';
import { TWILIO_REQUEST_BODIES } from './bodies.ts';
import { contactParties } from './contacts.ts';
import {
  type ConversationMessage,
  conversationDelivery,
  conversationMessage,
  MAX_PARTICIPANT_PAGES,
  nextParticipantsPage,
  PARTICIPANTS_PAGE_SIZE,
} from './conversations.ts';
import {
  callCost,
  callMinutes,
  lookupV1Cost,
  lookupV2Cost,
  MAX_MEDIA_URLS,
  messageCost,
  twimlCost,
  verificationCost,
  voicePerMinute,
} from './costs.ts';
import { upstreamAccountSid } from './credentials.ts';
import { type Destination, destination } from './destinations.ts';
import { single, strings } from './fields.ts';
import { instructionParams, writtenIntoUrls } from './instructions.ts';
import { resolveLocks } from './locks.ts';
import { lookupQueryDenial } from './lookup-query.ts';
import { TWILIO_API_HOSTS, TWILIO_OPERATIONS, type TwilioOperationRow } from './operations.ts';
import { ownNumberCandidates, ownNumberLookup, twilioSipDenial } from './own-numbers.ts';
import {
  destinationParties,
  messagingParties,
  senderAddresses,
  UNKNOWN_COUNTRY,
  unreadableRecipient,
} from './parties.ts';
import type { TwilioPrices } from './prices.ts';
import type { TwilioPricingRule } from './rules.ts';
import { MAX_BODY_LENGTH } from './segments.ts';
import { senderChoice } from './sender-choices.ts';
import { onlyStops } from './stops.ts';
import { callTranscriptionDenial } from './transcription.ts';
import { readTwiml, type TwimlDial, type TwimlReading } from './twiml.ts';
import { TWILIO_UPLOAD_HOST, uploadDenial } from './uploads.ts';
import { verificationSender } from './verify-email.ts';
import { webhookInstruction } from './webhook-header.ts';

/** A classified Twilio call (price stage → settle): a message carries the rates settle reads its answer with (`TwilioCost`). */
export interface TwilioOperation extends Operation {
  readonly perSegmentMicros?: MicroUsd;
  readonly mmsMicros?: MicroUsd;
}

const ACCOUNT_PATH = /^\/2010-04-01\/Accounts\/([^/]+?)(?:\.json)?(\/.*)?$/;
const ACCOUNTS_LIST = /^\/2010-04-01\/Accounts(?:\.json)?$/;
const JSON_SUFFIX = /\.json$/;

/** The Twilio table, indexed once per API host. */
const BY_HOST = new Map<string, OperationMatcher<TwilioOperationRow>>(
  TWILIO_API_HOSTS.map((host) => [
    host,
    compileOperations(TWILIO_OPERATIONS.filter((row) => row.host === host)),
  ]),
);

/**
 * The id prefix of a call the table does not have: its host, as catalogued ids name it, since the
 * path alone does not tell which product was called (`/v1/Services` is on verify, messaging, chat,
 * sync, notify…) and the record's path is vendor-relative. Only a published host is named: the
 * route refuses any other, and an id holds no text of the caller's.
 */
function unknownScope(host: string): string {
  return BY_HOST.has(host) ? `twilio.${host}` : 'twilio';
}

/** The row for a call to a Twilio API host; undefined when the table has none. */
export function matchTwilioOperation(host: string, method: string, path: string) {
  return BY_HOST.get(host)?.(method, path);
}

/** The pricing rules applyRule implements; a money row with any other rule is denied with price_unknown. */
export const PRICED_TWILIO_RULES: ReadonlySet<TwilioPricingRule> = new Set<TwilioPricingRule>([
  'message',
  'call',
  'phone_number',
  'verification',
  'lookup_v2',
  'lookup_v1',
  'call_update',
  'conversation_message',
]);

/** A path id that may go into a lookup path: a SID or a plain unique name (leases take SIDs only: locks.ts). */
const SAFE_ID = /^[A-Za-z0-9._~-]{1,128}$/;

/**
 * Identifies, prices and names the parties of one Twilio call, or denies it (price stage). Pure.
 * A call under `/2010-04-01/Accounts/<sid>` must name the account the key was issued for. A call the
 * generated table does not have is `twilio.<host>.unknown`; a sensitive one is refused.
 */
export function classifyTwilio(
  prices: TwilioPrices,
  req: VendorRequest,
  params: Params,
  key: CompiledKey,
): TwilioOperation | Denial {
  const host = (req.subHost ?? 'api').toLowerCase();
  if (host === TWILIO_UPLOAD_HOST) return uploadDenial();
  const method = req.method.toUpperCase();
  const isRead = method === 'GET' || method === 'HEAD';
  // Parameters in the query string of a write would be priced from the body but might be read by Twilio.
  if (!isRead && req.query.length > 0) {
    return deny('body_invalid', 'Twilio parameters must be sent in the form body, not in the query string.');
  }

  let path = req.path;
  const account = host === 'api' ? ACCOUNT_PATH.exec(path) : null;
  if (account) {
    if (account[1] !== upstreamAccountSid(key.upstream)) {
      return deny(
        'account_not_allowed',
        'This vault key may only act on the Twilio account it was issued for.',
      );
    }
    // Twilio serves the 2010 API with or without `.json`: match as if it were always there.
    path = `/2010-04-01/Accounts/${account[1]}${(account[2] ?? '').replace(JSON_SUFFIX, '')}.json`;
  } else if (host === 'api' && ACCOUNTS_LIST.test(path)) {
    path = '/2010-04-01/Accounts.json';
  }
  // A HEAD costs what the GET it mirrors costs.
  const match = matchTwilioOperation(host, isRead ? 'GET' : method, path);
  if (!match) return unknownOperation(unknownScope(host), NO_PARTIES);
  const op = classifyRow(prices, match.row, match.segments, params, req.query, isRead, key);
  if (isDenial(op)) return refusing(match.row.id, op);
  // A write that has Twilio run the conversation's webhooks runs what Keybrake cannot see.
  const webhooks = isRead ? undefined : webhookInstruction(req.headers);
  return webhooks ? { ...op, instructions: [...(op.instructions ?? []), webhooks] } : op;
}

/** The operation of a call the catalog recognised as `row`, or why it is refused. */
function classifyRow(
  prices: TwilioPrices,
  row: TwilioOperationRow,
  segments: readonly string[],
  params: Params,
  query: VendorRequest['query'],
  isRead: boolean,
  key: CompiledKey,
): TwilioOperation | Denial {
  if (row.class === 'sensitive') return sensitiveDenial(row.id);
  const locks = resolveLocks(row, segments);
  if (isDenial(locks)) return locks;
  // Inline call instructions are read before anything is priced: they are destinations (ADR 0007 §7).
  const twiml = isRead ? undefined : inlineTwiml(row.id, params);
  if (isDenial(twiml)) return twiml;
  // And so are the destinations written into instruction URLs, for a host that builds its TwiML from
  // them (a TwiML Bin, a Twimlet, a Function): each is a `<Dial>` leg, judged and priced as one
  // (sixteenth round, instructions.ts writtenIntoUrls).
  const written = writtenIntoUrls([
    ...(isRead ? [] : instructionParams(row.id, params)),
    ...(twiml?.remote ?? []),
  ]);
  const unreadableLeg = unreadableRecipient(written.destinations);
  if (unreadableLeg) return unreadableLeg;
  const sipLeg = twilioSipDenial(written.destinations);
  if (sipLeg) return sipLeg;
  const contacts =
    isRead || row.class === 'money'
      ? NO_PARTIES
      : contactParties(row.id, params, { template: row.path, segments });
  if (isDenial(contacts)) return contacts;
  // An update that only stops or pauses what Twilio bills is a free write; any other is unpriced money.
  // A write that chooses what later sends leave from needs an exact entry (sender-choices.ts), and so
  // does one that rewrites who a message says wrote it (author-rewrites.ts).
  const raisedBy =
    isRead || row.class !== 'write'
      ? undefined
      : (senderChoice(row.id, params) ?? authorRewrite(row.id, params));
  const cls =
    raisedBy !== undefined
      ? 'destructive'
      : row.class === 'money_unpriced' && onlyStops(row.id, params)
        ? 'write'
        : row.class;
  const op =
    row.class === 'money'
      ? applyRule(
          prices,
          row,
          segments,
          params,
          query,
          twiml,
          upstreamAccountSid(key.upstream),
          written.destinations,
        )
      : { ...uncountedOperation(row.id, cls, contacts), ...(raisedBy !== undefined && { raisedBy }) };
  if (isDenial(op)) return op;
  const instructions: RemoteInstruction[] = written.instructions;
  return {
    ...op,
    // Every operation's, whatever its rule: a number bought or updated with a Twimlet as its VoiceUrl
    // forwards every call it receives to the number written there.
    parties: withDestinations(op.parties, written.destinations),
    ...(locks.length > 0 ? { locks } : {}),
    ...(instructions.length > 0 ? { instructions } : {}),
  };
}

/** The `Twiml` of an operation that declares one (Calls create and update), read; undefined without one. */
function inlineTwiml(id: string, params: Params): TwimlReading | Denial | undefined {
  const body = Object.hasOwn(TWILIO_REQUEST_BODIES, id) ? TWILIO_REQUEST_BODIES[id] : undefined;
  if (!body?.names.includes('Twiml')) return undefined;
  const text = single(params, 'Twiml');
  return text === undefined ? undefined : readTwiml(text);
}

/** Prices a money call by its row's rule; `ids` are the values of its path placeholders. */
function applyRule(
  prices: TwilioPrices,
  row: TwilioOperationRow,
  ids: readonly string[],
  params: Params,
  query: string,
  inline: TwimlReading | undefined,
  account: string | undefined,
  remoteLegs: readonly Destination[],
): TwilioOperation | Denial {
  // The call's instructions: the inline ones and a leg to each destination written into a URL.
  const twiml = withLegs(inline, remoteLegs);
  switch (row.rule) {
    case 'message': {
      // Twilio takes at most 1600 characters; a longer body is refused before it is segmented (ADR 0007 §8).
      if ((single(params, 'Body')?.length ?? 0) > MAX_BODY_LENGTH) {
        return deny('body_invalid', `Body is limited to ${MAX_BODY_LENGTH} characters (Twilio's limit).`);
      }
      // And at most 10 media (its definition): each adds a link to the text the message may become.
      if (strings(params, 'MediaUrl').length > MAX_MEDIA_URLS) {
        return deny('body_invalid', `A message takes at most ${MAX_MEDIA_URLS} MediaUrl (Twilio's limit).`);
      }
      const to = strings(params, 'To').map(destination);
      const unreadable = unreadableRecipient(to);
      if (unreadable) return unreadable;
      const { micros, ...settling } = messageCost(prices, params, to);
      // A text to one of the account's own numbers is billed inbound too (own-numbers.ts).
      const own = ownNumberLookup(ids[0] ?? '', ownNumberCandidates(to), micros);
      if (isDenial(own)) return own;
      return {
        ...priced(row.id, micros, messagingParties(params, to)),
        ...settling,
        ...(own ? { lookup: own } : {}),
      };
    }
    case 'call': {
      const transcribed = callTranscriptionDenial(params);
      if (transcribed) return transcribed;
      const to = strings(params, 'To').map(destination);
      const unreadable = unreadableRecipient([...to, ...twimlDestinations(twiml)]);
      if (unreadable) return unreadable;
      const sipDomain = twilioSipDenial([...to, ...twimlDestinations(twiml)]);
      if (sipDomain) return sipDomain;
      // Twelfth round: the caller ID a call or participant shows (`CallerId`, `<Dial callerId>`) and
      // what its texts leave from (`<Sms from>`) are senders as its `From` is.
      const senders = senderAddresses([
        ...strings(params, 'CallerId').map(destination),
        ...(twiml?.senders ?? []),
      ]);
      if (isDenial(senders)) return senders;
      const minutes = callMinutes(prices, params);
      // Each call runs the same instructions: their legs and messages once per callee.
      const micros = (to.length > 0 ? to : [undefined]).reduce(
        (sum, d) => sum + callCost(prices, params, d) + (twiml ? twimlCost(prices, twiml, minutes, d) : 0),
        0,
      );
      // A call (or a leg, or a text) to one of the account's own numbers is billed inbound too and
      // runs that number's instructions (own-numbers.ts).
      const own = ownNumberLookup(
        ids[0] ?? '',
        ownNumberCandidates([...to, ...twimlDestinations(twiml)]),
        micros,
      );
      if (isDenial(own)) return own;
      const parties = messagingParties(params, [...to, ...twimlDestinations(twiml)], senders);
      return { ...priced(row.id, micros, parties), ...(own ? { lookup: own } : {}) };
    }
    case 'call_update':
      return callUpdate(prices, row.id, ids, params, twiml, inline !== undefined);
    case 'conversation_message': {
      if (!ids.every((id) => SAFE_ID.test(id))) {
        return deny('path_invalid', 'The path does not name a valid Twilio conversation.');
      }
      let next = 0;
      const list = row.path
        .replace(/\/Messages$/, '/Participants')
        .replace(/\{[^{}/]+\}/g, () => ids[next++] ?? '');
      const lookup = participantsLookup(
        prices,
        conversationMessage(params),
        list,
        `${list}?PageSize=${PARTICIPANTS_PAGE_SIZE}`,
        { account, before: 0, page: 1, reached: [] },
      );
      return { ...priced(row.id, 0, NO_PARTIES), lookup };
    }
    case 'phone_number':
      return phoneNumber(prices, row, params);
    case 'verification':
      return verification(prices, row.id, params);
    case 'lookup_v2':
    case 'lookup_v1': {
      const search = new URLSearchParams(query);
      const unread = lookupQueryDenial(row.rule, search);
      if (unread) return unread;
      const micros = row.rule === 'lookup_v2' ? lookupV2Cost(prices, search) : lookupV1Cost(prices, search);
      // A lookup without paid fields is a free read of a money operation.
      return micros > 0
        ? priced(row.id, micros, NO_PARTIES)
        : { ...priced(row.id, 0, NO_PARTIES), movesMoney: false };
    }
    default:
      return unpricedRuleDenial(row.id, row.rule ?? 'none');
  }
}

/**
 * A live call's update (ADR 0007 §7): new inline instructions are priced like a new call's (their
 * legs for the call's minutes), and a new `TimeLimit` can lengthen the call, so the call is looked up
 * and the new limit priced at its destination's rate. Hanging up, or a redirect to remote
 * instructions (judged by the authorize stage), moves nothing.
 *
 * Twelfth round: an `<Sms>` (or `<Message>`) without `to` texts the call's other party, and one
 * without `from` leaves from the call's own number; neither is in the request. Twilio: on an incoming
 * call `to` defaults to the caller, on an outgoing one to the called party. So the call is looked up
 * for them too, and they are judged as a recipient (and country) and as a sender; a call whose
 * direction or party the answer does not give is not priced (denied). Before, such a text went to
 * whoever was on the call, outside `recipients` and `countries`.
 */
function callUpdate(
  prices: TwilioPrices,
  id: string,
  ids: readonly string[],
  params: Params,
  twiml: TwimlReading | undefined,
  inline: boolean,
): TwilioOperation | Denial {
  const transcribed = callTranscriptionDenial(params);
  if (transcribed) return transcribed;
  const minutes = callMinutes(prices, params);
  const unreadable = unreadableRecipient(twimlDestinations(twiml));
  if (unreadable) return unreadable;
  const sipDomain = twilioSipDenial(twimlDestinations(twiml));
  if (sipDomain) return sipDomain;
  // New legs or texts to the account's own numbers: looked up before the call's own read (own-numbers.ts).
  const owned = ownNumberCandidates(twimlDestinations(twiml));
  const senders = senderAddresses(twiml?.senders ?? []);
  if (isDenial(senders)) return senders;
  const parties = destinationParties(twimlDestinations(twiml), senders);
  const micros = (other: Destination | undefined) => (twiml ? twimlCost(prices, twiml, minutes, other) : 0);
  const lengthens = single(params, 'TimeLimit') !== undefined;
  const textsOther = twiml?.sms.some((m) => m.to === undefined) ?? false;
  const textsFromOwn = twiml?.sms.some((m) => m.from === undefined) ?? false;
  if (!lengthens && !textsOther && !textsFromOwn) {
    const cost = micros(undefined);
    const own = ownNumberLookup(ids[0] ?? '', owned, cost);
    if (isDenial(own)) return own;
    if (own) return { ...priced(id, cost, parties), lookup: own };
    return cost > 0 ? priced(id, cost, parties) : { ...priced(id, 0, parties), movesMoney: false };
  }
  const [account, call] = ids;
  if (!SAFE_ID.test(account ?? '') || !SAFE_ID.test(call ?? '')) {
    return deny('path_invalid', 'The path does not name a valid Twilio call.');
  }
  const live: CostLookup = {
    path: `/2010-04-01/Accounts/${account}/Calls/${call}.json`,
    describe: textsOther || textsFromOwn ? "the live call's direction and parties" : 'the live call',
    parties: (body) => {
      const { other, own } = callEnds(body);
      return destinationParties(textsOther && other ? [other] : [], textsFromOwn && own ? [own.address] : []);
    },
    price: (body) => {
      const { other, own } = callEnds(body);
      // Whom the text goes to, or leaves from, cannot be told: not priced, so denied (fail closed).
      if ((textsOther && !other) || (textsFromOwn && !own)) return undefined;
      if (!lengthens) return micros(other);
      const to = callee(body);
      // A call whose destination cannot be read is priced at the unknown-country rate. Without new
      // instructions, a longer call also lengthens whatever its running instructions started (a
      // dialled leg, a recording), which Keybrake cannot read: one more leg at the unknown-country
      // rate and a recording are counted for the new minutes (found by an adversarial probe: a call
      // whose TwiML dialled a $1/min number, priced for one minute, then lengthened to 240).
      const unread = inline ? 0 : prices.unknownCountry.voicePerMinute + prices.recordingPerMinute;
      return minutes * (voicePerMinute(prices, to) + unread) + micros(other);
    },
  };
  const lookup = ownNumberLookup(account!, owned, 0, live);
  if (isDenial(lookup)) return lookup;
  return { ...priced(id, 0, parties), lookup: lookup ?? live };
}

/** A looked-up call's `to`, what its minutes are priced at; undefined when it gives none. */
function callee(body: unknown): Destination | undefined {
  const to = field(body, 'to');
  return to !== undefined ? destination(to) : undefined;
}

/**
 * The two ends of a looked-up call by its `direction`: `other`, whom an `<Sms>` without `to` texts
 * (`from` of an inbound call, `to` of an outbound one), and `own`, the call's number an `<Sms>`
 * without `from` leaves from. An end the answer does not give, cannot be read, or of a direction
 * Twilio does not document is undefined.
 */
function callEnds(body: unknown): { other?: Destination; own?: Destination } {
  const direction = field(body, 'direction');
  const inbound = direction === 'inbound';
  if (!inbound && direction !== 'outbound-api' && direction !== 'outbound-dial') return {};
  const end = (name: string): Destination | undefined => {
    const value = field(body, name);
    const d = value === undefined ? undefined : destination(value);
    return d === undefined || d.unreadable ? undefined : d;
  };
  const [other, own] = inbound ? [end('from'), end('to')] : [end('to'), end('from')];
  return { ...(other ? { other } : {}), ...(own ? { own } : {}) };
}

/** A non-blank string property of a JSON answer. */
function field(body: unknown, name: string): string | undefined {
  const value =
    typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[name] : undefined;
  return typeof value === 'string' && !isBlank(value) ? value : undefined;
}

/** Where a participant list's read stands: the pages read before it and what they came to. */
interface ParticipantsRead {
  /** The key's account, whose numbers the recipients are looked up among; undefined: none can be. */
  readonly account: string | undefined;
  /** The message priced for the pages before this one. */
  readonly before: MicroUsd;
  readonly page: number;
  /** The SMS and WhatsApp recipients of the pages before this one. */
  readonly reached: readonly Destination[];
}

/**
 * One page of a conversation's participants (ADR 0007 §5: the conversation is leased, so none can be
 * added meanwhile): the message priced for it plus the pages before it, following Twilio's
 * `next_page_url` up to MAX_PARTICIPANT_PAGES pages; a longer list, or a page that cannot be read,
 * leaves the call unpriced (denied).
 *
 * Fourteenth round (probe fixtwre14, finding 1): after the last page, the phone numbers of every page's
 * SMS participants are looked up among the account's own numbers, as a message's `To` is
 * (own-numbers.ts): a participant at the account's own number is texted like any other, billed on
 * its inbound leg too, and runs that number's SMS URL. The Conversations path names no account, so
 * the key's (`upstream.accountSid`) is read; a key without one cannot be checked and is not priced.
 */
function participantsLookup(
  prices: TwilioPrices,
  message: ConversationMessage,
  list: string,
  path: string,
  at: ParticipantsRead,
): CostLookup {
  const delivery = (body: unknown) => conversationDelivery(prices, message, body, at.page === 1);
  /** After the last page: the own-number reads, or what the message costs when there is no number to read. */
  const last = (body: unknown): { micros: MicroUsd; own: CostLookup | Denial | undefined } | undefined => {
    const d = delivery(body);
    if (!d || nextParticipantsPage(body, list) !== undefined) return undefined;
    const micros = at.before + d.micros;
    const numbers = ownNumberCandidates([...at.reached, ...d.recipients]);
    if (numbers.length === 0) return { micros, own: undefined };
    if (at.account === undefined) return { micros, own: deny('price_unknown', 'no account to read') };
    return { micros, own: ownNumberLookup(at.account, numbers, micros) };
  };
  return {
    path,
    describe: "the conversation's SMS and WhatsApp participants",
    price: (body) => {
      const end = last(body);
      // With numbers to look up, the price is the last own-number read's (none here: unpriced).
      return end !== undefined && end.own === undefined ? end.micros : undefined;
    },
    parties: (body) => {
      const d = delivery(body);
      return d ? destinationParties(d.recipients, []) : {};
    },
    next: (body) => {
      const end = last(body);
      if (end !== undefined) return end.own === undefined || isDenial(end.own) ? undefined : end.own;
      const following = nextParticipantsPage(body, list);
      const d = delivery(body);
      if (following === undefined || following === 'unreadable' || !d || at.page >= MAX_PARTICIPANT_PAGES) {
        return undefined;
      }
      return participantsLookup(prices, message, list, following, {
        account: at.account,
        before: at.before + d.micros,
        page: at.page + 1,
        reached: [...at.reached, ...d.recipients],
      });
    },
  };
}

/** Every party inline TwiML reaches: its legs and the explicit `to` of its messages. */
/**
 * Inline instructions with a `<Dial>` leg added to each destination written into an instruction URL
 * (none recorded, no `timeLimit`: the call's minutes); undefined when there is neither.
 */
function withLegs(twiml: TwimlReading | undefined, legs: readonly Destination[]): TwimlReading | undefined {
  if (legs.length === 0) return twiml;
  const dials: TwimlDial[] = legs.map((to) => ({ to, recorded: false }));
  const base = twiml ?? { dials: [], sms: [], senders: [], remote: [], recordings: 0, streams: 0 };
  return { ...base, dials: [...base.dials, ...dials] };
}

/** An operation's parties with these destinations among its recipients and their countries. */
function withDestinations(parties: Parties, to: readonly Destination[]): Parties {
  if (to.length === 0) return parties;
  const more = destinationParties(to, []);
  return {
    ...parties,
    recipients: [...new Set([...parties.recipients, ...more.recipients])],
    countries: [...new Set([...parties.countries, ...more.countries])],
  };
}

function twimlDestinations(twiml: TwimlReading | undefined): Destination[] {
  if (!twiml) return [];
  return [...twiml.dials.map((d) => d.to), ...twiml.sms.flatMap((m) => (m.to ? [m.to] : []))];
}

/** `IncomingPhoneNumbers/{Local,Mobile,TollFree}.json` → the Pricing API's number type. */
const NUMBER_TYPE: Readonly<Record<string, string>> = {
  Local: 'local',
  Mobile: 'mobile',
  TollFree: 'tollfree',
};

/**
 * Buying a number costs its first month: the Pricing API's current price for the number's country
 * (from `PhoneNumber`; an `AreaCode` search is North American) and type (from the path; the dearest
 * type when the path does not say), read from pricing.twilio.com. A number whose country cannot be
 * read is reserved at the configured flat price, which is above every list price.
 */
function phoneNumber(prices: TwilioPrices, row: TwilioOperationRow, params: Params): TwilioOperation {
  const number = single(params, 'PhoneNumber');
  const country =
    number !== undefined
      ? destination(number).country
      : single(params, 'AreaCode') !== undefined
        ? 'US'
        : undefined;
  if (country === undefined || !/^[A-Z]{2}$/.test(country)) {
    return priced(row.id, prices.phoneNumberPurchase, NO_PARTIES);
  }
  const type = NUMBER_TYPE[/\/IncomingPhoneNumbers\/(\w+)\.json$/.exec(row.path)?.[1] ?? ''];
  const lookup: CostLookup = {
    subHost: 'pricing',
    path: `/v1/PhoneNumbers/Countries/${country}`,
    describe: `the ${country} monthly number price on pricing.twilio.com`,
    price: (body) => monthlyNumberPrice(body, type),
  };
  return { ...priced(row.id, 0, NO_PARTIES), lookup };
}

/** The dearest `current_price` (USD) among the country's prices of that type (any type when unset). */
export function monthlyNumberPrice(body: unknown, type: string | undefined): MicroUsd | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const { price_unit: unit, phone_number_prices: list } = body as Record<string, unknown>;
  if (unit !== 'USD' || !Array.isArray(list)) return undefined;
  let dearest: MicroUsd | undefined;
  for (const entry of list) {
    if (typeof entry !== 'object' || entry === null) continue;
    const { number_type: kind, current_price: current, base_price: base } = entry as Record<string, unknown>;
    if (
      type !== undefined &&
      String(kind)
        .toLowerCase()
        .replace(/[^a-z]/g, '') !== type
    )
      continue;
    for (const text of [current, base]) {
      const micros =
        typeof text === 'string' || typeof text === 'number' ? parseUsd(String(text)) : undefined;
      if (micros !== undefined && (dearest === undefined || micros > dearest)) dearest = micros;
    }
  }
  return dearest;
}

/**
 * A Verify verification: an email address, or a phone destination reached over `Channel`; and as
 * sender the address its `ChannelConfiguration` sends the email from, when it names one (thirteenth
 * round: verify-email.ts). Without one the service's own sender is used, judged when it was set.
 */
function verification(prices: TwilioPrices, id: string, params: Params): TwilioOperation | Denial {
  const channel = single(params, 'Channel') ?? 'sms';
  const rawTo = single(params, 'To');
  const from = verificationSender(params);
  if (isDenial(from)) return from;
  const senders = from === undefined ? [] : [from];
  if (channel.toLowerCase() === 'email') {
    // Read as Resend reads an address: `evil@x.com,alice@ok.com` was judged whole against
    // `*@ok.com` while the email went to evil@x.com too (sixth round); and with no display name,
    // which Verify does not document: `"evil@x.com" <bob@ok.com>` was read as bob@ok.com.
    const email = rawTo === undefined ? undefined : normaliseBareAddress(rawTo);
    if (rawTo !== undefined && email === undefined) {
      return deny(
        'body_invalid',
        'To must be one email address alone (no display name, list, group or separator), without blank or invisible characters around it.',
      );
    }
    // An address has no country: ZZ, as every destination that is not a phone number. With none, a
    // `countries` list meant to keep a key on US numbers passed a Twilio-billed code to any address
    // (eleventh round: the quick start's own Twilio key).
    const recipients = email ? { recipients: [email], countries: [UNKNOWN_COUNTRY] } : {};
    const parties = { ...NO_PARTIES, ...recipients, senders };
    return priced(id, verificationCost(prices, channel, undefined), parties);
  }
  const to = rawTo === undefined ? undefined : destination(rawTo);
  const unreadable = unreadableRecipient([to]);
  if (unreadable) return unreadable;
  const parties = destinationParties(to ? [to] : [], senders);
  return priced(id, verificationCost(prices, channel, to), parties);
}

function priced(id: string, costMicros: MicroUsd, parties: Parties): TwilioOperation {
  return { id, class: 'money', movesMoney: true, costMicros, parties };
}
