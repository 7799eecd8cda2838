import { type Denial, deny, isDenial } from '../../decision/reasons.ts';
import { normaliseAddress } from '../mailbox.ts';
import type { Params } from '../types.ts';
import { automationRecipients } from './automations.ts';
import { addressList, UNSEEN_RECIPIENT } from './recipients.ts';

/** Reads the recipients one write names from its body or its path (`ids`, the placeholders' values). */
type RecipientReader = (params: Params, ids: readonly string[]) => readonly string[] | Denial;

/** A contact's `email`, the address a write stores. */
function contactEmail(params: Params): readonly string[] | Denial {
  return (
    addressList(params['email']) ??
    deny('body_invalid', '`email` must be a string: a@example.com or Name <a@example.com>.')
  );
}

/**
 * Writes that name who later sends reach, other than by sending. A contact's address: every later
 * broadcast to the contact's segments goes to it, but a broadcast send reads the addresses only when
 * it is priced: a probe changed a contact from ann@example.com to evil@attacker.com while the send was
 * in flight (a contact update names no segment to lease), and Resend, which fans a broadcast out after
 * answering, delivered to the new one. Checking the address when it is stored holds whenever the
 * change comes, during a send, after it, or before a scheduled one. An import stores the addresses of
 * a file Keybrake does not read: unseen. An event's contact is who the automations the event starts
 * email (`eventContact`); an automation's steps name none in Resend's definition, but any they
 * name are read (`automationRecipients`). A contact added to a segment is a recipient of the
 * broadcasts to it (`segmentContact`).
 */
const STORED_RECIPIENT: ReadonlyMap<string, RecipientReader> = new Map([
  ['resend.contacts.create', contactEmail],
  ['resend.contacts.update', contactEmail],
  ['resend.audiences.contacts.create', contactEmail],
  ['resend.audiences.contacts.update', contactEmail],
  ['resend.contacts.imports.create', () => [UNSEEN_RECIPIENT]],
  ['resend.events.send', eventContact],
  ['resend.automations.create', automationRecipients],
  ['resend.automations.update', automationRecipients],
  ['resend.contacts.segments.add', segmentContact],
]);

/** The fields of an event that name no contact (Resend's SendEventRequest). */
const EVENT_FIELDS: ReadonlySet<string> = new Set(['event', 'email', 'payload']);

/**
 * `POST /events/send` names its contact by `email` or by `contact_id`, and the automations listening
 * for the event email that contact: a probe had `{"email":"victim@outside.test"}` forwarded under a
 * recipient allowlist. A contact named by id (or by any field but `email`, which Resend might read as
 * the contact), or by none, is unseen.
 */
function eventContact(params: Params): readonly string[] | Denial {
  const email = contactEmail(params);
  if (isDenial(email)) return email;
  const otherwise = Object.entries(params).some(
    ([key, value]) => !EVENT_FIELDS.has(key) && value !== undefined && value !== null && value !== '',
  );
  return otherwise || email.length === 0 ? [...email, UNSEEN_RECIPIENT] : email;
}

/**
 * `POST /contacts/{contact_id}/segments/{segment_id}` adds an existing contact, named by id or by
 * address, to a segment: a probe added one outside `allow.recipients` to the segment of a scheduled
 * broadcast, which reaches the segment as it is at the scheduled time. The contact is the address
 * its path gives (Resend reads a percent-escaped one too), or unseen when named by id.
 */
function segmentContact(_params: Params, ids: readonly string[]): readonly string[] | Denial {
  let contact: string;
  try {
    contact = decodeURIComponent(ids[0] ?? '');
  } catch {
    // The route stage refuses a malformed escape before this runs (tenth round); kept so that this
    // function, judged on its own, fails closed too.
    return deny('path_invalid', 'The path does not name a contact Keybrake can read.');
  }
  if (!contact.includes('@')) return [UNSEEN_RECIPIENT];
  const address = normaliseAddress(contact);
  return address === undefined
    ? deny(
        'path_invalid',
        'The path names a contact by an address that is not one mailbox such as a@example.com.',
      )
    : [address];
}

/** The recipients a write names (checked against `allow.recipients`); none for other writes. */
export function storedRecipients(
  operationId: string,
  params: Params,
  ids: readonly string[],
): readonly string[] | Denial {
  return STORED_RECIPIENT.get(operationId)?.(params, ids) ?? [];
}
