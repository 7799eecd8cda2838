import { type Denial, deny } from '../../decision/reasons.ts';
import type { MicroUsd } from '../../money/micro-usd.ts';
import type { CompiledKey } from '../../snapshot/types.ts';
import { NO_PARTIES, type Operation, type Params, type Parties, type VendorRequest } from '../types.ts';
import { callCost, lookupV1Cost, lookupV2Cost, messageCost, verificationCost } from './costs.ts';
import { upstreamAccountSid } from './credentials.ts';
import { destination } from './destinations.ts';
import { single, strings } from './fields.ts';
import { matchTwilioOperation, type TwilioOperationRow } from './operations.ts';
import { destinationParties, messagingParties } from './parties.ts';
import type { TwilioPrices } from './prices.ts';

/** A classified Twilio call (price stage → settle); `perSegmentMicros` lets settle price a plain SMS from `num_segments`. */
export interface TwilioOperation extends Operation {
  readonly perSegmentMicros?: MicroUsd;
}

const ACCOUNT_PATH = /^\/2010-04-01\/Accounts\/([^/]+?)(?:\.json)?(\/.*)?$/;
const JSON_SUFFIX = /\.json$/;

/**
 * Identifies, prices and names the parties of one Twilio call, or denies it (price stage). Pure.
 * A call under `/2010-04-01/Accounts/<sid>` must name the account the key was issued for.
 */
export function classifyTwilio(
  prices: TwilioPrices,
  req: VendorRequest,
  params: Params,
  key: CompiledKey,
): TwilioOperation | Denial {
  const host = (req.subHost ?? 'api').toLowerCase();
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
  }
  // A HEAD costs what the GET it mirrors costs.
  const match = matchTwilioOperation(host, isRead ? 'GET' : method, path);
  if (match) return applyRule(prices, match.row, params, req.query);
  if (isRead) return free(`twilio.${host}.read`);
  if (account && method === 'DELETE') return free('twilio.api.delete');
  return unknown();
}

/** Prices a call by its row's rule. */
function applyRule(
  prices: TwilioPrices,
  row: TwilioOperationRow,
  params: Params,
  query: string,
): TwilioOperation {
  switch (row.rule) {
    case 'free':
      return free(row.id);
    case 'message': {
      const to = strings(params, 'To').map(destination);
      const cost = messageCost(prices, params, to);
      const op = priced(row.id, cost.micros, messagingParties(params, to));
      return cost.perSegmentMicros === undefined ? op : { ...op, perSegmentMicros: cost.perSegmentMicros };
    }
    case 'call': {
      const to = strings(params, 'To').map(destination);
      const micros = (to.length > 0 ? to : [undefined]).reduce(
        (sum, d) => sum + callCost(prices, params, d),
        0,
      );
      return priced(row.id, micros, messagingParties(params, to));
    }
    case 'phone_number':
      return priced(row.id, prices.phoneNumberPurchase, NO_PARTIES);
    case 'verification':
      return verification(prices, row.id, params);
    case 'lookup_v2':
    case 'lookup_v1': {
      const search = new URLSearchParams(query);
      const micros = row.rule === 'lookup_v2' ? lookupV2Cost(prices, search) : lookupV1Cost(prices, search);
      return micros > 0 ? priced(row.id, micros, NO_PARTIES) : free(row.id);
    }
  }
}

/** A Verify verification: an email address, or a phone destination reached over `Channel`. */
function verification(prices: TwilioPrices, id: string, params: Params): TwilioOperation {
  const channel = single(params, 'Channel') ?? 'sms';
  const rawTo = single(params, 'To');
  if (channel.toLowerCase() === 'email') {
    const email = rawTo?.trim().toLowerCase();
    const parties = email ? { ...NO_PARTIES, recipients: [email] } : NO_PARTIES;
    return priced(id, verificationCost(prices, channel, undefined), parties);
  }
  const to = rawTo === undefined ? undefined : destination(rawTo);
  const parties = to ? destinationParties([to], []) : NO_PARTIES;
  return priced(id, verificationCost(prices, channel, to), parties);
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
