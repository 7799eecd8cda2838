import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { REASONS } from '../../src/decision/reasons.ts';
import { fingerprint } from '../../src/tokens/token.ts';
import type { Fixtures } from './fixtures.ts';
import type { Vendor } from './upstream.ts';

/**
 * The hostile corpus as data: `test/hostile/*.yaml`, each a list of cases. A case is one raw request
 * an adversarial agent could send, the answer Keybrake must give (status, reason) and whether the
 * vendor may see it at all. Files are read in name order and cases in file order: a few sequences
 * (replays against a small cap) depend on it, each on its own vault key.
 */

export const CORPUS_DIR = import.meta.dirname;

/** Reasons ADR 0007 adds (with their statuses), beside the registry in src/decision/reasons.ts. */
export const ADR_0007_REASONS: Readonly<Record<string, number>> = {
  credential_operation: 403,
  credential_in_response: 502,
  header_invalid: 400,
  run_id_invalid: 400,
  run_id_required: 403,
  object_busy: 409,
  instructions_not_allowed: 403,
  upstream_response_too_large: 502,
  headers_too_large: 431,
  request_invalid: 400,
  request_timeout: 408,
  shutting_down: 503,
};

/** The status a denial with this reason must have; undefined for `ok` (the vendor's own status). */
export function statusOfReason(reason: string): number | undefined {
  if (reason === 'ok') return undefined;
  if (reason in ADR_0007_REASONS) return ADR_0007_REASONS[reason];
  return (REASONS as Record<string, { status: number }>)[reason]?.status;
}

const Pair = z.tuple([z.string(), z.string()]);

const HttpRequest = z.strictObject({
  method: z.string().min(1),
  /** Sent byte for byte: `/v1/../x`, `http://evil.example/x` and `%2f` are not normalised. */
  path: z.string().min(1),
  /** A list, so a header can be given twice; values may use placeholders (see `expand`). */
  headers: z.array(Pair).default([]),
  /** The body as a string (placeholders expanded). Exclusive with `form`. */
  body: z.string().optional(),
  /** Form parameters, percent-encoded by the runner (so TwiML stays readable); duplicates allowed. */
  form: z.array(Pair).optional(),
  /**
   * Content-Type to add: a literal value, or `none` for none. Default: the vendor's own type
   * (form for Stripe and Twilio, JSON for Resend) when there is a body and `headers` names none.
   */
  contentType: z.string().optional(),
  /** `latin1` sends each character as one byte: "\xe9" becomes the invalid UTF-8 byte 0xE9. */
  bodyEncoding: z.enum(['utf8', 'latin1']).default('utf8'),
});

const RawRequest = z.strictObject({
  /**
   * The request head without its final empty line: line breaks become CRLF, the runner ends it with
   * an empty line, characters are sent as latin1 bytes. Placeholders are expanded.
   */
  raw: z.string().min(1),
  /** Bytes after the head, sent as they are (latin1, no line-break conversion). */
  rawBody: z.string().optional(),
});

const Upstream = z.strictObject({
  /** Path and query the vendor must receive; default: the case's path minus any router prefix. */
  path: z.string().optional(),
  /** Headers the vendor must receive with exactly these values. */
  headers: z.array(Pair).optional(),
  /** Headers the vendor must not receive. */
  absentHeaders: z.array(z.string()).optional(),
  /** Texts the vendor's answer held (placeholders expanded): what `received.excludes` then proves withheld. */
  answered: z.array(z.string()).optional(),
});

const Received = z.strictObject({
  /** Texts the answer's body the agent receives must hold. */
  includes: z.array(z.string()).optional(),
  /**
   * Texts neither its body nor its head may hold (sixteenth round: a header's value is received as
   * much as the body). A JSON answer must still parse, and Content-Length must be its length.
   */
  excludes: z.array(z.string()).optional(),
  /** Texts its head must hold (in any header's value). */
  headIncludes: z.array(z.string()).optional(),
});

const Expect = z.strictObject({
  status: z.int(),
  /** A reason code, or `ok` for a call Keybrake lets through. */
  reason: z.string(),
  /** Whether the vendor receives the call. Keybrake's own price lookups (Stripe GETs) do not count. */
  forwarded: z.boolean(),
  upstream: Upstream.optional(),
  /** What the agent receives (the body of Keybrake's answer). */
  received: Received.optional(),
  /** Fields the call's audit record must hold exactly (placeholders expanded). */
  audit: z.strictObject({ path: z.string().optional(), runId: z.string().optional() }).optional(),
});

const CaseSchema = z.strictObject({
  name: z.string().min(1),
  vendor: z.enum(['stripe', 'twilio', 'resend']),
  /** The class of the issue's list (1–12), or `baseline` for guarantees that predate ADR 0007. */
  class: z.union([z.int().min(1).max(12), z.literal('baseline')]),
  /** A fixture key name, `none` (no Authorization header), or a literal (bad) token. */
  key: z.string().min(1),
  /** `port`: the vendor's own listener (default); `router`: the prefix router, path includes `/stripe`… */
  via: z.enum(['port', 'router']).default('port'),
  /** `trust`: needs the instance with ADR 0007 manifests and flags; implied by a trust-only key. */
  serve: z.enum(['core', 'trust']).optional(),
  request: z.union([RawRequest, HttpRequest]),
  expect: Expect,
});

const CaseFile = z.strictObject({ cases: z.array(CaseSchema).min(1) });

export type HostileCase = z.infer<typeof CaseSchema> & { readonly file: string; readonly index: number };

/** Every case of every corpus file, validated; throws naming the file on a schema or status error. */
export function loadCases(dir = CORPUS_DIR): HostileCase[] {
  const out: HostileCase[] = [];
  for (const file of readdirSync(dir).sort()) {
    if (!file.endsWith('.yaml')) continue;
    const parsed = CaseFile.safeParse(parseYaml(readFileSync(path.join(dir, file), 'utf8')));
    if (!parsed.success) throw new Error(`${file}: ${z.prettifyError(parsed.error)}`);
    parsed.data.cases.forEach((c, i) => {
      const status = statusOfReason(c.expect.reason);
      if (c.expect.reason !== 'ok' && status === undefined)
        throw new Error(`${file} case ${i + 1} (${c.name}): unknown reason ${c.expect.reason}`);
      if (status !== undefined && status !== c.expect.status)
        throw new Error(
          `${file} case ${i + 1} (${c.name}): ${c.expect.reason} is a ${status}, not ${c.expect.status}`,
        );
      if ('form' in c.request && c.request.form && c.request.body !== undefined)
        throw new Error(`${file} case ${i + 1} (${c.name}): give either body or form`);
      out.push({ ...c, file, index: i + 1 });
    });
  }
  return out;
}

/** What placeholders expand to for one case. */
export interface ExpandContext {
  readonly fixtures: Fixtures;
  /** The case's key token (empty when `none`). */
  readonly token: string;
  /** host:port of the listener the case is sent to. */
  readonly host: string;
}

/**
 * Placeholders: `{{token}}` (the case's key), `{{token:<key name>}}`, `{{sid}}` (the fixture's Twilio
 * Account SID), `{{host}}`, `{{repeat:<n>:<text>}}`, then `{{lower:<text>}}` / `{{upper:<text>}}`,
 * `{{nochecksum:<text>}}`, `{{typo:<text>}}`, `{{dash:<text>}}`, `{{cut:<text>}}`,
 * `{{prefixtypo:<text>}}`, `{{body:<text>}}`, `{{wide:<text>}}`, `{{fingerprint:<text>}}`, and last
 * `{{basic:<user>:<password>}}` (a Basic credential, after the others have been expanded inside it).
 */
export function expand(text: string, ctx: ExpandContext): string {
  const first = text
    .replace(/\{\{repeat:(\d+):([\s\S]*?)\}\}/g, (_m, n: string, s: string) => s.repeat(Number(n)))
    .replace(/\{\{token:([\w-]+)\}\}/g, (_m, name: string) => {
      const key = ctx.fixtures.keys.get(name);
      if (!key) throw new Error(`no fixture key ${name}`);
      return key.token;
    })
    .replaceAll('{{token}}', ctx.token)
    .replaceAll('{{sid}}', ctx.fixtures.twilioAccountSid)
    .replaceAll('{{host}}', ctx.host);
  // A token in another letter case (a header name's case is not kept on the way to the vendor), and
  // near misses of it (thirteenth round): without its checksum (the last 6 characters), one
  // character mistyped (the 21st), and the fingerprint Keybrake writes of it.
  const cased = first
    .replace(/\{\{lower:([^}]*)\}\}/g, (_m, s: string) => s.toLowerCase())
    .replace(/\{\{upper:([^}]*)\}\}/g, (_m, s: string) => s.toUpperCase())
    .replace(/\{\{nochecksum:([^}]*)\}\}/g, (_m, s: string) => s.slice(0, -6))
    .replace(
      /\{\{typo:([^}]*)\}\}/g,
      (_m, s: string) => `${s.slice(0, 20)}${s[20] === 'x' ? 'y' : 'x'}${s.slice(21)}`,
    )
    // Fourteenth round: a '-' put after the 26th character (in the body), the checksum and the
    // 21st character left out, the prefix's first '_' changed to '-'.
    .replace(/\{\{dash:([^}]*)\}\}/g, (_m, s: string) => `${s.slice(0, 26)}-${s.slice(26)}`)
    .replace(/\{\{cut:([^}]*)\}\}/g, (_m, s: string) => `${s.slice(0, 20)}${s.slice(21, -6)}`)
    .replace(/\{\{prefixtypo:([^}]*)\}\}/g, (_m, s: string) => s.replace('_', '-'))
    // Fourteenth round (fixes14b): a token's 33-character body alone (prefix and checksum left off),
    // and a text in fullwidth letters (NFKC gives it back), percent-encoded as UTF-8 as a target holds it.
    .replace(/\{\{body:([^}]*)\}\}/g, (_m, s: string) => s.slice(-39, -6))
    .replace(/\{\{wide:([^}]*)\}\}/g, (_m, s: string) =>
      encodeURIComponent(s.replace(/[!-~]/g, (c) => String.fromCodePoint(c.codePointAt(0)! + 0xfee0))),
    )
    .replace(/\{\{fingerprint:([^}]*)\}\}/g, (_m, s: string) => fingerprint(s));
  return cased.replace(/\{\{basic:([^:}]*):([^}]*)\}\}/g, (_m, user: string, pass: string) =>
    Buffer.from(`${user}:${pass}`, 'utf8').toString('base64'),
  );
}

/** The token a case presents: a fixture key's, a literal, or none. */
export function tokenOf(c: HostileCase, fixtures: Fixtures): string {
  if (c.key === 'none') return '';
  return fixtures.keys.get(c.key)?.token ?? c.key;
}

/** The Authorization header a well-behaved client of this vendor would send with the token. */
export function authorizationFor(vendor: Vendor, token: string, fixtures: Fixtures): string {
  if (vendor === 'twilio')
    return `Basic ${Buffer.from(`${fixtures.twilioAccountSid}:${token}`).toString('base64')}`;
  return `Bearer ${token}`;
}

const VENDOR_CONTENT_TYPE: Record<Vendor, string> = {
  stripe: 'application/x-www-form-urlencoded',
  twilio: 'application/x-www-form-urlencoded',
  resend: 'application/json',
};

/** The request line's method and target (raw cases: parsed from the first line). */
export function requestLine(c: HostileCase, ctx: ExpandContext): { method: string; target: string } {
  if ('raw' in c.request) {
    const [method = '', target = ''] = expand(c.request.raw, ctx).split(/\r?\n/, 1)[0]!.split(' ');
    return { method, target };
  }
  return { method: c.request.method, target: expand(c.request.path, ctx) };
}

/** The exact bytes of a case's request. `marker` goes into an `X-Hostile-Case` header (not raw cases). */
export function buildRequest(c: HostileCase, ctx: ExpandContext, marker: string): Buffer {
  if ('raw' in c.request) {
    const head = expand(c.request.raw, ctx)
      .replace(/[\r\n]+$/, '')
      .replace(/\r?\n/g, '\r\n');
    return Buffer.from(`${head}\r\n\r\n${expand(c.request.rawBody ?? '', ctx)}`, 'latin1');
  }
  const r = c.request;
  const headers = r.headers.map(([n, v]) => [n, expand(v, ctx)] as const);
  const has = (name: string) => headers.some(([n]) => n.toLowerCase() === name);
  const text =
    r.form !== undefined
      ? r.form
          .map(([k, v]) => `${encodeURIComponent(expand(k, ctx))}=${encodeURIComponent(expand(v, ctx))}`)
          .join('&')
      : expand(r.body ?? '', ctx);
  const body = Buffer.from(text, r.bodyEncoding);
  const lines = [`${r.method} ${expand(r.path, ctx)} HTTP/1.1`];
  if (!has('host')) lines.push(`Host: ${ctx.host}`);
  if (c.key !== 'none' && !has('authorization'))
    lines.push(`Authorization: ${authorizationFor(c.vendor, ctx.token, ctx.fixtures)}`);
  if (r.contentType !== undefined && r.contentType !== 'none') lines.push(`Content-Type: ${r.contentType}`);
  else if (r.contentType === undefined && body.length > 0 && !has('content-type'))
    lines.push(`Content-Type: ${VENDOR_CONTENT_TYPE[c.vendor]}`);
  for (const [n, v] of headers) lines.push(`${n}: ${v}`);
  lines.push(`X-Hostile-Case: ${marker}`);
  if (!has('connection')) lines.push('Connection: close');
  const writes = ['POST', 'PUT', 'PATCH'].includes(r.method);
  if (!has('content-length') && !has('transfer-encoding') && (body.length > 0 || writes))
    lines.push(`Content-Length: ${body.length}`);
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), body]);
}

/** The path (and query) the vendor receives for a forwarded case: router prefix off, Twilio sub host on. */
export function upstreamPathOf(c: HostileCase, target: string, ctx: ExpandContext): string {
  if (c.expect.upstream?.path !== undefined) return expand(c.expect.upstream.path, ctx);
  let p = target;
  if (c.via === 'router') p = p.replace(new RegExp(`^/${c.vendor}(?=/)`), '');
  if (c.vendor === 'twilio' && /^\/\d{4}-\d{2}-\d{2}(\/|$)/.test(p)) p = `/api${p}`;
  return p;
}
