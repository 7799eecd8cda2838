import type { Params } from '../types.ts';
import { ITEMS } from './parse.ts';

/**
 * What in one write's body may subscribe a contact to mail it had opted out of, as a refusal names it;
 * undefined when nothing does.
 */
type OptInReader = (params: Params) => string | undefined;

/** A multipart text field Keybrake could not read as JSON: it may say anything, so it opts in. */
const UNREADABLE: unique symbol = Symbol('unreadable');

/**
 * The values of every key that spells `name`, in any case: were Resend to read `Unsubscribed` as
 * `unsubscribed`, a case variant would opt in unseen (ADR 0007 §2, one reading).
 */
function fields(object: Params, name: string): unknown[] {
  return Object.entries(object)
    .filter(([key]) => key.toLowerCase() === name)
    .map(([, value]) => value);
}

/**
 * `unsubscribed` set to anything but `true`. `false` re-subscribes a contact who unsubscribed from
 * every broadcast; a value Keybrake cannot read as an unsubscribe (`null`, `"false"`, 0) might too.
 */
function resubscribes(params: Params): string | undefined {
  const values = fields(params, 'unsubscribed').filter((value) => value !== true);
  if (values.length === 0) return undefined;
  return values.every((value) => value === false)
    ? 'unsubscribed: false (an opt-in)'
    : 'unsubscribed other than true (read as an opt-in)';
}

/** How a refusal names topics that opt in. */
const TOPIC_OPT_IN = 'a topic subscription other than opt_out (an opt-in)';

/** A topic subscription that is plainly `opt_out`; any other element (opt_in, unreadable) opts in. */
function isOptOut(topic: unknown): boolean {
  if (typeof topic !== 'object' || topic === null || Array.isArray(topic)) return false;
  const subscriptions = fields(topic as Params, 'subscription');
  return subscriptions.length > 0 && subscriptions.every((value) => value === 'opt_out');
}

/** A topic list (absent: none) that holds anything but opt-outs. */
function topicsOptIn(list: unknown): boolean {
  if (list === undefined) return false;
  return !Array.isArray(list) || !list.every(isOptOut);
}

/**
 * A contact written with its global subscription and its topics. Only a create takes `topics` in
 * Resend's definition; an update's are read too, in case Resend honours them.
 */
function contactOptsIn(params: Params): string | undefined {
  return resubscribes(params) ?? (fields(params, 'topics').some(topicsOptIn) ? TOPIC_OPT_IN : undefined);
}

/** `PATCH /contacts/{id}/topics`: resend-node sends the list as the whole body, Resend's definition as `topics`. */
function topicUpdateOptsIn(params: Params): string | undefined {
  return topicsOptIn(params[ITEMS]) || fields(params, 'topics').some(topicsOptIn) ? TOPIC_OPT_IN : undefined;
}

/** A multipart text field's JSON, or UNREADABLE. */
function jsonField(value: unknown): unknown {
  if (typeof value !== 'string') return UNREADABLE;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return UNREADABLE;
  }
}

/**
 * A contact import (multipart: `topics`, `column_map`, `on_conflict` are JSON or plain text fields).
 * Its `topics` apply to every imported contact. Unless `on_conflict` is `skip`, it updates the
 * contacts that exist (resend-mcp documents `upsert` as the default), and a `column_map` that maps
 * `unsubscribed` takes their subscription from a file Keybrake does not read. Without a column map,
 * Resend matches only the `email`, `first_name` and `last_name` headers (resend-mcp 2.22).
 */
function importOptsIn(params: Params): string | undefined {
  if (fields(params, 'topics').map(jsonField).some(topicsOptIn)) return TOPIC_OPT_IN;
  const onConflict = fields(params, 'on_conflict');
  if (onConflict.length > 0 && onConflict.every((value) => value === 'skip')) return undefined;
  const mapsSubscription = fields(params, 'column_map')
    .map(jsonField)
    .some(
      (map) =>
        typeof map !== 'object' ||
        map === null ||
        Array.isArray(map) ||
        fields(map as Params, 'unsubscribed').length > 0,
    );
  return mapsSubscription
    ? 'a column_map that maps unsubscribed, or that Keybrake cannot read, without on_conflict: skip (the file may opt existing contacts in)'
    : undefined;
}

/**
 * A topic's default is fixed at creation in Resend's definition, so `PATCH /topics/{id}` takes none;
 * were Resend to honour one, `opt_in` would subscribe every contact that had not chosen.
 */
function topicDefaultOptsIn(params: Params): string | undefined {
  return fields(params, 'default_subscription').some((value) => value !== 'opt_out')
    ? 'default_subscription other than opt_out (an opt-in)'
    : undefined;
}

/**
 * Writes that can subscribe a contact again (fifth probe round): under `* /**`, `PATCH /contacts/{id}`
 * with `{"unsubscribed":false}` and `PATCH /contacts/{id}/topics` with an `opt_in` were forwarded as
 * free writes, and every later broadcast (to the topic) reached someone who had opted out, while
 * resuming delivery to a suppressed address is destructive. A create names an address that may
 * already be a contact (and Resend's definition does not say a create leaves an existing contact
 * alone), so its opt-ins count too. Unsubscribing (`true`, `opt_out`) stays a write. A new topic
 * whose default is `opt_in` re-subscribes no one: it does not reach a contact who unsubscribed from
 * every broadcast, and reaches no one a broadcast without a topic would not.
 */
const OPT_IN: ReadonlyMap<string, OptInReader> = new Map([
  ['resend.contacts.create', contactOptsIn],
  ['resend.contacts.update', contactOptsIn],
  ['resend.audiences.contacts.create', contactOptsIn],
  ['resend.audiences.contacts.update', contactOptsIn],
  ['resend.contacts.topics.update', topicUpdateOptsIn],
  ['resend.contacts.imports.create', importOptsIn],
  ['resend.topics.update', topicDefaultOptsIn],
]);

/**
 * What in a write opts a contact in, which makes it destructive (an exact entry in allow.endpoints),
 * as a refusal names it; undefined when nothing does.
 */
export function optIn(operationId: string, params: Params): string | undefined {
  return OPT_IN.get(operationId)?.(params);
}
