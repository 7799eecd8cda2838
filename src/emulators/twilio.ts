import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { SegmentedMessage } from 'sms-segments-calculator';
import { createRecorder, type EmulatorHandle, readBody, sendJson, serveEmulator } from './recorder.ts';

/** A Twilio account (or API key of one) the emulator accepts. */
export interface TwilioEmulatorAccount {
  readonly sid: string;
  readonly authToken: string;
}

export interface TwilioEmulatorOptions {
  /** 0 (default) picks a free port. */
  readonly port?: number;
  readonly accounts?: readonly TwilioEmulatorAccount[];
  /** API keys (`SK…:secret`) acting on an account. */
  readonly apiKeys?: readonly {
    readonly sid: string;
    readonly secret: string;
    readonly accountSid: string;
  }[];
  /** Off for benchmarks, where recording every request would only grow memory. */
  readonly record?: boolean;
}

/** A running Twilio emulator, handed to e2e tests, the demo and the benchmark. */
export type TwilioEmulator = EmulatorHandle;

export const TWILIO_EMULATOR_ACCOUNT: TwilioEmulatorAccount = {
  sid: 'AC00000000000000000000000000000001',
  authToken: 'emulator-auth-token',
};

const DOCS = 'https://www.twilio.com/docs/errors';

interface Reply {
  readonly status: number;
  readonly body: unknown;
}

/**
 * Stands in for `https://{sub}.twilio.com`: the first path segment is the sub host, so configure the
 * proxy with `--upstream twilio=http://127.0.0.1:PORT/{sub}`. Implements just enough of Messages,
 * Calls, Verify and Lookups for twilio-node to round-trip, with Twilio's auth and error shapes.
 */
export async function startTwilioEmulator(opts: TwilioEmulatorOptions = {}): Promise<TwilioEmulator> {
  const accounts = opts.accounts ?? [TWILIO_EMULATOR_ACCOUNT];
  const apiKeys = opts.apiKeys ?? [];
  const record = opts.record ?? true;
  const recorder = createRecorder();
  const messages = new Map<string, Record<string, unknown>>();

  function authenticate(headers: IncomingHttpHeaders): string | undefined {
    const match = /^Basic\s+(\S+)$/i.exec(headers.authorization ?? '');
    if (!match) return undefined;
    const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return undefined;
    const user = decoded.slice(0, colon);
    const secret = decoded.slice(colon + 1);
    const account = accounts.find((a) => a.sid === user && a.authToken === secret);
    if (account) return account.sid;
    return apiKeys.find((k) => k.sid === user && k.secret === secret)?.accountSid;
  }

  function handle(
    method: string,
    path: string,
    query: URLSearchParams,
    form: URLSearchParams,
    account: string,
  ): Reply {
    const [, sub = '', ...rest] = path.split('/');
    const route = `/${rest.join('/')}`;
    const scoped = /^\/2010-04-01\/Accounts\/([^/.]+)(.*)$/.exec(route);
    if (sub === 'api' && scoped) {
      if (scoped[1] !== account) return notFound(route);
      return accountApi(method, scoped[2]!, form, account, route);
    }
    if (sub === 'verify' && method === 'POST') {
      const verification = /^\/v2\/Services\/([^/]+)\/(Verifications|VerificationCheck)$/.exec(route);
      if (verification) {
        const to = form.get('To');
        if (!to) return error(400, 60200, 'Invalid parameter `To`');
        const approved = verification[2] === 'VerificationCheck' && form.get('Code') === '123456';
        return {
          status: verification[2] === 'Verifications' ? 201 : 200,
          body: {
            sid: sid('VE'),
            service_sid: verification[1],
            account_sid: account,
            to,
            channel: (form.get('Channel') ?? 'sms').toLowerCase(),
            status: approved ? 'approved' : 'pending',
            valid: approved,
            date_created: new Date().toISOString(),
          },
        };
      }
    }
    if (sub === 'lookups' && method === 'GET') {
      const lookup = /^\/v2\/PhoneNumbers\/([^/]+)$/.exec(route);
      if (lookup) {
        const number = decodeURIComponent(lookup[1]!);
        const fields = query.getAll('Fields').flatMap((f) => f.split(','));
        return {
          status: 200,
          body: {
            phone_number: number,
            valid: number.startsWith('+'),
            calling_country_code: null,
            country_code: null,
            line_type_intelligence: fields.includes('line_type_intelligence') ? { type: 'mobile' } : null,
            caller_name: fields.includes('caller_name')
              ? { caller_name: 'EMULATED', caller_type: 'CONSUMER' }
              : null,
            url: `https://lookups.twilio.com/v2/PhoneNumbers/${number}`,
          },
        };
      }
    }
    return notFound(route);
  }

  function accountApi(
    method: string,
    rest: string,
    form: URLSearchParams,
    account: string,
    route: string,
  ): Reply {
    if (method === 'POST' && rest === '/Messages.json') {
      const to = form.get('To');
      if (!to) return error(400, 21604, "A 'To' phone number is required.");
      const body = form.get('Body') ?? '';
      const media = form.getAll('MediaUrl');
      if (!body && media.length === 0 && !form.get('ContentSid')) {
        return error(400, 21602, 'Message body is required.');
      }
      const message = messageResource(account, to, form, body, media.length);
      messages.set(message['sid'] as string, message);
      return { status: 201, body: message };
    }
    const fetch = /^\/Messages\/([^/.]+)\.json$/.exec(rest);
    if (method === 'GET' && fetch) {
      const message = messages.get(fetch[1]!);
      return message ? { status: 200, body: message } : notFound(route);
    }
    if (method === 'GET' && rest === '/Messages.json') {
      const uri = `/2010-04-01/Accounts/${account}/Messages.json`;
      return {
        status: 200,
        body: {
          messages: [...messages.values()],
          uri,
          first_page_uri: uri,
          next_page_uri: null,
          page: 0,
          page_size: 50,
        },
      };
    }
    if (method === 'POST' && rest === '/Calls.json') {
      const to = form.get('To');
      if (!to) return error(400, 21201, "No 'To' number is specified");
      return {
        status: 201,
        body: {
          sid: sid('CA'),
          account_sid: account,
          to,
          from: form.get('From'),
          status: 'queued',
          direction: 'outbound-api',
          duration: null,
          price: null,
          price_unit: 'USD',
          api_version: '2010-04-01',
          date_created: new Date().toUTCString(),
        },
      };
    }
    return notFound(route);
  }

  function messageResource(account: string, to: string, form: URLSearchParams, body: string, media: number) {
    const id = sid('SM');
    const segments = new SegmentedMessage(body).segmentsCount;
    return {
      sid: id,
      account_sid: account,
      to,
      from: form.get('From'),
      messaging_service_sid: form.get('MessagingServiceSid'),
      body,
      status: 'queued',
      direction: 'outbound-api',
      num_segments: String(Math.max(1, segments)),
      num_media: String(media),
      price: null,
      price_unit: 'USD',
      error_code: null,
      error_message: null,
      api_version: '2010-04-01',
      date_created: new Date().toUTCString(),
      uri: `/2010-04-01/Accounts/${account}/Messages/${id}.json`,
    };
  }

  const server = createServer(async (req, res) => {
    const raw = (await readBody(req).catch(() => Buffer.alloc(0))).toString('utf8');
    if (record) recorder.record(req, Buffer.from(raw));
    const url = new URL(req.url ?? '/', 'http://emulator');
    const method = req.method ?? 'GET';
    const account = authenticate(req.headers);
    const reply = account
      ? handle(method, url.pathname, url.searchParams, new URLSearchParams(raw), account)
      : error(401, 20003, 'Authenticate');
    sendJson(res, reply.status, reply.body, { 'twilio-request-id': sid('RQ') });
  });
  return serveEmulator(server, recorder, opts.port);
}

function sid(prefix: string): string {
  return prefix + randomBytes(16).toString('hex');
}

function error(status: number, code: number, message: string): Reply {
  return { status, body: { code, message, more_info: `${DOCS}/${code}`, status } };
}

function notFound(route: string): Reply {
  return error(404, 20404, `The requested resource ${route} was not found`);
}
