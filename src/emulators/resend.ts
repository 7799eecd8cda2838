import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { createRecorder, type EmulatorHandle, readBody, sendJson, serveEmulator } from './recorder.ts';

export interface ResendEmulatorOptions {
  /** 0 (default) picks a free port. */
  readonly port?: number;
  /** Accepted `re_…` keys. */
  readonly apiKeys?: readonly string[];
  /** Off for benchmarks, where recording every request would only grow memory. */
  readonly record?: boolean;
}

type Obj = Record<string, unknown>;

/** What a broadcast send delivered: the oracle a test compares Keybrake's price with. */
export interface BroadcastDelivery {
  readonly broadcastId: string;
  readonly segmentId: string;
  /** Every contact of the segment when the send was accepted (Resend skips unsubscribed ones). */
  readonly contacts: readonly string[];
}

/** A request held until the test releases it (for deterministic tests of calls in flight). */
export interface HeldRequest {
  /** Resolves when the request has arrived and is being held. */
  readonly arrived: Promise<void>;
  /** Lets the held request be answered. */
  release(): void;
}

/** A running Resend emulator, handed to e2e tests, the demo and the benchmark. */
export interface ResendEmulator extends EmulatorHandle {
  /**
   * Stores an object Resend would already hold (a received email, a webhook and its events, a log, a
   * contact import), under the collection path that lists it (`/emails/receiving`,
   * `/webhooks/<id>/events`); returns its id.
   */
  seed(collection: string, object: Obj): string;
  /** A segment with one contact per address (created directly, as if imported earlier); returns its id. */
  seedSegment(name: string, emails: readonly string[]): string;
  /** Every broadcast send accepted so far, in order. */
  readonly deliveries: readonly BroadcastDelivery[];
  /** Holds the next request with this method and path (no query) until `release()`. */
  hold(method: string, path: string): HeldRequest;
}

export const RESEND_EMULATOR_KEY = 're_emulator_0000000000000000';

interface Reply {
  readonly status: number;
  readonly body: unknown;
}

/**
 * The collections Resend lists, by path template (`{}` is one id), and the `object` name of their
 * members. Any other path is answered 404, as Resend does.
 */
const COLLECTIONS: readonly (readonly [string, string])[] = [
  ['/emails', 'email'],
  ['/emails/receiving', 'email'],
  ['/emails/{}/attachments', 'attachment'],
  ['/emails/receiving/{}/attachments', 'attachment'],
  ['/broadcasts', 'broadcast'],
  ['/broadcasts/{}/recipients', 'broadcast_recipient'],
  ['/broadcasts/{}/clicked-links', 'clicked_link'],
  ['/segments', 'segment'],
  ['/contacts', 'contact'],
  ['/contacts/imports', 'contact_import'],
  ['/contacts/{}/topics', 'topic'],
  ['/contact-properties', 'contact_property'],
  ['/domains', 'domain'],
  ['/templates', 'template'],
  ['/topics', 'topic'],
  ['/webhooks', 'webhook'],
  ['/webhooks/{}/events', 'webhook_event'],
  ['/webhooks/{}/events/{}/attempts', 'webhook_attempt'],
  ['/api-keys', 'api_key'],
  ['/automations', 'automation'],
  ['/automations/{}/runs', 'automation_run'],
  ['/events', 'event'],
  ['/suppressions', 'suppression'],
  ['/logs', 'log'],
  ['/oauth/grants', 'oauth_grant'],
];

const compiled = COLLECTIONS.map(([template, object]) => {
  const body = template.replace(/\{\}/g, '[^/]+');
  return {
    object,
    list: new RegExp(`^${body}$`),
    item: new RegExp(`^(${body})/([^/]+)$`),
    action: new RegExp(`^(${body})/([^/]+)/([a-z-]+)$`),
  };
});

/** Fields a member of a collection has before anything is written to it. */
function defaults(object: string): Obj {
  switch (object) {
    case 'domain':
      return {
        status: 'not_started',
        region: 'us-east-1',
        records: [
          {
            record: 'SPF',
            name: 'send',
            type: 'MX',
            ttl: 'Auto',
            status: 'not_started',
            value: 'feedback-smtp.us-east-1.amazonses.com',
            priority: 10,
          },
        ],
        capabilities: { sending: 'enabled', receiving: 'disabled' },
      };
    case 'api_key':
      return { token: `re_${randomUUID().replace(/-/g, '')}` };
    case 'webhook':
      return { status: 'enabled', events: [], signing_secret: `whsec_${randomUUID().replace(/-/g, '')}` };
    case 'automation':
      return { status: 'disabled', steps: [], connections: [], updated_at: null };
    case 'template':
      return { status: 'draft', published_at: null, variables: [] };
    case 'topic':
      return { default_subscription: 'opt_in', description: null };
    case 'suppression':
      return { origin: 'manual', source_id: null };
    case 'contact':
      return { unsubscribed: false, first_name: null, last_name: null, properties: {} };
    case 'contact_import':
      return {
        status: 'queued',
        counts: { total: 0, created: 0, updated: 0, skipped: 0, failed: 0 },
        completed_at: null,
      };
    default:
      return {};
  }
}

/**
 * Stands in for `https://api.resend.com` (configure `--upstream resend=http://127.0.0.1:PORT`): sends
 * and batches email, and keeps broadcasts, segments, contacts, domains and every other collection
 * resend-node and resend-mcp reach, with Resend's auth, list pagination (`limit` 1–100, `after`,
 * `has_more`) and `{statusCode,name,message}` errors. A broadcast send delivers to every contact its
 * segment has at that moment (recorded in `deliveries`). Imports nothing of Keybrake.
 */
export async function startResendEmulator(opts: ResendEmulatorOptions = {}): Promise<ResendEmulator> {
  const keys = new Set(opts.apiKeys ?? [RESEND_EMULATOR_KEY]);
  const record = opts.record ?? true;
  const recorder = createRecorder();
  /** Collection path (`/webhooks/<id>/events`) → id → object, in insertion order. */
  const store = new Map<string, Map<string, Obj>>();
  /** Segment id → contact ids, in the order they joined. */
  const members = new Map<string, Set<string>>();
  const deliveries: BroadcastDelivery[] = [];
  const holds: { method: string; path: string; arrived: () => void; released: Promise<void> }[] = [];

  const collection = (path: string): Map<string, Obj> => {
    let c = store.get(path);
    if (!c) {
      c = new Map();
      store.set(path, c);
    }
    return c;
  };
  const now = () => new Date().toISOString();

  function insert(path: string, object: string, fields: Obj): Obj {
    const id = typeof fields['id'] === 'string' ? fields['id'] : randomUUID();
    const stored = { object, ...defaults(object), created_at: now(), ...fields, id };
    collection(path).set(id, stored);
    return stored;
  }

  /** An object by id, or (contacts, suppressions: by email; events: by name) by its other key. */
  function find(path: string, key: string): Obj | undefined {
    const c = store.get(path);
    if (!c) return undefined;
    const byId = c.get(key);
    if (byId) return byId;
    for (const o of c.values()) if (o['email'] === key || o['name'] === key) return o;
    return undefined;
  }

  function list(items: readonly Obj[], query: URLSearchParams): Reply {
    const limitText = query.get('limit');
    const limit = limitText === null ? undefined : Number(limitText);
    if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1 && limit <= 100)) {
      return error(422, 'validation_error', 'limit must be a whole number from 1 to 100.');
    }
    const after = query.get('after');
    let start = 0;
    if (after !== null) {
      const at = items.findIndex((o) => o['id'] === after);
      if (at === -1) return error(422, 'validation_error', 'The after cursor is not an id of this list.');
      start = at + 1;
    }
    // Without a limit an "existing" list endpoint answers everything at once.
    const data = items.slice(start, limit === undefined ? undefined : start + limit);
    return { status: 200, body: { object: 'list', data, has_more: start + data.length < items.length } };
  }

  function createContact(body: Obj, segments: readonly string[]): Reply {
    if (typeof body['email'] !== 'string')
      return error(422, 'missing_required_field', 'Missing `email` field.');
    const { segments: _s, audience_id: _a, topics: _t, ...fields } = body;
    const contact = insert('/contacts', 'contact', fields);
    for (const s of segments) join(s, contact['id'] as string);
    return { status: 200, body: { object: 'contact', id: contact['id'] } };
  }

  function join(segment: string, contact: string): void {
    let set = members.get(segment);
    if (!set) {
      set = new Set();
      members.set(segment, set);
    }
    set.add(contact);
  }

  function segmentContacts(segment: string): Obj[] {
    return [...(members.get(segment) ?? [])].flatMap((id) => {
      const c = store.get('/contacts')?.get(id);
      return c ? [c] : [];
    });
  }

  /** A broadcast goes out to its segment as it is now; returns a reply when it cannot. */
  function deliver(broadcast: Obj): Reply | undefined {
    const segment = (broadcast['segment_id'] ?? broadcast['audience_id']) as string | null | undefined;
    if (!segment || !store.get('/segments')?.has(segment)) {
      return error(422, 'validation_error', 'The broadcast has no segment to send to.');
    }
    if (broadcast['status'] !== 'draft')
      return error(422, 'validation_error', 'The broadcast was already sent.');
    const contacts = segmentContacts(segment);
    deliveries.push({
      broadcastId: broadcast['id'] as string,
      segmentId: segment,
      contacts: contacts.map((c) => c['email'] as string),
    });
    const recipients = collection(`/broadcasts/${broadcast['id']}/recipients`);
    for (const c of contacts) {
      if (c['unsubscribed'] === true) continue;
      const id = randomUUID();
      recipients.set(id, {
        object: 'broadcast_recipient',
        id,
        email: c['email'],
        contact_id: c['id'],
        type: 'delivered',
        created_at: now(),
      });
    }
    broadcast['status'] = 'queued';
    broadcast['sent_at'] = now();
    return undefined;
  }

  function sendEmail(input: unknown): Obj | Reply {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      return error(422, 'validation_error', 'The email must be an object.');
    }
    const email = input as Obj;
    for (const field of ['from', 'to', 'subject']) {
      if (email[field] === undefined)
        return error(422, 'missing_required_field', `Missing \`${field}\` field.`);
    }
    const id = randomUUID();
    const listOf = (v: unknown) => (v === undefined ? null : Array.isArray(v) ? v : [v]);
    const scheduled = email['scheduled_at'] ?? null;
    insert('/emails', 'email', {
      id,
      from: email['from'],
      to: listOf(email['to']),
      cc: listOf(email['cc']),
      bcc: listOf(email['bcc']),
      reply_to: listOf(email['reply_to']),
      subject: email['subject'],
      html: email['html'] ?? null,
      text: email['text'] ?? null,
      tags: email['tags'] ?? null,
      scheduled_at: scheduled,
      last_event: scheduled === null ? 'delivered' : 'scheduled',
    });
    for (const a of Array.isArray(email['attachments']) ? (email['attachments'] as Obj[]) : []) {
      const content = typeof a['content'] === 'string' ? a['content'] : '';
      insert(`/emails/${id}/attachments`, 'attachment', {
        filename: a['filename'] ?? 'attachment',
        content_type: a['content_type'] ?? 'application/octet-stream',
        content_disposition: 'attachment',
        content_id: null,
        size: Buffer.from(content, 'base64').length,
        download_url: `https://attachments.emulator.invalid/${id}/${a['filename'] ?? 'attachment'}`,
        expires_at: new Date(Date.now() + 3_600_000).toISOString(),
      });
    }
    return { id };
  }

  type Handler = (m: RegExpExecArray, query: URLSearchParams, body: Obj, method: string) => Reply;

  /** The endpoints with more to them than storing and listing, first match wins; else the collections. */
  const routes: readonly (readonly [string, RegExp, Handler])[] = [
    [
      'POST',
      /^\/emails$/,
      (_m, _q, body) => {
        const sent = sendEmail(body);
        return 'status' in sent ? (sent as Reply) : ok(sent);
      },
    ],
    [
      'POST',
      /^\/emails\/batch$/,
      (_m, _q, body) => {
        const items = body['$items'];
        if (!Array.isArray(items)) return error(422, 'validation_error', 'The batch must be an array.');
        const data: unknown[] = [];
        for (const item of items) {
          const sent = sendEmail(item);
          if ('status' in sent) return sent as Reply;
          data.push(sent);
        }
        return ok({ data });
      },
    ],
    [
      'GET',
      /^\/emails\/metrics$/,
      (_m, query) =>
        ok({
          object: 'metrics',
          start_date: query.get('start_date'),
          end_date: query.get('end_date'),
          granularity: 'day',
          dimensions: [],
          totals: { sent: 0, delivered: 0 },
          metrics: [],
        }),
    ],
    [
      'PATCH',
      /^\/emails\/([^/]+)$/,
      (m, _q, body) => {
        const email = find('/emails', m[1]!);
        if (!email) return notFound('Email');
        email['scheduled_at'] = body['scheduled_at'] ?? null;
        return ok({ object: 'email', id: email['id'] });
      },
    ],
    [
      'POST',
      /^\/emails\/([^/]+)\/cancel$/,
      (m) => {
        const email = find('/emails', m[1]!);
        if (!email) return notFound('Email');
        email['last_event'] = 'canceled';
        return ok({ object: 'email', id: email['id'] });
      },
    ],
    [
      'POST',
      /^\/broadcasts$/,
      (_m, _q, body) => {
        const { send, ...fields } = body;
        const segment = fields['segment_id'] ?? fields['audience_id'] ?? null;
        const broadcast = insert('/broadcasts', 'broadcast', {
          name: null,
          from: null,
          subject: null,
          reply_to: null,
          preview_text: null,
          html: null,
          text: null,
          topic_id: null,
          scheduled_at: null,
          sent_at: null,
          ...fields,
          segment_id: segment,
          audience_id: segment,
          status: 'draft',
        });
        if (send === true) {
          const refused = deliver(broadcast);
          if (refused) return refused;
        }
        return ok({ id: broadcast['id'] });
      },
    ],
    [
      'POST',
      /^\/broadcasts\/([^/]+)\/send$/,
      (m) => {
        const broadcast = find('/broadcasts', m[1]!);
        if (!broadcast) return notFound('Broadcast');
        return deliver(broadcast) ?? ok({ id: broadcast['id'] });
      },
    ],
    [
      'PATCH',
      /^\/broadcasts\/([^/]+)$/,
      (m, _q, body) => {
        const broadcast = find('/broadcasts', m[1]!);
        if (!broadcast) return notFound('Broadcast');
        if (broadcast['status'] !== 'draft') {
          return error(422, 'validation_error', 'Only a draft broadcast can be edited.');
        }
        for (const [k, v] of Object.entries(body)) if (v !== undefined) broadcast[k] = v;
        const segment = body['segment_id'] ?? body['audience_id'];
        if (segment !== undefined) {
          broadcast['segment_id'] = segment;
          broadcast['audience_id'] = segment;
        }
        return ok({ object: 'broadcast', id: broadcast['id'] });
      },
    ],
    [
      'POST',
      /^\/broadcasts\/([^/]+)\/(cancel|duplicate)$/,
      (m) => {
        const broadcast = find('/broadcasts', m[1]!);
        if (!broadcast) return notFound('Broadcast');
        if (m[2] === 'cancel') {
          broadcast['status'] = 'draft';
          return ok({ object: 'broadcast', id: broadcast['id'] });
        }
        const { id: _id, created_at: _c, ...copy } = broadcast;
        const dup = insert('/broadcasts', 'broadcast', { ...copy, status: 'draft', sent_at: null });
        return ok({ object: 'broadcast', id: dup['id'] });
      },
    ],
    [
      'GET',
      /^\/segments\/([^/]+)\/contacts$/,
      (m, query) =>
        store.get('/segments')?.has(m[1]!) ? list(segmentContacts(m[1]!), query) : notFound('Segment'),
    ],
    [
      'POST',
      /^\/contacts$/,
      (_m, _q, body) => {
        const segments = Array.isArray(body['segments'])
          ? (body['segments'] as unknown[]).map((s) => (typeof s === 'string' ? s : String((s as Obj)['id'])))
          : [];
        if (typeof body['audience_id'] === 'string') segments.push(body['audience_id']);
        return createContact(body, segments);
      },
    ],
    ['POST', /^\/audiences\/([^/]+)\/contacts$/, (m, _q, body) => createContact(body, [m[1]!])],
    [
      '*',
      /^\/audiences\/[^/]+\/contacts\/([^/]+)$/,
      (m, query, body, method) => route(method, `/contacts/${m[1]}`, query, body),
    ],
    [
      '*',
      /^\/contacts\/([^/]+)\/segments\/([^/]+)$/,
      (m, _q, _b, method) => {
        const contact = find('/contacts', m[1]!);
        if (!contact) return notFound('Contact');
        if (!store.get('/segments')?.has(m[2]!)) return notFound('Segment');
        if (method === 'POST') join(m[2]!, contact['id'] as string);
        else if (method === 'DELETE') members.get(m[2]!)?.delete(contact['id'] as string);
        else return notFound('Endpoint');
        return ok({ id: m[2], ...(method === 'DELETE' ? { deleted: true } : {}) });
      },
    ],
    [
      'GET',
      /^\/contacts\/([^/]+)\/segments$/,
      (m, query) => {
        const contact = find('/contacts', m[1]!);
        if (!contact) return notFound('Contact');
        const segments = [...(store.get('/segments')?.values() ?? [])].filter((s) =>
          members.get(s['id'] as string)?.has(contact['id'] as string),
        );
        return list(segments, query);
      },
    ],
    [
      '*',
      /^\/contacts\/([^/]+)\/topics$/,
      (m, query, body, method) => {
        const contact = find('/contacts', m[1]!);
        if (!contact) return notFound('Contact');
        const topics = collection(`/contacts/${contact['id']}/topics`);
        if (method === 'GET') return list([...topics.values()], query);
        for (const t of Array.isArray(body['$items']) ? (body['$items'] as Obj[]) : []) {
          const topic = find('/topics', String(t['id']));
          topics.set(String(t['id']), {
            id: t['id'],
            name: topic?.['name'] ?? null,
            subscription: t['subscription'],
          });
        }
        return ok({ id: contact['id'] });
      },
    ],
    [
      'DELETE',
      /^\/contacts\/([^/]+)$/,
      (m) => {
        const contact = find('/contacts', m[1]!);
        if (!contact) return notFound('Contact');
        store.get('/contacts')!.delete(contact['id'] as string);
        for (const set of members.values()) set.delete(contact['id'] as string);
        return ok({ object: 'contact', contact: contact['id'], deleted: true });
      },
    ],
    [
      'POST',
      /^\/contacts\/imports$/,
      // A multipart upload: stored as queued, its rows are not read.
      () => ok({ object: 'contact_import', id: insert('/contacts/imports', 'contact_import', {})['id'] }),
    ],
    [
      'POST',
      /^\/suppressions\/batch\/(add|remove)$/,
      (m, _q, body) => {
        const emails = Array.isArray(body['emails']) ? (body['emails'] as string[]) : [];
        const ids = Array.isArray(body['ids']) ? (body['ids'] as string[]) : [];
        const data =
          m[1] === 'add'
            ? emails.map((email) => ({ id: insert('/suppressions', 'suppression', { email })['id'] }))
            : [...emails, ...ids].flatMap((key) => {
                const s = find('/suppressions', key);
                if (!s) return [];
                store.get('/suppressions')!.delete(s['id'] as string);
                return [{ id: s['id'] }];
              });
        return ok({ object: 'list', data });
      },
    ],
    [
      'POST',
      /^\/events\/send$/,
      (_m, _q, body) =>
        typeof body['event'] === 'string'
          ? ok({ object: 'event', id: randomUUID() })
          : error(422, 'missing_required_field', 'Missing `event` field.'),
    ],
    [
      'POST',
      /^\/domains\/claim$/,
      (_m, _q, body) => claimOf(insert('/domains', 'domain', { ...body, status: 'pending_claim' })),
    ],
    [
      '*',
      /^\/domains\/([^/]+)\/claim(\/verify)?$/,
      (m) => {
        const domain = find('/domains', m[1]!);
        return domain ? claimOf(domain) : notFound('Domain');
      },
    ],
    [
      '*',
      /^\/editor\/connections$/,
      (_m, _q, body, method) =>
        ok(
          method === 'POST'
            ? { room_id: `room_${String(body['resource_id'])}`, apiKeyId: 'ek_emulator' }
            : {},
        ),
    ],
    [
      '*',
      /^\/editor\/content$/,
      (_m, _q, body, method) =>
        method === 'GET'
          ? ok({ content: { type: 'doc', content: [] } })
          : ok({ object: String(body['resource_type']), id: body['resource_id'] }),
    ],
  ];

  /** A domain claim (moving a domain from another Resend team): one TXT record proves ownership. */
  function claimOf(domain: Obj): Reply {
    return ok({
      object: 'domain_claim',
      id: `claim_${String(domain['id'])}`,
      domain_id: domain['id'],
      name: domain['name'],
      status: 'pending',
      region: domain['region'],
      expires_at: new Date(Date.now() + 7 * 86_400_000).toISOString(),
      record: {
        type: 'TXT',
        name: `_resend.${String(domain['name'])}`,
        value: `resend-claim=${String(domain['id'])}`,
        ttl: 'Auto',
      },
    });
  }

  function route(method: string, path: string, query: URLSearchParams, body: Obj): Reply {
    for (const [verb, pattern, handler] of routes) {
      if (verb !== '*' && verb !== method) continue;
      const m = pattern.exec(path);
      if (m) return handler(m, query, body, method);
    }
    return generic(method, path, query, body);
  }

  /** Create, list, get, update, delete and `POST …/<id>/<verb>` on the collections. */
  function generic(method: string, path: string, query: URLSearchParams, body: Obj): Reply {
    for (const c of compiled) {
      if (c.list.test(path)) {
        if (method === 'GET') return list([...(store.get(path)?.values() ?? [])], query);
        if (method === 'POST') {
          const created = insert(path, c.object, body);
          return ok(created);
        }
      }
    }
    for (const c of compiled) {
      const m = c.item.exec(path);
      if (!m) continue;
      const o = find(m[1]!, m[2]!);
      if (!o) continue;
      if (method === 'GET') return ok(o);
      if (method === 'PATCH') {
        for (const [k, v] of Object.entries(body)) if (v !== undefined) o[k] = v;
        o['updated_at'] = now();
        return ok({ object: c.object, id: o['id'] });
      }
      if (method === 'DELETE') {
        store.get(m[1]!)!.delete(o['id'] as string);
        return ok({ object: c.object, id: o['id'], deleted: true });
      }
    }
    for (const c of compiled) {
      const m = c.action.exec(path);
      if (!m || method !== 'POST') continue;
      const o = find(m[1]!, m[2]!);
      if (!o) continue;
      if (m[3] === 'duplicate') {
        const { id: _id, created_at: _c, ...copy } = o;
        return ok({ object: c.object, id: insert(m[1]!, c.object, copy)['id'] });
      }
      if (m[3] === 'publish') o['status'] = 'published';
      if (m[3] === 'stop') o['status'] = 'disabled';
      if (m[3] === 'verify') o['status'] = 'pending';
      return ok({ object: c.object, id: o['id'] });
    }
    return error(404, 'not_found', 'The requested endpoint does not exist.');
  }

  function handle(method: string, url: URL, raw: string): Reply {
    let parsed: unknown;
    try {
      parsed = raw.length > 0 ? JSON.parse(raw) : {};
    } catch {
      parsed = {};
      // Only JSON writes are validated: a multipart import carries no JSON.
      if (!url.pathname.startsWith('/contacts/imports'))
        return error(400, 'validation_error', 'Invalid JSON body.');
    }
    const body: Obj = Array.isArray(parsed) ? { $items: parsed } : (parsed as Obj);
    return route(method, url.pathname, url.searchParams, body);
  }

  const server = createServer(async (req, res) => {
    const raw = (await readBody(req).catch(() => Buffer.alloc(0))).toString('utf8');
    if (record) recorder.record(req, Buffer.from(raw));
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://emulator');
    const held = holds.findIndex((h) => h.method === method && h.path === url.pathname);
    if (held !== -1) {
      const [h] = holds.splice(held, 1);
      h!.arrived();
      await h!.released;
    }
    const auth = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    const reply = !auth
      ? error(401, 'missing_api_key', 'Missing API key in the authorization header.')
      : !keys.has(auth[1]!)
        ? error(403, 'invalid_api_key', 'API key is invalid')
        : handle(method, url, raw);
    if (auth && keys.has(auth[1]!) && url.pathname !== '/logs' && !url.pathname.startsWith('/logs/')) {
      insert('/logs', 'log', {
        endpoint: url.pathname,
        method,
        response_status: reply.status,
        user_agent: req.headers['user-agent'] ?? null,
        request_body: null,
        response_body: null,
      });
    }
    sendJson(res, reply.status, reply.body, { 'x-request-id': randomUUID() });
  });
  const served = await serveEmulator(server, recorder, opts.port);
  return {
    ...served,
    deliveries,
    seed(path, object) {
      const name = compiled.find((c) => c.list.test(path))?.object ?? 'object';
      return insert(path, name, object)['id'] as string;
    },
    seedSegment(name, emails) {
      const segment = insert('/segments', 'segment', { name })['id'] as string;
      for (const email of emails) join(segment, insert('/contacts', 'contact', { email })['id'] as string);
      return segment;
    },
    hold(method, path) {
      let arrived!: () => void;
      let release!: () => void;
      const arrivedP = new Promise<void>((r) => {
        arrived = r;
      });
      const released = new Promise<void>((r) => {
        release = r;
      });
      holds.push({ method, path, arrived, released });
      return { arrived: arrivedP, release };
    },
  };
}

function ok(body: unknown): Reply {
  return { status: 200, body };
}

function notFound(what: string): Reply {
  return error(404, 'not_found', `${what} not found`);
}

function error(statusCode: number, name: string, message: string): Reply {
  return { status: statusCode, body: { statusCode, name, message } };
}
