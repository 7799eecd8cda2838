import { type Denial, deny } from '../../decision/reasons.ts';
import type { MicroUsd } from '../../money/micro-usd.ts';
import type { CompiledKey } from '../../snapshot/types.ts';
import {
  sensitiveDenial,
  uncountedOperation,
  unknownOperation,
  unpricedRuleDenial,
} from '../operation-class.ts';
import { compileOperations, type OperationMatcher } from '../operation-table.ts';
import { NO_PARTIES, type Operation, type Params, type Parties, type VendorRequest } from '../types.ts';
import { callCost, lookupV1Cost, lookupV2Cost, messageCost, verificationCost } from './costs.ts';
import { upstreamAccountSid } from './credentials.ts';
import { destination } from './destinations.ts';
import { single, strings } from './fields.ts';
import { TWILIO_API_HOSTS, TWILIO_OPERATIONS, type TwilioOperationRow } from './operations.ts';
import { destinationParties, messagingParties } from './parties.ts';
import type { TwilioPrices } from './prices.ts';
import type { TwilioPricingRule } from './rules.ts';

/** A classified Twilio call (price stage → settle); `perSegmentMicros` lets settle price a plain SMS from `num_segments`. */
export interface TwilioOperation extends Operation {
  readonly perSegmentMicros?: MicroUsd;
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
]);

/**
 * Identifies, prices and names the parties of one Twilio call, or denies it (price stage). Pure.
 * A call under `/2010-04-01/Accounts/<sid>` must name the account the key was issued for. A call the
 * generated table does not have is `twilio.unknown`; a sensitive one is refused.
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
  } else if (host === 'api' && ACCOUNTS_LIST.test(path)) {
    path = '/2010-04-01/Accounts.json';
  }
  // A HEAD costs what the GET it mirrors costs.
  const match = matchTwilioOperation(host, isRead ? 'GET' : method, path);
  if (!match) return unknownOperation('twilio', NO_PARTIES);
  const { row } = match;
  if (row.class === 'sensitive') return sensitiveDenial(row.id);
  if (row.class !== 'money') return uncountedOperation(row.id, row.class, NO_PARTIES);
  return applyRule(prices, row, params, req.query);
}

/** Prices a money call by its row's rule. */
function applyRule(
  prices: TwilioPrices,
  row: TwilioOperationRow,
  params: Params,
  query: string,
): TwilioOperation | Denial {
  switch (row.rule) {
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
      // A lookup without paid fields is a free read of a money operation.
      return micros > 0
        ? priced(row.id, micros, NO_PARTIES)
        : { ...priced(row.id, 0, NO_PARTIES), movesMoney: false };
    }
    default:
      return unpricedRuleDenial(row.id, row.rule ?? 'none');
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
  return { id, class: 'money', movesMoney: true, costMicros, parties };
}
