import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { parsePhoneNumberFromString } from 'libphonenumber-js';
import { SegmentedMessage } from 'sms-segments-calculator';
import { createRecorder, type EmulatorHandle, readBody, sendJson, serveEmulator } from './recorder.ts';

/** A Twilio account (or API key of one) the emulator accepts. */
export interface TwilioEmulatorAccount {
  readonly sid: string;
  readonly authToken: string;
}

export interface TwilioEmulatorOptions {
  /** 0 (default) picks a free port. */
  readonly port?: number;
  readonly accounts?: readonly TwilioEmulatorAccount[];
  /** API keys (`SK…:secret`) acting on an account. */
  readonly apiKeys?: readonly {
    readonly sid: string;
    readonly secret: string;
    readonly accountSid: string;
  }[];
  /** Off for benchmarks, where recording every request would only grow memory. */
  readonly record?: boolean;
}

/** One billed item of the emulator's ledger: what Twilio would charge for a call it accepted. */
export interface TwilioCharge {
  /** A Twilio usage category (`sms`, `mms`, `calls`, `phonenumbers`, `verify`, `lookups`, …). */
  readonly category: string;
  /** The resource billed (`SM…`, `CA…`, `PN…`, …). */
  readonly sid: string;
  /** USD in millionths, exact. */
  readonly micros: number;
}

/** A running Twilio emulator, handed to e2e tests, the demo and the benchmark. */
export interface TwilioEmulator extends EmulatorHandle {
  /** Everything billed so far, in order (also served as `Usage/Records.json`). */
  readonly charges: readonly TwilioCharge[];
}

export const TWILIO_EMULATOR_ACCOUNT: TwilioEmulatorAccount = {
  sid: 'AC00000000000000000000000000000001',
  authToken: 'emulator-auth-token',
};

const DOCS = 'https://www.twilio.com/docs/errors';

/**
 * What the emulator bills, in millionths of a USD: its own reading of Twilio's public list prices
 * (twilio.com/en-us/sms/pricing/<cc>, /voice/pricing/<cc>, /verify/pricing, /lookup pricing, phone
 * number pricing; consulted 2026-11-29), carrier fees included, independent of Keybrake's tables: e2e
 * tests compare what Keybrake reserved with what this "Twilio" then reports. Countries it does not
 * list are billed at a rest-of-world rate.
 */
const SMS_PER_SEGMENT: Readonly<Record<string, number>> = {
  US: 8_300 + 3_000,
  CA: 8_300 + 3_000,
  GB: 46_300,
  GG: 90_000,
  FR: 79_100,
  DE: 89_700,
};
const MMS_PER_MESSAGE: Readonly<Record<string, number>> = { US: 22_000 + 5_000, CA: 22_000 + 5_000 };
const VOICE_PER_MINUTE: Readonly<Record<string, number>> = {
  US: 14_000,
  CA: 14_000,
  GB: 45_000,
  GG: 250_000,
  FR: 65_000,
  DE: 100_000,
};
const REST_OF_WORLD = { sms: 300_000, mms: 400_000, voice: 800_000 };
const WHATSAPP_PER_MESSAGE = 5_000 + 140_000;
/**
 * Twilio's Engagement Suite fee, once per message that uses one of its features (link shortening,
 * message scheduling): "$0.015" on twilio.com/en-us/whatsapp/pricing; Twilio's support article "Link
 * Shortening with Engagement Suite" bills it "once per message" however many features it uses.
 */
const ENGAGEMENT_SUITE_PER_MESSAGE = 15_000;
const CLIENT_OR_SIP_PER_MINUTE = 4_000;
const CONFERENCE_PER_PARTICIPANT_MINUTE = 1_800;
const RECORDING_PER_MINUTE = 2_500;
const AMD_PER_CALL = 7_500;
const VERIFY_PER_VERIFICATION = 50_000;
/** Conversations: each participant a message reaches is an active user of the month, billed once. */
const CONVERSATIONS_ACTIVE_USER = 50_000;
const LOOKUP_FIELDS: Readonly<Record<string, number>> = {
  line_type_intelligence: 8_000,
  caller_name: 10_000,
  sms_pumping_risk: 25_000,
};
/** Monthly price of a number, billed when it is bought. */
const NUMBER_PER_MONTH: Readonly<Record<string, number>> = {
  local: 1_150_000,
  mobile: 1_150_000,
  toll_free: 2_150_000,
};
/** Twilio ends a call after 4 hours unless its TimeLimit says sooner. */
const CALL_LIMIT_SECONDS = 14_400;

function countryOf(address: string): string | undefined {
  const number = address.replace(/^whatsapp:/i, '').replace(/[\s().-]/g, '');
  return number.startsWith('+') ? parsePhoneNumberFromString(number)?.country : undefined;
}

function smsPrice(to: string, segments: number, media: boolean): number {
  if (/^whatsapp:/i.test(to)) return WHATSAPP_PER_MESSAGE;
  const country = countryOf(to) ?? '';
  if (media) return MMS_PER_MESSAGE[country] ?? REST_OF_WORLD.mms;
  return segments * (SMS_PER_SEGMENT[country] ?? REST_OF_WORLD.sms);
}

function voicePrice(to: string): number {
  if (/^(client|sip):/i.test(to)) return CLIENT_OR_SIP_PER_MINUTE;
  return VOICE_PER_MINUTE[countryOf(to) ?? ''] ?? REST_OF_WORLD.voice;
}

function segmentsOf(body: string): number {
  return Math.max(1, new SegmentedMessage(body).segmentsCount);
}

/** `-0.011300`: how Twilio writes a price (a charge is negative). */
function priceText(micros: number): string {
  return `-${(micros / 1_000_000).toFixed(6)}`;
}

/** The legs and messages a TwiML document makes the call place, as this emulator runs it. */
interface CallPlan {
  /** Each `<Dial>`: its nouns (`+1…`, `client:x`, `sip:…`, `conference:x`) and its timeLimit. */
  readonly dials: { readonly to: readonly string[]; readonly limitSeconds: number }[];
  readonly sms: { readonly to: string | undefined; readonly body: string }[];
  readonly recorded: boolean;
}

const ENTITIES: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function xmlText(raw: string): string {
  return raw
    .replace(/<!--[\s\S]*?-->/g, '')
    .replace(/<!\[CDATA\[([\s\S]*?)\]\]>/g, '$1')
    .replace(/&(#x[0-9a-f]+|#\d+|\w+);/gi, (_m, name: string) =>
      name.startsWith('#x') || name.startsWith('#X')
        ? String.fromCodePoint(Number.parseInt(name.slice(2), 16))
        : name.startsWith('#')
          ? String.fromCodePoint(Number(name.slice(1)))
          : (ENTITIES[name] ?? ''),
    )
    .trim();
}

function attr(tag: string, name: string): string | undefined {
  return new RegExp(`\\s${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)')`, 'i')
    .exec(tag)
    ?.slice(1)
    .find((v) => v !== undefined);
}

/** Reads the TwiML this emulator supports: <Dial> with its nouns or a bare number, <Sms>, <Record>. */
function planCall(twiml: string): CallPlan {
  const dials: CallPlan['dials'] = [];
  for (const dial of twiml.matchAll(/<Dial(\s[^>]*)?>([\s\S]*?)<\/Dial>/g)) {
    const inner = dial[2]!;
    const to: string[] = [];
    for (const noun of inner.matchAll(
      /<(Number|Client|Sip|Conference|Queue)(?:\s[^>]*)?>([\s\S]*?)<\/\1>/g,
    )) {
      const value = xmlText(noun[2]!);
      const kind = noun[1]!;
      to.push(kind === 'Number' || kind === 'Sip' ? value : `${kind.toLowerCase()}:${value}`);
    }
    const bare = xmlText(inner.replace(/<(\w+)[^>]*>[\s\S]*?<\/\1>/g, ''));
    if (bare !== '') to.push(bare);
    const limit = Number(attr(dial[1] ?? '', 'timeLimit') ?? CALL_LIMIT_SECONDS);
    dials.push({ to, limitSeconds: Number.isFinite(limit) && limit > 0 ? limit : CALL_LIMIT_SECONDS });
  }
  const sms = [...twiml.matchAll(/<Sms(\s[^>]*)?>([\s\S]*?)<\/Sms>/g)].map((m) => ({
    to: attr(m[1] ?? '', 'to'),
    body: xmlText(m[2]!),
  }));
  return { dials, sms, recorded: /<Record[\s/>]/.test(twiml) };
}

interface Reply {
  readonly status: number;
  readonly body: unknown;
}

/**
 * Stands in for `https://{sub}.twilio.com`: the first path segment is the sub host, so configure the
 * proxy with `--upstream twilio=http://127.0.0.1:PORT/{sub}`. Implements just enough of Messages,
 * Calls, Verify and Lookups for twilio-node to round-trip, with Twilio's auth and error shapes.
 */
export async function startTwilioEmulator(opts: TwilioEmulatorOptions = {}): Promise<TwilioEmulator> {
  const accounts = opts.accounts ?? [TWILIO_EMULATOR_ACCOUNT];
  const apiKeys = opts.apiKeys ?? [];
  const record = opts.record ?? true;
  const recorder = createRecorder();
  const messages = new Map<string, Record<string, unknown>>();
  const calls = new Map<string, Record<string, unknown>>();
  /** Numbers bought on this emulator (`POST …/IncomingPhoneNumbers.json`), by SID. */
  const owned = new Map<string, { sid: string; account_sid: string; phone_number: string }>();
  const conversations = new Map<string, Record<string, unknown>[]>();
  const charges: TwilioCharge[] = [];
  const activeUsers = new Set<string>();
  const bill = (category: string, sid: string, micros: number) => {
    if (micros > 0) charges.push({ category, sid, micros });
  };

  function authenticate(headers: IncomingHttpHeaders): string | undefined {
    const match = /^Basic\s+(\S+)$/i.exec(headers.authorization ?? '');
    if (!match) return undefined;
    const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return undefined;
    const user = decoded.slice(0, colon);
    const secret = decoded.slice(colon + 1);
    const account = accounts.find((a) => a.sid === user && a.authToken === secret);
    if (account) return account.sid;
    return apiKeys.find((k) => k.sid === user && k.secret === secret)?.accountSid;
  }

  function handle(
    method: string,
    path: string,
    query: URLSearchParams,
    form: URLSearchParams,
    account: string,
  ): Reply {
    const [, sub = '', ...rest] = path.split('/');
    const route = `/${rest.join('/')}`;
    const scoped = /^\/2010-04-01\/Accounts\/([^/.]+)(.*)$/.exec(route);
    if (sub === 'api' && scoped) {
      if (scoped[1] !== account) return notFound(route);
      return accountApi(method, scoped[2]!, form, account, route, query);
    }
    if (sub === 'verify' && method === 'POST') {
      const verification = /^\/v2\/Services\/([^/]+)\/(Verifications|VerificationCheck)$/.exec(route);
      if (verification) {
        const to = form.get('To');
        if (!to) return error(400, 60200, 'Invalid parameter `To`');
        const approved = verification[2] === 'VerificationCheck' && form.get('Code') === '123456';
        const verificationSid = sid('VE');
        if (verification[2] === 'Verifications') {
          const channel = (form.get('Channel') ?? 'sms').toLowerCase();
          const reach =
            channel === 'sms'
              ? smsPrice(to, 1, false)
              : channel === 'whatsapp'
                ? WHATSAPP_PER_MESSAGE
                : channel === 'call'
                  ? voicePrice(to)
                  : 0;
          bill('verify', verificationSid, VERIFY_PER_VERIFICATION + reach);
        }
        return {
          status: verification[2] === 'Verifications' ? 201 : 200,
          body: {
            sid: verificationSid,
            service_sid: verification[1],
            account_sid: account,
            to,
            channel: (form.get('Channel') ?? 'sms').toLowerCase(),
            status: approved ? 'approved' : 'pending',
            valid: approved,
            date_created: new Date().toISOString(),
          },
        };
      }
    }
    if (sub === 'lookups' && method === 'GET') {
      const lookup = /^\/v2\/PhoneNumbers\/([^/]+)$/.exec(route);
      if (lookup) {
        const number = decodeURIComponent(lookup[1]!);
        const fields = query.getAll('Fields').flatMap((f) => f.split(','));
        bill(
          'lookups',
          number,
          [...new Set(fields.map((f) => f.trim()))].reduce((sum, f) => sum + (LOOKUP_FIELDS[f] ?? 0), 0),
        );
        return {
          status: 200,
          body: {
            phone_number: number,
            valid: number.startsWith('+'),
            calling_country_code: null,
            country_code: null,
            line_type_intelligence: fields.includes('line_type_intelligence') ? { type: 'mobile' } : null,
            caller_name: fields.includes('caller_name')
              ? { caller_name: 'EMULATED', caller_type: 'CONSUMER' }
              : null,
            url: `https://lookups.twilio.com/v2/PhoneNumbers/${number}`,
          },
        };
      }
    }
    if (sub === 'conversations') return conversationsApi(method, route, form);
    if (sub === 'pricing' && method === 'GET') {
      const country = /^\/v1\/PhoneNumbers\/Countries\/([A-Z]{2})$/.exec(route);
      if (country) {
        return {
          status: 200,
          body: {
            iso_country: country[1],
            price_unit: 'USD',
            phone_number_prices: Object.entries(NUMBER_PER_MONTH).map(([type, micros]) => ({
              number_type: type.replace('_', ''),
              base_price: (micros / 1_000_000).toFixed(2),
              current_price: (micros / 1_000_000).toFixed(2),
            })),
          },
        };
      }
    }
    return notFound(route);
  }

  /** Conversations: participants (chat identities or SMS/WhatsApp bindings) and messages to them. */
  function conversationsApi(method: string, route: string, form: URLSearchParams): Reply {
    const match = /^\/v1\/(?:Services\/[^/]+\/)?Conversations\/([^/]+)\/(Participants|Messages)$/.exec(route);
    if (!match) return notFound(route);
    const conversation = match[1]!;
    const participants = conversations.get(conversation) ?? [];
    conversations.set(conversation, participants);
    if (match[2] === 'Participants' && method === 'GET') {
      return { status: 200, body: { participants, meta: { page: 0, page_size: 100, next_page_url: null } } };
    }
    if (match[2] === 'Participants' && method === 'POST') {
      const address = form.get('MessagingBinding.Address');
      const identity = form.get('Identity');
      if (!address && !identity) return error(400, 50303, 'Identity or MessagingBinding.Address is required');
      const participant = {
        sid: sid('MB'),
        conversation_sid: conversation,
        identity,
        messaging_binding: address
          ? {
              type: /^whatsapp:/i.test(address) ? 'whatsapp' : 'sms',
              address,
              proxy_address: form.get('MessagingBinding.ProxyAddress'),
            }
          : null,
      };
      participants.push(participant);
      return { status: 201, body: participant };
    }
    if (match[2] === 'Messages' && method === 'POST') {
      const messageSid = sid('IM');
      const body = form.get('Body') ?? '';
      const media = Boolean(form.get('MediaSid'));
      const segments = body === '' ? 1 : segmentsOf(body);
      for (const p of participants) {
        const binding = p['messaging_binding'] as { address?: string } | null;
        if (binding?.address) bill('conversations', messageSid, smsPrice(binding.address, segments, media));
        const user = String(binding?.address ?? p['identity']);
        if (!activeUsers.has(user)) {
          activeUsers.add(user);
          bill('conversations-active-users', user, CONVERSATIONS_ACTIVE_USER);
        }
      }
      return {
        status: 201,
        body: {
          sid: messageSid,
          conversation_sid: conversation,
          body,
          author: form.get('Author') ?? 'system',
        },
      };
    }
    return notFound(route);
  }

  /** A call as it will end: every leg answered for as long as it may last (the costliest outcome). */
  function placeCall(account: string, form: URLSearchParams): Record<string, unknown> {
    const to = form.get('To') ?? '';
    const limit = Number(form.get('TimeLimit') ?? CALL_LIMIT_SECONDS);
    const seconds = Number.isFinite(limit) && limit > 0 ? Math.min(limit, 86_400) : CALL_LIMIT_SECONDS;
    const minutes = Math.ceil(seconds / 60);
    const callSid = sid('CA');
    const recorded = form.get('Record') === 'true';
    let micros = minutes * voicePrice(to) + (recorded ? minutes * RECORDING_PER_MINUTE : 0);
    const amd = form.get('MachineDetection');
    if (amd && amd.toLowerCase() !== 'none') micros += AMD_PER_CALL;
    const twiml = form.get('Twiml');
    const children: string[] = [];
    if (twiml && !form.get('Url')) {
      const plan = planCall(twiml);
      if (plan.recorded) micros += minutes * RECORDING_PER_MINUTE;
      // The first <Dial> takes the rest of the call; of its simultaneous legs the dearest answers.
      const first = plan.dials[0];
      if (first && first.to.length > 0) {
        const legMinutes = Math.min(minutes, Math.ceil(first.limitSeconds / 60));
        const dearest = [...first.to].sort((a, b) => legRate(b) - legRate(a))[0]!;
        const childSid = sid('CA');
        const legPrice = legMinutes * legRate(dearest);
        calls.set(
          childSid,
          callResource(account, childSid, dearest, form, legMinutes * 60, legPrice, callSid),
        );
        bill('calls', childSid, legPrice);
        children.push(childSid);
      }
      for (const message of plan.sms) {
        bill('sms', sid('SM'), smsPrice(message.to ?? to, segmentsOf(message.body), false));
      }
    }
    bill('calls', callSid, micros);
    const call = callResource(account, callSid, to, form, seconds, micros, null);
    calls.set(callSid, { ...call, child_call_sids: children });
    return call;
  }

  function legRate(to: string): number {
    return /^(conference|queue):/.test(to) ? CONFERENCE_PER_PARTICIPANT_MINUTE : voicePrice(to);
  }

  function callResource(
    account: string,
    callSid: string,
    to: string,
    form: URLSearchParams,
    seconds: number,
    micros: number,
    parent: string | null,
  ): Record<string, unknown> {
    return {
      sid: callSid,
      account_sid: account,
      parent_call_sid: parent,
      to,
      from: form.get('From'),
      status: 'queued',
      direction: parent ? 'outbound-dial' : 'outbound-api',
      duration: String(seconds),
      price: null,
      price_unit: 'USD',
      api_version: '2010-04-01',
      date_created: new Date().toUTCString(),
      // What the completed call is billed: served once the call is fetched (it has then ended).
      final_price: priceText(micros),
    };
  }

  /** The completed call as Twilio reports it after it ends: `price` filled in. */
  function completed(call: Record<string, unknown>): Record<string, unknown> {
    const { final_price, child_call_sids: _children, ...rest } = call;
    return { ...rest, status: 'completed', price: final_price };
  }

  function accountApi(
    method: string,
    rest: string,
    form: URLSearchParams,
    account: string,
    route: string,
    query: URLSearchParams,
  ): Reply {
    if (method === 'POST' && rest === '/Messages.json') {
      const to = form.get('To');
      if (!to) return error(400, 21604, "A 'To' phone number is required.");
      const body = form.get('Body') ?? '';
      const media = form.getAll('MediaUrl');
      if (!body && media.length === 0 && !form.get('ContentSid')) {
        return error(400, 21602, 'Message body is required.');
      }
      const message = messageResource(account, to, form, body, media.length);
      const isMms = media.length > 0 || form.get('SendAsMms') === 'true';
      // A template (no Body) is billed as the one segment the emulator renders it to.
      // Link shortening (`ShortenUrls=true`) or scheduling (`ScheduleType`, Twilio's one value
      // `fixed`, with `SendAt`): Engagement Suite features, billed their fee once per message.
      const engagement = form.get('ShortenUrls') === 'true' || form.get('ScheduleType') === 'fixed';
      const micros =
        smsPrice(to, Number(message['num_segments']), isMms) +
        (engagement ? ENGAGEMENT_SUITE_PER_MESSAGE : 0);
      bill(/^whatsapp:/i.test(to) ? 'whatsapp' : isMms ? 'mms' : 'sms', message['sid'] as string, micros);
      messages.set(message['sid'] as string, { ...message, status: 'sent', price: priceText(micros) });
      return { status: 201, body: message };
    }
    const fetch = /^\/Messages\/([^/.]+)\.json$/.exec(rest);
    if (method === 'GET' && fetch) {
      const message = messages.get(fetch[1]!);
      return message ? { status: 200, body: message } : notFound(route);
    }
    if (method === 'GET' && rest === '/Messages.json') {
      const uri = `/2010-04-01/Accounts/${account}/Messages.json`;
      return {
        status: 200,
        body: {
          messages: [...messages.values()],
          uri,
          first_page_uri: uri,
          next_page_uri: null,
          page: 0,
          page_size: 50,
        },
      };
    }
    if (method === 'POST' && rest === '/Calls.json') {
      if (!form.get('To')) return error(400, 21201, "No 'To' number is specified");
      const { final_price: _f, ...queued } = placeCall(account, form);
      return { status: 201, body: { ...queued, duration: null } };
    }
    const callPath = /^\/Calls\/([^/.]+)\.json$/.exec(rest);
    if (callPath && (method === 'GET' || method === 'POST')) {
      const call = calls.get(callPath[1]!);
      if (!call) return notFound(route);
      if (method === 'POST' && form.get('TimeLimit')) {
        // A longer limit on a live call: billed for the new length at the call's rate.
        const minutes = Math.ceil(Number(form.get('TimeLimit')) / 60);
        const extra = minutes * voicePrice(String(call['to']));
        bill('calls', callPath[1]!, extra);
        const price = Number(String(call['final_price']).slice(1)) * 1_000_000 + extra;
        calls.set(callPath[1]!, { ...call, final_price: priceText(Math.round(price)) });
      }
      return { status: 200, body: completed(calls.get(callPath[1]!)!) };
    }
    if (method === 'GET' && rest === '/Calls.json') {
      return { status: 200, body: { calls: [...calls.values()].map(completed), next_page_uri: null } };
    }
    const participants = /^\/Conferences\/([^/.]+)\/Participants\.json$/.exec(rest);
    if (participants && method === 'POST') {
      if (!form.get('To')) return error(400, 21201, "No 'To' number is specified");
      const call = placeCall(account, form);
      return {
        status: 201,
        body: {
          account_sid: account,
          call_sid: call['sid'],
          conference_sid: participants[1],
          label: form.get('Label'),
          status: 'queued',
        },
      };
    }
    const numbers = /^\/IncomingPhoneNumbers(?:\/(Local|Mobile|TollFree))?\.json$/.exec(rest);
    // The account's numbers, as Keybrake reads them before a call or text to one of them (a
    // PhoneNumber filter, thirteenth round): those bought here, `+1888…` as in Twilio's answer shape.
    if (numbers && method === 'GET' && numbers[1] === undefined) {
      const wanted = query.get('PhoneNumber');
      const list = [...owned.values()].filter((n) => wanted === null || n.phone_number === wanted);
      return { status: 200, body: { incoming_phone_numbers: list, next_page_uri: null } };
    }
    if (numbers && method === 'POST') {
      const number =
        form.get('PhoneNumber') ?? (form.get('AreaCode') ? `+1${form.get('AreaCode')}5550100` : '');
      if (!number) return error(400, 21452, 'No phone numbers found');
      const type =
        numbers[1] === 'TollFree' || /^\+18(00|33|44|55|66|77|88)/.test(number) ? 'toll_free' : 'local';
      const numberSid = sid('PN');
      bill('phonenumbers', numberSid, NUMBER_PER_MONTH[type]!);
      owned.set(numberSid, { sid: numberSid, account_sid: account, phone_number: number });
      return {
        status: 201,
        body: { sid: numberSid, account_sid: account, phone_number: number, voice_url: form.get('VoiceUrl') },
      };
    }
    if (method === 'GET' && rest === '/Usage/Records.json') {
      return { status: 200, body: usageRecords(account) };
    }
    return notFound(route);
  }

  /** Usage records by category, and `totalprice` over all of them, as Twilio's Usage API reports. */
  function usageRecords(account: string) {
    const totals = new Map<string, { count: number; micros: number }>([
      ['totalprice', { count: 0, micros: 0 }],
    ]);
    for (const c of charges) {
      for (const category of [c.category, 'totalprice']) {
        const t = totals.get(category) ?? { count: 0, micros: 0 };
        totals.set(category, { count: t.count + 1, micros: t.micros + c.micros });
      }
    }
    return {
      usage_records: [...totals].map(([category, t]) => ({
        account_sid: account,
        category,
        count: String(t.count),
        price: (t.micros / 1_000_000).toFixed(6),
        price_unit: 'usd',
      })),
      next_page_uri: null,
    };
  }

  function messageResource(account: string, to: string, form: URLSearchParams, body: string, media: number) {
    const id = sid('SM');
    const segments = new SegmentedMessage(body).segmentsCount;
    return {
      sid: id,
      account_sid: account,
      to,
      from: form.get('From'),
      messaging_service_sid: form.get('MessagingServiceSid'),
      body,
      status: 'queued',
      direction: 'outbound-api',
      num_segments: String(Math.max(1, segments)),
      num_media: String(media),
      price: null,
      price_unit: 'USD',
      error_code: null,
      error_message: null,
      api_version: '2010-04-01',
      date_created: new Date().toUTCString(),
      uri: `/2010-04-01/Accounts/${account}/Messages/${id}.json`,
    };
  }

  const server = createServer(async (req, res) => {
    const raw = (await readBody(req).catch(() => Buffer.alloc(0))).toString('utf8');
    if (record) recorder.record(req, Buffer.from(raw));
    const url = new URL(req.url ?? '/', 'http://emulator');
    const method = req.method ?? 'GET';
    const account = authenticate(req.headers);
    const reply = account
      ? handle(method, url.pathname, url.searchParams, new URLSearchParams(raw), account)
      : error(401, 20003, 'Authenticate');
    sendJson(res, reply.status, reply.body, { 'twilio-request-id': sid('RQ') });
  });
  return { ...(await serveEmulator(server, recorder, opts.port)), charges };
}

function sid(prefix: string): string {
  return prefix + randomBytes(16).toString('hex');
}

function error(status: number, code: number, message: string): Reply {
  return { status, body: { code, message, more_info: `${DOCS}/${code}`, status } };
}

function notFound(route: string): Reply {
  return error(404, 20404, `The requested resource ${route} was not found`);
}
