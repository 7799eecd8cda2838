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

/** A running Resend emulator, handed to e2e tests, the demo and the benchmark. */
export type ResendEmulator = EmulatorHandle;

export const RESEND_EMULATOR_KEY = 're_emulator_0000000000000000';

interface Reply {
  readonly status: number;
  readonly body: unknown;
}

/**
 * Stands in for `https://api.resend.com` (configure `--upstream resend=http://127.0.0.1:PORT`):
 * sends, batches and fetches emails, with Resend's auth and `{statusCode,name,message}` errors.
 */
export async function startResendEmulator(opts: ResendEmulatorOptions = {}): Promise<ResendEmulator> {
  const keys = new Set(opts.apiKeys ?? [RESEND_EMULATOR_KEY]);
  const record = opts.record ?? true;
  const recorder = createRecorder();
  const emails = new Map<string, Record<string, unknown>>();

  function send(input: unknown): Record<string, unknown> | Reply {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      return error(422, 'validation_error', 'The email must be an object.');
    }
    const email = input as Record<string, unknown>;
    for (const field of ['from', 'to', 'subject']) {
      if (email[field] === undefined)
        return error(422, 'missing_required_field', `Missing \`${field}\` field.`);
    }
    const id = randomUUID();
    const list = (v: unknown) => (v === undefined ? null : Array.isArray(v) ? v : [v]);
    emails.set(id, {
      object: 'email',
      id,
      from: email['from'],
      to: list(email['to']),
      cc: list(email['cc']),
      bcc: list(email['bcc']),
      reply_to: list(email['reply_to']),
      subject: email['subject'],
      html: email['html'] ?? null,
      text: email['text'] ?? null,
      created_at: new Date().toISOString(),
      scheduled_at: email['scheduled_at'] ?? null,
      last_event: 'delivered',
    });
    return { id };
  }

  function handle(method: string, path: string, raw: string): Reply {
    let body: unknown;
    try {
      body = raw.length > 0 ? JSON.parse(raw) : undefined;
    } catch {
      return error(400, 'validation_error', 'Invalid JSON body.');
    }
    if (method === 'POST' && path === '/emails') {
      const sent = send(body);
      return 'status' in sent ? (sent as Reply) : { status: 200, body: sent };
    }
    if (method === 'POST' && path === '/emails/batch') {
      if (!Array.isArray(body)) return error(422, 'validation_error', 'The batch must be an array.');
      const data: unknown[] = [];
      for (const item of body) {
        const sent = send(item);
        if ('status' in sent) return sent as Reply;
        data.push(sent);
      }
      return { status: 200, body: { data } };
    }
    const fetch = /^\/emails\/([^/]+)$/.exec(path);
    if (method === 'GET' && fetch) {
      const email = emails.get(fetch[1]!);
      return email ? { status: 200, body: email } : error(404, 'not_found', 'Email not found');
    }
    return error(404, 'not_found', 'The requested endpoint does not exist.');
  }

  const server = createServer(async (req, res) => {
    const raw = (await readBody(req).catch(() => Buffer.alloc(0))).toString('utf8');
    if (record) recorder.record(req, Buffer.from(raw));
    const url = new URL(req.url ?? '/', 'http://emulator');
    const auth = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    const reply = !auth
      ? error(401, 'missing_api_key', 'Missing API key in the authorization header.')
      : !keys.has(auth[1]!)
        ? error(403, 'invalid_api_key', 'API key is invalid')
        : handle(req.method ?? 'GET', url.pathname, raw);
    sendJson(res, reply.status, reply.body, { 'x-request-id': randomUUID() });
  });
  return serveEmulator(server, recorder, opts.port);
}

function error(statusCode: number, name: string, message: string): Reply {
  return { status: statusCode, body: { statusCode, name, message } };
}
