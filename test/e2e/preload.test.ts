// The redirect preload (src/preload/redirect.cjs) in a real Node process started with `--require`, as
// NODE_OPTIONS starts it under an MCP server: vendor hosts go to the local server standing in for
// Keybrake, through every request API a client library uses; anything else is left alone.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeServer, listen, readBody } from '../../src/emulators/recorder.ts';

const PRELOAD = path.resolve(import.meta.dirname, '../../src/preload/redirect.cjs');

type Seen = { method: string; url: string; headers: IncomingHttpHeaders; body: string };

let server: Server;
let base: string;
const seen: Seen[] = [];

beforeAll(async () => {
  server = createServer(async (req, res) => {
    const body = (await readBody(req)).toString('utf8');
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ path: req.url }));
  });
  base = `http://127.0.0.1:${await listen(server)}`;
});

afterAll(async () => {
  await closeServer(server);
});

/** Runs `node --require redirect.cjs -e <script>` and collects what it printed. */
async function runPreloaded(
  script: string,
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const {
    KEYBRAKE_STRIPE_URL: _s,
    KEYBRAKE_TWILIO_URL: _t,
    KEYBRAKE_RESEND_URL: _r,
    ...ambient
  } = process.env;
  const child = spawn(process.execPath, ['--require', PRELOAD, '-e', script], {
    env: { ...ambient, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr };
}

/** Child-side helpers: each request style resolves to the response body or the error code. */
const HELPERS = `
const https = require('node:https');
// (url, options, cb) when given a URL, (options, cb) when given an options object: both of Node's shapes.
const viaRequest = (target, init = {}) => new Promise((resolve) => {
  const onResponse = (res) => { let b = ''; res.on('data', (d) => (b += d)); res.on('end', () => resolve(b)); };
  const isUrl = typeof target === 'string' || target instanceof URL;
  const req = isUrl ? https.request(target, init, onResponse) : https.request(target, onResponse);
  req.on('error', (e) => resolve('error:' + e.code));
  req.end(init.body);
});
const viaGet = (options) => new Promise((resolve) => {
  https.get(options, (res) => { let b = ''; res.on('data', (d) => (b += d)); res.on('end', () => resolve(b)); })
    .on('error', (e) => resolve('error:' + e.code));
});
const viaFetch = (input, init) => fetch(input, init).then((r) => r.text(), (e) => 'error:' + (e.cause?.code ?? e.message));
const print = (results) => process.stdout.write(JSON.stringify(results));
`;

describe('the redirect preload', () => {
  it.each([
    [
      'https.request with a URL string',
      `viaRequest('https://api.stripe.com/v1/x?limit=3')`,
      'GET',
      '/v1/x?limit=3',
    ],
    [
      'https.request with a URL object and options',
      `viaRequest(new URL('https://api.stripe.com/v1/x'), { method: 'POST', headers: { Host: 'api.stripe.com' }, body: 'a=1' })`,
      'POST',
      '/v1/x',
    ],
    [
      'https.request with an options object and an https agent',
      `viaRequest({ hostname: 'api.stripe.com', path: '/v1/x', method: 'DELETE', agent: new https.Agent({ keepAlive: true }), ciphers: 'DEFAULT' })`,
      'DELETE',
      '/v1/x',
    ],
    ['https.get', `viaGet({ host: 'api.stripe.com', path: '/v1/x' })`, 'GET', '/v1/x'],
    [
      'fetch with a string',
      `viaFetch('https://api.stripe.com/v1/x', { method: 'POST', body: 'a=1' })`,
      'POST',
      '/v1/x',
    ],
    ['fetch with a URL', `viaFetch(new URL('https://api.stripe.com/v1/x'))`, 'GET', '/v1/x'],
    [
      'an upload to files.stripe.com',
      `viaRequest('https://files.stripe.com/v1/files', { method: 'POST', body: 'a=1' })`,
      'POST',
      '/v1/files',
    ],
    [
      'fetch with a Request',
      `viaFetch(new Request('https://api.stripe.com/v1/x', { method: 'POST', body: 'a=1', headers: { authorization: 'Bearer t' } }))`,
      'POST',
      '/v1/x',
    ],
  ])('sends %s for api.stripe.com to Keybrake, path and method kept', async (_name, call, method, url) => {
    seen.length = 0;

    const run = await runPreloaded(`${HELPERS} ${call}.then((r) => print([r]));`, {
      KEYBRAKE_STRIPE_URL: base,
    });

    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual([JSON.stringify({ path: url })]);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ method, url });
    // The vendor's Host header is not carried to Keybrake.
    expect(seen[0]!.headers.host).toBe(new URL(base).host);
    if (method === 'POST') expect(seen[0]!.body).toBe('a=1');
  });

  it.each([
    [
      'https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json',
      '/twilio/api/2010-04-01/Accounts/AC1/Messages.json',
    ],
    ['https://messaging.twilio.com/v1/Services', '/twilio/messaging/v1/Services'],
    ['https://api.resend.com/emails', '/resend/emails'],
  ])('sends %s to %s under the vendor path prefix', async (from, to) => {
    seen.length = 0;

    const run = await runPreloaded(
      `${HELPERS} Promise.all([viaRequest('${from}'), viaFetch('${from}')]).then(print);`,
      {
        KEYBRAKE_TWILIO_URL: `${base}/twilio/`,
        KEYBRAKE_RESEND_URL: `${base}/resend`,
      },
    );

    expect(run.code).toBe(0);
    expect(seen.map((s) => s.url)).toEqual([to, to]);
  });

  it('leaves other hosts alone: an unresolvable one fails with a DNS error instead of being redirected', async () => {
    seen.length = 0;

    const run = await runPreloaded(
      `${HELPERS} Promise.all([viaRequest('https://example.invalid/v1/x'), viaFetch('https://example.invalid/v1/x')]).then(print);`,
      { KEYBRAKE_STRIPE_URL: base, KEYBRAKE_TWILIO_URL: base, KEYBRAKE_RESEND_URL: base },
    );

    expect(JSON.parse(run.stdout)).toEqual(['error:ENOTFOUND', 'error:ENOTFOUND']);
    expect(seen).toHaveLength(0);
  });

  it('leaves a vendor alone when its variable is unset', async () => {
    seen.length = 0;

    const run = await runPreloaded(
      `${HELPERS} viaRequest('https://api.resend.com.invalid/x').then((r) => print([r]));`,
      {
        KEYBRAKE_STRIPE_URL: base,
      },
    );

    expect(JSON.parse(run.stdout)).toEqual(['error:ENOTFOUND']);
    expect(run.stderr).toContain(`keybrake preload: redirecting stripe → ${base}\n`);
    expect(run.stderr).not.toContain('resend');
    expect(seen).toHaveLength(0);
  });

  it('says so on stderr when nothing is configured', async () => {
    const run = await runPreloaded('', {});

    expect(run.code).toBe(0);
    expect(run.stderr).toBe('keybrake preload: no KEYBRAKE_*_URL set, nothing redirected\n');
  });

  it('stops the process on a malformed URL, naming the variable but not echoing its value', async () => {
    const run = await runPreloaded('', { KEYBRAKE_STRIPE_URL: 'not a url sk_live_secretish' });

    expect(run.code).toBe(1);
    // One line, not Node's uncaught-exception dump (tenth round: source line, caret, ten frames).
    expect(run.stderr).toBe('keybrake preload: KEYBRAKE_STRIPE_URL is not a valid URL\n');
    expect(run.stderr).not.toContain('sk_live_secretish');
  });

  it('stops the process on a URL that is not http or https, in one line', async () => {
    const run = await runPreloaded('', { KEYBRAKE_RESEND_URL: 'ftp://keybrake.invalid/' });
    expect(run.code).toBe(1);
    expect(run.stderr).toBe('keybrake preload: KEYBRAKE_RESEND_URL must be an http or https URL\n');
  });

  // Tenth round: an empty value (a Kubernetes env whose value came out empty) counted as unset, and
  // the MCP server sent its vault token straight to the vendor. The process must not start its
  // script at all: a vendor call from it would leave the machine.
  it.each(['KEYBRAKE_STRIPE_URL', 'KEYBRAKE_TWILIO_URL', 'KEYBRAKE_RESEND_URL'])(
    'stops the process when %s is set but empty, before any call',
    async (name) => {
      for (const value of ['', '  ']) {
        const run = await runPreloaded(`process.stdout.write('script ran')`, {
          KEYBRAKE_STRIPE_URL: base,
          [name]: value,
        });
        expect(run.code).toBe(1);
        expect(run.stdout).toBe('');
        expect(run.stderr).toBe(
          `keybrake preload: ${name} is set but empty (unset it to leave that vendor alone)\n`,
        );
      }
    },
  );
});

describe('the redirect preload with KEYBRAKE_RUN_ID (DESIGN.md §5)', () => {
  it.each([
    ['https.request with a URL string', `viaRequest('https://api.stripe.com/v1/x')`],
    [
      'https.request with raw header pairs',
      `viaRequest({ hostname: 'api.stripe.com', path: '/v1/x', headers: ['Authorization', 'Bearer t'] })`,
    ],
    ['https.get', `viaGet({ host: 'api.stripe.com', path: '/v1/x' })`],
    ['fetch with a string', `viaFetch('https://api.stripe.com/v1/x', { method: 'POST', body: 'a=1' })`],
    [
      'fetch with a Request',
      `viaFetch(new Request('https://api.stripe.com/v1/x', { headers: { authorization: 'Bearer t' } }))`,
    ],
  ])('adds Keybrake-Run-Id to a redirected call made with %s', async (_name, call) => {
    seen.length = 0;
    const run = await runPreloaded(`${HELPERS} ${call}.then((r) => print([r]));`, {
      KEYBRAKE_STRIPE_URL: base,
      KEYBRAKE_RUN_ID: 'session:42/a',
    });
    expect(run.code).toBe(0);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.headers['keybrake-run-id']).toBe('session:42/a');
    // Raw header pairs are sent as they are: Keybrake's Host is among them, the vendor's is not.
    expect(seen[0]!.headers.host).toBe(new URL(base).host);
    expect(run.stderr).toContain(', run session:42/a\n');
  });

  it("keeps the caller's own run header, once", async () => {
    seen.length = 0;
    const run = await runPreloaded(
      `${HELPERS} Promise.all([viaRequest('https://api.stripe.com/v1/x', { headers: { 'keybrake-run-id': 'mine' } }), viaFetch('https://api.stripe.com/v1/x', { headers: { 'Keybrake-Run-Id': 'mine' } })]).then(print);`,
      { KEYBRAKE_STRIPE_URL: base, KEYBRAKE_RUN_ID: 'env-run' },
    );
    expect(run.code).toBe(0);
    expect(seen.map((s) => s.headers['keybrake-run-id'])).toEqual(['mine', 'mine']);
  });

  it('never adds it to a host it does not redirect', async () => {
    const run = await runPreloaded(
      `${HELPERS} viaFetch('https://example.invalid/v1/x').then((r) => print([r]));`,
      { KEYBRAKE_STRIPE_URL: base, KEYBRAKE_RUN_ID: 'r' },
    );
    expect(JSON.parse(run.stdout)).toEqual(['error:ENOTFOUND']);
  });

  // Tenth round: an empty value was taken as unset, so the server's calls carried no run, neither
  // capped by nor audited under the run meant, and nothing said so. Like an empty URL variable it
  // stops the process before its script runs; nothing reaches the stand-in for Keybrake.
  it.each(['', ' ', '\t'])('stops the process when KEYBRAKE_RUN_ID is %j, before any call', async (runId) => {
    seen.length = 0;
    const run = await runPreloaded(
      `process.stdout.write('script ran'); ${HELPERS} viaFetch('https://api.stripe.com/v1/x').then((r) => print([r]));`,
      { KEYBRAKE_STRIPE_URL: base, KEYBRAKE_RUN_ID: runId },
    );
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(
      'keybrake preload: KEYBRAKE_RUN_ID is set but empty (unset it to send no run id)\n',
    );
    expect(seen).toHaveLength(0);
  });

  it('stops the process on a malformed run id', async () => {
    const run = await runPreloaded('', { KEYBRAKE_STRIPE_URL: base, KEYBRAKE_RUN_ID: 'has space' });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('KEYBRAKE_RUN_ID must be');
  });

  // Keybrake refuses these (a URL path resolves them away); the preload let them through, so every
  // call of the server was refused 400 instead of the server not starting.
  it.each(['a/../b', '../a', 'a/.', './a', 'a/./b'])(
    'stops the process on the run id %j, a "." or ".." segment',
    async (runId) => {
      seen.length = 0;
      const run = await runPreloaded(
        `${HELPERS} viaFetch('https://api.stripe.com/v1/x').then((r) => print([r]));`,
        {
          KEYBRAKE_STRIPE_URL: base,
          KEYBRAKE_RUN_ID: runId,
        },
      );
      expect(run.code).not.toBe(0);
      expect(run.stderr).toContain('KEYBRAKE_RUN_ID must be');
      expect(run.stderr).toContain('segment between slashes');
      expect(seen).toHaveLength(0);
    },
  );

  it.each(['a/..b', '...', 'a/.b/c'])('accepts the run id %j, as Keybrake does', async (runId) => {
    seen.length = 0;
    const run = await runPreloaded(
      `${HELPERS} viaFetch('https://api.stripe.com/v1/x').then((r) => print([r]));`,
      {
        KEYBRAKE_STRIPE_URL: base,
        KEYBRAKE_RUN_ID: runId,
      },
    );
    expect(run.code).toBe(0);
    expect(seen.map((s) => s.headers['keybrake-run-id'])).toEqual([runId]);
  });
});
