import type { IncomingHttpHeaders } from 'node:http';
import { type Denial, deny } from '../decision/reasons.ts';
import type { VendorName } from '../snapshot/types.ts';
import { nominatedHeaders } from './connection-list.ts';

/**
 * The request headers Keybrake judges a call by, checked once at the start of the parse stage
 * (ADR 0007 §2). Node keeps only the first of some duplicated headers (Authorization, Content-Type)
 * and joins others with ", " (Idempotency-Key, Stripe-Account), while a server further along may read
 * another copy; and a header nominated by `Connection` is hop-by-hop, dropped before the vendor after
 * Keybrake judged the call by it (`Connection: Idempotency-Key` turned a charge into a free "replay").
 * So every header Keybrake reads must appear once, in the raw header lines, and must not be
 * nominated; and method overrides, which some servers honour, are refused outright.
 */

/** The header lines of a call as received, name then value (node's `rawHeaders`). */
export type RawHeaders = readonly string[];

/**
 * Lower-case name → how messages spell it. Not `baggage`: W3C lets a call carry several baggage
 * headers, which are one list, and the run id reader walks every line (a run named twice across them
 * is still run_id_invalid); no vendor reads baggage.
 */
const READ_BY_EVERY_VENDOR: ReadonlyArray<readonly [string, string]> = [
  ['authorization', 'Authorization'],
  ['idempotency-key', 'Idempotency-Key'],
  ['keybrake-run-id', 'Keybrake-Run-Id'],
  ['content-type', 'Content-Type'],
  ['content-encoding', 'Content-Encoding'],
];

const READ: Readonly<Record<VendorName, ReadonlyMap<string, string>>> = {
  stripe: new Map([
    ...READ_BY_EVERY_VENDOR,
    ['stripe-account', 'Stripe-Account'],
    ['stripe-context', 'Stripe-Context'],
  ]),
  // Twelfth round: read by the Twilio adapter (webhook-header.ts): it has Twilio run webhooks and
  // Studio flows Keybrake cannot see, so a second copy Twilio might read instead is refused.
  twilio: new Map([...READ_BY_EVERY_VENDOR, ['x-twilio-webhook-enabled', 'X-Twilio-Webhook-Enabled']]),
  resend: new Map(READ_BY_EVERY_VENDOR),
};

const METHOD_OVERRIDES = new Set(['x-http-method-override', 'x-http-method', 'x-method-override']);

/**
 * Lengths of every name checkHeaders looks at: any other header line is skipped without lower-casing
 * its name (lower-casing never changes the length of a name that lower-cases to one of these).
 */
const LOOKED_AT = new Uint8Array(64);
for (const name of [
  ...Object.values(READ).flatMap((m) => [...m.keys()]),
  'connection',
  ...METHOD_OVERRIDES,
]) {
  LOOKED_AT[name.length] = 1;
}

/**
 * The first reason to refuse a call's headers, or undefined: a method override header, a header
 * Keybrake reads for this vendor given twice (a second `Keybrake-Run-Id` is `run_id_invalid`, the
 * rest `header_invalid`), or one nominated by `Connection`.
 */
export function checkHeaders(vendor: VendorName, raw: RawHeaders): Denial | undefined {
  const read = READ[vendor];
  let seen: Set<string> | undefined;
  let connection: string[] | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const line = raw[i]!;
    if (LOOKED_AT[line.length] !== 1) continue;
    const name = line.toLowerCase();
    const shown = read.get(name);
    // CGI, Rack and some proxies read `Stripe_Account` as `Stripe-Account`: a spelling Keybrake would
    // not judge but the vendor's side might act on (found by an adversarial probe).
    if (shown === undefined && name.includes('_')) {
      const dashed = name.replaceAll('_', '-');
      const meant = read.get(dashed) ?? (METHOD_OVERRIDES.has(dashed) ? 'a method override' : undefined);
      if (meant !== undefined)
        return deny(
          'header_invalid',
          `${raw[i]} is refused: it may be read as ${meant}, which Keybrake reads.`,
        );
    }
    if (shown !== undefined) {
      seen ??= new Set();
      if (seen.has(name)) {
        return name === 'keybrake-run-id'
          ? deny('run_id_invalid', 'Keybrake-Run-Id is given more than once.')
          : deny('header_invalid', `${shown} is given more than once; Keybrake reads it once.`);
      }
      seen.add(name);
    } else if (name === 'connection') {
      connection ??= [];
      connection.push(raw[i + 1]!);
    } else if (METHOD_OVERRIDES.has(name)) {
      return deny('header_invalid', `${raw[i]} (a method override) is not accepted.`);
    }
  }
  for (const name of nominatedHeaders(connection)) {
    // baggage may repeat, but one a hop drops is a run id Keybrake read and the vendor's side did not.
    const shown = read.get(name) ?? (name === 'baggage' ? 'baggage' : undefined);
    if (shown !== undefined) {
      return deny(
        'header_invalid',
        `Connection nominates ${shown}, which Keybrake reads: a hop would drop it after Keybrake judged the call by it.`,
      );
    }
  }
  return undefined;
}

/**
 * The raw header lines of a call; when the HTTP layer did not hand them over (tests, embedders),
 * rebuilt from the parsed headers, where node's merging of duplicates may hide some.
 */
export function rawHeadersOf(headers: IncomingHttpHeaders, raw: RawHeaders | undefined): RawHeaders {
  if (raw) return raw;
  const out: string[] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) out.push(name, v);
  }
  return out;
}

/** Every value of one header in the raw lines, in order; `name` in lower case. */
export function headerLines(raw: RawHeaders, name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.length === name.length && raw[i]!.toLowerCase() === name) out.push(raw[i + 1]!);
  }
  return out;
}
