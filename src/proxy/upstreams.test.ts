import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Denial, deny } from '../decision/reasons.ts';
import {
  CutAnswer,
  createUpstreams,
  DEFAULT_UPSTREAMS,
  downstreamHeaders,
  parseUpstreams,
  UnsentDenial,
  upstreamHeaders,
} from './upstreams.ts';

/** The vault key every call of these tests is made for. */
const KEY = 'agents/bot';

describe('upstreamHeaders', () => {
  it('swaps the credential and drops hop-by-hop and Keybrake headers', () => {
    const out = upstreamHeaders(
      {
        authorization: 'Bearer kb_stripe_vault',
        connection: 'keep-alive, x-private',
        'x-private': 'drop me',
        'keep-alive': 'timeout=5',
        'transfer-encoding': 'chunked',
        'keybrake-run-id': 'run-1',
        'idempotency-key': 'abc',
        'stripe-version': '2025-01-01',
        host: 'keybrake:8081',
      },
      'Bearer sk_test_real',
    );
    expect(out).toEqual({
      authorization: 'Bearer sk_test_real',
      'idempotency-key': 'abc',
      'stripe-version': '2025-01-01',
    });
  });
});

describe('upstreamHeaders: ranges', () => {
  // Sixth round: a vendor serving part of an answer would let withholding and the credential scan
  // each see a slice; every answer is asked for whole.
  it('drops Range and If-Range, so the vendor answers whole', () => {
    const out = upstreamHeaders(
      { range: 'bytes=0-9, 10-19', 'if-range': '"etag"', 'stripe-version': '2025-01-01' },
      'Bearer sk_test_real',
    );
    expect(out).toEqual({ authorization: 'Bearer sk_test_real', 'stripe-version': '2025-01-01' });
  });
});

describe('downstreamHeaders', () => {
  it("drops hop-by-hop headers, those the vendor's Connection names too, framing and cookies", () => {
    // Found on the wire (sixth round): `Connection: keep-alive, X-Hop-Secret` reached the agent
    // with X-Hop-Secret, which only the hop to Keybrake was meant to see.
    const out = downstreamHeaders({
      connection: ['keep-alive, X-Hop-Secret', ' x-other-hop '],
      'x-hop-secret': 'hop',
      'x-other-hop': 'hop',
      'keep-alive': 'timeout=5',
      'transfer-encoding': 'chunked',
      'content-length': '2',
      'set-cookie': ['__stripe_sid=abc; HttpOnly', 'machine=1'],
      // Seventh round: RFC 2965's obsolete cookie, and what the vendor says once the real key passed.
      'set-cookie2': 'session=tied-to-the-key; Version=1',
      'authentication-info': 'nextnonce="n1", rspauth="r1"',
      'proxy-authentication-info': 'nextnonce="n2"',
      'www-authenticate': 'Basic realm="Stripe"',
      'content-type': 'application/json',
      'request-id': 'req_1',
    });
    expect(out).toEqual({
      'www-authenticate': 'Basic realm="Stripe"',
      'content-type': 'application/json',
      'request-id': 'req_1',
    });
  });
});

describe('parseUpstreams', () => {
  it('overrides one vendor and keeps the other defaults', () => {
    const cfg = parseUpstreams(['stripe=http://127.0.0.1:12111/']);
    expect(cfg).toEqual({ ...DEFAULT_UPSTREAMS, stripe: 'http://127.0.0.1:12111' });
  });
  it.each([
    ['an unknown vendor', 'paypal=https://api.paypal.com'],
    ['a missing vendor', '=https://x'],
    ['a non-http scheme', 'stripe=file:///etc/passwd'],
    ['a bad URL', 'stripe=not a url'],
    ['a name every object has', 'constructor=https://x'],
  ])('rejects %s', (_name, pair) => {
    expect(() => parseUpstreams([pair])).toThrow(`--upstream ${pair}: `);
  });
});

describe('createUpstreams: --max-response-body', () => {
  const LIMIT = 1024 * 1024;
  const CHUNK = Buffer.alloc(64 * 1024, 'x');
  /** How much of its 256 MiB answer the streaming route managed to write before its client went away. */
  let streamed = 0;
  const streamedAll = 256 * 1024 * 1024;
  let streamClosed: Promise<unknown>;
  const server = createServer((req, res) => {
    if (req.url === '/declared') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(LIMIT + 1) });
      res.write('{"blob":"');
      return;
    }
    if (req.url === '/stream') {
      streamClosed = once(res, 'close');
      res.writeHead(200, { 'content-type': 'application/json', 'request-id': 'req_big' });
      pump(res);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(LIMIT) });
    res.end(Buffer.alloc(LIMIT, 'y'));
  });
  /** Writes chunk after chunk as fast as the client reads, until the whole answer or a closed socket. */
  function pump(res: ServerResponse) {
    while (streamed < streamedAll && !res.destroyed) {
      streamed += CHUNK.length;
      if (!res.write(CHUNK)) {
        res.once('drain', () => pump(res));
        return;
      }
    }
    if (!res.destroyed) res.end();
  }
  let upstreams: ReturnType<typeof createUpstreams>;
  beforeAll(async () => {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    upstreams = createUpstreams(
      { ...DEFAULT_UPSTREAMS, stripe: `http://127.0.0.1:${port}` },
      { timeoutMs: 10_000, maxResponseBytes: LIMIT },
    );
  });
  afterAll(async () => {
    await upstreams.close(true);
    server.closeAllConnections();
    server.close();
  });
  const get = (path: string) =>
    upstreams.forward({ vendor: 'stripe', method: 'GET', pathAndQuery: path, headers: {}, share: KEY });

  it('relays an answer of exactly the limit', async () => {
    const res = await get('/exact');
    expect(res).toMatchObject({ status: 200 });
    expect((res as { body: Buffer }).body.length).toBe(LIMIT);
    expect(res).not.toHaveProperty('overLimit');
  });

  it('refuses a declared length over the limit without reading the body', async () => {
    expect(await get('/declared')).toMatchObject({ status: 200, overLimit: LIMIT, body: Buffer.alloc(0) });
  });

  it('stops reading a streamed answer at the limit and drops the connection', async () => {
    const res = await get('/stream');
    expect(res).toMatchObject({ status: 200, overLimit: LIMIT, body: Buffer.alloc(0) });
    expect((res as { headers: Record<string, string> }).headers['request-id']).toBe('req_big');
    await streamClosed;
    // The upstream could write little beyond the limit plus what the socket buffers held.
    expect(streamed).toBeLessThan(64 * 1024 * 1024);
  });
});

describe('createUpstreams: forwarding', () => {
  const seen: { host?: string; headers: Record<string, unknown>; body: string }[] = [];
  let release: (() => void) | undefined;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ host: req.headers.host, headers: req.headers, body: Buffer.concat(chunks).toString() });
      if (req.url === '/hold') {
        release = () => res.end('{}');
        return;
      }
      if (req.url === '/half') {
        // The head and part of the body, then the connection drops (once those bytes are sent).
        res.writeHead(200, { 'content-type': 'application/json', 'request-id': 'req_half' });
        res.write('{"a":', () => res.socket?.destroy());
        return;
      }
      if (req.url === '/early-hints') res.writeEarlyHints({ link: '</a.css>; rel=preload' });
      res.writeHead(201, { 'content-type': 'application/json', 'request-id': 'req_fwd' });
      // Three writes: the body arrives in several chunks.
      res.write('{"a":');
      res.write('"b",');
      res.end('"c":1}');
    });
  });
  let port = 0;
  let upstreams: ReturnType<typeof createUpstreams>;
  beforeAll(async () => {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
    upstreams = createUpstreams(
      { ...DEFAULT_UPSTREAMS, stripe: `http://127.0.0.1:${port}` },
      { timeoutMs: 500, maxResponseBytes: 1024 },
    );
  });
  afterAll(async () => {
    release?.();
    await upstreams.close(true);
    server.closeAllConnections();
    server.close();
  });

  it("relays the vendor's head and whole body, having sent the body, the headers and the origin's Host", async () => {
    const res = await upstreams.forward({
      vendor: 'stripe',
      share: KEY,
      method: 'POST',
      pathAndQuery: '/v1/charges?expand[]=x',
      headers: { authorization: 'Bearer sk_test_x', 'content-type': 'application/x-www-form-urlencoded' },
      body: Buffer.from('amount=100'),
    });
    expect(res).toMatchObject({ status: 201, headers: { 'request-id': 'req_fwd' } });
    expect((res as { body: Buffer }).body.toString()).toBe('{"a":"b","c":1}');
    expect(seen.at(-1)).toMatchObject({
      host: `127.0.0.1:${port}`,
      headers: { authorization: 'Bearer sk_test_x', 'content-type': 'application/x-www-form-urlencoded' },
      body: 'amount=100',
    });
  });

  it('skips an informational answer (103) and relays the final one', async () => {
    const res = await upstreams.forward({
      vendor: 'stripe',
      share: KEY,
      method: 'GET',
      pathAndQuery: '/early-hints',
      headers: {},
    });
    expect(res).toMatchObject({ status: 201 });
    expect(res).not.toHaveProperty('headers.link');
  });

  it('answers upstream_timeout when the vendor does not answer in time', async () => {
    expect(
      await upstreams.forward({
        vendor: 'stripe',
        method: 'GET',
        pathAndQuery: '/hold',
        headers: {},
        share: KEY,
      }),
    ).toMatchObject({ reason: 'upstream_timeout' });
  });

  it('answers upstream_unavailable, marked unsent, when no connection can be made', async () => {
    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const { port: gone } = closed.address() as AddressInfo;
    closed.close();
    await once(closed, 'close');
    const elsewhere = createUpstreams(
      { ...DEFAULT_UPSTREAMS, stripe: `http://127.0.0.1:${gone}` },
      { timeoutMs: 500 },
    );
    try {
      const refused = await elsewhere.forward({
        vendor: 'stripe',
        share: KEY,
        method: 'GET',
        pathAndQuery: '/',
        headers: {},
      });
      expect(refused).toMatchObject({
        reason: 'upstream_unavailable',
        message: expect.stringContaining('ECONNREFUSED'),
      });
      expect(refused).toBeInstanceOf(UnsentDenial);
    } finally {
      await elsewhere.close(true);
    }
  });

  // Tenth round: the head was dropped with the rest, and the record lost the vendor's status and
  // request id; the message said the API "could not be reached".
  it('keeps the head of an answer whose connection drops mid-body, and says the call may have taken effect', async () => {
    const cut = await upstreams.forward({
      vendor: 'stripe',
      share: KEY,
      method: 'POST',
      pathAndQuery: '/half',
      headers: {},
    });
    expect(cut).toBeInstanceOf(CutAnswer);
    expect(cut).not.toBeInstanceOf(UnsentDenial);
    const { head } = cut as CutAnswer;
    expect(head.status).toBe(200);
    expect(head.headers['request-id']).toBe('req_half');
    expect(head.body.toString()).toBe('{"a":');
    expect(cut).toMatchObject({
      reason: 'upstream_unavailable',
      message:
        'The stripe API answered HTTP 200, then its connection dropped before the whole answer arrived, so Keybrake withheld it. The call may have taken effect.',
    });
  });

  // A connection that drops after the request was written is not unsent: the vendor may have acted.
  it('answers upstream_unavailable, not marked unsent, when the vendor drops the connection after the request', async () => {
    const dropping = createServer((req) => req.socket.destroy());
    dropping.listen(0, '127.0.0.1');
    await once(dropping, 'listening');
    const { port } = dropping.address() as AddressInfo;
    const elsewhere = createUpstreams(
      { ...DEFAULT_UPSTREAMS, stripe: `http://127.0.0.1:${port}` },
      { timeoutMs: 500 },
    );
    try {
      const dropped = await elsewhere.forward({
        vendor: 'stripe',
        share: KEY,
        method: 'POST',
        pathAndQuery: '/',
        headers: {},
      });
      expect(dropped).toMatchObject({ reason: 'upstream_unavailable' });
      expect(dropped).not.toBeInstanceOf(UnsentDenial);
    } finally {
      await elsewhere.close(true);
      dropping.close();
    }
  });
});

// Fifth round: a call waited in undici's queue, with no deadline, behind connections an agent held
// with its own slow reads, and reached the vendor after its lease had lapsed; a trickled answer held
// a call 115 s against a 5 s timeout (undici's body timeout measures the gaps between chunks).
describe('createUpstreams: time on the way to a connection and on the answer', () => {
  const TIMEOUT = 300;
  const seen: string[] = [];
  const arrivals = new Map<string, () => void>();
  let head = gate();
  let end = gate();
  const server = createServer((req, res) => {
    const path = req.url ?? '/';
    seen.push(path);
    arrivals.get(path)?.();
    if (path === '/hold') {
      void head.promise.then(() => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{');
        return end.promise.then(() => res.end('}'));
      });
      return;
    }
    if (path === '/trickle') {
      res.writeHead(200, { 'content-type': 'application/json' });
      const drip = setInterval(() => res.write(' '), TIMEOUT / 6);
      res.on('close', () => clearInterval(drip));
      return;
    }
    if (path === '/processing') {
      // Interim answers for four timeouts, each well within undici's headers timeout of the last,
      // then the final one: only a deadline measured from the sending stops the call before it.
      let interim = 0;
      const drip = setInterval(() => {
        if (++interim <= 24) return res.writeProcessing();
        clearInterval(drip);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
      }, TIMEOUT / 6);
      res.on('close', () => clearInterval(drip));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{}');
  });
  let upstreams: ReturnType<typeof createUpstreams>;
  const arrived = (path: string) => new Promise<void>((resolve) => arrivals.set(path, resolve));
  const call = (path: string, admit?: (answerMs: number) => Denial | undefined, share = KEY) =>
    upstreams.forward({
      vendor: 'stripe',
      share,
      method: 'POST',
      pathAndQuery: path,
      headers: {},
      ...(admit ? { admit } : {}),
    });

  beforeAll(async () => {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    upstreams = createUpstreams(
      { ...DEFAULT_UPSTREAMS, stripe: `http://127.0.0.1:${port}` },
      { timeoutMs: TIMEOUT, connections: 1 },
    );
  });
  afterAll(async () => {
    head.open();
    end.open();
    await upstreams.close(true);
    server.closeAllConnections();
    server.close();
  });

  it('asks admit, with the upstream timeout, as the call gets its connection, and sends nothing it refuses', async () => {
    seen.length = 0;
    const asked: number[] = [];
    const refused = await call('/refused', (answerMs) => {
      asked.push(answerMs);
      return deny('object_busy', 'lapsed');
    });
    expect(refused).toBeInstanceOf(UnsentDenial);
    expect(refused).toMatchObject({ reason: 'object_busy', message: 'lapsed' });
    expect(await call('/admitted', (answerMs) => void asked.push(answerMs))).toMatchObject({ status: 200 });
    expect(asked).toEqual([TIMEOUT, TIMEOUT]);
    expect(seen).toEqual(['/admitted']);
  });

  it('withdraws a call that waited the upstream timeout for a connection: unsent, and never sent later', async () => {
    seen.length = 0;
    head = gate();
    end = gate();
    const holding = arrived('/hold');
    // Another key's: the late call is within its own key's share, and waits in undici's queue.
    const hold = call('/hold', undefined, 'agents/other');
    await holding;
    const late = call('/late');
    // The held call's answer starts only now: its connection stays busy past the late call's wait.
    head.open();
    const withdrawn = await late;
    expect(withdrawn).toBeInstanceOf(UnsentDenial);
    expect(withdrawn).toMatchObject({
      reason: 'upstream_unavailable',
      message: expect.stringContaining(`Every connection to the stripe API stayed busy for ${TIMEOUT} ms`),
    });
    end.open();
    await hold;
    // The connection is free again; the withdrawn call was ahead of this one and was dropped.
    expect(await call('/after')).toMatchObject({ status: 200 });
    expect(seen).toEqual(['/hold', '/after']);
  });

  it('bounds a trickled answer as a whole by the upstream timeout: upstream_timeout, kept as sent', async () => {
    const res = await call('/trickle');
    expect(res).toMatchObject({ reason: 'upstream_timeout', message: expect.stringMatching(/HTTP 200/) });
    expect(res).not.toBeInstanceOf(UnsentDenial);
    // Its head came: the record names the vendor's status (tenth round).
    expect(res).toBeInstanceOf(CutAnswer);
    expect((res as CutAnswer).head.status).toBe(200);
  });

  // Sixth round: `102 Processing` once a second held a call 46 s against --upstream-timeout 3000.
  it("bounds the final answer's head by the upstream timeout from the sending, however many 1xx come first", async () => {
    const res = await call('/processing');
    expect(res).toMatchObject({
      reason: 'upstream_timeout',
      message: `The stripe API did not answer within ${TIMEOUT} ms.`,
    });
    expect(res).not.toBeInstanceOf(UnsentDenial);
  });
});

// Fifth round: one pool per vendor host served every key, so one key's 200 slow free reads made
// another namespace's read wait 19 s; and a call whose client had closed its socket still waited for
// a connection and was sent 139 s later, its answer read by nobody.
describe("createUpstreams: a key's share of the connections, and a client gone before its call is sent", () => {
  const origins = holdingOrigins('stripe');
  const { seen, arrived, release } = origins;
  let upstreams: ReturnType<typeof createUpstreams>;
  const call = (
    path: string,
    share: string,
    signal?: AbortSignal,
    confirm?: () => Promise<Denial | undefined>,
  ) =>
    upstreams.forward({
      vendor: 'stripe',
      share,
      method: 'POST',
      pathAndQuery: path,
      headers: {},
      ...(signal ? { signal } : {}),
      ...(confirm ? { confirm } : {}),
    });
  /** A call of `share` holding a connection at the upstream until released: its answer, once it is there. */
  const holding = (path: string, share: string) => origins.held(path, () => call(path, share));

  beforeAll(async () => {
    // Three connections, one per key: a key holding its share leaves two to the others.
    upstreams = createUpstreams(
      await origins.listen(),
      // Room at the upstreams for the three calls one key has there at once.
      {
        timeoutMs: 5_000,
        connections: 3,
        connectionsPerKey: 1,
        budget: { callsPerKey: 3, bytesPerKey: 1_000, bytes: 3_000 },
      },
    );
  });
  afterAll(() => origins.close(upstreams));

  it("sends another key's call while one key holds its share and more of its calls wait", async () => {
    seen.length = 0;
    const { answer: first } = await holding('/hold-a1', 'agents/a');
    // Queued behind the held one, in key a's own queue: it takes none of the free connections.
    const second = call('/hold-a2', 'agents/a');
    const third = call('/a3', 'agents/a');
    expect(await call('/b1', 'other/b')).toMatchObject({ status: 200 });
    expect(await call('/c1', 'other/c')).toMatchObject({ status: 200 });
    expect(seen).toEqual(['/hold-a1', '/b1', '/c1']);
    // Key a's calls go in their order as its own connection comes free.
    const secondThere = arrived('/hold-a2');
    release('/hold-a1');
    expect(await first).toMatchObject({ status: 200 });
    await secondThere;
    release('/hold-a2');
    expect(await second).toMatchObject({ status: 200 });
    expect(await third).toMatchObject({ status: 200 });
    expect(seen).toEqual(['/hold-a1', '/b1', '/c1', '/hold-a2', '/a3']);
  });

  it("never sends a call whose client went away while it waited in its key's queue", async () => {
    seen.length = 0;
    const { answer: first } = await holding('/hold-d1', 'agents/d');
    const client = new AbortController();
    const queued = call('/d2', 'agents/d', client.signal);
    client.abort();
    const dropped = await queued;
    expect(dropped).toBeInstanceOf(UnsentDenial);
    expect(dropped).toMatchObject({ reason: 'request_invalid' });
    release('/hold-d1');
    await first;
    // The key's slot went to the next call, not to the dropped one.
    expect(await call('/d3', 'agents/d')).toMatchObject({ status: 200 });
    expect(seen).toEqual(['/hold-d1', '/d3']);
  });

  it("never sends a call whose client went away while it waited in the pool's queue", async () => {
    seen.length = 0;
    const all = [
      await holding('/hold-e1', 'agents/e'),
      await holding('/hold-f1', 'agents/f'),
      await holding('/hold-g1', 'agents/g'),
    ];
    // Every connection is busy: key h's call is within its share and waits for one in undici.
    const client = new AbortController();
    const queued = call('/h1', 'agents/h', client.signal);
    client.abort();
    expect(await queued).toMatchObject({ reason: 'request_invalid' });
    release('/hold-e1');
    release('/hold-f1');
    release('/hold-g1');
    await Promise.all(all.map((held) => held.answer));
    expect(await call('/h2', 'agents/h')).toMatchObject({ status: 200 });
    expect(seen).toEqual(['/hold-e1', '/hold-f1', '/hold-g1', '/h2']);
  });

  // Ninth round: Redis lost a confirm's lease while it waited behind its key's slow reads, another
  // replica raised the amount, and the confirm was sent once its turn came.
  it("asks confirm only of a call that waited in its key's queue, when its turn comes, and sends nothing it refuses", async () => {
    seen.length = 0;
    const asked: string[] = [];
    const confirmed = (path: string, refusal?: Denial) => () => {
      asked.push(path);
      return Promise.resolve(refusal);
    };
    expect(await call('/j0', 'agents/j', undefined, confirmed('/j0'))).toMatchObject({ status: 200 });
    const { answer: first } = await holding('/hold-j1', 'agents/j');
    const refused = call('/j2', 'agents/j', undefined, confirmed('/j2', deny('object_busy', 'lost')));
    const passed = call('/j3', 'agents/j', undefined, confirmed('/j3'));
    expect(asked).toEqual([]);
    release('/hold-j1');
    await first;
    const dropped = await refused;
    expect(dropped).toBeInstanceOf(UnsentDenial);
    expect(dropped).toMatchObject({ reason: 'object_busy', message: 'lost' });
    expect(await passed).toMatchObject({ status: 200 });
    expect(asked).toEqual(['/j2', '/j3']);
    expect(seen).toEqual(['/j0', '/hold-j1', '/j3']);
  });

  it('sends nothing for a client gone before the call reaches the pool, and finishes one sent before its client went', async () => {
    seen.length = 0;
    const gone = new AbortController();
    gone.abort();
    expect(await call('/i1', 'agents/i', gone.signal)).toMatchObject({ reason: 'request_invalid' });
    const late = new AbortController();
    const sent = arrived('/hold-i2');
    const answer = call('/hold-i2', 'agents/i', late.signal);
    await sent;
    late.abort();
    release('/hold-i2');
    expect(await answer).toMatchObject({ status: 200 });
    expect(seen).toEqual(['/hold-i2']);
  });
});

describe("createUpstreams: what one key's calls at the upstreams may hold, over every origin", () => {
  // Two origins, as Twilio's hosts are: each with a pool, and a share for each key, of its own.
  const origins = holdingOrigins('stripe', 'resend');
  const { seen, release } = origins;
  let upstreams: ReturnType<typeof createUpstreams>;
  const call = (vendor: 'stripe' | 'resend', path: string, share: string, bytes = 0) =>
    upstreams.forward({
      vendor,
      share,
      method: 'POST',
      pathAndQuery: path,
      headers: {},
      ...(bytes > 0 ? { body: Buffer.alloc(bytes, 'x') } : {}),
    });
  const holding = (vendor: 'stripe' | 'resend', path: string, share: string, bytes = 0) =>
    origins.held(path, () => call(vendor, path, share, bytes));

  beforeAll(async () => {
    upstreams = createUpstreams(await origins.listen(), {
      timeoutMs: 5_000,
      connections: 4,
      connectionsPerKey: 1,
      budget: { callsPerKey: 2, bytesPerKey: 1_000, bytes: 1_500 },
    });
  });
  afterAll(() => origins.close(upstreams));

  it("refuses at once, unsent, a key's call past its calls on both origins, and sends another key's", async () => {
    seen.length = 0;
    const { answer: first } = await holding('stripe', '/hold-a1', 'agents/a');
    const { answer: second } = await holding('resend', '/hold-a2', 'agents/a');
    // Its share of the first origin is busy: before, this call waited there for the upstream timeout.
    const refused = await call('stripe', '/a3', 'agents/a');
    expect(refused).toBeInstanceOf(UnsentDenial);
    expect(refused).toMatchObject({
      reason: 'upstream_unavailable',
      message: expect.stringContaining('already has 2 calls at the stripe API'),
    });
    expect(await call('stripe', '/b1', 'other/b')).toMatchObject({ status: 200 });
    release('/hold-a1');
    expect(await first).toMatchObject({ status: 200 });
    // The call given back leaves room for the next.
    expect(await call('stripe', '/a4', 'agents/a')).toMatchObject({ status: 200 });
    release('/hold-a2');
    expect(await second).toMatchObject({ status: 200 });
    expect(seen).toEqual(['/hold-a1', '/hold-a2', '/b1', '/a4']);
  });

  it("refuses a key's call whose body its calls have no room for, while one that fits waits its turn", async () => {
    seen.length = 0;
    const { answer: first } = await holding('stripe', '/hold-c1', 'agents/c', 600);
    expect(await call('resend', '/c2', 'agents/c', 401)).toMatchObject({
      reason: 'upstream_unavailable',
      message: expect.stringContaining('more than 1000 bytes of request bodies'),
    });
    const waiting = call('stripe', '/c3', 'agents/c', 400);
    // Every key's bodies together: a second key's call would pass 1 500 bytes; its first call fits.
    const { answer: other } = await holding('resend', '/hold-d1', 'other/d', 600);
    expect(await call('resend', '/d2', 'other/d', 301)).toMatchObject({
      reason: 'upstream_unavailable',
      message: expect.stringContaining("the vendors' APIs would hold more than 1500 bytes"),
    });
    release('/hold-c1');
    expect(await first).toMatchObject({ status: 200 });
    expect(await waiting).toMatchObject({ status: 200 });
    release('/hold-d1');
    expect(await other).toMatchObject({ status: 200 });
    expect(seen).toEqual(['/hold-c1', '/hold-d1', '/c3']);
  });
});

/**
 * Loopback stand-ins for the origins of `vendors`, one server each: they answer `{}` at once, or,
 * for a path starting `/hold`, once the test releases it; `seen` keeps every path they received, in
 * order.
 */
function holdingOrigins(...vendors: (keyof typeof DEFAULT_UPSTREAMS)[]) {
  const seen: string[] = [];
  const arrivals = new Map<string, () => void>();
  const held = new Map<string, () => void>();
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? '/';
    seen.push(path);
    arrivals.get(path)?.();
    const answer = () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    };
    if (path.startsWith('/hold')) held.set(path, answer);
    else answer();
  };
  const servers = vendors.map(() => createServer(handler));
  /** Resolves once a request for `path` arrives: ask before sending it. */
  const arrived = (path: string) => new Promise<void>((resolve) => arrivals.set(path, resolve));
  return {
    seen,
    arrived,
    release(path: string) {
      held.get(path)!();
      held.delete(path);
    },
    /** Sends a call with `send`; once it is at the origin, its answer to come. */
    async held<T>(path: string, send: () => T): Promise<{ answer: T }> {
      const there = arrived(path);
      const answer = send();
      await there;
      return { answer };
    },
    /** Starts listening: the default upstreams, with each of `vendors` at its server. */
    async listen() {
      const config = { ...DEFAULT_UPSTREAMS };
      await Promise.all(
        servers.map(async (server, i) => {
          server.listen(0, '127.0.0.1');
          await once(server, 'listening');
          config[vendors[i]!] = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        }),
      );
      return config;
    },
    /** Answers every call still held, closes `upstreams` (made over these origins), then the servers. */
    async close(upstreams: ReturnType<typeof createUpstreams>) {
      for (const answer of held.values()) answer();
      await upstreams.close(true);
      for (const server of servers) {
        server.closeAllConnections();
        server.close();
      }
    },
  };
}

/** A promise with its resolver. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}
