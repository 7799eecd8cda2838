import { type Denial, deny } from '../../decision/reasons.ts';
import type { MicroUsd } from '../../money/micro-usd.ts';
import type { CompiledKey } from '../../snapshot/types.ts';
import { NO_PARTIES, type Operation, type Params, type Parties, type VendorRequest } from '../types.ts';
import { callCost, lookupV1Cost, lookupV2Cost, messageCost, verificationCost } from './costs.ts';
import { upstreamAccountSid } from './credentials.ts';
import { type Destination, destination } from './destinations.ts';
import { single, strings } from './params.ts';
import type { TwilioPrices } from './pricing.ts';

/** A classified Twilio call; `perSegmentMicros` lets settle price a plain SMS from `num_segments`. */
export interface TwilioOperation extends Operation {
  readonly perSegmentMicros?: MicroUsd;
}

/**
 * Reported for a destination whose country cannot be resolved (an unassigned code, a national number,
 * a SIP URI): ISO 3166's "unknown" code, so a country allowlist denies it instead of seeing no country.
 */
export const UNKNOWN_COUNTRY = 'ZZ';

const ACCOUNT_PATH = /^\/2010-04-01\/Accounts\/([^/]+?)(?:\.json)?(\/.*)?$/;
const JSON_SUFFIX = /\.json$/;

/** Identifies, prices and names the parties of one Twilio call, or denies it. Pure. */
export function classifyTwilio(
  prices: TwilioPrices,
  req: VendorRequest,
  params: Params,
  key: CompiledKey,
): TwilioOperation | Denial {
  const sub = (req.subHost ?? 'api').toLowerCase();
  const method = req.method.toUpperCase();
  const isRead = method === 'GET' || method === 'HEAD';
  // Parameters in the query string of a write would be priced from the body but might be read by Twilio.
  if (!isRead && req.query.length > 0) {
    return deny('body_invalid', 'Twilio parameters must be sent in the form body, not in the query string.');
  }

  if (sub === 'api') {
    const account = ACCOUNT_PATH.exec(req.path);
    if (account) {
      if (account[1] !== upstreamAccountSid(key.upstream)) {
        return deny(
          'account_not_allowed',
          'This vault key may only act on the Twilio account it was issued for.',
        );
      }
      return classifyAccountApi(prices, method, (account[2] ?? '').replace(JSON_SUFFIX, ''), params);
    }
  }
  if (sub === 'verify' && method === 'POST') {
    const verify = classifyVerify(prices, req.path, params);
    if (verify) return verify;
  }
  if (sub === 'lookups' && isRead) return classifyLookup(prices, req);
  if (isRead) return free(`twilio.${sub}.read`);
  return unknown();
}

function classifyAccountApi(
  prices: TwilioPrices,
  method: string,
  rest: string,
  params: Params,
): TwilioOperation {
  if (method === 'GET' || method === 'HEAD') return free('twilio.api.read');
  if (method === 'DELETE') return free('twilio.api.delete');
  if (method !== 'POST') return unknown();
  if (rest === '/Messages') {
    const to = strings(params, 'To').map(destination);
    const cost = messageCost(prices, params, to);
    const op = priced('twilio.messages.create', cost.micros, messagingParties(params, to));
    return cost.perSegmentMicros === undefined ? op : { ...op, perSegmentMicros: cost.perSegmentMicros };
  }
  if (rest === '/Calls' || /^\/Conferences\/[^/]+\/Participants$/.test(rest)) {
    const to = strings(params, 'To').map(destination);
    const id = rest === '/Calls' ? 'twilio.calls.create' : 'twilio.conferences.participants.create';
    const micros = (to.length > 0 ? to : [undefined]).reduce(
      (sum, d) => sum + callCost(prices, params, d),
      0,
    );
    return priced(id, micros, messagingParties(params, to));
  }
  if (/^\/IncomingPhoneNumbers(?:\/(?:Local|Mobile|TollFree))?$/.test(rest)) {
    return priced('twilio.incoming_phone_numbers.create', prices.phoneNumberPurchase, NO_PARTIES);
  }
  // Updating a message (redact, cancel) or a live call (redirect, hang up) costs nothing by itself.
  if (/^\/Messages\/[^/]+$/.test(rest)) return free('twilio.messages.update');
  if (/^\/Calls\/[^/]+$/.test(rest)) return free('twilio.calls.update');
  return unknown();
}

function classifyVerify(prices: TwilioPrices, path: string, params: Params): TwilioOperation | undefined {
  if (/^\/v2\/Services\/[^/]+\/Verifications$/.test(path)) {
    const channel = single(params, 'Channel') ?? 'sms';
    const rawTo = single(params, 'To');
    if (channel.toLowerCase() === 'email') {
      const email = rawTo?.trim().toLowerCase();
      const parties = email ? { ...NO_PARTIES, recipients: [email] } : NO_PARTIES;
      return priced(
        'twilio.verify.verifications.create',
        verificationCost(prices, channel, undefined),
        parties,
      );
    }
    const to = rawTo === undefined ? undefined : destination(rawTo);
    const parties = to ? partiesOf([to], []) : NO_PARTIES;
    return priced('twilio.verify.verifications.create', verificationCost(prices, channel, to), parties);
  }
  // Checks and status updates are billed with the verification they belong to; creating a service is free.
  if (/^\/v2\/Services\/[^/]+\/VerificationCheck$/.test(path))
    return free('twilio.verify.verification_checks.create');
  if (/^\/v2\/Services\/[^/]+\/Verifications\/[^/]+$/.test(path))
    return free('twilio.verify.verifications.update');
  if (path === '/v2/Services') return free('twilio.verify.services.create');
  return undefined;
}

function classifyLookup(prices: TwilioPrices, req: VendorRequest): TwilioOperation {
  const query = new URLSearchParams(req.query);
  // A lookup moves money although it is a GET: reads-when-the-store-is-down must not let it through.
  if (/^\/v2\/PhoneNumbers\/[^/]+$/.test(req.path)) {
    const micros = lookupV2Cost(prices, query);
    return micros > 0
      ? priced('twilio.lookups.v2.fetch', micros, NO_PARTIES)
      : free('twilio.lookups.v2.fetch');
  }
  if (/^\/v1\/PhoneNumbers\/[^/]+$/.test(req.path)) {
    const micros = lookupV1Cost(prices, query);
    return micros > 0
      ? priced('twilio.lookups.v1.fetch', micros, NO_PARTIES)
      : free('twilio.lookups.v1.fetch');
  }
  return free('twilio.lookups.read');
}

function messagingParties(params: Params, to: readonly Destination[]): Parties {
  const senders = strings(params, 'From').map((f) => destination(f).address);
  if (senders.length === 0) senders.push(...strings(params, 'MessagingServiceSid').map((s) => s.trim()));
  return partiesOf(to, senders);
}

function partiesOf(to: readonly Destination[], senders: readonly string[]): Parties {
  // Voice SDK clients are Twilio-internal legs; everything else reaches some country's network.
  const countries = to
    .map((d) => d.country ?? (d.channel === 'client' ? undefined : UNKNOWN_COUNTRY))
    .filter((c): c is string => c !== undefined);
  return {
    ...NO_PARTIES,
    recipients: [...new Set(to.map((d) => d.address))],
    countries: [...new Set(countries)],
    senders: [...new Set(senders)],
  };
}

function priced(id: string, costMicros: MicroUsd, parties: Parties): TwilioOperation {
  return { id, movesMoney: true, known: true, costMicros, parties };
}

function free(id: string): TwilioOperation {
  return { id, movesMoney: false, known: true, costMicros: 0, parties: NO_PARTIES };
}

function unknown(): TwilioOperation {
  return { id: 'twilio.unknown', movesMoney: true, known: false, costMicros: 0, parties: NO_PARTIES };
}
