import { type Denial, deny } from '../../decision/reasons.ts';
import type { Params } from '../types.ts';
import { automationSenders, automationUpdateSenders } from './automations.ts';
import { addressList, UNSEEN_SENDER } from './recipients.ts';

/** Reads the senders one write stores from its body. */
type SenderReader = (params: Params) => readonly string[] | Denial;

/** The address in a body field. */
const field =
  (name: string): SenderReader =>
  (params) =>
    addressList(params[name]) ??
    deny('body_invalid', `\`${name}\` must be a string: a@example.com or Name <a@example.com>.`);

/**
 * Writes that store an address later sends go from: a template's `from` (an email naming the
 * template and no `from` is sent from it), an inbox's `email_address` (its drafts, replies and
 * forwards go from it), a broadcast draft's `from`, an automation's send_email steps
 * (`automationSenders`). The sends themselves cannot show that address, so they name an unseen
 * sender; checking the stored one here keeps a write from parking a disallowed sender where a later
 * send picks it up. A duplicated automation copies steps the request does not show: unseen; so
 * does an update that leaves the stored steps in force (`{"status": "enabled"}`, thirteenth round).
 */
const STORED_SENDER: ReadonlyMap<string, SenderReader> = new Map([
  ['resend.templates.create', field('from')],
  ['resend.templates.update', field('from')],
  ['resend.inboxes.create', field('email_address')],
  ['resend.inboxes.update', field('email_address')],
  ['resend.broadcasts.create', field('from')],
  ['resend.broadcasts.update', field('from')],
  ['resend.automations.create', automationSenders],
  ['resend.automations.update', automationUpdateSenders],
  ['resend.automations.duplicate', () => [UNSEEN_SENDER]],
]);

/** The senders a write stores (checked against `allow.senders`); none for other writes. */
export function storedSenders(operationId: string, params: Params): readonly string[] | Denial {
  return STORED_SENDER.get(operationId)?.(params) ?? [];
}
