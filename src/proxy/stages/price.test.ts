import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fixedClock } from '../../clock.ts';
import { MemoryCounterStore } from '../../counters/memory-store.ts';
import { type CounterStore, CounterStoreUnavailableError } from '../../counters/store.ts';
import { compileEndpointPattern, compileValuePattern } from '../../patterns/glob.ts';
import { SnapshotHolder } from '../../snapshot/holder.ts';
import type { CompiledPolicy } from '../../snapshot/types.ts';
import { memoryAuditSink } from '../../telemetry/audit.ts';
import { silentLogger } from '../../telemetry/logger.ts';
import { createProxyMetrics } from '../../telemetry/metrics.ts';
import { createResendAdapter } from '../../vendors/resend/index.ts';
import { type CostLookup, NO_PARTIES, type VendorAdapter } from '../../vendors/types.ts';
import { LeaseBackoff } from '../lease-backoff.ts';
import { LOOKUP_READ_BURST, LOOKUP_READS_PER_SECOND } from '../lookup-reads.ts';
import { createPipeline } from '../pipeline.ts';
import type { ForwardRequest, UpstreamResponse, Upstreams } from '../upstreams.ts';
import { leaseAccount } from './lease.ts';
import { MAX_LOOKUP_READS } from './price.ts';

// Chained cost lookups (CostLookup.next) and the leases a read finds (CostLookup.locks), through the
// real pipeline with the real Resend adapter: a broadcast send reads the broadcast, leases its
// segment, reads the segment's contacts page by page, and holds the lease until it has settled.

const TOKEN = 'kb_resend_price_stage_test_token';
const UPSTREAM_KEY = 're_price_stage_real_key_0123';

const json = (status: number, body: unknown): UpstreamResponse => ({
  status,
  headers: { 'content-type': 'application/json' },
  body: Buffer.from(JSON.stringify(body)),
});

const contacts = (from: number, n: number) =>
  Array.from({ length: n }, (_, i) => ({ id: `c${from + i}`, email: `u${from + i}@example.com` }));

/** Resend as far as a broadcast needs it: broadcast b1 goes to seg1, which has `size` contacts. */
function resendLike(size: number) {
  return (req: ForwardRequest): UpstreamResponse => {
    if (req.pathAndQuery === '/broadcasts/b1')
      return json(200, { object: 'broadcast', id: 'b1', from: 'news@acme.test', segment_id: 'seg1' });
    const list = /^\/segments\/seg1\/contacts\?limit=100(?:&after=c(\d+))?$/.exec(req.pathAndQuery);
    if (list) {
      const from = list[1] === undefined ? 0 : Number(list[1]) + 1;
      const n = Math.max(0, Math.min(100, size - from));
      return json(200, { object: 'list', data: contacts(from, n), has_more: from + n < size });
    }
    if (req.pathAndQuery === '/broadcasts/b1/send') return json(200, { id: 'b1' });
    if (req.pathAndQuery === '/contacts') return json(201, { object: 'contact', id: 'c_new' });
    return json(404, { statusCode: 404, name: 'not_found', message: 'Not found' });
  };
}

function proxy(opts: {
  policy?: Partial<CompiledPolicy>;
  upstream: (req: ForwardRequest) => UpstreamResponse | Promise<UpstreamResponse>;
  adapter?: VendorAdapter;
  counters?: CounterStore;
  leaseBackoff?: LeaseBackoff;
}) {
  const clock = fixedClock('2026-11-26T12:00:00Z');
  const snapshots = new SnapshotHolder(clock);
  snapshots.apply({
    version: 1,
    compiledAt: clock.now(),
    keys: new Map([
      [
        createHash('sha256').update(TOKEN).digest('hex'),
        {
          uid: 'agents/mailer',
          namespace: 'agents',
          name: 'mailer',
          vendor: 'resend',
          tokenFingerprint: 'kb_resend_…oken',
          upstream: { kind: 'bearer', token: UPSTREAM_KEY },
          suspended: false,
          policy: { ref: 'agents/p', limits: {}, timezone: 'UTC', readsWhenStoreDown: true, ...opts.policy },
        },
      ],
    ]),
  });
  const sent: string[] = [];
  const memory = new MemoryCounterStore({ clock, sweepIntervalMs: 0 });
  const audit = memoryAuditSink();
  const upstreams: Upstreams = {
    forward: async (req) => {
      sent.push(`${req.method} ${req.pathAndQuery}`);
      return opts.upstream(req);
    },
    close: async () => {},
  };
  const handle = createPipeline({
    snapshots,
    vendors: { resend: opts.adapter ?? createResendAdapter() },
    upstreams,
    counters: opts.counters ?? memory,
    clock,
    audit,
    metrics: createProxyMetrics({ snapshotAgeSeconds: () => 0 }),
    log: silentLogger(),
    parseLimits: { maxBytes: 4096, maxDepth: 6, maxParams: 100 },
    leaseTtlMs: 35_000,
    ...(opts.leaseBackoff !== undefined ? { leaseBackoff: opts.leaseBackoff } : {}),
  });
  const call = (method: string, path: string, body?: unknown) =>
    handle({
      method,
      url: `/resend${path}`,
      headers: {
        authorization: `Bearer ${TOKEN}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: Buffer.from(body === undefined ? '' : JSON.stringify(body)),
    });
  return { call, sent, audit, memory, clock };
}

const reasonOf = (res: { headers: Record<string, string | string[]> }) =>
  /reason=([a-z_]+)/.exec(String(res.headers['keybrake-decision']))?.[1];

describe('price stage: a price read in several steps', () => {
  it('reads the broadcast, then every page of its segment, and prices one delivery per contact', async () => {
    const { call, sent, audit } = proxy({ upstream: resendLike(250) });

    const res = await call('POST', '/broadcasts/b1/send', {});

    expect(res.status).toBe(200);
    expect(sent).toEqual([
      'GET /broadcasts/b1',
      'GET /segments/seg1/contacts?limit=100',
      'GET /segments/seg1/contacts?limit=100&after=c99',
      'GET /segments/seg1/contacts?limit=100&after=c199',
      'POST /broadcasts/b1/send',
    ]);
    expect(audit.records.at(-1)).toMatchObject({
      operation: 'resend.broadcasts.send',
      decision: 'allow',
      costUsd: '0.225',
    });
  });

  it('checks the parties every read found: the contacts against the recipient allowlist', async () => {
    const { call, sent } = proxy({
      upstream: resendLike(3),
      policy: { recipients: [compileValuePattern('u0@example.com', { caseInsensitive: true })] },
    });

    const res = await call('POST', '/broadcasts/b1/send', {});

    expect(reasonOf(res)).toBe('recipient_not_allowed');
    expect(sent).not.toContain('POST /broadcasts/b1/send');
  });

  // Found by a tester: a lookup answer's values went verbatim into denial messages, key and all.
  it.each([
    ['the first read', '/broadcasts/b1'],
    ['a later page', '/segments/seg1/contacts?limit=100&after=c99'],
  ])(
    'stops the call when %s carries the upstream key: credential_in_response, nothing sent',
    async (_which, leaky) => {
      const base = resendLike(250);
      const { call, sent, audit } = proxy({
        upstream: (req) => {
          const res = base(req);
          if (req.pathAndQuery !== leaky) return res;
          const body = JSON.parse(res.body.toString()) as Record<string, unknown>;
          return json(200, { ...body, from: `Acme <${UPSTREAM_KEY}@acme.test>` });
        },
        policy: { senders: [compileValuePattern('news@acme.test', { caseInsensitive: true })] },
      });

      const res = await call('POST', '/broadcasts/b1/send', {});

      expect(res.status).toBe(502);
      expect(reasonOf(res)).toBe('credential_in_response');
      expect(String(res.body)).not.toContain(UPSTREAM_KEY);
      expect(String(res.body)).toContain('price lookup');
      // The read that carried the key was the last one: nothing further read, nothing forwarded.
      expect(sent.at(-1)).toBe(`GET ${leaky}`);
      expect(sent).not.toContain('POST /broadcasts/b1/send');
      expect(audit.records.at(-1)).toMatchObject({
        operation: 'resend.broadcasts.send',
        decision: 'deny',
        reason: 'credential_in_response',
        costUsd: '0.00',
      });
    },
  );

  it('holds the segment while the send is in flight: a contact added to it waits (object_busy)', async () => {
    let arrived!: () => void;
    const sendArrived = new Promise<void>((r) => {
      arrived = r;
    });
    let release!: () => void;
    const sendReleased = new Promise<void>((r) => {
      release = r;
    });
    const base = resendLike(2);
    const { call, sent } = proxy({
      upstream: async (req) => {
        if (req.pathAndQuery === '/broadcasts/b1/send') {
          arrived();
          await sendReleased;
        }
        return base(req);
      },
    });

    const send = call('POST', '/broadcasts/b1/send', {});
    await sendArrived;
    const busy = await call('POST', '/contacts', { email: 'new@example.com', segments: [{ id: 'seg1' }] });
    const elsewhere = await call('POST', '/contacts', {
      email: 'new@example.com',
      segments: [{ id: 'seg2' }],
    });
    release();
    expect((await send).status).toBe(200);
    const after = await call('POST', '/contacts', { email: 'new@example.com', segments: [{ id: 'seg1' }] });

    expect(busy.status).toBe(409);
    expect(reasonOf(busy)).toBe('object_busy');
    expect(elsewhere.status).toBe(201);
    expect(after.status).toBe(201);
    expect(sent.filter((s) => s === 'POST /contacts')).toHaveLength(2);
  });

  // Fourth round: the leases were counted from when they were taken, and a send whose pages took
  // longer than their TTL lost them mid-count; an update moved the broadcast to a larger segment,
  // and the send went out priced at the smaller one.
  it('renews its leases before every further read, so a long count keeps the broadcast locked', async () => {
    const PAGE_MS = 30_000; // under the 35 s TTL; the three pages together are not
    const base = resendLike(250);
    let updateDuringPage3: ReturnType<ReturnType<typeof proxy>['call']> | undefined;
    const p = proxy({
      // A new segment for a broadcast is unpriced money since the sixth round: an exact entry admits it.
      policy: {
        endpoints: ['POST /broadcasts/{broadcast_id}/send', 'PATCH /broadcasts/{broadcast_id}'].map(
          compileEndpointPattern,
        ),
      },
      upstream: async (req) => {
        if (req.pathAndQuery.startsWith('/segments/')) {
          p.clock.advance(PAGE_MS);
          if (req.pathAndQuery.includes('after=c199'))
            updateDuringPage3 = p.call('PATCH', '/broadcasts/b1', { segment_id: 'seg_big' });
        }
        return base(req);
      },
    });

    const send = await p.call('POST', '/broadcasts/b1/send', {});
    const update = await updateDuringPage3!;

    expect(reasonOf(update)).toBe('object_busy');
    expect(update.status).toBe(409);
    expect(p.sent.filter((s) => s.startsWith('PATCH'))).toEqual([]);
    expect(reasonOf(send)).toBe('ok');
    expect(p.sent.at(-1)).toBe('POST /broadcasts/b1/send');
  });

  it('does not read a segment another call holds: the send is object_busy before its count', async () => {
    const { call, sent, memory } = proxy({ upstream: resendLike(2) });
    const held = await memory.acquireLeases({
      scope: 'agents/other',
      windows: [],
      now: Date.parse('2026-11-26T12:00:00Z'),
      leases: {
        account: leaseAccount('resend', { kind: 'bearer', token: UPSTREAM_KEY }),
        objects: ['seg1'],
        token: 'another-call',
        ttlMs: 60_000,
      },
    });
    expect(held.ok).toBe(true);

    const res = await call('POST', '/broadcasts/b1/send', {});

    expect(res.status).toBe(409);
    expect(reasonOf(res)).toBe('object_busy');
    expect(sent).toEqual(['GET /broadcasts/b1']);
  });

  it('denies a segment larger than the most it counts, naming how it prices', async () => {
    const { call, sent } = proxy({ upstream: resendLike(1001) });

    const res = await call('POST', '/broadcasts/b1/send', {});

    expect(reasonOf(res)).toBe('price_unknown');
    expect(JSON.parse(String(res.body)).message).toMatch(
      /could not determine the amount of this resend\.broadcasts\.send call \(priced from segment seg1: .* at most 1000\)/,
    );
    expect(sent.filter((s) => s.startsWith('GET /segments'))).toHaveLength(10);
    expect(sent).not.toContain('POST /broadcasts/b1/send');
  });

  it('fails closed when the store cannot lease what a read found', async () => {
    const memory = new MemoryCounterStore({ clock: fixedClock('2026-11-26T12:00:00Z'), sweepIntervalMs: 0 });
    let leases = 0;
    const flaky: CounterStore = Object.assign(Object.create(memory) as CounterStore, {
      acquireLeases: async (req: Parameters<CounterStore['acquireLeases']>[0]) => {
        // The lease stage's own lease (the broadcast) works; the segment's fails.
        if (++leases > 1) throw new CounterStoreUnavailableError('down');
        return memory.acquireLeases(req);
      },
      renewLeases: memory.renewLeases.bind(memory),
      releaseLeases: (held: Parameters<CounterStore['releaseLeases']>[0]) => memory.releaseLeases(held),
    });
    const { call, sent } = proxy({ upstream: resendLike(2), counters: flaky });

    const res = await call('POST', '/broadcasts/b1/send', {});

    expect(reasonOf(res)).toBe('counter_store_unavailable');
    expect(sent).toEqual(['GET /broadcasts/b1']);
  });

  // Fourteenth round, probe fixtwre14, finding 4: a read the vendor refused (401/403: the upstream
  // credential may not make it) was refused with the price in words, as if the answer said something
  // about the call (Twilio: "the account's own numbers…" for every text of a restricted API key).
  it.each([
    [
      401,
      'read access to the things',
      /refused Keybrake's price lookup with HTTP 401: the upstream credential needs read access to the things\./,
    ],
    [403, undefined, /refused Keybrake's price lookup with HTTP 403 \(of the things list\)\./],
  ])(
    'says a read answered %i was refused, and what the credential needs, sending nothing',
    async (status, needs, text) => {
      const base = createResendAdapter();
      const adapter: VendorAdapter = {
        ...base,
        price: () => ({
          id: 'resend.test.refused',
          class: 'money',
          movesMoney: true,
          costMicros: 0,
          parties: NO_PARTIES,
          lookup: {
            path: '/things/t1?x=1',
            describe: 'the things list',
            ...(needs !== undefined ? { needs } : {}),
            price: () => 1,
          },
        }),
      };
      const { call, sent } = proxy({ upstream: () => json(status, { message: 'no' }), adapter });

      const res = await call('POST', '/emails', {});

      expect(reasonOf(res)).toBe('price_unknown');
      const message = JSON.parse(String(res.body)).message as string;
      expect(message).toMatch(text);
      expect(message).not.toContain('/things/t1');
      expect(sent).toEqual(['GET /things/t1?x=1']);
    },
  );

  it(`stops a chain after ${MAX_LOOKUP_READS} reads whatever the adapter asks`, async () => {
    const endless = (n: number): CostLookup => ({
      path: `/things?page=${n}`,
      price: () => 1,
      next: () => endless(n + 1),
    });
    const base = createResendAdapter();
    const adapter: VendorAdapter = {
      ...base,
      price: () => ({
        id: 'resend.test.endless',
        class: 'money',
        movesMoney: true,
        costMicros: 0,
        parties: NO_PARTIES,
        lookup: endless(1),
      }),
    };
    const { call, sent } = proxy({ upstream: () => json(200, {}), adapter });

    const res = await call('POST', '/emails', {});

    expect(reasonOf(res)).toBe('price_unknown');
    expect(sent).toHaveLength(MAX_LOOKUP_READS);
  });
});

// Fifth round: one call fanned out into many upstream reads (a broadcast and its contact pages), even
// when it was then refused, while requestsPerMinute counted the chain once; the vendor's rate limit
// is the account's, so one key could deny every other key of it.
describe('price stage: every lookup read is bounded over time, per key', () => {
  const reads = (sent: string[]) => sent.filter((s) => s.startsWith('GET ')).length;

  it.each([
    // 1 (call) + 4 reads = 5 for the first send; the second counts call and broadcast read (7), and
    // its first page would be the 8th.
    [7, ['ok', 'rate_limited'], 6],
    // The second send's call and first read do not both fit: nothing read for it.
    [6, ['ok', 'rate_limited'], 5],
  ])(
    'under requestsPerMinute %i, counts each read as a call and stops a chain before the read over it',
    async (requestsPerMinute, reasons, upstreamRequests) => {
      const { call, sent, memory } = proxy({
        upstream: resendLike(250),
        policy: { limits: { requestsPerMinute } },
      });

      const got = [];
      for (const _ of reasons) got.push(reasonOf(await call('POST', '/broadcasts/b1/send', {})));

      expect(got).toEqual(reasons);
      expect(sent).toHaveLength(upstreamRequests);
      expect(sent.filter((s) => s === 'POST /broadcasts/b1/send')).toHaveLength(1);
      expect(
        await memory.used(
          'agents/mailer',
          `minute:${Math.floor(Date.parse('2026-11-26T12:00:00Z') / 60_000)}`,
        ),
      ).toBeLessThanOrEqual(requestsPerMinute);
    },
  );

  // Sixth round: under a limit of 1 a lookup-priced call (2 requests: the call and its read) was
  // refused in a fresh minute as the limit "reached". It can never pass, and now says so.
  it.each([
    // The call and its first read are over the limit together: nothing is read or counted.
    [1, 2, [], 0],
    // The chain's third read would be the call's 4th request: refused before it, as needing 4.
    [3, 4, ['GET /broadcasts/b1', 'GET /segments/seg1/contacts?limit=100'], 3],
  ])(
    'under requestsPerMinute %i, a call whose requests alone pass it is refused as needing %i, not as the limit reached',
    async (requestsPerMinute, needed, reads, counted) => {
      const { call, sent, memory } = proxy({
        upstream: resendLike(250),
        policy: { limits: { requestsPerMinute } },
      });

      const res = await call('POST', '/broadcasts/b1/send', {});

      expect(reasonOf(res)).toBe('rate_limited');
      const message = JSON.parse(res.body.toString()).message as string;
      expect(message).toContain(`needs at least ${needed} requests`);
      expect(message).toContain(`the limit is ${requestsPerMinute}, so it can never pass`);
      expect(message).not.toContain('reached');
      expect(sent).toEqual(reads);
      const minute = `minute:${Math.floor(Date.parse('2026-11-26T12:00:00Z') / 60_000)}`;
      expect(await memory.used('agents/mailer', minute)).toBe(counted);
    },
  );

  it(`without requestsPerMinute, reads at most ${LOOKUP_READ_BURST} at once, then ${LOOKUP_READS_PER_SECOND} a second, refused calls included`, async () => {
    // Every send is refused after its 4 reads (over perCallUsd), as in the probe. The lease backoff
    // (ADR 0007 §5) would then hold the key off b1: its own clock is moved past what it remembers
    // before each send, so the read bucket alone limits here.
    let backoffClock = 0;
    const { call, sent, clock } = proxy({
      upstream: resendLike(250),
      policy: { limits: { perCallMicros: 1 } },
      leaseBackoff: new LeaseBackoff({ monotonic: () => backoffClock }),
    });
    const send = async () => {
      backoffClock += 3_600_000;
      return reasonOf(await call('POST', '/broadcasts/b1/send', {}));
    };

    const first = [];
    for (let i = 0; i < 40; i++) first.push(await send());
    expect(reads(sent)).toBe(LOOKUP_READ_BURST);
    expect(first.slice(0, LOOKUP_READ_BURST / 4)).toEqual(
      Array(LOOKUP_READ_BURST / 4).fill('per_call_limit_exceeded'),
    );
    expect(first.slice(LOOKUP_READ_BURST / 4)).toEqual(
      Array(40 - LOOKUP_READ_BURST / 4).fill('rate_limited'),
    );

    clock.advance(1000);
    for (let i = 0; i < 5; i++) await send();
    expect(reads(sent)).toBe(LOOKUP_READ_BURST + LOOKUP_READS_PER_SECOND);
    expect(sent.filter((s) => !s.startsWith('GET '))).toEqual([]);
  });
});

// Fifth round: a send whose key had spent its day cap still read the broadcast and every page, and
// was refused only at reserve; a loop of them held the account's rate limit for nothing.
describe('price stage: a key whose cap is spent reads nothing', () => {
  const TODAY = Date.parse('2026-11-26T12:00:00Z');
  const CAP = 1_000_000;

  it.each([
    ['day', { perDayMicros: CAP }, { kind: 'day', bucket: 'day:2026-11-26' }, 'daily_cap_exceeded'],
    ['month', { perMonthMicros: CAP }, { kind: 'month', bucket: 'month:2026-11' }, 'monthly_cap_exceeded'],
  ] as const)('a spent %s cap refuses the send before any read', async (_name, limits, window, reason) => {
    const { call, sent, memory } = proxy({ upstream: resendLike(250), policy: { limits } });
    await memory.reserve({
      scope: 'agents/mailer',
      windows: [{ ...window, limit: CAP, amount: CAP, ttlSeconds: 3600 }],
      now: TODAY,
    });

    const res = await call('POST', '/broadcasts/b1/send', {});

    expect(reasonOf(res)).toBe(reason);
    expect(JSON.parse(String(res.body)).message).toContain('before its price was looked up');
    expect(sent).toEqual([]);
  });

  it('with a micro-dollar left, looks the price up and refuses at reserve as before', async () => {
    const { call, sent, memory } = proxy({
      upstream: resendLike(250),
      policy: { limits: { perDayMicros: CAP } },
    });
    await memory.reserve({
      scope: 'agents/mailer',
      windows: [{ kind: 'day', bucket: 'day:2026-11-26', limit: CAP, amount: CAP - 1, ttlSeconds: 3600 }],
      now: TODAY,
    });

    const res = await call('POST', '/broadcasts/b1/send', {});

    expect(reasonOf(res)).toBe('daily_cap_exceeded');
    expect(sent).toHaveLength(4);
    expect(sent).not.toContain('POST /broadcasts/b1/send');
  });
});
