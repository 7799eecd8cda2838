import { type Denial, deny } from '../../decision/reasons.ts';
import type { Params } from '../types.ts';
import { addressList, UNSEEN_RECIPIENT } from './recipients.ts';

/**
 * Writes that store a contact's address, and the body field that holds it. Every later broadcast to
 * the contact's segments goes to that address, but a broadcast send reads the addresses only when it
 * is priced: a probe changed a contact from ann@example.com to evil@attacker.com while the send was
 * in flight (a contact update names no segment to lease), and Resend, which fans a broadcast out
 * after answering, delivered to the new one. Checking the address when it is stored holds whenever
 * the change comes, during a send, after it, or before a scheduled one.
 */
const STORED_RECIPIENT: ReadonlyMap<string, string> = new Map([
  ['resend.contacts.create', 'email'],
  ['resend.contacts.update', 'email'],
  ['resend.audiences.contacts.create', 'email'],
  ['resend.audiences.contacts.update', 'email'],
]);

/** An import stores the addresses of a file Keybrake does not read: unseen. */
const UNSEEN_STORED_RECIPIENTS: ReadonlySet<string> = new Set(['resend.contacts.imports.create']);

/** The recipients a write stores (checked against `allow.recipients`); none for other writes. */
export function storedRecipients(operationId: string, params: Params): readonly string[] | Denial {
  if (UNSEEN_STORED_RECIPIENTS.has(operationId)) return [UNSEEN_RECIPIENT];
  const field = STORED_RECIPIENT.get(operationId);
  if (field === undefined) return [];
  return (
    addressList(params[field]) ??
    deny('body_invalid', `\`${field}\` must be a string: a@example.com or Name <a@example.com>.`)
  );
}
