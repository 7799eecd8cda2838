import { type Denial, deny, isDenial, refusing } from '../../decision/reasons.ts';
import type { MicroUsd } from '../../money/micro-usd.ts';
import { sensitiveDenial, uncountedOperation, unknownOperation } from '../operation-class.ts';
import { compileOperations, resolveLocks } from '../operation-table.ts';
import {
  type CostLookup,
  NO_PARTIES,
  type Operation,
  type Params,
  type Parties,
  type VendorRequest,
} from '../types.ts';
import { automationEventDataDenial } from './automation-event-data.ts';
import { broadcastSegment, broadcastSendLookup, isResendId, segmentContactsLookup } from './broadcast.ts';
import { undeclaredFieldDenial } from './declared-fields.ts';
import { inboxSegment } from './inbox-path.ts';
import { draftSendLookup, repliedEmailLookup } from './inbox-sends.ts';
import { RESEND_OPERATIONS, type ResendOperationRow } from './operations.ts';
import { optIn } from './opt-ins.ts';
import { ITEMS } from './parse.ts';
import type { ResendPrices } from './prices.ts';
import { addressList, UNSEEN_SENDER } from './recipients.ts';
import { storedRecipientFields, storedRecipients } from './stored-recipients.ts';
import { storedSenders } from './stored-senders.ts';

export { UNSEEN_RECIPIENT, UNSEEN_SENDER } from './recipients.ts';

/** What one email (or one batch element) names and how many deliveries it makes. */
interface EmailShape {
  readonly deliveries: number;
  readonly recipients: readonly string[];
  readonly senders: readonly string[];
}

/** The Resend table, indexed once. */
export const matchResendOperation = compileOperations(RESEND_OPERATIONS);

/**
 * Identifies, prices and names the parties of one Resend call, or denies it (price stage). Pure.
 * A call the generated table does not have is `resend.unknown`; a sensitive one is refused. The
 * objects a call locks (its row's `locks`) are resolved here.
 */
export function classifyResend(prices: ResendPrices, req: VendorRequest, params: Params): Operation | Denial {
  const method = req.method.toUpperCase();
  // A HEAD costs what the GET it mirrors costs.
  const match = matchResendOperation(method === 'HEAD' ? 'GET' : method, req.path);
  if (!match) return unknownOperation('resend', NO_PARTIES);
  const op = classifyRow(prices, match.row, match.segments, params);
  // A refusal of a stored reply_to names the field (stored-recipients.ts).
  return isDenial(op) ? refusing(match.row.id, op) : { ...op, ...storedRecipientFields(op.id, params) };
}

/** The operation of a call the catalog recognised as `row`, or why it is refused. */
function classifyRow(
  prices: ResendPrices,
  row: ResendOperationRow,
  segments: readonly string[],
  params: Params,
): Operation | Denial {
  if (row.class === 'sensitive') return sensitiveDenial(row.id);
  const undeclared = undeclaredFieldDenial(row.id, params);
  if (undeclared) return undeclared;
  // Whatever the policy: no allowlist sees the event payload such a step copies (automation-event-data.ts).
  const eventData = automationEventDataDenial(row.id, params);
  if (eventData) return eventData;
  if (row.class !== 'money') {
    const locks = resolveLocks(row, segments, params, resendLockField);
    if (isDenial(locks)) return locks;
    const senders = storedSenders(row.id, params);
    if (isDenial(senders)) return senders;
    const recipients = storedRecipients(row.id, params, segments);
    if (isDenial(recipients)) return recipients;
    // A write that subscribes a contact again needs an exact entry, as resuming delivery to a suppressed address does.
    const raisedBy = optIn(row.id, params);
    const cls = raisedBy !== undefined ? 'destructive' : row.class;
    return {
      ...uncountedOperation(row.id, cls, { ...NO_PARTIES, senders, recipients }),
      ...locks,
      ...(raisedBy !== undefined && { raisedBy }),
    };
  }
  return applyRule(prices, row, segments, params);
}

/**
 * A body field a Resend row locks by (ADR 0007 §5): an id, or a list of ids or of `{ id }` objects
 * (`segments` of `POST /contacts`). A field the call omits locks nothing; one Keybrake cannot read
 * is refused, since what it names could not be locked.
 */
export function resendLockField(params: Params, field: string): readonly string[] | Denial {
  return (
    bodyIds(params[field]) ??
    deny('body_invalid', `\`${field}\` must be an id, or a list of ids or of { "id": … } objects.`)
  );
}

/** The ids a body field names (each a plain Resend id); undefined when it is anything else. */
function bodyIds(value: unknown): string[] | undefined {
  if (value === undefined || value === null || value === '') return [];
  const items = Array.isArray(value) ? value : [value];
  const ids: string[] = [];
  for (const item of items) {
    const id = typeof item === 'object' && item !== null && !Array.isArray(item) ? item['id'] : item;
    if (!isResendId(id)) return undefined;
    ids.push(id);
  }
  return ids;
}

/** Prices a call by its row's rule; `ids` are the values of its path placeholders. */
function applyRule(
  prices: ResendPrices,
  row: ResendOperationRow,
  ids: readonly string[],
  params: Params,
): Operation | Denial {
  switch (row.rule) {
    case 'email': {
      if (ITEMS in params) return deny('body_invalid', 'POST /emails takes one email object.');
      const email = emailShape(params);
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
        const email = emailShape(item as Params);
        if (isDenial(email)) return email;
        emails.push(email);
      }
      return priced(row.id, prices, emails);
    }
    case 'forward': {
      const email = emailShape(params);
      return isDenial(email) ? email : priced(row.id, prices, [fromInbox(email)]);
    }
    case 'reply': {
      const replyAll = params['reply_all'];
      if (replyAll !== undefined && replyAll !== null && typeof replyAll !== 'boolean') {
        // Priced by one reading only: were Resend to take "true" or 1 as reply-all, it reaches everyone.
        return deny('body_invalid', '`reply_all` must be true or false.');
      }
      // The inbox by id or by its address, as resend-node names it (inbox-path.ts).
      const [inbox, thread, emailId] = [inboxSegment(ids[0]), ids[1], ids[2]];
      if (inbox === undefined || !isResendId(thread) || !isResendId(emailId)) {
        return deny(
          'path_invalid',
          'The path does not name a valid Resend inbox (an id or one address), thread and email.',
        );
      }
      // The reply goes to the people of the email it answers (reply-all: everyone on it), whom the
      // request does not name: read from it (inbox-sends.ts). Its body names no other recipient
      // (declared-fields.ts refuses a `to`).
      const email = emailShape({ cc: params['cc'], bcc: params['bcc'] });
      if (isDenial(email)) return email;
      const own = email.recipients;
      const lookup = repliedEmailLookup(prices, inbox, thread, emailId, replyAll === true, {
        deliveries: own.length,
        recipients: own,
      });
      return inboxSend(row.id, lookup, {});
    }
    case 'draft_send': {
      const [inbox, draft] = [inboxSegment(ids[0]), ids[1]];
      if (inbox === undefined || !isResendId(draft)) {
        return deny(
          'path_invalid',
          'The path does not name a valid Resend inbox (an id or one address) and draft.',
        );
      }
      // The draft holds its recipients, any number of them: read (and leased) before the send.
      const locks = resolveLocks(row, ids, params, resendLockField);
      if (isDenial(locks)) return locks;
      return inboxSend(row.id, draftSendLookup(prices, inbox, draft), locks);
    }
    case 'broadcast_create': {
      // A draft moves nothing; with `send` (anything but absent, null or false) it goes out at once.
      const senders = storedSenders(row.id, params);
      if (isDenial(senders)) return senders;
      // Its `reply_to`, where every contact's reply goes (stored-recipients.ts).
      const replyTo = storedRecipients(row.id, params, ids);
      if (isDenial(replyTo)) return replyTo;
      const send = params['send'];
      if (send === undefined || send === null || send === false) {
        return uncountedOperation(row.id, 'money', { ...NO_PARTIES, senders, recipients: replyTo });
      }
      const choice = broadcastSegment(params);
      if ('problem' in choice) {
        return deny(
          'price_unknown',
          `This broadcast is sent at creation but ${choice.problem}, so Keybrake cannot price it.`,
        );
      }
      const locks = resolveLocks(row, ids, params, resendLockField);
      if (isDenial(locks)) return locks;
      // Resend refuses a broadcast without `from`; were it to send one, the sender would be unseen.
      const from = senders.length > 0 ? senders : [UNSEEN_SENDER];
      const lookup = segmentContactsLookup(prices, choice.segment);
      return broadcast(row.id, scheduled(params), lookup, locks, from, replyTo);
    }
    case 'broadcast_send': {
      const id = ids[0];
      if (!isResendId(id)) return deny('path_invalid', 'The path does not name a valid Resend broadcast id.');
      const locks = resolveLocks(row, ids, params, resendLockField);
      if (isDenial(locks)) return locks;
      return broadcast(row.id, scheduled(params), broadcastSendLookup(prices, id), locks, []);
    }
    case 'broadcast_update': {
      const senders = storedSenders(row.id, params);
      if (isDenial(senders)) return senders;
      const replyTo = storedRecipients(row.id, params, ids);
      if (isDenial(replyTo)) return replyTo;
      const locks = resolveLocks(row, ids, params, resendLockField);
      if (isDenial(locks)) return locks;
      if (!namesSegment(params)) {
        return {
          ...uncountedOperation(row.id, 'write', { ...NO_PARTIES, senders, recipients: replyTo }),
          ...locks,
        };
      }
      // A new segment for a broadcast already scheduled retargets a send that was priced and
      // recipient-checked for the old one, and Resend's definition does not say an edit is refused
      // once a send is scheduled: checked as a scheduled send to the new segment would be.
      const choice = broadcastSegment(params);
      if ('problem' in choice) {
        return deny(
          'price_unknown',
          `This broadcast update ${choice.problem}, so Keybrake cannot check whom its send would reach.`,
        );
      }
      return broadcast(
        row.id,
        RETARGETED,
        segmentContactsLookup(prices, choice.segment),
        locks,
        senders,
        replyTo,
      );
    }
    case undefined:
      return deny('price_unknown', `Keybrake cannot price ${row.id}, so it is not allowed.`);
  }
}

/** A send for later (`scheduled_at`), not at once: SCHEDULED, as a refusal names it; undefined otherwise. */
function scheduled(params: Params): typeof SCHEDULED | undefined {
  const at = params['scheduled_at'];
  return at !== undefined && at !== null && at !== '' ? SCHEDULED : undefined;
}

/** The body names a segment (`segment_id`, legacy `audience_id`); an empty or null one clears none. */
function namesSegment(params: Params): boolean {
  return ['segment_id', 'audience_id'].some((field) => {
    const v = params[field];
    return v !== undefined && v !== null && v !== '';
  });
}

/** How a refusal names what makes a broadcast send one for later. */
const SCHEDULED = 'scheduled_at (a send for later reaches the segment as it is then)';
const RETARGETED = 'segment_id or audience_id (a new segment for a send that may be scheduled)';

/**
 * A broadcast send, priced by its lookup. A scheduled one (`later`: what in the body makes it so)
 * reaches the segment as it is at the scheduled time, after every lease is gone: it is priced at
 * today's count but must be named exactly in allow.endpoints, like money Keybrake cannot price
 * (ADR 0007 §1).
 */
function broadcast(
  id: string,
  later: string | undefined,
  lookup: Operation['lookup'],
  locks: { locks?: readonly string[] },
  senders: readonly string[],
  replyTo: readonly string[] = [],
): Operation {
  return {
    id,
    class: later !== undefined ? 'money_unpriced' : 'money',
    movesMoney: true,
    costMicros: 0,
    ...(lookup ? { lookup } : {}),
    ...locks,
    ...(later !== undefined && { raisedBy: later }),
    // The lookup adds the segment's contacts to these; a stored reply_to is judged with them.
    parties: { ...NO_PARTIES, senders: [...new Set(senders)], recipients: [...new Set(replyTo)] },
  };
}

function emailShape(email: Params): EmailShape | Denial {
  const recipients: string[] = [];
  for (const field of ['to', 'cc', 'bcc']) {
    const list = addressList(email[field]);
    if (!list) {
      return deny(
        'body_invalid',
        `\`${field}\` must be a string or an array of strings, of mailboxes such as a@example.com or Name <a@example.com>.`,
      );
    }
    recipients.push(...list);
  }
  const from = addressList(email['from']);
  if (!from) return deny('body_invalid', '`from` must be a string: a@example.com or Name <a@example.com>.');
  // An email that names no recipient is rejected by Resend, but is still priced as one delivery.
  return {
    deliveries: Math.max(1, recipients.length),
    recipients,
    // Without `from` Resend sends from the template the email names (or refuses it): not in the request.
    senders: from.length > 0 ? from : [UNSEEN_SENDER],
  };
}

/**
 * An inbox send priced by its lookup (inbox-sends.ts), from the inbox's own address, which the
 * request does not name: the recipients are what the reads find.
 */
function inboxSend(id: string, lookup: CostLookup, locks: { locks?: readonly string[] }): Operation {
  return {
    id,
    class: 'money',
    movesMoney: true,
    costMicros: 0,
    lookup,
    ...locks,
    parties: { ...NO_PARTIES, senders: [UNSEEN_SENDER] },
  };
}

/** An inbox send goes from the inbox's own address, which the request does not name. */
function fromInbox(email: EmailShape): EmailShape {
  return { ...email, senders: [...new Set([UNSEEN_SENDER, ...email.senders])] };
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
