import { describe, expect, it } from 'vitest';
import { refusalLine } from './run-refusal.ts';

const ADMIN = "--admin, serve's admin listener (default http://127.0.0.1:9090)";
const line = (status: number, body: unknown) => refusalLine('POST /v1/runs', status, body, ADMIN);
const HINT = ` (not an answer of the Keybrake run API: is the URL ${ADMIN}?)`;

describe('refusalLine', () => {
  it("prints the run API's own refusal as its code and message, without a hint", () => {
    expect(line(403, { error: 'forbidden', message: 'A run key cannot start or stop runs.' })).toBe(
      'POST /v1/runs answered 403 forbidden: A run key cannot start or stop runs.',
    );
  });

  // Seventh round: a bare --key refused as "not the named vault key" did not say which key was named.
  it("adds what the caller knows to the API's 403 forbidden, and to nothing else", () => {
    const forbidden = { error: 'forbidden', message: 'The token presented is not the named vault key.' };
    const hint = '--key named VaultKey default/bot';
    expect(refusalLine('POST /v1/runs', 403, forbidden, ADMIN, hint)).toBe(
      'POST /v1/runs answered 403 forbidden: The token presented is not the named vault key. (--key named VaultKey default/bot)',
    );
    expect(
      refusalLine(
        'POST /v1/runs',
        401,
        { error: 'unauthenticated', message: 'Unknown vault key.' },
        ADMIN,
        hint,
      ),
    ).toBe('POST /v1/runs answered 401 unauthenticated: Unknown vault key.');
  });

  // A new-user walkthrough (fifth round) got "answered 400 [object Object]:" from a vendor port.
  it.each([
    ['Stripe', { error: { type: 'invalid_request_error', code: 'key_unknown', message: 'Missing key.' } }],
    ['Twilio', { code: 20003, message: 'Missing key.', more_info: 'https://…', status: 401 }],
    ['Resend', { statusCode: 401, name: 'missing_api_key', message: 'Missing key.' }],
    ['fastify', { statusCode: 404, error: 'Not Found', message: 'Missing key.' }],
  ])("prints a %s-shaped error's message and asks whether the URL is the run API's", (_shape, body) => {
    expect(line(401, body)).toBe(`POST /v1/runs answered 401: Missing key.${HINT}`);
  });

  it('says only the status of an answer without a message, and asks the same', () => {
    expect(line(404, undefined)).toBe(`POST /v1/runs answered 404${HINT}`);
    expect(line(502, { error: 7 })).toBe(`POST /v1/runs answered 502${HINT}`);
  });

  it("keeps a stranger's message on one line, without terminal escapes, and bounded", () => {
    const printed = line(400, { message: `a\u001b[2Jb\nc${'x'.repeat(1000)}` });
    expect(printed).toMatch(/^POST \/v1\/runs answered 400: a \[2Jb cx+…/);
    expect(printed).not.toMatch(/[\u0000-\u001f]/);
    expect(printed.length).toBeLessThan(400 + HINT.length);
  });
});
