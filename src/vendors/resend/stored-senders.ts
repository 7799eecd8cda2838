import { type Denial, deny } from '../../decision/reasons.ts';
import type { Params } from '../types.ts';
import { addressList } from './recipients.ts';

/**
 * Writes that store an address later sends go from, and the body field that holds it: a template's
 * `from` (an email naming the template and no `from` is sent from it), an inbox's `email_address`
 * (its drafts, replies and forwards go from it), a broadcast draft's `from`. The sends themselves
 * cannot show that address, so they name an unseen sender; checking the stored one here keeps a free
 * write from parking a disallowed sender where a later send picks it up.
 */
const STORED_SENDER: ReadonlyMap<string, string> = new Map([
  ['resend.templates.create', 'from'],
  ['resend.templates.update', 'from'],
  ['resend.inboxes.create', 'email_address'],
  ['resend.inboxes.update', 'email_address'],
  ['resend.broadcasts.create', 'from'],
  ['resend.broadcasts.update', 'from'],
]);

/** The senders a write stores (checked against `allow.senders`); none for other writes. */
export function storedSenders(operationId: string, params: Params): readonly string[] | Denial {
  const field = STORED_SENDER.get(operationId);
  if (field === undefined) return [];
  return (
    addressList(params[field]) ??
    deny('body_invalid', `\`${field}\` must be a string: a@example.com or Name <a@example.com>.`)
  );
}
