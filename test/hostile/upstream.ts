import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { deflateRawSync, deflateSync, gzipSync } from 'node:zlib';

/**
 * A recording stand-in for one vendor's API, written for the hostile corpus and deliberately not
 * Keybrake's own emulators: it records every request exactly as it arrived and answers plausible
 * JSON, plus a few routes that exist only to attack Keybrake's response handling: one whose body or
 * head carries the upstream credential, one whose body is very large.
 */

export type Vendor = 'stripe' | 'twilio' | 'resend';

/** One request as the upstream received it. */
export interface Recorded {
  readonly vendor: Vendor;
  readonly method: string;
  /** Path and query exactly as received (Twilio: `/<sub host>/…`). */
  readonly path: string;
  /** Raw header pairs in arrival order, names as sent. */
  readonly headers: readonly [string, string][];
  readonly body: Buffer;
  /** Head and body as latin1 text: for "the vault token never reaches the vendor" checks. */
  readonly raw: string;
  /** The body this upstream answered with: for "the vendor sent it, the agent did not get it" checks. */
  readonly answer: Buffer;
}

export interface RecordingUpstream {
  readonly vendor: Vendor;
  readonly url: string;
  close(): Promise<void>;
}

/** What the special routes put in their answers. */
export interface UpstreamSecrets {
  /** Echoed by the credential-leak routes (the real Stripe key, Twilio auth token, Resend key). */
  readonly credential: string;
  /** Size of the body of the `huge` routes, bytes. */
  readonly hugeBytes: number;
}

/** Starts one recording upstream on 127.0.0.1; every request is appended to `into`. */
export async function startRecordingUpstream(
  vendor: Vendor,
  secrets: UpstreamSecrets,
  into: Recorded[],
): Promise<RecordingUpstream> {
  let seq = 0;
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const headers: [string, string][] = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2)
      headers.push([req.rawHeaders[i]!, req.rawHeaders[i + 1]!]);
    const head = `${req.method} ${req.url} HTTP/${req.httpVersion}\r\n${headers.map(([n, v]) => `${n}: ${v}`).join('\r\n')}\r\n\r\n`;
    seq += 1;
    const answered = send(vendor, res, seq, withEcho(vendor, req, answer(vendor, secrets, req, body)));
    into.push({
      vendor,
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      headers,
      body,
      raw: head + body.toString('latin1'),
      answer: answered,
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    vendor,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

type Json = Record<string, unknown>;

/**
 * One canned answer: a JSON body and any extra response headers; `text` replaces the serialised
 * body, and `gzip` compresses it (with Content-Encoding: gzip, which Keybrake never asks for);
 * `bytes` replaces the body with exactly those bytes, under no Content-Encoding; `transferCoding`
 * sends it in chunks under `Transfer-Encoding: <coding>, chunked` instead of a Content-Length.
 */
interface Answer {
  readonly json: Json;
  /** The HTTP status; 200 when absent. */
  readonly status?: number;
  readonly headers?: Record<string, string>;
  readonly text?: string;
  readonly gzip?: boolean;
  readonly bytes?: Buffer;
  readonly transferCoding?: string;
}

/**
 * Stripe's answer echoes the call's `Idempotency-Key` in its head, as api.stripe.com does (stripe-node
 * reads it back); a canned answer's own header of that name wins (answer-heads.yaml, sixteenth round).
 */
function withEcho(vendor: Vendor, req: IncomingMessage, answer: Answer): Answer {
  const key = req.headers['idempotency-key'];
  if (vendor !== 'stripe' || typeof key !== 'string') return answer;
  return { ...answer, headers: { 'idempotency-key': key, ...answer.headers } };
}

/** Writes an answer with the vendor's request-id header, as the vendor would; returns its body. */
function send(vendor: Vendor, res: ServerResponse, seq: number, answer: Answer): Buffer {
  const requestId = {
    stripe: ['request-id', `req_hostile_${seq}`],
    twilio: ['twilio-request-id', `RQhostile${seq}`],
    resend: ['x-request-id', `hostile-${seq}`],
  }[vendor] as [string, string];
  const text = answer.text ?? JSON.stringify(answer.json);
  const body = answer.bytes ?? (answer.gzip ? gzipSync(text) : Buffer.from(text));
  res.writeHead(answer.status ?? 200, {
    'content-type': 'application/json',
    ...(answer.transferCoding
      ? { 'transfer-encoding': `${answer.transferCoding}, chunked` }
      : { 'content-length': body.length }),
    ...(answer.gzip ? { 'content-encoding': 'gzip' } : {}),
    [requestId[0]]: requestId[1],
    ...answer.headers,
  });
  res.end(body);
  return body;
}

function answer(vendor: Vendor, secrets: UpstreamSecrets, req: IncomingMessage, body: Buffer): Answer {
  const method = req.method ?? 'GET';
  const path = (req.url ?? '/').split('?', 1)[0]!;
  const last = path.split('/').pop() ?? '';
  const id = last.replace(/\.json$/, '');
  // The account a Stripe key belongs to, which Keybrake reads once per key for its leases (ADR 0007
  // §5, fourteenth round): every key of the corpus is of this one account.
  if (vendor === 'stripe' && method === 'GET' && path === '/v1/account') {
    return { json: { id: 'acct_1HostileCorpus', object: 'account' } };
  }
  // Routes that attack the response path, the same on every vendor: keyed by the last path segment.
  if (method === 'GET' && /^(cus_|SM|)leak$/.test(id)) {
    return { json: { id, object: 'leak', note: `debug credential: ${secrets.credential}` } };
  }
  if (method === 'POST' && id === 'cus_leak') {
    return { json: { id, object: 'customer', description: secrets.credential } };
  }
  if (method === 'GET' && /^(cus_|SM|)leakhead$/.test(id)) {
    return { json: { id, object: 'leak' }, headers: { 'x-debug-authorization': secrets.credential } };
  }
  // The key where a byte search does not see it: compressed, or spelt in JSON \u escapes.
  if (method === 'GET' && /^(cus_|SM|)leakgzip$/.test(id)) {
    return { json: { id, object: 'leak', note: `debug credential: ${secrets.credential}` }, gzip: true };
  }
  if (method === 'GET' && /^(cus_|SM|)leakesc$/.test(id)) {
    const escaped = [...secrets.credential].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
    return { json: {}, text: `{"id":"${id}","object":"leak","note":"${escaped.join('')}"}` };
  }
  // Found by an adversarial probe: the key percent-encoded, in base64, compressed without saying so,
  // or in UTF-16.
  const leak =
    /^(?:cus_|SM|)leak(pct|loc|b64|b64url|gzipraw|zlib5|zlibwin|tedeflate|utf16|utf16esc|utf16pct|wrapu|state|wraprun|upper)$/.exec(
      id,
    )?.[1];
  if (method === 'GET' && leak !== undefined) return encodedLeak(id, leak, secrets.credential);
  // Ninth round: the Authorization header the vendor got echoed in a UTF-16 answer, where Twilio's
  // Basic credential is the base64 of `AC…:token` spelt in UTF-16.
  const echoed = /^(?:cus_|SM|)leakauth16(le|be)$/.exec(id)?.[1];
  if (method === 'GET' && echoed !== undefined) {
    const echo = { error: { message: 'bad header', authorization: req.headers.authorization } };
    const le = Buffer.from(JSON.stringify(echo), 'utf16le');
    return {
      json: {},
      bytes: echoed === 'le' ? le : le.swap16(),
      headers: { 'content-type': `application/json; charset=utf-16${echoed}` },
    };
  }
  // Sixth round: plain text that starts like a zlib header (an MMS text attachment, a note) was
  // withheld as compressed data.
  if (method === 'GET' && id === 'MEplaincsv') {
    return { json: {}, text: '80,apples\n81,pears\n', headers: { 'content-type': 'text/csv' } };
  }
  if (method === 'GET' && id === 'cus_plaintext') {
    return { json: {}, text: 'x marks the spot', headers: { 'content-type': 'text/plain' } };
  }
  // Sixth round: a URL, a comma and an address read as one URL whose userinfo ran to the address's @.
  if (method === 'GET' && /^(cus_|)commaurl$/.test(id)) {
    return {
      json: { id, object: 'customer', description: 'see https://shop.example.com,orders@example.com' },
    };
  }
  // Sixth round: customers whose metadata an agent filled with URL-shaped text through free writes,
  // 100 with 50 values of 100 `a://@` (empty userinfos) or `a://x@` each: 2.5 to 3 MB of answer.
  if (method === 'GET' && /^cus_(empty|many)userinfos$/.test(id)) {
    const value = (id === 'cus_emptyuserinfos' ? 'a://@' : 'a://x@').repeat(100);
    const metadata = Object.fromEntries(Array.from({ length: 50 }, (_, k) => [`k${k}`, value]));
    return {
      json: {
        object: 'list',
        data: Array.from({ length: 100 }, (_, i) => ({ id: `cus_${i}`, object: 'customer', metadata })),
      },
    };
  }
  // A Stripe client secret in an answer that is not JSON: Keybrake cannot take it out.
  if (method === 'GET' && id === 'pi_secrettext') {
    return {
      json: {},
      text: `<html><a href="/pay?client_secret=${STRIPE_CLIENT_SECRETS.intent}">pay</a></html>`,
    };
  }
  // Sixteenth round (probe catalog16 finding 1): a redirect to a pre-signed file, its URL in every
  // header that may carry one (answer-heads.yaml).
  if (method === 'GET' && /^(cus_|ME|)redirect$/.test(id)) return redirectAnswer(vendor);
  // Sixteenth round (probe fixes16b finding 3): a client secret in the header Stripe echoes the
  // agent's Idempotency-Key in, which is not what the agent sent.
  if (vendor === 'stripe' && method === 'GET' && id === 'cus_headsecret') {
    return { json: { id, object: 'customer' }, headers: { 'idempotency-key': STRIPE_CLIENT_SECRETS.intent } };
  }
  if (method === 'GET' && /^(cus_|SM|)huge$/.test(id)) {
    return { json: { id, object: 'huge', blob: 'x'.repeat(secrets.hugeBytes) } };
  }
  const pending = vendor === 'stripe' && method === 'GET' ? pendingItems(path, req.url ?? '') : undefined;
  if (pending !== undefined) return { json: pending };
  const rate = vendor === 'stripe' && method === 'GET' ? shippingRate(path, req.url ?? '') : undefined;
  if (rate !== undefined) return { json: rate };
  if (vendor === 'stripe') return { json: stripeAnswer(method, path, body) };
  if (vendor === 'twilio') {
    return (
      twilioMessages(method, path) ??
      twilioWebhooks(method, path) ??
      twilioRefusedRead(method, path, req.url ?? '') ?? {
        json: twilioAnswer(method, path, body, req.url ?? ''),
      }
    );
  }
  return { json: resendAnswer(method, path) };
}

/**
 * What the `redirect` routes' URLs hold (answer-heads.yaml, sixteenth round): a pre-signed S3 file's
 * path and signature in `Location` (and, for Twilio, `redirect_to`, as a Bulk Export day answers), and
 * a token in the path or query of every other header that can carry a URL.
 */
export const HEAD_URL_TOKENS = {
  file: '2026-12-01.json.gz',
  signature: 'HeadSig5d672d79',
  contentLocation: 'ClPathTok-5521',
  link: 'LinkTok-8812',
  refresh: 'RefreshTok-3390',
  networkPath: 'NetPathTok-6604',
} as const;

/** The vendor's own API host: a URL there keeps its path in a header (it answers nothing without the key). */
const API_HOSTS: Readonly<Record<Vendor, string>> = {
  stripe: 'api.stripe.com',
  twilio: 'api.twilio.com',
  resend: 'api.resend.com',
};

/** A 307 (Stripe: 302) to a pre-signed file, as Twilio answers a Bulk Export day or an add-on result's data. */
function redirectAnswer(vendor: Vendor): Answer {
  const t = HEAD_URL_TOKENS;
  const file = `https://com-twilio-us1-bulkexport.s3.amazonaws.com/v1/AC1/Messages/${t.file}?X-Amz-Expires=300&X-Amz-Signature=${t.signature}`;
  return {
    status: vendor === 'stripe' ? 302 : 307,
    json: vendor === 'twilio' ? { redirect_to: file } : { id: 'redirect', object: 'redirect' },
    headers: {
      location: file,
      'content-location': `https://cdn.example.net/files/${t.contentLocation}/data.json`,
      link: `<https://${API_HOSTS[vendor]}/v1/next?page=2>; rel="next", <https://files.example.net/exports/${t.link}>; rel="alternate"`,
      refresh: `0; url=https://files.example.net/r?token=${t.refresh}`,
      'x-download': `//bucket.s3.amazonaws.com/${t.networkPath}?sig=1`,
    },
  };
}

/** An answer carrying `credential` in the form `how` names (see the `leak…` routes). */
function encodedLeak(id: string, how: string, credential: string): Answer {
  const percent = (c: string) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`;
  const note = (value: string): Answer => ({ json: { id, object: 'leak', note: value } });
  const text = JSON.stringify({ id, object: 'leak', note: `debug credential: ${credential}` });
  switch (how) {
    case 'pct':
      return note([...credential].map(percent).join(''));
    case 'upper':
      // Thirteenth round: a Twilio auth token (lowercase hex) upper-cased is still the token.
      return { json: { code: 20003, message: `Authenticate: token ${credential.toUpperCase()} rejected` } };
    case 'loc':
      // The first character and every one a URL might escape (`_` as %5F), in a redirect.
      return {
        json: { id, object: 'leak' },
        headers: {
          location: `https://example.test/cb?k=${percent(credential[0]!)}${credential.slice(1).replace(/[^A-Za-z0-9]/g, percent)}`,
        },
      };
    case 'b64':
      return note(Buffer.from(`x${credential}`).toString('base64'));
    case 'b64url':
      return note(Buffer.from(`xy${credential}?`).toString('base64url'));
    case 'gzipraw':
      return { json: {}, bytes: gzipSync(text) };
    // Sixth round: zlib at another level (78 5E) or window (18 …), and deflate as a transfer coding.
    case 'zlib5':
      return { json: {}, bytes: deflateSync(text, { level: 5 }) };
    case 'zlibwin':
      return { json: {}, bytes: deflateSync(text, { level: 1, windowBits: 9 }) };
    // Raw deflate, which no signature shows: only the header says what the bytes are.
    case 'tedeflate':
      return { json: {}, bytes: deflateRawSync(text), transferCoding: 'deflate' };
    // UTF-16 whose escapes spell the key: a NUL after every character of every escape.
    case 'utf16esc':
      return {
        json: {},
        bytes: Buffer.from(
          `\ufeff{"note":"${[...credential].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')}"}`,
          'utf16le',
        ),
      };
    case 'utf16pct':
      return {
        json: {},
        bytes: Buffer.from(`{"note":"${[...credential].map(percent).join('')}"}`, 'utf16le').swap16(),
      };
    // Tenth round: a debugging vendor's dump of the request head it got, base64 wrapped every 76
    // characters with `\r\n` (as MIME writes it) by an encoder that \u-escapes every character; the
    // pad puts a line break in the middle of the key's base64.
    case 'wrapu': {
      const auth = `Authorization: Bearer ${credential}\r\n`;
      const pad = Math.max(
        0,
        57 - Math.floor(credential.length / 2) - 'X-Pad: \r\nAuthorization: Bearer '.length,
      );
      const head = `X-Pad: ${'a'.repeat(pad)}\r\n${auth}\r\n`;
      const lines =
        Buffer.from(head)
          .toString('base64')
          .match(/.{1,76}/g) ?? [];
      return {
        json: {},
        text: `{"id":"${id}","object":"leak","request_dump":"${lines.map(jsonEscaped).join('\\r\\n')}"}`,
      };
    }
    // Tenth round: the key \u-escaped in JSON in a URL's query, percent-encoded (`%5Cu0073…`).
    case 'state':
      return note(`https://example.com/cb?state=${encodeURIComponent(`{"k":"${jsonEscaped(credential)}"}`)}`);
    // Tenth round: base64 split by a run of 1000 line breaks (JSON `\n` escapes), which a MIME decoder skips.
    case 'wraprun': {
      const b64 = Buffer.from(`x${credential}`).toString('base64');
      const half = Math.floor(b64.length / 2);
      return note(`${b64.slice(0, half)}${'\n'.repeat(1000)}${b64.slice(half)}`);
    }
    default:
      return { json: {}, bytes: Buffer.from(text, 'utf16le') };
  }
}

/** Every character as a JSON `\uXXXX` escape. */
const jsonEscaped = (s: string): string =>
  [...s].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('');

/**
 * Capabilities Stripe hands out in its answers (a browser confirms a payment with a client secret and
 * the publishable key, outside Keybrake), and a Terminal configuration's Wi-Fi password: the agent
 * must never receive them.
 */
export const STRIPE_CLIENT_SECRETS = {
  intent: 'pi_1_secret_HostileIntent01',
  created: 'pi_hostile_secret_HostileCreated02',
  invoice: 'pi_inv1_secret_HostileInvoice03',
  checkout: 'cs_test_hostile_secret_HostileCheckout04',
  wifi: 'hostile-wifi-password-05',
  peap: 'hostile-peap-password-06',
  tls: 'hostile-tls-key-password-07',
  klarna: 'hostile-klarna-client-token-08',
} as const;

const TERMINAL_CONFIGURATION: Json = {
  id: 'tmc_1',
  object: 'terminal.configuration',
  wifi: {
    type: 'personal_psk_wifi',
    personal_psk_wifi: { ssid: 'shop', password: STRIPE_CLIENT_SECRETS.wifi },
    enterprise_eap_peap_wifi: { ssid: 'corp', username: 'pos', password: STRIPE_CLIENT_SECRETS.peap },
    enterprise_eap_tls_wifi: { ssid: 'corp', private_key_file_password: STRIPE_CLIENT_SECRETS.tls },
  },
};

/**
 * The redirect form of an Identity verification session's secret (ninth round): whoever opens it
 * submits documents for the merchant's user, so the agent must never receive it.
 */
const STRIPE_VERIFICATION_URL = 'https://verify.stripe.com/start/live_HostileVerify09';

const VERIFICATION_SESSION: Json = {
  id: 'vs_1',
  object: 'identity.verification_session',
  status: 'requires_input',
  client_secret: 'vs_1_secret_live_HostileVerify10',
  url: STRIPE_VERIFICATION_URL,
  // Stripe writes the field as null on a session tied to no customer (read for it: parties.yaml).
  related_customer: null,
};

/** A billing alert in Stripe's shape (spec3 `billing.alert`), with its usage threshold's filters. */
function billingAlert(id: string, filters: Json[] | null): Json {
  return {
    id,
    object: 'billing.alert',
    alert_type: 'usage_threshold',
    livemode: false,
    status: 'active',
    title: 'Usage alert',
    usage_threshold: { filters, gte: 1000, meter: 'mtr_1', recurrence: 'one_time' },
  };
}

/** Objects the price stage looks up: amounts in USD cents, customers inside or outside the allowlist. */
/**
 * A merchant's portal configuration with its login page on (twelfth round, reveals probe): its url,
 * a shareable page where whoever controls a customer's email logs in to that customer's portal, is
 * withheld from every answer.
 */
export const STRIPE_PORTAL_LOGIN = 'https://billing.stripe.com/p/login/hostilePortalLogin11';

const PORTAL_CONFIGURATION: Json = {
  id: 'bpc_login',
  object: 'billing_portal.configuration',
  active: true,
  is_default: true,
  default_return_url: 'https://shop.example/account',
  login_page: { enabled: true, url: STRIPE_PORTAL_LOGIN },
  features: { invoice_history: { enabled: true } },
};

/** A v2 meter event session's token (stripe-node 23.1.0's V2.Billing.MeterEventSession shape). */
export const STRIPE_METER_TOKEN = 'ek_live_hostileMeterEventSessionToken12';

const STRIPE_OBJECTS: Record<string, Json> = {
  '/v1/billing_portal/configurations/bpc_login': PORTAL_CONFIGURATION,
  '/v1/billing_portal/configurations': {
    object: 'list',
    data: [PORTAL_CONFIGURATION],
    has_more: false,
    url: '/v1/billing_portal/configurations',
  },
  // An answer holding a meter event session's token (a v2 read an operator listed exactly).
  '/v2/core/events/evt_session': {
    id: 'evt_session',
    object: 'v2.core.event',
    related: {
      id: 'mes_1',
      object: 'v2.billing.meter_event_session',
      authentication_token: STRIPE_METER_TOKEN,
      expires_at: '2026-12-02T00:15:00.000Z',
    },
  },
  '/v1/identity/verification_sessions/vs_1': VERIFICATION_SESSION,
  '/v1/identity/verification_sessions': {
    object: 'list',
    data: [VERIFICATION_SESSION],
    has_more: false,
    url: '/v1/identity/verification_sessions',
  },
  '/v1/events/evt_vs1': {
    id: 'evt_vs1',
    object: 'event',
    type: 'identity.verification_session.requires_input',
    data: { object: VERIFICATION_SESSION },
  },
  '/v1/payment_intents/pi_1': {
    id: 'pi_1',
    object: 'payment_intent',
    amount: 1000,
    currency: 'usd',
    status: 'requires_confirmation',
    customer: 'cus_allowed',
    client_secret: STRIPE_CLIENT_SECRETS.intent,
  },
  '/v1/terminal/configurations/tmc_1': TERMINAL_CONFIGURATION,
  // Sixth round: a webhook endpoint protected as Twilio documents it, by a user name and password.
  '/v1/webhook_endpoints': {
    object: 'list',
    data: [
      {
        id: 'we_1',
        object: 'webhook_endpoint',
        url: 'https://stripehook:Wh00kPass-123@shop.example.com/stripe/webhook',
      },
    ],
    has_more: false,
    url: '/v1/webhook_endpoints',
  },
  // Seventh round: a dotted user name followed by a sub-delim was taken for prose, its password kept.
  '/v1/webhook_endpoints/we_dotted': {
    id: 'we_dotted',
    object: 'webhook_endpoint',
    url: 'https://first.last+stripe:Hunter2Secret@hooks.example.com/stripe',
  },
  // Seventh round: a WHATWG parser strips a TAB inside the scheme or before its colon, and reads the password.
  '/v1/webhook_endpoints/we_tabbed': {
    id: 'we_tabbed',
    object: 'webhook_endpoint',
    url: 'ht\ttps:ops:Hunter2Secret@hooks.example.com/stripe',
    description: 'https\t://ops:Hunter2Secret@hooks.example.com/a',
  },
  // Eighth round: a URL percent-encoded in part, as a quoting tool leaves it; one decode reads the password.
  '/v1/webhook_endpoints/we_halfencoded': {
    id: 'we_halfencoded',
    object: 'webhook_endpoint',
    url: 'https://hooks.example.com/relay?to=https%3A//ops%3AHunter2Secret%40inner.example.com/stripe',
    description: 'https%3A//ops%3AHunter2Secret@inner.example.com/x',
    metadata: {
      sip: 'To=sip%3Aalice%3AHunter2Secret%40pbx.example.com&From=x',
      slashes: 'HTTPS%3A%2F%2Fops%3AHunter2Secret@inner.example.com/x',
    },
  },
  '/v1/sources/src_klarna': {
    id: 'src_klarna',
    object: 'source',
    type: 'klarna',
    klarna: { client_token: STRIPE_CLIENT_SECRETS.klarna },
  },
  '/v1/payment_intents/pi_big': {
    id: 'pi_big',
    object: 'payment_intent',
    amount: 900000,
    amount_capturable: 900000,
    currency: 'usd',
    status: 'requires_capture',
    customer: 'cus_allowed',
  },
  '/v1/payment_intents/pi_other': {
    id: 'pi_other',
    object: 'payment_intent',
    amount: 1000,
    currency: 'usd',
    status: 'requires_confirmation',
    customer: 'cus_other',
  },
  '/v1/charges/ch_1': {
    id: 'ch_1',
    object: 'charge',
    amount: 1000,
    amount_refunded: 0,
    currency: 'usd',
    customer: 'cus_allowed',
    status: 'succeeded',
  },
  '/v1/charges/ch_big': {
    id: 'ch_big',
    object: 'charge',
    amount: 900000,
    amount_refunded: 0,
    currency: 'usd',
    customer: 'cus_allowed',
    status: 'succeeded',
  },
  '/v1/charges/ch_other': {
    id: 'ch_other',
    object: 'charge',
    amount: 1000,
    amount_refunded: 0,
    currency: 'usd',
    customer: 'cus_other',
    status: 'succeeded',
  },
  '/v1/invoices/in_1': {
    id: 'in_1',
    object: 'invoice',
    amount_remaining: 1000,
    currency: 'usd',
    customer: 'cus_allowed',
    confirmation_secret: { client_secret: STRIPE_CLIENT_SECRETS.invoice, type: 'payment_intent' },
    // Untaxed, as Stripe reports it (a line put on an invoice that does not say is refused).
    default_tax_rates: [],
    automatic_tax: { enabled: false },
    total_taxes: [],
    // Its lines, as Stripe answers every invoice (twelfth round: a line whose tax a call replaces is
    // read here for the tax credit it gives back): one $10.00 charge.
    lines: {
      object: 'list',
      has_more: false,
      data: [{ id: 'il_1', object: 'line_item', amount: 1000, currency: 'usd', taxes: [] }],
    },
  },
  '/v1/customers/cus_allowed': {
    id: 'cus_allowed',
    object: 'customer',
    balance: 0,
    currency: 'usd',
  },
  // Subscriptions a cancellation reads for their customer (a customer allowlist governs it).
  '/v1/subscriptions/sub_allowed': { id: 'sub_allowed', object: 'subscription', customer: 'cus_allowed' },
  '/v1/subscriptions/sub_other': { id: 'sub_other', object: 'subscription', customer: 'cus_other' },
  // Thirteenth round (probe catalog13): a subscription of cus_credits, whose pending credits a new
  // invoice naming only the subscription takes in (stripe-credits.yaml).
  '/v1/subscriptions/sub_credits': { id: 'sub_credits', object: 'subscription', customer: 'cus_credits' },
  // Thirteenth round (probe fixes13s): a subscription of cus_allowed with automatic tax on, whose
  // payment method, switched, may move where every renewal is taxed (stripe-tax-location.yaml).
  '/v1/subscriptions/sub_taxed': {
    id: 'sub_taxed',
    object: 'subscription',
    customer: 'cus_allowed',
    automatic_tax: { enabled: true, liability: null },
  },
  // Tenth round: objects of a customer's subscription and intents that name their customer only
  // through a read (an item names its subscription; a schedule and an intent name the customer).
  '/v1/subscription_items/si_allowed': {
    id: 'si_allowed',
    object: 'subscription_item',
    subscription: 'sub_allowed',
  },
  '/v1/subscription_items/si_other': {
    id: 'si_other',
    object: 'subscription_item',
    subscription: 'sub_other',
  },
  '/v1/subscription_schedules/sub_sched_other': {
    id: 'sub_sched_other',
    object: 'subscription_schedule',
    customer: 'cus_other',
    subscription: 'sub_other',
  },
  '/v1/payment_intents/pi_ach_guest': {
    id: 'pi_ach_guest',
    object: 'payment_intent',
    amount: 4000,
    currency: 'usd',
    customer: null,
    status: 'requires_action',
    next_action: { type: 'verify_with_microdeposits' },
  },
  '/v1/setup_intents/seti_other': {
    id: 'seti_other',
    object: 'setup_intent',
    customer: 'cus_other',
    status: 'requires_action',
    // Stripe's hosted page where the amounts complete the verification (withheld: stripe-capabilities.yaml).
    next_action: {
      type: 'verify_with_microdeposits',
      verify_with_microdeposits: {
        arrival_date: 1_900_000_000,
        hosted_verification_url: 'https://payments.stripe.com/microdeposit/sacs_test_HostileVerify01',
        microdeposit_type: 'descriptor_code',
      },
    },
  },
  // Tenth round (fixes10a, parties.yaml): objects a free write acts on, read for their customer.
  '/v1/setup_intents/seti_allowed': {
    id: 'seti_allowed',
    object: 'setup_intent',
    customer: 'cus_allowed',
    status: 'requires_confirmation',
  },
  '/v1/payment_methods/pm_other': {
    id: 'pm_other',
    object: 'payment_method',
    type: 'card',
    customer: 'cus_other',
  },
  '/v1/quotes/qt_other': { id: 'qt_other', object: 'quote', status: 'open', customer: 'cus_other' },
  '/v1/credit_notes/cn_other': { id: 'cn_other', object: 'credit_note', customer: 'cus_other' },
  '/v1/credit_notes/cn_allowed': { id: 'cn_allowed', object: 'credit_note', customer: 'cus_allowed' },
  // Eleventh round (MCP probe and its sweep): objects of a payment that name the payment, not (always)
  // its customer, read through their charge or payment intent; and objects that name one customer.
  '/v1/disputes/dp_other': {
    id: 'dp_other',
    object: 'dispute',
    amount: 1000,
    currency: 'usd',
    charge: 'ch_other',
    payment_intent: null,
    status: 'needs_response',
  },
  '/v1/disputes/dp_allowed': {
    id: 'dp_allowed',
    object: 'dispute',
    amount: 1000,
    currency: 'usd',
    charge: 'ch_1',
    payment_intent: null,
    status: 'needs_response',
  },
  // A dispute whose answer names no payment (not one Stripe gives): whose it is cannot be said.
  '/v1/disputes/dp_unlinked': { id: 'dp_unlinked', object: 'dispute', amount: 1000, currency: 'usd' },
  // A refund read as an API version without its own `customer` shows it: its charge says.
  '/v1/refunds/re_other': {
    id: 're_other',
    object: 'refund',
    amount: 500,
    currency: 'usd',
    charge: 'ch_other',
    status: 'requires_action',
  },
  '/v1/reviews/prv_other': {
    id: 'prv_other',
    object: 'review',
    charge: null,
    payment_intent: 'pi_other',
    open: true,
  },
  '/v1/billing/credit_grants/credgr_other': {
    id: 'credgr_other',
    object: 'billing.credit_grant',
    customer: 'cus_other',
  },
  '/v1/promotion_codes/promo_other': { id: 'promo_other', object: 'promotion_code', customer: 'cus_other' },
  '/v1/treasury/outbound_payments/obp_other': {
    id: 'obp_other',
    object: 'treasury.outbound_payment',
    customer: 'cus_other',
    status: 'processing',
  },
  '/v1/sources/src_other': { id: 'src_other', object: 'source', customer: 'cus_other' },
  // Twelfth round (probe fixesr): objects that keep their customer one level down.
  '/v1/financial_connections/accounts/fca_other': {
    id: 'fca_other',
    object: 'financial_connections.account',
    account_holder: { type: 'customer', customer: 'cus_other' },
  },
  '/v1/financial_connections/accounts/fca_allowed': {
    id: 'fca_allowed',
    object: 'financial_connections.account',
    account_holder: { type: 'customer', customer: 'cus_allowed' },
  },
  // A customer holder naming no customer (not one Stripe gives): whose it is cannot be said.
  '/v1/financial_connections/accounts/fca_unheld': {
    id: 'fca_unheld',
    object: 'financial_connections.account',
    account_holder: { type: 'customer', customer: null },
  },
  '/v1/linked_accounts/fca_other': {
    id: 'fca_other',
    object: 'linked_account',
    account_holder: { type: 'customer', customer: 'cus_other' },
  },
  '/v1/identity/verification_sessions/vs_other': {
    id: 'vs_other',
    object: 'identity.verification_session',
    status: 'requires_input',
    related_customer: 'cus_other',
  },
  '/v1/identity/verification_sessions/vs_allowed': {
    id: 'vs_allowed',
    object: 'identity.verification_session',
    status: 'verified',
    related_customer: 'cus_allowed',
  },
  // An answer without the field (an API version that lacks it would show it so): cannot be said.
  '/v1/identity/verification_sessions/vs_unsaid': {
    id: 'vs_unsaid',
    object: 'identity.verification_session',
    status: 'requires_input',
  },
  // Twelfth round (probe fixes12a): a billing alert keeps its customer two levels down.
  '/v1/billing/alerts/alrt_other': billingAlert('alrt_other', [{ type: 'customer', customer: 'cus_other' }]),
  '/v1/billing/alerts/alrt_allowed': billingAlert('alrt_allowed', [
    { type: 'customer', customer: 'cus_allowed' },
  ]),
  // Filters are a list: one allowed customer does not admit another beside it.
  '/v1/billing/alerts/alrt_mixed': billingAlert('alrt_mixed', [
    { type: 'customer', customer: 'cus_allowed' },
    { type: 'customer', customer: 'cus_other' },
  ]),
  // On the meter's whole usage: no customer's.
  '/v1/billing/alerts/alrt_meter': billingAlert('alrt_meter', null),
  // An answer without the filters (not one Stripe gives): whose it is cannot be said.
  '/v1/billing/alerts/alrt_unsaid': {
    id: 'alrt_unsaid',
    object: 'billing.alert',
    alert_type: 'usage_threshold',
    status: 'active',
    usage_threshold: { gte: 1000, meter: 'mtr_1', recurrence: 'one_time' },
  },
  '/v1/checkout/sessions/cs_other': {
    id: 'cs_other',
    object: 'checkout.session',
    status: 'open',
    customer: 'cus_other',
  },
  // A quote whose subscription starts with a 30-day trial: nothing up front, $9 000 a month after.
  '/v1/quotes/qt_trial': {
    id: 'qt_trial',
    object: 'quote',
    amount_total: 0,
    currency: 'usd',
    customer: 'cus_allowed',
    subscription_data: { trial_period_days: 30 },
    computed: { upfront: { amount_total: 0 }, recurring: { amount_total: 900000, interval: 'month' } },
  },
  '/v1/invoices/in_big': {
    id: 'in_big',
    object: 'invoice',
    amount_remaining: 900000,
    currency: 'usd',
    customer: 'cus_allowed',
  },
  // Draft invoices Stripe would charge once automatic collection is on (deferred.yaml): $9 000 for
  // cus_allowed, and $10 for cus_other.
  '/v1/invoices/in_auto': {
    id: 'in_auto',
    object: 'invoice',
    status: 'draft',
    collection_method: 'charge_automatically',
    amount_due: 900000,
    amount_remaining: 900000,
    currency: 'usd',
    customer: 'cus_allowed',
  },
  '/v1/invoices/in_other': {
    id: 'in_other',
    object: 'invoice',
    status: 'draft',
    collection_method: 'charge_automatically',
    amount_due: 1000,
    amount_remaining: 1000,
    currency: 'usd',
    customer: 'cus_other',
  },
  // Thirteenth round (probe fixes13s): a $10 draft Stripe finalises and charges on its own with
  // automatic tax on (stripe-tax-location.yaml: its payment method switched moves where it is taxed).
  '/v1/invoices/in_auto_taxed': {
    id: 'in_auto_taxed',
    object: 'invoice',
    status: 'draft',
    collection_method: 'charge_automatically',
    auto_advance: true,
    amount_due: 1000,
    amount_remaining: 1000,
    currency: 'usd',
    customer: 'cus_allowed',
    default_tax_rates: [],
    automatic_tax: { enabled: true, status: 'complete' },
    total_taxes: [],
  },
  // Draft invoices sent rather than charged (deferred.yaml): finalising or sending one applies the
  // customer's credit and cash balance, $9 000 and $10 due, both for cus_allowed.
  '/v1/invoices/in_sent': {
    id: 'in_sent',
    object: 'invoice',
    status: 'draft',
    collection_method: 'send_invoice',
    auto_advance: false,
    amount_due: 900000,
    amount_remaining: 900000,
    total: 900000,
    currency: 'usd',
    customer: 'cus_allowed',
  },
  '/v1/invoices/in_sent_small': {
    id: 'in_sent_small',
    object: 'invoice',
    status: 'draft',
    collection_method: 'send_invoice',
    auto_advance: false,
    amount_due: 1000,
    amount_remaining: 1000,
    total: 1000,
    currency: 'usd',
    customer: 'cus_allowed',
  },
  // A draft invoice Stripe finalises and charges on its own, $9 000 due after a $500 credit line and
  // $200 of discounts, and a $500 credit item on it (deferred.yaml: removing either raises it).
  '/v1/invoices/in_credit': {
    id: 'in_credit',
    object: 'invoice',
    status: 'draft',
    collection_method: 'charge_automatically',
    auto_advance: true,
    amount_due: 900000,
    amount_remaining: 900000,
    currency: 'usd',
    customer: 'cus_allowed',
    total_discount_amounts: [{ amount: 20000, discount: 'di_1' }],
    // Untaxed, as Stripe reports it (twelfth round: deleting a credit item reads what taxes it).
    default_tax_rates: [],
    automatic_tax: { enabled: false },
    total_taxes: [],
    lines: {
      object: 'list',
      has_more: false,
      data: [
        {
          id: 'il_credit',
          amount: -50000,
          taxes: [],
          parent: { type: 'invoice_item_details', invoice_item_details: { invoice_item: 'ii_credit' } },
        },
        { id: 'il_1', amount: 970000, taxes: [] },
      ],
    },
  },
  // Twelfth round (stripe-credits.yaml), as Stripe's definition renders them: an untaxed draft
  // Stripe charges on its own, +$150.00 and a -$80.00 credit from the item ii_plain ($70.00 due); a
  // draft of +$110.00 whose -$80.00 credit item ii_vat carries a 25 % exclusive rate (-$20.00 VAT,
  // $10.00 due), once as answered from 2025-03-31 on (`taxes`) and once as before (`tax_amounts`,
  // in_vat_2024). Removing that credit has Stripe charge $110.00: over stripe-caps' $100 a call.
  '/v1/invoices/in_plain': {
    id: 'in_plain',
    object: 'invoice',
    status: 'draft',
    collection_method: 'charge_automatically',
    auto_advance: true,
    amount_due: 7000,
    amount_remaining: 7000,
    total: 7000,
    currency: 'usd',
    customer: 'cus_allowed',
    default_tax_rates: [],
    automatic_tax: { enabled: false, status: null },
    total_discount_amounts: [],
    total_taxes: [],
    lines: {
      object: 'list',
      has_more: false,
      data: [
        { id: 'il_plain_charge', object: 'line_item', amount: 15000, currency: 'usd', taxes: [] },
        {
          id: 'il_plain_credit',
          object: 'line_item',
          amount: -8000,
          currency: 'usd',
          taxes: [],
          parent: { type: 'invoice_item_details', invoice_item_details: { invoice_item: 'ii_plain' } },
        },
      ],
    },
  },
  '/v1/invoiceitems/ii_plain': {
    id: 'ii_plain',
    object: 'invoiceitem',
    amount: -8000,
    currency: 'usd',
    customer: 'cus_allowed',
    invoice: 'in_plain',
    quantity: 1,
    pricing: { type: null, price_details: null, unit_amount_decimal: '-8000' },
    tax_rates: [],
  },
  '/v1/invoices/in_vat': {
    id: 'in_vat',
    object: 'invoice',
    status: 'draft',
    collection_method: 'charge_automatically',
    auto_advance: true,
    amount_due: 1000,
    amount_remaining: 1000,
    total: 1000,
    currency: 'usd',
    customer: 'cus_allowed',
    default_tax_rates: [],
    automatic_tax: { enabled: false, status: null },
    total_discount_amounts: [],
    total_taxes: [
      { amount: -2000, tax_behavior: 'exclusive', taxable_amount: -8000, type: 'tax_rate_details' },
    ],
    lines: {
      object: 'list',
      has_more: false,
      data: [
        { id: 'il_vat_charge', object: 'line_item', amount: 11000, currency: 'usd', taxes: [] },
        {
          id: 'il_vat_credit',
          object: 'line_item',
          amount: -8000,
          currency: 'usd',
          taxes: [
            { amount: -2000, tax_behavior: 'exclusive', taxable_amount: -8000, type: 'tax_rate_details' },
          ],
          parent: { type: 'invoice_item_details', invoice_item_details: { invoice_item: 'ii_vat' } },
        },
      ],
    },
  },
  '/v1/invoices/in_vat_2024': {
    id: 'in_vat_2024',
    object: 'invoice',
    status: 'draft',
    collection_method: 'charge_automatically',
    auto_advance: true,
    amount_due: 1000,
    amount_remaining: 1000,
    total: 1000,
    currency: 'usd',
    customer: 'cus_allowed',
    default_tax_rates: [],
    automatic_tax: { enabled: false, status: null },
    total_discount_amounts: [],
    total_tax_amounts: [{ amount: -2000, inclusive: false, tax_rate: 'txr_vat25', taxable_amount: -8000 }],
    lines: {
      object: 'list',
      has_more: false,
      data: [
        { id: 'il_vat_charge', object: 'line_item', amount: 11000, currency: 'usd', tax_amounts: [] },
        {
          id: 'il_vat_credit',
          object: 'line_item',
          type: 'invoiceitem',
          invoice_item: 'ii_vat_2024',
          amount: -8000,
          currency: 'usd',
          tax_amounts: [{ amount: -2000, inclusive: false, tax_rate: 'txr_vat25', taxable_amount: -8000 }],
        },
      ],
    },
  },
  '/v1/invoiceitems/ii_vat': {
    id: 'ii_vat',
    object: 'invoiceitem',
    amount: -8000,
    currency: 'usd',
    customer: 'cus_allowed',
    invoice: 'in_vat',
    quantity: 1,
    tax_rates: [
      {
        id: 'txr_vat25',
        object: 'tax_rate',
        active: true,
        inclusive: false,
        percentage: 25,
        rate_type: 'percentage',
      },
    ],
  },
  // A credit of -$85.00 pending (no invoice yet), with the 25 % rate: it lowers the customer's next
  // invoice by $106.25.
  '/v1/invoiceitems/ii_vat_pending': {
    id: 'ii_vat_pending',
    object: 'invoiceitem',
    amount: -8500,
    currency: 'usd',
    customer: 'cus_allowed',
    invoice: null,
    quantity: 1,
    tax_rates: [
      {
        id: 'txr_vat25',
        object: 'tax_rate',
        active: true,
        inclusive: false,
        percentage: 25,
        rate_type: 'percentage',
      },
    ],
  },
  // Twelfth round, probe fixes12c (stripe-credits.yaml): drafts Stripe charges on its own, $0.00 due,
  // +$600.00 and a -$480.00 credit taxed -$120.00 (25 % exclusive): in_vat_big by the credit's own
  // rate, in_vat_default by the invoice's default_tax_rates (the charge exempt: no tax on it).
  // Taking the credit's tax off has Stripe charge $120.00: over stripe-caps' $100 a call.
  '/v1/invoices/in_vat_big': creditTaxedDraft('in_vat_big', false),
  '/v1/invoices/in_vat_default': creditTaxedDraft('in_vat_default', true),
  // Tenth round (stripe-tax.yaml): a $10 draft Stripe finalises and charges on its own, whose
  // default tax rate (100 %, exclusive) taxes every line put on it; and one that waits for a finalize.
  '/v1/invoices/in_taxed': {
    id: 'in_taxed',
    object: 'invoice',
    status: 'draft',
    collection_method: 'charge_automatically',
    auto_advance: true,
    amount_due: 2000,
    currency: 'usd',
    customer: 'cus_allowed',
    default_tax_rates: [{ id: 'txr_1', object: 'tax_rate', percentage: 100, inclusive: false }],
    automatic_tax: { enabled: false },
    total_taxes: [{ amount: 1000, tax_rate_details: { tax_rate: 'txr_1' } }],
    // Its lines, as Stripe answers every invoice (twelfth round: taking its tax off reads what tax
    // credit they give): a $10.00 charge taxed $10.00 by the default rate.
    lines: {
      object: 'list',
      has_more: false,
      data: [
        {
          id: 'il_t',
          object: 'line_item',
          amount: 1000,
          currency: 'usd',
          taxes: [
            { amount: 1000, tax_behavior: 'exclusive', taxable_amount: 1000, type: 'tax_rate_details' },
          ],
        },
      ],
    },
  },
  '/v1/invoices/in_waits': {
    id: 'in_waits',
    object: 'invoice',
    status: 'draft',
    collection_method: 'charge_automatically',
    auto_advance: false,
    amount_due: 0,
    currency: 'usd',
    customer: 'cus_allowed',
    default_tax_rates: [{ id: 'txr_1', object: 'tax_rate', percentage: 100, inclusive: false }],
    automatic_tax: { enabled: false },
    total_taxes: [],
  },
  '/v1/invoiceitems/ii_credit': {
    id: 'ii_credit',
    object: 'invoiceitem',
    amount: -50000,
    currency: 'usd',
    customer: 'cus_allowed',
    invoice: 'in_credit',
    tax_rates: [],
  },
  // Tenth round (stripe-schedules.yaml): a $50 Price a later phase names, and schedules of
  // cus_allowed, one not started with one phase, one running with a second phase to come.
  '/v1/prices/price_sched_dear': {
    id: 'price_sched_dear',
    object: 'price',
    billing_scheme: 'per_unit',
    currency: 'usd',
    unit_amount: 5000,
    unit_amount_decimal: '5000',
    currency_options: {},
    product: 'prod_sched',
  },
  '/v1/subscription_schedules/sub_sched_one': {
    id: 'sub_sched_one',
    object: 'subscription_schedule',
    customer: 'cus_allowed',
    subscription: null,
    current_phase: null,
    phases: [{ start_date: 1_900_000_000, end_date: 1_900_086_400 }],
  },
  '/v1/subscription_schedules/sub_sched_two': {
    id: 'sub_sched_two',
    object: 'subscription_schedule',
    customer: 'cus_allowed',
    subscription: 'sub_allowed',
    current_phase: { start_date: 1_800_000_000, end_date: 1_800_086_400 },
    phases: [
      { start_date: 1_800_000_000, end_date: 1_800_086_400 },
      { start_date: 1_800_086_400, end_date: null },
    ],
  },
  // Eleventh round (stripe-schedules.yaml): a schedule of cus_allowed not started, one phase of $90
  // without tax (its preview: PREVIEW_SCHEDULES), and one whose phases start new billing cycles.
  '/v1/subscription_schedules/sub_sched_taxed': {
    id: 'sub_sched_taxed',
    object: 'subscription_schedule',
    customer: 'cus_allowed',
    subscription: null,
    current_phase: null,
    default_settings: { automatic_tax: { enabled: false }, billing_cycle_anchor: 'automatic' },
    phases: [{ start_date: 1_900_000_000, end_date: 1_900_086_400 }],
  },
  '/v1/subscription_schedules/sub_sched_anchored': {
    id: 'sub_sched_anchored',
    object: 'subscription_schedule',
    customer: 'cus_allowed',
    subscription: null,
    current_phase: null,
    default_settings: { automatic_tax: { enabled: false }, billing_cycle_anchor: 'phase_start' },
    phases: [{ start_date: 1_900_000_000, end_date: 1_900_086_400 }],
  },
  // A price of $50 a unit (stripe-prices.yaml: set on a line that keeps a larger quantity).
  '/v1/prices/price_big': {
    id: 'price_big',
    object: 'price',
    billing_scheme: 'per_unit',
    currency: 'usd',
    unit_amount: 5000,
    unit_amount_decimal: '5000',
    currency_options: {},
  },
  // An Issuing authorisation whose pending hold is in euros while its own currency is dollars
  // (stripe-prices.yaml: the approval is priced in the hold's currency, so a usd allowlist judges it).
  '/v1/issuing/authorizations/iauth_eur_hold': {
    id: 'iauth_eur_hold',
    object: 'issuing.authorization',
    amount: 0,
    currency: 'usd',
    approved: false,
    status: 'pending',
    pending_request: { amount: 700, currency: 'eur', is_amount_controllable: false },
  },
  // A $10 price also sold in pounds (stripe-prices.yaml: a currency allowlist of usd only).
  '/v1/prices/price_multi': {
    id: 'price_multi',
    object: 'price',
    billing_scheme: 'per_unit',
    currency: 'usd',
    unit_amount: 1000,
    unit_amount_decimal: '1000',
    currency_options: { gbp: { unit_amount: 900, unit_amount_decimal: '900' } },
  },
  // Twelfth round (stripe-side-effects.yaml): a $60 destination charge of cus_allowed with a $50
  // application fee, the whole charge transferred (`transfer_data[amount]` null), and the transfer
  // it funded; a transfer funded from the balance. Every field named, as Stripe answers.
  '/v1/charges/ch_connect': {
    id: 'ch_connect',
    object: 'charge',
    amount: 6000,
    amount_captured: 6000,
    amount_refunded: 0,
    currency: 'usd',
    customer: 'cus_allowed',
    status: 'succeeded',
    payment_intent: null,
    application_fee: 'fee_connect',
    application_fee_amount: 5000,
    transfer_data: { amount: null, destination: 'acct_good1' },
  },
  // Fixes12b (finding 3): $400 authorised, $60 captured with a $50 application fee set at capture;
  // Stripe reports the released $340 in amount_refunded. The intent behind it names it as its charge.
  '/v1/charges/ch_partial': {
    id: 'ch_partial',
    object: 'charge',
    amount: 40_000,
    amount_captured: 6000,
    amount_refunded: 34_000,
    captured: true,
    refunded: false,
    currency: 'usd',
    customer: 'cus_allowed',
    status: 'succeeded',
    payment_intent: 'pi_partial',
    application_fee: 'fee_partial',
    application_fee_amount: 5000,
    transfer_data: null,
    transfer: null,
  },
  '/v1/payment_intents/pi_partial': {
    id: 'pi_partial',
    object: 'payment_intent',
    amount: 40_000,
    amount_capturable: 0,
    amount_received: 6000,
    currency: 'usd',
    customer: 'cus_allowed',
    status: 'succeeded',
    latest_charge: 'ch_partial',
    application_fee_amount: 5000,
    transfer_data: null,
    on_behalf_of: null,
  },
  '/v1/transfers/tr_connect': {
    id: 'tr_connect',
    object: 'transfer',
    amount: 6000,
    amount_reversed: 0,
    currency: 'usd',
    destination: 'acct_good1',
    source_transaction: 'ch_connect',
  },
  // Fixes12d (finding 1): a $6,000.00 transfer funded by ch_connect ($50 fee) with all but $60.00
  // reversed already; and one whose answer does not say what was reversed.
  '/v1/transfers/tr_nearly': {
    id: 'tr_nearly',
    object: 'transfer',
    amount: 600_000,
    amount_reversed: 594_000,
    currency: 'usd',
    destination: 'acct_good1',
    source_transaction: 'ch_connect',
  },
  '/v1/transfers/tr_unsaid': {
    id: 'tr_unsaid',
    object: 'transfer',
    amount: 600_000,
    currency: 'usd',
    destination: 'acct_good1',
    source_transaction: 'ch_connect',
  },
  '/v1/transfers/tr_balance': {
    id: 'tr_balance',
    object: 'transfer',
    amount: 6000,
    amount_reversed: 0,
    currency: 'usd',
    destination: 'acct_good1',
    source_transaction: null,
  },
  // Carbon removal sold at $5.50 or £4.50 a ton, fees included (stripe-prices.yaml: an order that
  // names no currency is placed in the account's default one).
  '/v1/climate/products/climsku_multi': {
    id: 'climsku_multi',
    object: 'climate.product',
    current_prices_per_metric_ton: {
      usd: { amount_fees: 50, amount_subtotal: 500, amount_total: 550 },
      gbp: { amount_fees: 40, amount_subtotal: 410, amount_total: 450 },
    },
  },
  // An invoice item of one unit at $50 (stripe-prices.yaml: attached at another quantity).
  // Tenth round (parties.yaml): another customer's invoice item, whose metadata or description an
  // update changes.
  '/v1/invoiceitems/ii_other': {
    id: 'ii_other',
    object: 'invoiceitem',
    amount: 5000,
    currency: 'usd',
    customer: 'cus_other',
    quantity: 1,
  },
  // Twelfth round, probe fixes12e (stripe-credits.yaml): a pending credit of -$150.00 (no invoice
  // yet), untaxed: it lowers the customer's next invoice by $150.00.
  '/v1/invoiceitems/ii_pend': {
    id: 'ii_pend',
    object: 'invoiceitem',
    amount: -15000,
    currency: 'usd',
    customer: 'cus_allowed',
    invoice: null,
    quantity: 1,
    pricing: { type: null, price_details: null, unit_amount_decimal: '-15000' },
    tax_rates: [],
  },
  '/v1/invoiceitems/ii_1': {
    id: 'ii_1',
    object: 'invoiceitem',
    amount: 5000,
    currency: 'usd',
    customer: 'cus_allowed',
    quantity: 1,
    pricing: { type: 'price_details', unit_amount_decimal: '5000' },
    tax_rates: [],
  },
};

/**
 * Shipping rates (twelfth round, stripe-shipping-rates): `fixed_amount.currency_options` is
 * includable, so Stripe answers it only to a read that expands it (stripe-mock, from Stripe's
 * definition, does the same). shr_eur is $0.01, or EUR 90 000 on an invoice in euros; shr_gbp $5 or
 * £4; shr_flat $5 only.
 */
const SHIPPING_RATES: Record<string, { amount: number; options: Record<string, { amount: number }> }> = {
  '/v1/shipping_rates/shr_eur': { amount: 1, options: { eur: { amount: 9_000_000 } } },
  '/v1/shipping_rates/shr_gbp': { amount: 500, options: { gbp: { amount: 400 } } },
  '/v1/shipping_rates/shr_flat': { amount: 500, options: {} },
};

/**
 * Twelfth round, probe fixes12e (stripe-credits.yaml): cus_credits's pending invoice items, as
 * `GET /v1/invoiceitems?customer=…&pending=true` answers them: a -$150.00 credit, a -$85.00 credit
 * with its own 25 % exclusive rate, and a $50.00 charge. Every other customer has none (the list
 * answer below): a new invoice for cus_allowed takes in nothing.
 */
function pendingItems(path: string, url: string): Json | undefined {
  if (path !== '/v1/invoiceitems') return undefined;
  const query = new URLSearchParams(url.split('?')[1] ?? '');
  // Thirteenth round (probe catalog13): the same customer named by its account, acct_credits.
  const known = query.get('customer') === 'cus_credits' || query.get('customer_account') === 'acct_credits';
  if (!known || query.get('pending') !== 'true') return undefined;
  const of = (p: string) => ({ ...STRIPE_OBJECTS[p]!, customer: 'cus_credits', invoice: null });
  return {
    object: 'list',
    url: path,
    has_more: false,
    data: [
      of('/v1/invoiceitems/ii_pend'),
      of('/v1/invoiceitems/ii_vat_pending'),
      of('/v1/invoiceitems/ii_1'),
    ],
  };
}

function shippingRate(path: string, url: string): Json | undefined {
  const rate = SHIPPING_RATES[path];
  if (rate === undefined) return undefined;
  const expanded = new URLSearchParams(url.split('?')[1] ?? '')
    .getAll('expand[]')
    .includes('fixed_amount.currency_options');
  return {
    id: path.split('/').pop()!,
    object: 'shipping_rate',
    type: 'fixed_amount',
    fixed_amount: {
      amount: rate.amount,
      currency: 'usd',
      ...(expanded ? { currency_options: rate.options } : {}),
    },
  };
}

function stripeAnswer(method: string, path: string, body: Buffer): Json {
  if (method === 'GET' && STRIPE_OBJECTS[path]) return STRIPE_OBJECTS[path]!;
  const form = new URLSearchParams(body.toString('utf8'));
  if (method === 'POST' && path === '/v1/invoices/create_preview') return schedulePreview(form);
  const resource = path.split('/')[2] ?? 'object';
  if (method === 'POST' && (path === '/v1/charges' || path === '/v1/payouts' || path === '/v1/transfers')) {
    return {
      id: `${resource}_hostile`,
      object: resource.replace(/s$/, ''),
      amount: Number(form.get('amount') ?? 0),
      currency: form.get('currency') ?? 'usd',
      status: 'succeeded',
    };
  }
  if (method === 'POST' && path === '/v1/payment_intents') {
    return {
      id: 'pi_hostile',
      object: 'payment_intent',
      amount: Number(form.get('amount') ?? 0),
      currency: form.get('currency') ?? 'usd',
      customer: form.get('customer'),
      payment_method: form.get('payment_method'),
      status: 'requires_confirmation',
      client_secret: STRIPE_CLIENT_SECRETS.created,
    };
  }
  if (method === 'POST' && path === '/v1/checkout/sessions') {
    return {
      id: 'cs_test_hostile',
      object: 'checkout.session',
      customer: form.get('customer'),
      mode: form.get('mode'),
      url: 'https://checkout.stripe.com/c/pay/cs_test_hostile',
      client_secret: STRIPE_CLIENT_SECRETS.checkout,
    };
  }
  if (method === 'POST' && path === '/v1/identity/verification_sessions/vs_1')
    return { ...VERIFICATION_SESSION, metadata: { a: form.get('metadata[a]') } };
  // An invoice item updated is answered as Stripe does: the item at its new amount, which never
  // shows the credit it gave back (stripe-credits.yaml: such an update settles at its reservation).
  const item = method === 'POST' && path.startsWith('/v1/invoiceitems/') ? STRIPE_OBJECTS[path] : undefined;
  if (item !== undefined) return updatedItem(item, form);
  if (method === 'GET' && path === '/v1/terminal/configurations')
    return { object: 'list', data: [TERMINAL_CONFIGURATION], has_more: false, url: path };
  if (method === 'GET' && !path.split('/')[3])
    return { object: 'list', data: [], has_more: false, url: path };
  return { id: `${resource}_hostile`, object: resource.replace(/s$/, ''), deleted: method === 'DELETE' };
}

/** An invoice item with the `amount` (or `quantity` × its unit amount) an update gives it. */
function updatedItem(item: Json, form: URLSearchParams): Json {
  const amount = form.get('amount');
  const quantity = form.get('quantity');
  const was = typeof item['amount'] === 'number' ? item['amount'] : 0;
  const perUnit =
    was / (typeof item['quantity'] === 'number' && item['quantity'] !== 0 ? item['quantity'] : 1);
  if (amount !== null) return { ...item, amount: Number(amount) };
  if (quantity !== null) return { ...item, quantity: Number(quantity), amount: perUnit * Number(quantity) };
  return item;
}

/**
 * A draft Stripe charges on its own with $0.00 due: +$600.00 and a -$480.00 credit line taxed
 * -$120.00 (25 % exclusive), rendered as Stripe's definition renders it (`taxes` on each line),
 * the lines `il_…_charge` and `il_…_credit`; `byDefault`: the rate is the invoice's `default_tax_rates`, else the credit's own.
 */
function creditTaxedDraft(id: string, byDefault: boolean): Json {
  const rate = {
    id: 'txr_vat25',
    object: 'tax_rate',
    inclusive: false,
    percentage: 25,
    rate_type: 'percentage',
  };
  const vat = { amount: -12000, tax_behavior: 'exclusive', taxable_amount: -48000, type: 'tax_rate_details' };
  const line = id.replace(/^in_/, 'il_');
  return {
    id,
    object: 'invoice',
    status: 'draft',
    collection_method: 'charge_automatically',
    auto_advance: true,
    amount_due: 0,
    amount_remaining: 0,
    total: 0,
    currency: 'usd',
    customer: 'cus_allowed',
    default_tax_rates: byDefault ? [rate] : [],
    automatic_tax: { enabled: false, status: null },
    total_discount_amounts: [],
    total_taxes: [vat],
    lines: {
      object: 'list',
      has_more: false,
      data: [
        { id: `${line}_charge`, object: 'line_item', amount: 60000, currency: 'usd', taxes: [] },
        { id: `${line}_credit`, object: 'line_item', amount: -48000, currency: 'usd', taxes: [vat] },
      ],
    },
  };
}

/** Unit amounts of the Prices a schedule preview bills by id (stripe-schedules.yaml). */
const PREVIEW_PRICES: Record<string, number> = { price_sched_dear: 5000 };

/** What the preview of a stored schedule kept as it is (`schedule` without phases) bills before tax. */
const PREVIEW_SCHEDULES: Record<string, number> = { sub_sched_taxed: 9000 };

/** The tax automatic tax adds to a preview (eleventh round, stripe-schedules.yaml): 25 %. */
const AUTOMATIC_TAX = 0.25;

/**
 * Stripe's invoice preview of a schedule (`schedule_details`), as Stripe documents it: the schedule's
 * next invoice, which is its FIRST phase's, a period of its items (unit amount of `price_data` or of
 * the Price × `quantity`) and its `add_invoice_items`, billed at its start; later phases are not on
 * it (tenth round, stripe-schedules.yaml). A stored schedule previewed without phases bills its
 * PREVIEW_SCHEDULES amount; automatic tax switched on (on the preview or its first phase) adds
 * AUTOMATIC_TAX (eleventh round). Anything else previewed is a $0 invoice.
 */
function schedulePreview(form: URLSearchParams): Json {
  const phase = 'schedule_details[phases][0]';
  const phased = [...form.keys()].some((name) => name.startsWith('schedule_details[phases]'));
  let due = phased ? 0 : (PREVIEW_SCHEDULES[form.get('schedule') ?? ''] ?? 0);
  for (const list of ['items', 'add_invoice_items']) {
    for (let i = 0; ; i++) {
      const at = `${phase}[${list}][${i}]`;
      const price = form.get(`${at}[price]`);
      const inline = form.get(`${at}[price_data][unit_amount]`);
      if (price === null && inline === null) break;
      const unit = inline !== null ? Number(inline) : (PREVIEW_PRICES[price!] ?? Number.NaN);
      due += unit * Number(form.get(`${at}[quantity]`) ?? 1);
    }
  }
  const taxed = [`automatic_tax[enabled]`, `${phase}[automatic_tax][enabled]`];
  if (taxed.some((name) => form.get(name) === 'true')) due += Math.round(due * AUTOMATIC_TAX);
  return {
    id: 'upcoming_in',
    object: 'invoice',
    status: 'draft',
    amount_due: due,
    total: due,
    currency: form.get('currency') ?? 'usd',
    customer: form.get('customer'),
    collection_method: 'charge_automatically',
  };
}

/**
 * The password of a customer's webhook, in URLs as Twilio documents protecting webhooks
 * (`https://user:password@host`): Keybrake withholds it from every answer.
 */
export const TWILIO_WEBHOOK_PASSWORD = 'WebhookPw123';
/** Receivers' tokens in a webhook's query and path (fourteenth round, twilio-credentials.yaml). */
export const TWILIO_HOOK_TOKENS = ['QueryHookTok-7713', 'PathHookTok-4402'] as const;

/**
 * Answers carrying basic-auth webhook URLs (fourth round): a number in JSON (`\/` escapes, as a JSON
 * encoder may write them) and in XML (the 2010 API's answer to a path without `.json`), and a list
 * of debugger alerts, whose `alert_text` holds the URL percent-encoded.
 */
function twilioWebhooks(method: string, path: string): Answer | undefined {
  if (method !== 'GET') return undefined;
  const url = `https://app:${TWILIO_WEBHOOK_PASSWORD}@app.example.com`;
  if (path.endsWith('/IncomingPhoneNumbers/PNuserinfo.json')) {
    const escaped = url.replaceAll('/', '\\/');
    return {
      json: {},
      text: `{"sid":"PNuserinfo","voice_url":"${url}/voice","sms_url":"${escaped}\\/sms","status_callback":"https://app.example.com/status"}`,
    };
  }
  // Sixth round: one byte that is not UTF-8 (here in the friendly name) turned the withholding off.
  if (path.endsWith('/IncomingPhoneNumbers/PNuserinfobytes.json')) {
    return {
      json: {},
      bytes: Buffer.from(
        `{"sid":"PNuserinfobytes","friendly_name":"caf\xe9","voice_url":"${url}/voice"}`,
        'latin1',
      ),
    };
  }
  if (path.endsWith('/IncomingPhoneNumbers/PNuserinfo')) {
    return {
      json: {},
      text: `<?xml version='1.0' encoding='UTF-8'?>\n<TwilioResponse><IncomingPhoneNumber><Sid>PNuserinfo</Sid><VoiceUrl>${url}/voice</VoiceUrl></IncomingPhoneNumber></TwilioResponse>`,
      headers: { 'content-type': 'application/xml' },
    };
  }
  // Seventh round: a dotted user name followed by a sub-delim (`+`, `=`) was taken for prose, and the
  // password after it reached the agent; so did one after a single slash.
  if (path.endsWith('/IncomingPhoneNumbers/PNdottedusers.json')) {
    return {
      json: {
        sid: 'PNdottedusers',
        voice_url: 'https://first.last+twilio:Hunter2Secret@hooks.example.com/voice',
        sms_url: 'https://john.doe:Hunter2Secret@hooks.example.com/sms',
        status_callback: 'https://ops.team=1:Hunter2Secret@hooks.example.com/s',
        voice_fallback_url: 'https:/fallback:Hunter2Secret@hooks.example.com/f',
      },
    };
  }
  if (path.endsWith('/IncomingPhoneNumbers/PNdottedusers')) {
    return {
      json: {},
      text: `<?xml version='1.0' encoding='UTF-8'?>\n<TwilioResponse><IncomingPhoneNumber><VoiceUrl>https://api.corp.com;pw=Hunter2Secret@hooks.example.com/voice</VoiceUrl><SmsUrl>https://api.corp.com=:Hunter2Secret@hooks.example.com/sms</SmsUrl></IncomingPhoneNumber></TwilioResponse>`,
      headers: { 'content-type': 'application/xml' },
    };
  }
  // Fourteenth round (probe fixtwre14 finding 5): a receiver's token in a webhook's query or path,
  // in JSON (with Twilio's own links beside it) and in XML.
  if (path.endsWith('/IncomingPhoneNumbers/PNhooktokens.json')) {
    return {
      json: {
        sid: 'PNhooktokens',
        sms_url: `https://app.example.com/twilio/inbound-sms?token=${TWILIO_HOOK_TOKENS[0]}`,
        voice_url: `https://hooks.zapier.com/hooks/catch/123456/${TWILIO_HOOK_TOKENS[1]}/`,
        status_callback: 'https://status.example.com/',
        url: 'https://api.twilio.com/2010-04-01/Accounts/AC1/IncomingPhoneNumbers/PNhooktokens.json',
      },
    };
  }
  // Fifteenth round (probe fixes14 finding 1): a raw ' in a webhook's path and query, before its token.
  if (path.endsWith('/IncomingPhoneNumbers/PNhookquotes.json')) {
    return {
      json: {
        sid: 'PNhookquotes',
        voice_url: `https://hooks.example.com/o'brien-line/voice?token=${TWILIO_HOOK_TOKENS[0]}`,
        status_callback: `https://hooks.example.com/twilio?src='x'&token=${TWILIO_HOOK_TOKENS[1]}`,
      },
    };
  }
  // Sixteenth round (probe fixes16 finding 2): a customer's URL joined to one of Twilio's by `'`, `,`
  // or `;` (no blank between), as a JSON-encoded `attributes` string a customer wrote may hold them.
  if (path.endsWith('/IncomingPhoneNumbers/PNhookjoined.json')) {
    return {
      json: {
        sid: 'PNhookjoined',
        attributes: `{"links":"'https://api.twilio.com/x','https://app.example.com/sms?token=${TWILIO_HOOK_TOKENS[0]}'"}`,
        voice_url: `https://api.twilio.com/x;https%3A%2F%2Fhooks.example.com%2Fv%3Ftoken%3D${TWILIO_HOOK_TOKENS[1]}`,
        status_callback: 'https://api.twilio.com/2010-04-01/x,https://status.example.com/',
        url: 'https://api.twilio.com/2010-04-01/Accounts/AC1/IncomingPhoneNumbers/PNhookjoined.json',
      },
    };
  }
  if (path.endsWith('/IncomingPhoneNumbers/PNhooktokens')) {
    return {
      json: {},
      text: `<?xml version='1.0' encoding='UTF-8'?>\n<TwilioResponse><IncomingPhoneNumber><SmsUrl>https://app.example.com/twilio/inbound-sms?a=1&amp;token=${TWILIO_HOOK_TOKENS[0]}</SmsUrl></IncomingPhoneNumber></TwilioResponse>`,
      headers: { 'content-type': 'application/xml' },
    };
  }
  if (path === '/monitor/v1/Alerts') {
    const encoded = encodeURIComponent(`${url}/sms`);
    const alert = { sid: 'NOuserinfo', request_url: `${url}/sms`, alert_text: `Msg=timeout&url=${encoded}` };
    return { json: { alerts: [alert], meta: { page: 0 } } };
  }
  return undefined;
}

/**
 * What the account's sign-in service texted a customer (thirteenth round, twilio-message-bodies.yaml):
 * a code and a magic link, which Keybrake withholds from every message read; and a customer's reply
 * texted to the account, which it keeps.
 */
export const TWILIO_SENT_CODE =
  'Your Acme sign-in code is 982451. Or tap https://acme.example.com/magic?token=mlt_7Hq2LkP9';
export const TWILIO_CUSTOMER_REPLY = 'Yes please, move my delivery to Friday';

/**
 * Message reads as Twilio answers them (thirteenth round): the 2010 API's list, one sent and one
 * received message (JSON, and XML for a path without `.json`), an update's answer (the whole
 * message), a Conversations list (a message the backend posted as `system`, one a participant
 * wrote) and a Chat channel's.
 */
function twilioMessages(method: string, path: string): Answer | undefined {
  const sent = {
    sid: 'SM0123456789abcdef0123456789abcdef',
    direction: 'outbound-api',
    from: '+14155550199',
    to: '+14155550100',
    status: 'delivered',
    num_segments: '1',
    body: TWILIO_SENT_CODE,
  };
  const received = {
    sid: 'SM89abcdef0123456789abcdef01234567',
    direction: 'inbound',
    from: '+14155550100',
    to: '+14155550199',
    status: 'received',
    num_segments: '1',
    body: TWILIO_CUSTOMER_REPLY,
  };
  const one = /\/Messages\/(SM[0-9a-f]{32})(\.json)?$/.exec(path);
  if (/\/Accounts\/AC\w+\/Messages(\.json)?$/.test(path) || one) {
    if (method !== 'GET' && !(method === 'POST' && one)) return undefined;
    const found = one ? [sent, received].find((m) => m.sid === one[1]) : undefined;
    if (one && !found) return undefined;
    if (one ? one[2] === undefined : !path.endsWith('.json')) {
      const xml = (m: typeof sent) =>
        `<Message><Sid>${m.sid}</Sid><Direction>${m.direction}</Direction><Body>${m.body.replaceAll('&', '&amp;')}</Body></Message>`;
      const inner = found ? xml(found) : `<Messages page="0">${xml(sent)}${xml(received)}</Messages>`;
      return {
        json: {},
        text: `<?xml version='1.0' encoding='UTF-8'?>\n<TwilioResponse>${inner}</TwilioResponse>`,
        headers: { 'content-type': 'application/xml' },
      };
    }
    return { json: found ?? { messages: [sent, received], page: 0 } };
  }
  if (method === 'GET' && path.endsWith('/Conversations/CH00000000000000000000000000000001/Messages')) {
    return {
      json: {
        messages: [
          {
            sid: 'IM00000000000000000000000000000001',
            author: 'system',
            participant_sid: null,
            body: TWILIO_SENT_CODE,
          },
          {
            sid: 'IM00000000000000000000000000000002',
            author: '+14155550100',
            participant_sid: 'MB00000000000000000000000000000001',
            body: TWILIO_CUSTOMER_REPLY,
          },
        ],
        meta: { page: 0 },
      },
    };
  }
  if (method === 'GET' && path.endsWith('/Channels/CH00000000000000000000000000000001/Messages')) {
    return {
      json: {
        messages: [
          { sid: 'IM00000000000000000000000000000003', from: 'system', body: TWILIO_SENT_CODE },
          { sid: 'IM00000000000000000000000000000004', from: 'customer-42', body: TWILIO_CUSTOMER_REPLY },
        ],
      },
    };
  }
  // Probe fixes13t finding 1: a message the backend posted into a conversation under a bot name (no
  // participant), read on the Chat and IP Messaging hosts, where the same object answers as Chat's.
  if (method === 'GET' && /\/Channels\/CH00000000000000000000000000000002\/Messages(\/IM\w+)?$/.test(path)) {
    const message = {
      sid: 'IM00000000000000000000000000000005',
      channel_sid: 'CH00000000000000000000000000000002',
      from: 'acme-notify-bot',
      body: TWILIO_SENT_CODE,
      attributes: '{}',
    };
    return { json: path.endsWith('/Messages') ? { messages: [message], meta: {} } : message };
  }
  // Probe fixes13t finding 3: SMS and IP commands the account sent its SIMs, and one a SIM sent it.
  const simCommands = /^\/(?:wireless\/v1|preview\/wireless)\/Commands$/.test(path)
    ? { key: 'commands', field: 'command' }
    : /^\/supersim\/v1\/(?:Sms|Ip)Commands$/.test(path)
      ? { key: path.endsWith('/SmsCommands') ? 'sms_commands' : 'ip_commands', field: 'payload' }
      : undefined;
  if (method === 'GET' && simCommands) {
    const command = (sid: string, direction: string, text: string) => ({
      sid,
      sim_sid: 'DE00000000000000000000000000000001',
      [simCommands.field]: text,
      direction,
      status: direction === 'to_sim' ? 'delivered' : 'received',
    });
    const commands = [
      command('DC00000000000000000000000000000001', 'to_sim', TWILIO_SIM_COMMAND),
      command('DC00000000000000000000000000000002', 'from_sim', TWILIO_SIM_REPLY),
    ];
    return { json: { [simCommands.key]: commands, meta: { page: 0 } } };
  }
  if (method === 'GET' && /^\/(?:wireless\/v1\/Commands\/DC|supersim\/v1\/SmsCommands\/HC)\w+$/.test(path)) {
    const field = path.startsWith('/wireless') ? 'command' : 'payload';
    return { json: { sid: path.slice(-34), [field]: TWILIO_SIM_COMMAND, direction: 'to_sim' } };
  }
  return undefined;
}

/** What the account texted a SIM (a device's provisioning) and what a SIM texted it (probe fixes13t). */
export const TWILIO_SIM_COMMAND = 'PROVISION wifi=AcmeHQ psk=Xk9-2f7Q-secret; otp=551904';
export const TWILIO_SIM_REPLY = 'STATUS ok battery=81';

/**
 * Live calls by SID (twilio-implicit-parties.yaml): an inbound one from a number outside +1415555*, an
 * outbound one to it, one whose answer gives no direction (an older shape), an inbound one from an
 * allowed number, and an inbound one to a number the key may not send from.
 */
const LIVE_CALLS: Readonly<Record<string, Json>> = {
  CA00000000000000000000000000000b01: { direction: 'inbound', from: '+19005550100', to: '+14155550000' },
  CA00000000000000000000000000000b02: { direction: 'outbound-api', from: '+14155550000', to: '+19005550100' },
  CA00000000000000000000000000000b03: { to: '+14155550100' },
  CA00000000000000000000000000000b04: { direction: 'inbound', from: '+14155550123', to: '+14155550000' },
  CA00000000000000000000000000000b05: { direction: 'inbound', from: '+14155550123', to: '+14155559999' },
};

/** The account's own numbers (IncomingPhoneNumbers), as the list answers them. */
const OWN_NUMBERS = [{ sid: 'PNhostile00000000000000000000001', phone_number: '+18885550100' }];

/**
 * A number whose look-up Twilio refuses as it does for a restricted API key that may send messages
 * but not list numbers (fourteenth round, probe fixtwre14, finding 4): `401 {code: 20003}`.
 */
const REFUSED_LOOKUP_NUMBER = '+14155550401';

function twilioRefusedRead(method: string, path: string, url: string): Answer | undefined {
  if (method !== 'GET' || !/\/IncomingPhoneNumbers\.json$/.test(path)) return undefined;
  const query = new URLSearchParams(url.includes('?') ? url.slice(url.indexOf('?') + 1) : '');
  if (query.get('PhoneNumber') !== REFUSED_LOOKUP_NUMBER) return undefined;
  return {
    status: 401,
    json: {
      code: 20003,
      message: 'Authenticate',
      more_info: 'https://www.twilio.com/docs/errors/20003',
      status: 401,
    },
  };
}

/**
 * The participants of the conversations a message is priced for (fourteenth round, probe fixtwre14,
 * finding 1): one SMS participant each, at the account's own toll-free line, or at another number.
 */
const CONVERSATION_SMS_PARTICIPANT: Readonly<Record<string, string>> = {
  CH00000000000000000000000000000c01: '+18885550100',
  CH00000000000000000000000000000c02: '+14155550123',
};

function twilioAnswer(method: string, path: string, body: Buffer, url = ''): Json {
  const form = new URLSearchParams(body.toString('utf8'));
  const query = new URLSearchParams(url.includes('?') ? url.slice(url.indexOf('?') + 1) : '');
  if (method === 'POST' && path.endsWith('/Messages.json')) {
    return {
      sid: 'SMhostile00000000000000000000000',
      status: 'queued',
      to: form.get('To'),
      num_segments: '1',
      price: null,
    };
  }
  if (method === 'POST' && path.endsWith('/Calls.json')) {
    return { sid: 'CAhostile00000000000000000000000', status: 'queued', to: form.get('To'), price: null };
  }
  // The account's numbers a call or text is checked against (thirteenth round, own-numbers.ts): its
  // toll-free support line +18885550100 is one of them, any other number is not.
  if (method === 'GET' && /\/IncomingPhoneNumbers\.json$/.test(path)) {
    const own = OWN_NUMBERS.filter((n) => n.phone_number === query.get('PhoneNumber'));
    return { incoming_phone_numbers: own, next_page_uri: null };
  }
  const conversation = /\/Conversations\/(CH[0-9a-f]{32})\/Participants$/.exec(path)?.[1];
  const participant = conversation === undefined ? undefined : CONVERSATION_SMS_PARTICIPANT[conversation];
  if (method === 'GET' && participant !== undefined) {
    return {
      participants: [
        {
          sid: 'MBhostile00000000000000000000001',
          identity: null,
          messaging_binding: { type: 'sms', address: participant, proxy_address: '+14155550199' },
        },
      ],
      meta: { page: 0, page_size: 100, next_page_url: null },
    };
  }
  // A live call to a US number (what a call update is priced from), outbound from the account's
  // +14155550000 unless LIVE_CALLS names it (twelfth round: whom an <Sms> without to texts).
  if (method === 'GET' && /\/Calls\/CA[0-9a-f]{32}\.json$/.test(path)) {
    const sid = path.slice(-39, -5);
    const call = LIVE_CALLS[sid] ?? { direction: 'outbound-api', from: '+14155550000', to: '+14155550100' };
    return { sid, status: 'in-progress', ...call, price: null };
  }
  return { sid: 'XXhostile00000000000000000000000', status: 'ok', path };
}

/**
 * A run of the merchant's password-reset automation as Resend may hold it after the app's
 * `password.reset` event (thirteenth round, resend-automation-runs.yaml): the trigger's output is
 * the event with the reset link, the send's the mail with a code, a failed condition's error quotes
 * the payload. Resend's definition says only "the output produced by the step, if any".
 */
const RESEND_RUN_SECRET = 'https://app.shop.example.com/reset?token=RunResetToken-8841';
const RESEND_RUN = {
  object: 'automation_run',
  id: 'run_1',
  status: 'completed',
  steps: [
    {
      key: 'trigger',
      type: 'trigger',
      status: 'completed',
      output: {
        event: 'password.reset',
        email: 'victim@customer.test',
        payload: { reset_url: RESEND_RUN_SECRET },
      },
      error: null,
    },
    {
      key: 'send',
      type: 'send_email',
      status: 'completed',
      output: { subject: 'Your code is 771903' },
      error: null,
    },
    {
      key: 'cond',
      type: 'condition',
      status: 'failed',
      output: null,
      error: { message: `field event.plan missing in {"reset_url":"${RESEND_RUN_SECRET}"}` },
    },
  ],
};

function resendAnswer(method: string, path: string): Json {
  // Sixth round: a webhook whose endpoint carries a user name and password; thirteenth round: one
  // whose query carries its token, and a catch hook whose path does.
  if (method === 'GET' && path === '/webhooks')
    return {
      object: 'list',
      data: [
        { id: 'wh_1', endpoint: 'https://resendhook:Rs3ndPass-456@shop.example.com/resend/webhook' },
        { id: 'wh_2', endpoint: 'https://hooks.shop.example.com/resend?token=QueryHookToken-5521' },
        { id: 'wh_3', endpoint: 'https://hooks.zapier.com/hooks/catch/123456/PathHookToken-9930/' },
        { id: 'wh_4', endpoint: 'https://bare.shop.example.com/' },
      ],
    };
  if (method === 'GET' && /^\/automations\/[^/]+\/runs\/[^/]+$/.test(path)) return RESEND_RUN;
  if (method === 'GET' && /^\/automations\/[^/]+\/runs$/.test(path))
    return { object: 'list', has_more: false, data: [RESEND_RUN] };
  if (method === 'POST' && path === '/emails') return { id: 'email-hostile' };
  if (method === 'POST' && path === '/emails/batch') return { data: [{ id: 'email-hostile-1' }] };
  return { object: path.split('/')[1] ?? 'object', id: 'hostile' };
}
