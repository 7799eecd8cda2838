import { formatUsd } from '../../money/micro-usd.ts';
import { normaliseAddress } from '../mailbox.ts';
import type { CostLookup } from '../types.ts';
import { RESEND_PAGE_SIZE, type ResendPrices } from './prices.ts';
import { addressList, UNSEEN_RECIPIENT, UNSEEN_SENDER } from './recipients.ts';

/**
 * How a broadcast is priced (price stage; classify.ts picks the entry point): a broadcast goes to
 * every contact of its segment, which no request lists, so the proxy reads the segment's contacts
 * with the real key (`GET /segments/{id}/contacts`, what resend-node 6.38 `contacts.list({ segmentId })`
 * calls; audiences are segments and share their ids), 100 a page (`limit`, Resend's largest) following
 * `has_more` with the `after` cursor, and prices one delivery per contact. Every contact counts,
 * subscribed or not and whatever the broadcast's topic: an upper bound of what Resend delivers. A
 * segment with more than `maxBroadcastContacts` contacts is denied (price_unknown) rather than priced
 * by a guess. The segment is leased (ADR 0007 §5) before its first page is read, and every write
 * that adds contacts to a segment leases it too, so no contact joins while the send is in flight.
 */

/**
 * A Resend object id as it may go into a lookup path: the UUIDs Resend issues and the like. Anything
 * that could change the path (`/`, `?`, `%`, dots) is refused.
 */
const RESEND_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

export function isResendId(value: unknown): value is string {
  return typeof value === 'string' && RESEND_ID.test(value);
}

/** The segment a broadcast object or body names; a reason when it names none Keybrake can use. */
export type SegmentChoice = { readonly segment: string } | { readonly problem: string };

/**
 * `segment_id`, or the legacy `audience_id` (resend-node sends both fields, one of them empty): one
 * usable id, or a problem when there is none, it is malformed, or the two name different segments.
 */
export function broadcastSegment(o: Record<string, unknown>): SegmentChoice {
  const given = [o['segment_id'], o['audience_id']].filter((v) => v !== undefined && v !== null && v !== '');
  if (given.length === 0) return { problem: 'names no segment_id' };
  if (!given.every(isResendId)) return { problem: 'names a segment id Keybrake cannot read' };
  if (given.length === 2 && given[0] !== given[1]) {
    return { problem: 'names two different segments (segment_id and audience_id)' };
  }
  return { segment: given[0] as string };
}

/** The lookups of `POST /broadcasts/{id}/send`: the stored broadcast, then its segment's contacts. */
export function broadcastSendLookup(prices: ResendPrices, broadcastId: string): CostLookup {
  return {
    path: `/broadcasts/${broadcastId}`,
    describe: `broadcast ${broadcastId}: ${contactsRule(prices)}`,
    parties: (body) => ({ senders: storedFrom(body) }),
    next: (body) => {
      if (!isObject(body)) return undefined;
      const choice = broadcastSegment(body);
      return 'segment' in choice ? segmentContactsLookup(prices, choice.segment) : undefined;
    },
    // Reached only when the broadcast names no segment Keybrake can count: denied.
    price: () => undefined,
  };
}

/**
 * The sender is the broadcast's own `from`: the sender allowlist sees it. One Keybrake cannot read
 * (`Ann "The CEO" Smith <…>`, a comment, a quoted local part, none at all) is an unseen sender, which
 * a sender allowlist denies: Resend would still send from whatever it holds.
 */
function storedFrom(body: unknown): string[] {
  const from = isObject(body) ? addressList(body['from']) : undefined;
  return from !== undefined && from.length > 0 ? from : [UNSEEN_SENDER];
}

/**
 * One page of a segment's contacts, and the pages after it: `counted` contacts were on the pages
 * before, the last of them `after`. The first page leases the segment.
 */
export function segmentContactsLookup(
  prices: ResendPrices,
  segment: string,
  counted = 0,
  after?: string,
): CostLookup {
  const query = `limit=${RESEND_PAGE_SIZE}${after === undefined ? '' : `&after=${after}`}`;
  return {
    path: `/segments/${segment}/contacts?${query}`,
    describe: `segment ${segment}: ${contactsRule(prices)}`,
    ...(after === undefined ? { locks: [segment] } : {}),
    parties: (body) => ({ recipients: readPage(body)?.recipients ?? [] }),
    next: (body) => {
      const page = readPage(body);
      if (!page?.hasMore || page.lastId === undefined) return undefined;
      const total = counted + page.count;
      // At the bound with more to come: stop reading; `price` then denies.
      if (total >= prices.maxBroadcastContacts) return undefined;
      return segmentContactsLookup(prices, segment, total, page.lastId);
    },
    price: (body) => {
      const page = readPage(body);
      if (!page || page.hasMore) return undefined;
      const total = counted + page.count;
      if (total > prices.maxBroadcastContacts) return undefined;
      // An empty segment sends nothing, but a send is never priced at zero.
      return Math.max(1, total) * prices.perEmail;
    },
  };
}

/** The rule in words, for denials and `policy-check --explain`. */
export function contactsRule(prices: ResendPrices): string {
  return (
    `one delivery per contact of its segment (GET /segments/{segment_id}/contacts, ` +
    `${RESEND_PAGE_SIZE} a page, at most ${prices.maxBroadcastContacts}) × $${formatUsd(prices.perEmail)}`
  );
}

interface Page {
  readonly count: number;
  readonly hasMore: boolean;
  /** The cursor of the next page; undefined when the last contact has no usable id. */
  readonly lastId: string | undefined;
  readonly recipients: readonly string[];
}

/** A page of Resend's list shape `{ object: "list", data: [...], has_more }`; undefined otherwise. */
function readPage(body: unknown): Page | undefined {
  if (!isObject(body) || !Array.isArray(body['data']) || typeof body['has_more'] !== 'boolean') {
    return undefined;
  }
  const data = body['data'] as unknown[];
  const recipients = new Set<string>();
  for (const contact of data) {
    const email = isObject(contact) ? contact['email'] : undefined;
    recipients.add((typeof email === 'string' ? normaliseAddress(email) : undefined) ?? UNSEEN_RECIPIENT);
  }
  const last = data.at(-1);
  const lastId = isObject(last) && isResendId(last['id']) ? last['id'] : undefined;
  // A page claiming more with nothing on it cannot advance: treated as unreadable.
  if (body['has_more'] === true && data.length === 0) return undefined;
  return { count: data.length, hasMore: body['has_more'] as boolean, lastId, recipients: [...recipients] };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
