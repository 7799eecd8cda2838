import { compileOperations, type OperationRow } from '../operation-table.ts';

/**
 * The Resend operations Keybrake knows, one row per method + path as Resend's API definition writes
 * it, with the pricing rule each follows (applied by classify.ts). Calls missing here fall back by
 * method in classify.ts: reads and deletes are free (deleting never sends mail), anything else is
 * unknown and treated as money-moving.
 */

/** How an operation is priced (classify.ts applies it). */
export type ResendPricingRule =
  /** Configures the account and sends nothing. */
  | 'free'
  /** One email object in the body: a delivery per `to`, `cc` and `bcc` address. */
  | 'email'
  /** An array of email objects, each priced like `email`. */
  | 'batch'
  /** An inbox email forwarded to the recipients in the body. */
  | 'forward'
  /** A reply: `cc`/`bcc` plus the original sender the request does not name (reply-all: everyone). */
  | 'reply'
  /** A stored draft sent as is: its recipients are not in the request. */
  | 'draft_send'
  /** To a whole segment whose size Keybrake cannot know: unpriced, denied. */
  | 'broadcast_send'
  /** Free, unless `send: true` makes it a broadcast send. */
  | 'broadcast_create';

/** One row of the Resend operations table. */
export type ResendOperationRow = OperationRow<ResendPricingRule>;

/** Resend takes each configuration change by any of these methods. */
const WRITES = ['POST', 'PATCH', 'PUT'] as const;

/** A free operation the vendor takes by several methods or paths: one row per method and path. */
function freeWrites(
  id: string,
  paths: readonly string[],
  methods: readonly string[] = WRITES,
): ResendOperationRow[] {
  return methods.flatMap((method) => paths.map((path) => ({ id, method, path, rule: 'free' as const })));
}

const CONFIGURATION = [
  'api-keys',
  'domains',
  'audiences',
  'contacts',
  'contact-properties',
  'segments',
  'topics',
  'templates',
  'webhooks',
  'suppressions',
  'oauth',
];

export const RESEND_OPERATIONS: readonly ResendOperationRow[] = [
  // Sends. `/emails/batch` before the `/emails/{email_id}` update it would otherwise match.
  { id: 'resend.emails.send', method: 'POST', path: '/emails', rule: 'email' },
  { id: 'resend.emails.batch', method: 'POST', path: '/emails/batch', rule: 'batch' },
  {
    id: 'resend.inboxes.threads.forward',
    method: 'POST',
    path: '/inboxes/{inbox_id}/threads/{thread_id}/emails/{email_id}/forward',
    rule: 'forward',
  },
  {
    id: 'resend.inboxes.threads.reply',
    method: 'POST',
    path: '/inboxes/{inbox_id}/threads/{thread_id}/emails/{email_id}/reply',
    rule: 'reply',
  },
  {
    id: 'resend.inboxes.drafts.send',
    method: 'POST',
    path: '/inboxes/{inbox_id}/drafts/{draft_id}/send',
    rule: 'draft_send',
  },
  {
    id: 'resend.broadcasts.send',
    method: 'POST',
    path: '/broadcasts/{broadcast_id}/send',
    rule: 'broadcast_send',
  },
  { id: 'resend.broadcasts.create', method: 'POST', path: '/broadcasts', rule: 'broadcast_create' },
  // Writes that configure an account and send nothing.
  ...freeWrites('resend.broadcasts.create', ['/broadcasts'], ['PATCH', 'PUT']),
  ...freeWrites('resend.emails.update', ['/emails/{email_id}']),
  ...freeWrites('resend.emails.cancel', ['/emails/{email_id}/cancel']),
  ...freeWrites('resend.emails.share', ['/emails/{email_id}/share']),
  ...freeWrites('resend.broadcasts.update', ['/broadcasts/{broadcast_id}']),
  ...freeWrites('resend.broadcasts.cancel', ['/broadcasts/{broadcast_id}/cancel']),
  ...freeWrites('resend.broadcasts.duplicate', ['/broadcasts/{broadcast_id}/duplicate']),
  ...freeWrites('resend.automations.stop', ['/automations/{automation_id}/stop']),
  ...freeWrites('resend.inboxes.create', ['/inboxes']),
  ...freeWrites('resend.inboxes.update', ['/inboxes/{inbox_id}']),
  ...freeWrites('resend.inboxes.drafts.write', [
    '/inboxes/{inbox_id}/drafts',
    '/inboxes/{inbox_id}/drafts/{draft_id}',
  ]),
  ...freeWrites('resend.inboxes.labels.write', [
    '/inboxes/{inbox_id}/labels',
    '/inboxes/{inbox_id}/labels/{label_id}',
  ]),
  ...freeWrites('resend.inboxes.threads.write', [
    '/inboxes/{inbox_id}/threads/{thread_id}',
    '/inboxes/{inbox_id}/threads/{thread_id}/labels',
  ]),
  ...freeWrites(
    'resend.config.write',
    CONFIGURATION.map((resource) => `/${resource}/**`),
  ),
];

/** The row for a Resend call; undefined when the table has none. */
export const matchResendOperation = compileOperations(RESEND_OPERATIONS);
