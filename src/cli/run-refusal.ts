/**
 * What `keybrake run` prints when the run API refuses. Its own refusals are `{error, message}`, both
 * strings, and nothing else (src/tokens/run-api.ts); any other answer comes from something else at
 * that URL: a vendor port or the prefix router of `serve` (a vendor-shaped error: Stripe's
 * `{error: {message}}`, Twilio's and Resend's `{message}`), another server, a wrong path. Those say
 * so and ask whether the URL is the run API's listener, rather than printing `[object Object]`.
 */

/** Long enough for any refusal of ours; a stranger's answer is cut, not printed whole. */
const MAX_MESSAGE = 300;

/**
 * One line for a refusal: `request` (`POST /v1/runs`), the status and parsed JSON body (undefined
 * when it was not JSON), `listener`, what the URL should have been, in words, and `forbidden`, what
 * to add to the API's 403 forbidden (which key was named: the API does not say it, and a bare --key
 * naming a key of namespace default was refused as "not the named vault key", seventh round).
 */
export function refusalLine(
  request: string,
  status: number,
  body: unknown,
  listener: string,
  forbidden?: string,
): string {
  const head = `${request} answered ${status}`;
  if (isRunApiRefusal(body)) {
    const hint =
      status === 403 && body.error === 'forbidden' && forbidden !== undefined ? ` (${forbidden})` : '';
    return `${head} ${printable(body.error)}: ${printable(body.message)}${hint}`;
  }
  const message = messageOf(body);
  return `${head}${message === undefined ? '' : `: ${printable(message)}`} (not an answer of the Keybrake run API: is the URL ${listener}?)`;
}

function isRunApiRefusal(body: unknown): body is { error: string; message: string } {
  if (typeof body !== 'object' || body === null) return false;
  const o = body as Record<string, unknown>;
  return Object.keys(o).length === 2 && typeof o['error'] === 'string' && typeof o['message'] === 'string';
}

/** The message of a vendor-shaped or other error body: `{message}` or `{error: {message}}`. */
function messageOf(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const o = body as Record<string, unknown>;
  if (typeof o['message'] === 'string') return o['message'];
  const inner = o['error'];
  if (typeof inner === 'object' && inner !== null) {
    const message = (inner as Record<string, unknown>)['message'];
    if (typeof message === 'string') return message;
  }
  return undefined;
}

/** On one line, without control characters (a terminal's escapes), and bounded. */
function printable(text: string): string {
  const flat = text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ');
  return flat.length > MAX_MESSAGE ? `${flat.slice(0, MAX_MESSAGE)}…` : flat;
}
