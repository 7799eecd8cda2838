import { describe, expect, it } from 'vitest';
import type { CostLookup } from '../types.ts';
import { broadcastSegment, broadcastSendLookup, segmentContactsLookup } from './broadcast.ts';
import { DEFAULT_RESEND_PRICES, type ResendPrices } from './prices.ts';
import { UNSEEN_RECIPIENT, UNSEEN_SENDER } from './recipients.ts';

const P = DEFAULT_RESEND_PRICES;

const contacts = (from: number, n: number) =>
  Array.from({ length: n }, (_, i) => ({ id: `c${from + i}`, email: `User${from + i}@Example.com` }));
const page = (data: unknown[], hasMore: boolean) => ({ object: 'list', data, has_more: hasMore });

/**
 * Walks a lookup chain the way the price stage does, answering each read from `answers` (path →
 * body): the paths read, the locks named, the parties found and the price.
 */
function walk(first: CostLookup, answers: Record<string, unknown>) {
  const reads: string[] = [];
  const locks: string[] = [];
  const recipients = new Set<string>();
  const senders = new Set<string>();
  let lookup = first;
  for (;;) {
    reads.push(lookup.path);
    locks.push(...(lookup.locks ?? []));
    const body = answers[lookup.path];
    const found = lookup.parties?.(body) ?? {};
    for (const r of found.recipients ?? []) recipients.add(r);
    for (const s of found.senders ?? []) senders.add(s);
    const next = lookup.next?.(body);
    if (next === undefined) return { reads, locks, recipients, senders, cost: lookup.price(body) };
    lookup = next;
  }
}

const broadcast = (extra: Record<string, unknown>) => ({
  object: 'broadcast',
  id: 'b1',
  from: 'News <News@Acme.test>',
  status: 'draft',
  ...extra,
});

describe('broadcast pricing: the broadcast, then its segment, a page at a time', () => {
  it('reads the broadcast, leases its segment before reading it, and prices one delivery per contact', () => {
    const result = walk(broadcastSendLookup(P, 'b1'), {
      '/broadcasts/b1': broadcast({ segment_id: 'seg1', audience_id: null }),
      '/segments/seg1/contacts?limit=100': page(contacts(0, 3), false),
    });
    expect(result.reads).toEqual(['/broadcasts/b1', '/segments/seg1/contacts?limit=100']);
    expect(result.locks).toEqual(['seg1']);
    expect(result.cost).toBe(3 * P.perEmail);
    expect([...result.recipients]).toEqual(['user0@example.com', 'user1@example.com', 'user2@example.com']);
    expect([...result.senders]).toEqual(['news@acme.test']);
  });

  it('follows has_more with the after cursor and counts every page', () => {
    const result = walk(segmentContactsLookup(P, 'seg1'), {
      '/segments/seg1/contacts?limit=100': page(contacts(0, 100), true),
      '/segments/seg1/contacts?limit=100&after=c99': page(contacts(100, 100), true),
      '/segments/seg1/contacts?limit=100&after=c199': page(contacts(200, 50), false),
    });
    expect(result.reads).toHaveLength(3);
    expect(result.locks).toEqual(['seg1']);
    expect(result.cost).toBe(250 * P.perEmail);
    expect(result.recipients.size).toBe(250);
  });

  it('takes the legacy audience_id of an older broadcast as its segment', () => {
    const result = walk(broadcastSendLookup(P, 'b1'), {
      '/broadcasts/b1': broadcast({ segment_id: null, audience_id: 'aud1' }),
      '/segments/aud1/contacts?limit=100': page(contacts(0, 2), false),
    });
    expect(result.cost).toBe(2 * P.perEmail);
  });

  it('prices an empty segment as one delivery, never zero', () => {
    expect(
      walk(segmentContactsLookup(P, 'seg1'), { '/segments/seg1/contacts?limit=100': page([], false) }).cost,
    ).toBe(P.perEmail);
  });

  it('names a contact without an address as an unseen recipient', () => {
    const result = walk(segmentContactsLookup(P, 'seg1'), {
      '/segments/seg1/contacts?limit=100': page([{ id: 'c1' }, { id: 'c2', email: 'a@x.com' }], false),
    });
    expect([...result.recipients]).toEqual([UNSEEN_RECIPIENT, 'a@x.com']);
    expect(result.cost).toBe(2 * P.perEmail);
  });

  // Found by a security tester: a stored `from` Keybrake could not read was "no sender", which a
  // sender allowlist passed, while Resend sent from it.
  it.each([
    ['a quoted word inside a plain display name', 'Ann "The CEO" Smith <ceo@bank.example>'],
    ['a comment', 'ceo@bank.example (CEO)'],
    ['a quoted local part', '"ceo"@bank.example'],
    ['null', null],
    ['an empty string', ''],
    ['a number', 42],
  ])('names a stored from it cannot read (%s) as an unseen sender', (_name, from) => {
    const result = walk(broadcastSendLookup(P, 'b1'), {
      '/broadcasts/b1': broadcast({ from, segment_id: 'seg1' }),
      '/segments/seg1/contacts?limit=100': page(contacts(0, 1), false),
    });
    expect([...result.senders]).toEqual([UNSEEN_SENDER]);
  });

  it.each<[string, ResendPrices, Record<string, unknown>]>([
    [
      'more contacts than the bound (has_more at the bound)',
      { ...P, maxBroadcastContacts: 200 },
      {
        '/segments/seg1/contacts?limit=100': page(contacts(0, 100), true),
        '/segments/seg1/contacts?limit=100&after=c99': page(contacts(100, 100), true),
      },
    ],
    [
      'more contacts than a bound that is not a whole number of pages',
      { ...P, maxBroadcastContacts: 150 },
      {
        '/segments/seg1/contacts?limit=100': page(contacts(0, 100), true),
        '/segments/seg1/contacts?limit=100&after=c99': page(contacts(100, 60), false),
      },
    ],
    ['a page that is not a list', P, { '/segments/seg1/contacts?limit=100': { object: 'segment' } }],
    ['a page without has_more', P, { '/segments/seg1/contacts?limit=100': { object: 'list', data: [] } }],
    ['an empty page that claims more', P, { '/segments/seg1/contacts?limit=100': page([], true) }],
    [
      'a page whose last contact has no usable cursor',
      P,
      { '/segments/seg1/contacts?limit=100': page([{ id: 'c/1', email: 'a@x.com' }], true) },
    ],
  ])('cannot price %s: denied, never guessed', (_name, prices, answers) => {
    expect(walk(segmentContactsLookup(prices, 'seg1'), answers).cost).toBeUndefined();
  });

  it('stops reading at the bound: no page past it is requested', () => {
    const result = walk(segmentContactsLookup({ ...P, maxBroadcastContacts: 200 }, 'seg1'), {
      '/segments/seg1/contacts?limit=100': page(contacts(0, 100), true),
      '/segments/seg1/contacts?limit=100&after=c99': page(contacts(100, 100), true),
    });
    expect(result.reads).toHaveLength(2);
  });

  it.each([
    ['naming no segment', { segment_id: null, audience_id: null }],
    ['naming two segments', { segment_id: 's1', audience_id: 's2' }],
    ['naming a segment id that would change the path', { segment_id: '../api-keys' }],
  ])('cannot price a broadcast %s', (_name, fields) => {
    const result = walk(broadcastSendLookup(P, 'b1'), { '/broadcasts/b1': broadcast(fields) });
    expect(result.reads).toEqual(['/broadcasts/b1']);
    expect(result.cost).toBeUndefined();
  });

  it('accepts the same segment named twice (resend-node sends segment_id and audience_id)', () => {
    expect(broadcastSegment({ segment_id: 's1', audience_id: 's1' })).toEqual({ segment: 's1' });
  });

  it('says how it prices, for denials and explanations', () => {
    expect(broadcastSendLookup(P, 'b1').describe).toBe(
      'broadcast b1: one delivery per contact of its segment (GET /segments/{segment_id}/contacts, 100 a page, at most 1000) × $0.0009',
    );
  });
});
