import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { createRecorder, type EmulatorHandle, readBody, sendJson, serveEmulator } from './recorder.ts';

/**
 * A small in-memory Stripe API for tests, the demo and the benchmark: the "upstream" behind the proxy.
 * It answers the calls Keybrake prices (charges, payment intents with confirm/capture, refunds,
 * transfers, payouts, payment links, invoices, customers) with Stripe-shaped objects and errors, keeps
 * the objects so lookups see them, replays idempotent POSTs, and records every request it receives.
 * `payment_method=pm_card_chargeDeclined` (or `source=tok_chargeDeclined`) is declined with a 402.
 */

export interface StripeEmulatorOptions {
  /** 0 or absent: any free port. */
  readonly port?: number;
  /** When set, other keys get Stripe's 401. */
  readonly validKeys?: readonly string[];
}

export type StripeObject = Record<string, unknown> & { readonly id: string; readonly object: string };

export interface StripeEmulator extends EmulatorHandle {
  /** Stores an object as if Stripe held it (e.g. an invoice with `amount_remaining`). */
  seed(object: StripeObject): void;
}

type Params = Record<string, unknown>;
type Reply = readonly [status: number, body: unknown];
type Handler = (ids: string[], p: Params) => Reply;

const DECLINED = new Set(['pm_card_chargeDeclined', 'tok_chargeDeclined']);
const MAX_REPLAYS = 10_000;

/**
 * Stripe's parameters are Rack-style brackets (`metadata[tier]=gold&items[0][price]=p`): decoded with
 * qs, the library stripe-node encodes them with, never with Keybrake's own parser, so the emulator
 * stays an independent check of what the proxy forwards. qs ships no types: this is the call we make.
 */
const qs = createRequire(import.meta.url)('qs') as {
  parse(text: string, options: Record<string, unknown>): Params;
};
const QS_OPTIONS = {
  depth: 8,
  arrayLimit: 1000,
  parameterLimit: 1000,
  strictDepth: true,
  throwOnLimitExceeded: true,
};

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const int = (v: unknown): number | undefined =>
  typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : undefined;
const fail = (status: number, code: string, message: string, extra: Params = {}): Reply => [
  status,
  { error: { type: status === 402 ? 'card_error' : 'invalid_request_error', code, message, ...extra } },
];
const missing = (param: string): Reply =>
  fail(400, 'parameter_missing', `Missing required param: ${param}.`, { param });

/** The account `GET /v1/account` names: the emulator is one Stripe account. */
export const EMULATOR_ACCOUNT = 'acct_1KeybrakeEmulator';

export async function startStripeEmulator(opts: StripeEmulatorOptions = {}): Promise<StripeEmulator> {
  const recorder = createRecorder();
  const objects = new Map<string, StripeObject>();
  const replays = new Map<string, Reply>();
  let seq = 0;

  const create = (prefix: string, object: string, fields: Params): StripeObject => {
    seq += 1;
    const id = `${prefix}_emu${String(seq).padStart(6, '0')}${randomBytes(3).toString('hex')}`;
    const o: StripeObject = {
      id,
      object,
      livemode: false,
      created: Math.floor(Date.now() / 1000),
      ...fields,
    };
    objects.set(id, o);
    return o;
  };
  const find = (id: string | undefined, object: string): StripeObject | undefined => {
    const o = id === undefined ? undefined : objects.get(id);
    return o?.object === object ? o : undefined;
  };
  const noSuch = (object: string, id: string | undefined): Reply =>
    fail(404, 'resource_missing', `No such ${object}: '${id ?? ''}'`);
  const money = (p: Params): { amount: number; currency: string } | Reply => {
    const amount = int(p['amount']);
    const currency = str(p['currency']);
    if (amount === undefined) return missing('amount');
    if (currency === undefined) return missing('currency');
    return { amount, currency: currency.toLowerCase() };
  };
  const newCharge = (amount: number, currency: string, captured: boolean, fields: Params): StripeObject =>
    create('ch', 'charge', {
      amount,
      amount_captured: captured ? amount : 0,
      amount_refunded: 0,
      captured,
      currency,
      paid: true,
      refunded: false,
      status: 'succeeded',
      payment_intent: null,
      ...fields,
    });

  const confirm = (pi: StripeObject, p: Params): Reply => {
    const pm = str(p['payment_method']) ?? str(pi['payment_method']);
    if (!pm)
      return fail(
        400,
        'payment_intent_unexpected_state',
        'You cannot confirm this PaymentIntent because it has no payment method.',
      );
    pi['payment_method'] = pm;
    if (DECLINED.has(pm)) {
      pi['status'] = 'requires_payment_method';
      return fail(402, 'card_declined', 'Your card was declined.', {
        decline_code: 'generic_decline',
        payment_intent: pi,
      });
    }
    const manual = pi['capture_method'] === 'manual';
    const amount = pi['amount'] as number;
    const ch = newCharge(amount, pi['currency'] as string, !manual, {
      customer: pi['customer'],
      payment_intent: pi.id,
    });
    Object.assign(
      pi,
      manual
        ? { status: 'requires_capture', amount_capturable: amount, latest_charge: ch.id }
        : { status: 'succeeded', amount_received: amount, latest_charge: ch.id },
    );
    return [200, pi];
  };

  const routes: [string, RegExp, Handler][] = [
    // The account the key belongs to: Keybrake reads it once per key for its leases (ADR 0007 §5,
    // fourteenth round), as it would from Stripe.
    ['GET', /^\/v1\/account$/, () => [200, { id: EMULATOR_ACCOUNT, object: 'account' }]],
    [
      'POST',
      /^\/v1\/customers$/,
      (_, p) => [
        200,
        create('cus', 'customer', {
          email: p['email'] ?? null,
          name: p['name'] ?? null,
          metadata: p['metadata'] ?? {},
        }),
      ],
    ],
    [
      'GET',
      /^\/v1\/customers$/,
      (_, p) => {
        const data = [...objects.values()]
          .filter((o) => o.object === 'customer')
          .slice(0, int(p['limit']) ?? 10);
        return [200, { object: 'list', data, has_more: false, url: '/v1/customers' }];
      },
    ],
    [
      'POST',
      /^\/v1\/customers\/([^/]+)$/,
      ([id], p) => {
        const c = find(id, 'customer');
        return c ? [200, Object.assign(c, p)] : noSuch('customer', id);
      },
    ],
    [
      'POST',
      /^\/v1\/charges$/,
      (_, p) => {
        const m = money(p);
        if (Array.isArray(m)) return m as Reply;
        const { amount, currency } = m as { amount: number; currency: string };
        if (DECLINED.has(str(p['source']) ?? str(p['payment_method']) ?? '')) {
          return fail(402, 'card_declined', 'Your card was declined.', { decline_code: 'generic_decline' });
        }
        return [
          200,
          newCharge(amount, currency, p['capture'] !== 'false', { customer: p['customer'] ?? null }),
        ];
      },
    ],
    [
      'POST',
      /^\/v1\/charges\/([^/]+)\/capture$/,
      ([id], p) => {
        const ch = find(id, 'charge');
        if (!ch) return noSuch('charge', id);
        if (ch['captured'])
          return fail(400, 'charge_already_captured', `Charge ${id} has already been captured.`);
        return [
          200,
          Object.assign(ch, { captured: true, amount_captured: int(p['amount']) ?? ch['amount'] }),
        ];
      },
    ],
    [
      'POST',
      /^\/v1\/payment_intents$/,
      (_, p) => {
        const m = money(p);
        if (Array.isArray(m)) return m as Reply;
        const pm = str(p['payment_method']) ?? null;
        const pi = create('pi', 'payment_intent', {
          ...(m as Params),
          amount_capturable: 0,
          amount_received: 0,
          capture_method: p['capture_method'] ?? 'automatic',
          customer: p['customer'] ?? null,
          payment_method: pm,
          status: pm ? 'requires_confirmation' : 'requires_payment_method',
          latest_charge: null,
          metadata: p['metadata'] ?? {},
        });
        return p['confirm'] === 'true' ? confirm(pi, p) : [200, pi];
      },
    ],
    [
      'POST',
      /^\/v1\/payment_intents\/([^/]+)\/confirm$/,
      ([id], p) => {
        const pi = find(id, 'payment_intent');
        if (!pi) return noSuch('payment_intent', id);
        if (pi['status'] !== 'requires_confirmation' && pi['status'] !== 'requires_payment_method') {
          return fail(
            400,
            'payment_intent_unexpected_state',
            `This PaymentIntent's status is ${pi['status']}.`,
          );
        }
        return confirm(pi, p);
      },
    ],
    [
      'POST',
      /^\/v1\/payment_intents\/([^/]+)\/capture$/,
      ([id], p) => {
        const pi = find(id, 'payment_intent');
        if (!pi) return noSuch('payment_intent', id);
        if (pi['status'] !== 'requires_capture') {
          return fail(
            400,
            'payment_intent_unexpected_state',
            `This PaymentIntent's status is ${pi['status']}.`,
          );
        }
        const captured = int(p['amount_to_capture']) ?? (pi['amount_capturable'] as number);
        const ch = find(str(pi['latest_charge']), 'charge');
        if (ch) Object.assign(ch, { captured: true, amount_captured: captured });
        return [
          200,
          Object.assign(pi, { status: 'succeeded', amount_received: captured, amount_capturable: 0 }),
        ];
      },
    ],
    [
      'POST',
      /^\/v1\/payment_intents\/([^/]+)\/cancel$/,
      ([id]) => {
        const pi = find(id, 'payment_intent');
        return pi
          ? [200, Object.assign(pi, { status: 'canceled', amount_capturable: 0 })]
          : noSuch('payment_intent', id);
      },
    ],
    [
      'POST',
      /^\/v1\/refunds$/,
      (_, p) => {
        const intentId = str(p['payment_intent']);
        const chargeId = str(p['charge']) ?? str(find(intentId, 'payment_intent')?.['latest_charge']);
        if (!chargeId && !intentId) return missing('charge');
        const ch = find(chargeId, 'charge');
        if (!ch) return chargeId ? noSuch('charge', chargeId) : noSuch('payment_intent', intentId);
        const left = (ch['amount_captured'] as number) - (ch['amount_refunded'] as number);
        const amount = int(p['amount']) ?? left;
        if (amount > left || left === 0) {
          return fail(
            400,
            'amount_too_large',
            `Refund amount (${amount}) is greater than the unrefunded amount (${left}).`,
          );
        }
        ch['amount_refunded'] = (ch['amount_refunded'] as number) + amount;
        ch['refunded'] = ch['amount_refunded'] === ch['amount_captured'];
        const fields = {
          amount,
          charge: ch.id,
          payment_intent: ch['payment_intent'],
          currency: ch['currency'],
          status: 'succeeded',
        };
        return [200, create('re', 'refund', fields)];
      },
    ],
    [
      'POST',
      /^\/v1\/transfers$/,
      (_, p) => {
        const m = money(p);
        if (Array.isArray(m)) return m as Reply;
        if (!str(p['destination'])) return missing('destination');
        return [
          200,
          create('tr', 'transfer', { ...(m as Params), destination: p['destination'], amount_reversed: 0 }),
        ];
      },
    ],
    [
      'POST',
      /^\/v1\/payouts$/,
      (_, p) => {
        const m = money(p);
        return Array.isArray(m)
          ? (m as Reply)
          : [200, create('po', 'payout', { ...(m as Params), status: 'pending' })];
      },
    ],
    [
      'POST',
      /^\/v1\/payment_links$/,
      (_, p) => {
        const link = create('plink', 'payment_link', { active: true, metadata: p['metadata'] ?? {} });
        link['url'] = `https://buy.stripe.com/test_${link.id}`;
        return [200, link];
      },
    ],
    [
      'POST',
      /^\/v1\/invoices\/([^/]+)\/pay$/,
      ([id]) => {
        const inv = find(id, 'invoice');
        if (!inv) return noSuch('invoice', id);
        if (inv['status'] === 'paid') return fail(400, 'invoice_already_paid', 'Invoice is already paid.');
        const paid = ((inv['amount_paid'] as number) ?? 0) + ((inv['amount_remaining'] as number) ?? 0);
        return [200, Object.assign(inv, { status: 'paid', amount_paid: paid, amount_remaining: 0 })];
      },
    ],
    [
      'GET',
      /^\/v1\/(customers|charges|payment_intents|refunds|invoices|transfers|payouts|payment_links)\/([^/]+)$/,
      ([kind, id]) => {
        const object =
          kind === 'payment_intents'
            ? 'payment_intent'
            : kind === 'payment_links'
              ? 'payment_link'
              : kind!.slice(0, -1);
        return find(id, object) ? [200, objects.get(id!)] : noSuch(object, id);
      },
    ],
  ];

  const route = (method: string, path: string, p: Params): Reply => {
    for (const [m, regex, handler] of routes) {
      const match = m === method ? regex.exec(path) : null;
      if (match) return handler(match.slice(1), p);
    }
    return fail(404, 'resource_missing', `Unrecognized request URL (${method}: ${path}).`);
  };

  const server = createServer(async (req, res) => {
    const body = await readBody(req).catch(() => Buffer.alloc(0));
    recorder.record(req, body);
    const headers = { 'request-id': `req_${randomBytes(7).toString('hex')}` };
    const key = presentedKey(req.headers.authorization);
    if (!key || (opts.validKeys && !opts.validKeys.includes(key))) {
      return sendJson(
        res,
        401,
        { error: { type: 'invalid_request_error', message: 'Invalid API Key provided' } },
        headers,
      );
    }
    const method = req.method ?? 'GET';
    const [path = '/', query = ''] = (req.url ?? '/').split('?', 2);
    let p: Params;
    try {
      p = qs.parse(method === 'POST' ? body.toString('utf8') : query, QS_OPTIONS);
    } catch (err) {
      const message = err instanceof Error ? err.message : 'Invalid body.';
      return sendJson(res, 400, fail(400, 'parameter_invalid', message)[1], headers);
    }
    const idem = method === 'POST' ? req.headers['idempotency-key'] : undefined;
    const idemKey = typeof idem === 'string' ? `${key}\n${idem}` : undefined;
    const replay = idemKey === undefined ? undefined : replays.get(idemKey);
    if (replay) return sendJson(res, replay[0], replay[1], { ...headers, 'idempotent-replayed': 'true' });
    const [status, payload] = route(method, path, p);
    // Snapshot the answer: later updates to the stored object must not change a replay.
    const reply: Reply = [status, JSON.parse(JSON.stringify(payload))];
    if (idemKey !== undefined) {
      replays.set(idemKey, reply);
      // stripe-node sends a fresh key on every POST: bound the cache so a benchmark cannot grow it forever.
      if (replays.size > MAX_REPLAYS) replays.delete(replays.keys().next().value!);
    }
    sendJson(res, reply[0], reply[1], headers);
  });

  return {
    ...(await serveEmulator(server, recorder, opts.port)),
    seed: (o) => {
      objects.set(o.id, { ...o });
    },
  };
}

/**
 * The secret key a Stripe client presents: `Bearer <key>` (stripe-node) or Basic auth with the key as
 * the user name (`curl -u <key>:`), whose password Stripe does not read.
 */
function presentedKey(authorization: string | undefined): string | undefined {
  const match = /^(Bearer|Basic)\s+(\S+)\s*$/i.exec(authorization ?? '');
  if (!match) return undefined;
  if (match[1]!.toLowerCase() === 'bearer') return match[2];
  const decoded = Buffer.from(match[2]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const user = colon === -1 ? '' : decoded.slice(0, colon);
  return user.length > 0 ? user : undefined;
}
