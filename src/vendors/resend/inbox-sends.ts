import { formatUsd } from '../../money/micro-usd.ts';
import type { CostLookup } from '../types.ts';
import { isResendId } from './broadcast.ts';
import type { ResendPrices } from './prices.ts';
import { addressList, UNSEEN_RECIPIENT } from './recipients.ts';

/**
 * How an inbox send whose recipients are not in the request is priced (price stage; classify.ts picks
 * the entry point). A stored draft goes to every address it holds, and nothing bounds how many (a
 * draft stored with 150 went out under a cap that a fixed 50 deliveries fitted; twelfth round); a
 * reply goes to the people of the email it answers, reply-all to everyone on it. So the proxy reads
 * them with the real key, as a broadcast reads its segment: the draft (`GET /inboxes/{i}/drafts/{d}`,
 * what resend-node 6.38 `inboxes.drafts.get` calls), and the email replied to
 * (`GET /inboxes/{i}/threads/{t}/emails/{e}`), counting one delivery per address each names, every
 * address a recipient the allowlists see. An address Keybrake cannot read, or an answer of another
 * shape, leaves the call unpriced: denied, never guessed. `inbox` is the path's inbox as
 * inbox-path.ts spells it (an id, or an address escaped as resend-node escapes it), so each read goes
 * to the inbox the send goes to.
 */

/** The address fields of the email a reply answers that a reply reaches: its sender, and where it asks replies to go. */
const REPLY_FIELDS = ['from', 'reply_to'] as const;
/**
 * Reply-all reaches everyone on the email; `bcc` too, which Resend's definition does not exclude.
 * The inbox's own address (in `to` of mail it received) counts as well: an over-count of one.
 */
const REPLY_ALL_FIELDS = ['from', 'reply_to', 'to', 'cc', 'bcc'] as const;

/** What was counted before a read: deliveries and the addresses behind them. */
interface Counted {
  readonly deliveries: number;
  readonly recipients: readonly string[];
}

/** The addresses of `fields` of an object, each counted; undefined when one cannot be read. */
function addresses(body: unknown, fields: readonly string[]): string[] | undefined {
  if (!isObject(body)) return undefined;
  const all: string[] = [];
  for (const field of fields) {
    const list = addressList(body[field]);
    if (list === undefined) return undefined;
    all.push(...list);
  }
  return all;
}

/**
 * `POST /inboxes/{i}/drafts/{d}/send`: the stored draft's `to`, `cc` and `bcc`. A reply draft
 * (`type: "reply"`) also goes to the people of the email it answers, whom its `to` need not name:
 * that email is read next. The draft is leased (its row's `locks`), and its update takes the same
 * lease, so its recipients cannot grow between this read and the send.
 */
export function draftSendLookup(prices: ResendPrices, inbox: string, draft: string): CostLookup {
  return {
    path: `/inboxes/${inbox}/drafts/${draft}`,
    describe: `draft ${draft}: ${inboxRule(prices)}`,
    parties: (body) => ({ recipients: addresses(body, ['to', 'cc', 'bcc']) ?? [UNSEEN_RECIPIENT] }),
    next: (body) => {
      const reply = replyOf(body);
      if (reply === undefined || reply === 'unreadable') return undefined;
      const own = addresses(body, ['to', 'cc', 'bcc']);
      if (own === undefined) return undefined;
      return repliedEmailLookup(prices, inbox, reply.thread, reply.email, false, {
        deliveries: own.length,
        recipients: own,
      });
    },
    // Reached for a standalone draft, or one Keybrake cannot read (then denied).
    price: (body) => {
      if (replyOf(body) !== undefined) return undefined;
      const own = addresses(body, ['to', 'cc', 'bcc']);
      // A draft without recipients is refused by Resend, but a send is never priced at zero.
      return own === undefined ? undefined : Math.max(1, own.length) * prices.perEmail;
    },
  };
}

/** The email a stored draft replies to; undefined for a standalone draft; 'unreadable' otherwise. */
function replyOf(body: unknown): { thread: string; email: string } | 'unreadable' | undefined {
  if (!isObject(body)) return 'unreadable';
  const { type, thread_id: thread, reply_to_email_id: email } = body;
  const none = (v: unknown) => v === undefined || v === null;
  if (type === 'standalone' && none(thread) && none(email)) return undefined;
  if ((type === 'reply' || type === 'standalone') && isResendId(thread) && isResendId(email)) {
    return { thread, email };
  }
  return 'unreadable';
}

/**
 * `POST /inboxes/{i}/threads/{t}/emails/{e}/reply`, or the second read of a reply draft's send: the
 * email replied to, whose sender and `reply_to` a reply reaches (reply-all: and its `to`, `cc`,
 * `bcc`), besides what was counted before (the reply's own `cc` and `bcc`, or the draft's).
 */
export function repliedEmailLookup(
  prices: ResendPrices,
  inbox: string,
  thread: string,
  email: string,
  replyAll: boolean,
  before: Counted,
): CostLookup {
  const fields = replyAll ? REPLY_ALL_FIELDS : REPLY_FIELDS;
  return {
    path: `/inboxes/${inbox}/threads/${thread}/emails/${email}`,
    describe: `email ${email}: ${inboxRule(prices)}`,
    parties: (body) => ({
      recipients: [...before.recipients, ...(addresses(body, fields) ?? [UNSEEN_RECIPIENT])],
    }),
    price: (body) => {
      const theirs = addresses(body, fields);
      // The email's sender is always reached: an email without a readable one is not priced.
      if (theirs === undefined || addresses(body, ['from'])?.length !== 1) return undefined;
      return (before.deliveries + theirs.length) * prices.perEmail;
    },
  };
}

/** The rule in words, for denials and `policy-check --explain`. */
export function inboxRule(prices: ResendPrices): string {
  return (
    'one delivery per address of the stored draft and of the email it replies to ' +
    `(a reply: its sender and reply_to; reply-all: its to, cc and bcc too) × $${formatUsd(prices.perEmail)}`
  );
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
