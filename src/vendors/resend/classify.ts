import { type Denial, deny, isDenial } from '../../decision/reasons.ts';
import type { MicroUsd } from '../../money/micro-usd.ts';
import { sensitiveDenial, uncountedOperation, unknownOperation } from '../operation-class.ts';
import { compileOperations } from '../operation-table.ts';
import { NO_PARTIES, type Operation, type Params, type Parties, type VendorRequest } from '../types.ts';
import { RESEND_OPERATIONS, type ResendOperationRow } from './operations.ts';
import { ITEMS } from './parse.ts';
import type { ResendPrices } from './prices.ts';
import { addressList } from './recipients.ts';

/** What one email (or one batch element) names and how many deliveries it makes. */
interface EmailShape {
  readonly deliveries: number;
  readonly recipients: readonly string[];
  readonly senders: readonly string[];
}

/**
 * Named as a recipient when a send reaches people the request does not list (a stored draft, the
 * original sender of a reply): no allowlist pattern but `*` matches it, so a recipient allowlist
 * denies such a send instead of seeing no recipient at all.
 */
export const UNSEEN_RECIPIENT = '(unseen recipient)';

/** The Resend table, indexed once. */
export const matchResendOperation = compileOperations(RESEND_OPERATIONS);

/**
 * Identifies, prices and names the parties of one Resend call, or denies it (price stage). Pure.
 * A call the generated table does not have is `resend.unknown`; a sensitive one is refused.
 */
export function classifyResend(prices: ResendPrices, req: VendorRequest, params: Params): Operation | Denial {
  const method = req.method.toUpperCase();
  // A HEAD costs what the GET it mirrors costs.
  const match = matchResendOperation(method === 'HEAD' ? 'GET' : method, req.path);
  if (!match) return unknownOperation('resend', NO_PARTIES);
  const { row } = match;
  if (row.class === 'sensitive') return sensitiveDenial(row.id);
  if (row.class !== 'money') return uncountedOperation(row.id, row.class, NO_PARTIES);
  return applyRule(prices, row, params);
}

/** Prices a call by its row's rule. */
function applyRule(prices: ResendPrices, row: ResendOperationRow, params: Params): Operation | Denial {
  switch (row.rule) {
    case 'email': {
      if (ITEMS in params) return deny('body_invalid', 'POST /emails takes one email object.');
      const email = emailShape(params, 0);
      return isDenial(email) ? email : priced(row.id, prices, [email]);
    }
    case 'batch': {
      const items = params[ITEMS];
      if (!Array.isArray(items)) return deny('body_invalid', 'POST /emails/batch takes an array of emails.');
      const emails: EmailShape[] = [];
      for (const item of items) {
        if (typeof item !== 'object' || item === null || Array.isArray(item)) {
          return deny('body_invalid', 'Every element of a batch must be an email object.');
        }
        const email = emailShape(item as Params, 0);
        if (isDenial(email)) return email;
        emails.push(email);
      }
      return priced(row.id, prices, emails);
    }
    case 'forward': {
      const email = emailShape(params, 0);
      return isDenial(email) ? email : priced(row.id, prices, [email]);
    }
    case 'reply': {
      // The reply goes to the original sender, whom the request does not name; reply-all to everyone on the thread.
      const unseen = params['reply_all'] === true ? prices.unseenRecipients : 1;
      const email = emailShape({ cc: params['cc'], bcc: params['bcc'] }, unseen, [UNSEEN_RECIPIENT]);
      return isDenial(email) ? email : priced(row.id, prices, [email]);
    }
    case 'draft_send': {
      const email: EmailShape = {
        deliveries: prices.unseenRecipients,
        recipients: [UNSEEN_RECIPIENT],
        senders: [],
      };
      return priced(row.id, prices, [email]);
    }
    case 'broadcast_create':
      // A draft moves nothing; `send: true` sends it to a whole segment at once.
      return params['send'] === true ? broadcastDenial() : uncountedOperation(row.id, 'money', NO_PARTIES);
    case 'broadcast_send':
    case undefined:
      return broadcastDenial();
  }
}

function broadcastDenial(): Denial {
  return deny(
    'price_unknown',
    'A broadcast goes to a whole segment whose size Keybrake cannot know, so it is not allowed.',
  );
}

function emailShape(
  email: Params,
  unseen: number,
  unseenParties: readonly string[] = [],
): EmailShape | Denial {
  const recipients: string[] = [];
  for (const field of ['to', 'cc', 'bcc']) {
    const list = addressList(email[field]);
    if (!list) return deny('body_invalid', `\`${field}\` must be a string or an array of strings.`);
    recipients.push(...list);
  }
  const from = addressList(email['from']);
  if (!from) return deny('body_invalid', '`from` must be a string.');
  // An email that names no recipient is rejected by Resend, but is still priced as one delivery.
  return {
    deliveries: Math.max(1, recipients.length + unseen),
    recipients: [...recipients, ...unseenParties],
    senders: from,
  };
}

function priced(id: string, prices: ResendPrices, emails: readonly EmailShape[]): Operation {
  const deliveries = emails.reduce((sum, e) => sum + e.deliveries, 0);
  const costMicros: MicroUsd = deliveries * prices.perEmail;
  const parties: Parties = {
    ...NO_PARTIES,
    recipients: [...new Set(emails.flatMap((e) => e.recipients))],
    senders: [...new Set(emails.flatMap((e) => e.senders))],
  };
  return { id, class: 'money', movesMoney: true, costMicros, parties };
}
