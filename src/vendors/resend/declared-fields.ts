import { type Denial, deny } from '../../decision/reasons.ts';
import { printableName } from '../names.ts';
import type { Params } from '../types.ts';
import { ITEMS } from './parse.ts';

/**
 * The body fields Resend's definition declares (resend-node 6.38's requests, as it sends them) for
 * the operations Keybrake judges by part of their body only: a broadcast send, judged from the
 * stored broadcast; a scheduled email's reschedule, a free write; an inbox draft's send, judged from the stored
 * draft; an inbox reply, priced from `cc`,
 * `bcc` and `reply_all`. Any other field, `segment_id`, `audience_id` or `to` above all, is read by
 * no allowlist and no price, while Resend's server might read it whatever the definition says.
 *
 * The copies, stops and cancels resend-node sends with no body at all (`post(…/duplicate, void 0)`)
 * declare none: a template copy is a free write because no send uses it until someone names its
 * id, which holds only if the copy is not also handed a `reply_to` or `from` the create would judge
 * (thirteenth round, fixes13r: `POST /templates/{id}/duplicate` with the `reply_to` and `from` that
 * `POST /templates` refused, and a broadcast copy with `segment_id`, `scheduled_at` and `send`, were
 * forwarded unread). An empty object is no field. Every POST, PATCH or PUT resend-node sends with no
 * body is here (declared-fields.test.ts reads them from resend-node itself): a template publish, a
 * domain's and a domain claim's verify, a webhook event's replay and a contact's segment addition
 * forwarded any body unread too (thirteenth round, fixes13x: the publish carried the `reply_to` and
 * `from` the same template's edit was refused for). A DELETE is not: resend-node 6.38 sends none,
 * but earlier versions sent `{"id": …}` (parse.test.ts), and a delete takes nothing a body could
 * name.
 */
export const DECLARED_FIELDS: ReadonlyMap<string, ReadonlySet<string>> = new Map([
  ['resend.broadcasts.send', new Set(['scheduled_at'])],
  ['resend.emails.update', new Set(['scheduled_at'])],
  // Priced from the stored draft: a `to` in the send's body would be read by no allowlist.
  ['resend.inboxes.drafts.send', new Set(['headers'])],
  [
    'resend.inboxes.threads.reply',
    new Set(['cc', 'bcc', 'html', 'text', 'subject', 'reply_all', 'attachments', 'headers']),
  ],
  ['resend.templates.duplicate', new Set<string>()],
  ['resend.broadcasts.duplicate', new Set<string>()],
  ['resend.automations.duplicate', new Set<string>()],
  ['resend.automations.stop', new Set<string>()],
  ['resend.broadcasts.cancel', new Set<string>()],
  ['resend.emails.cancel', new Set<string>()],
  ['resend.templates.publish', new Set<string>()],
  ['resend.domains.verify', new Set<string>()],
  ['resend.domains.claims.verify', new Set<string>()],
  ['resend.webhooks.events.replay', new Set<string>()],
  ['resend.webhooks.rotate_signing_secret', new Set<string>()],
  ['resend.contacts.segments.add', new Set<string>()],
]);

/**
 * Why the body of such an operation cannot be forwarded: it is a JSON array, or it holds a field the
 * definition does not declare for it (null or empty alike: a field is never judged by its value
 * here). Undefined for any other operation, and for a body of declared fields only.
 */
export function undeclaredFieldDenial(operationId: string, params: Params): Denial | undefined {
  const declared = DECLARED_FIELDS.get(operationId);
  if (declared === undefined) return undefined;
  if (ITEMS in params) return deny('body_invalid', `${operationId} takes a JSON object.`);
  const other = Object.keys(params).find((name) => !declared.has(name));
  if (other === undefined) return undefined;
  return deny(
    'body_invalid',
    `Resend's definition of ${operationId} declares no field ${printableName(other)} (${declared.size > 0 ? `only ${[...declared].join(', ')}` : 'it takes no body'}): Keybrake would not read it, so the call is not forwarded.`,
  );
}
