import { compileEndpointPattern, type EndpointPattern, templateKey } from '../patterns/glob.ts';
import type { VendorName } from '../snapshot/types.ts';
import type { OperationRow } from '../vendors/operation-table.ts';
import { RESEND_OPERATIONS } from '../vendors/resend/operations.ts';
import { STRIPE_OPERATIONS } from '../vendors/stripe/operations.ts';
import { TWILIO_OPERATIONS } from '../vendors/twilio/operations.ts';
import { editDistance } from './closest-flag.ts';

/**
 * `policy-check`'s warning on an `allow.endpoints` entry that admits no operation of the vendor's
 * catalog (fifteenth round, probe newuser finding 3): a typo (`POST /v1/chargez`, `GET
 * /v1/customer/*`) or a path copied from the prefix router's URL (`POST /stripe/v1/charges`) passed
 * the check, and the operation meant was refused `endpoint_not_allowed` in production. Fails closed
 * either way, so a warning, as policy-warnings.ts's others are.
 *
 * An entry admits a row when it matches a path the row's template stands for: each placeholder filled
 * with what the entry writes at that segment (a literal id: `POST /v1/charges/ch_1/capture`), else
 * with a sample id, and a row's final `/**` with the rest of the entry. A miss is what is certain;
 * an entry that admits only paths no operation has (a `*` where a row wants a literal) may pass.
 */

const TABLES: Record<VendorName, readonly OperationRow[]> = {
  stripe: STRIPE_OPERATIONS,
  twilio: TWILIO_OPERATIONS,
  resend: RESEND_OPERATIONS,
};

/** The prefix router's first segment per vendor (README: `/stripe/…`, `/twilio/<host>/…`, `/resend/…`). */
const ROUTER_PREFIX = /^\/(stripe|twilio|resend)(?=\/)/;

/** A row's placeholder segment: literal text around one `{name}`. */
const PLACEHOLDER = /^([^{}]*)\{[^{}/]+\}([^{}]*)$/;

/** The warning for one entry (without its `spec.allow.endpoints[i]` lead), or undefined when it admits a row. */
export function endpointWarning(vendor: VendorName, entry: string): string | undefined {
  const rows = TABLES[vendor];
  const pattern = compiled(entry);
  if (!pattern || admitsSome(pattern, entry, rows)) return undefined;
  const method = entry.slice(0, entry.indexOf(' '));
  const path = entry.slice(entry.indexOf(' ') + 1);
  // Stripe's v2 API is outside the catalog on purpose (docs/vendors/stripe.md): an exact entry is how
  // a policy admits a v2 call, not a mistake.
  if (vendor === 'stripe' && pattern.exact && path.startsWith('/v2/')) return undefined;
  // An exact entry still admits a call of that path as an unknown operation (ADR 0003), which may be
  // meant; a pattern admits no unknown operation, so nothing at all.
  const lead =
    pattern.template !== undefined
      ? `names no operation of Keybrake's ${vendor} catalog (\`keybrake catalog ${vendor}\` lists them), so nothing: an entry with {placeholders} names the one operation of that template`
      : pattern.exact
        ? `names no operation of Keybrake's ${vendor} catalog (\`keybrake catalog ${vendor}\` lists them): it admits only a call the catalog does not know, as an unknown operation`
        : `admits no operation of Keybrake's ${vendor} catalog (\`keybrake catalog ${vendor}\` lists them), so nothing: a pattern admits no unknown operation`;
  const prefix = ROUTER_PREFIX.exec(path);
  if (prefix) {
    // `/twilio/<host>/…` names a host segment too.
    const rest = prefix[1] === 'twilio' ? path.replace(/^\/twilio\/[^/]+/, '') : path.slice(prefix[0].length);
    const unprefixed = `${method} ${rest}`;
    const p = compiled(unprefixed);
    if (p && admitsSome(p, unprefixed, rows))
      return `${lead}; an entry is the vendor's own path, without the router's /${prefix[1]} prefix: "${unprefixed}"`;
  }
  const near = closestRow(entry, rows);
  return near ? `${lead}; did you mean "${near}"?` : lead;
}

function compiled(entry: string): EndpointPattern | undefined {
  try {
    return compileEndpointPattern(entry);
  } catch {
    return undefined; // The schema refuses it with its own message.
  }
}

function admitsSome(pattern: EndpointPattern, entry: string, rows: readonly OperationRow[]): boolean {
  // An entry written as a template names the operation of that template alone, as the authorize
  // stage compares it (fifteenth round, probe fixes15 finding 7: `GET /v1/{resource}` fits
  // `GET /v1/charges` as a glob, and admits nothing).
  const { template } = pattern;
  if (template !== undefined)
    return rows.some(
      (row) =>
        (pattern.method === '*' || pattern.method === row.method) && templateKey(row.path) === template,
    );
  const written = entry
    .slice(entry.indexOf(' ') + 1)
    .split('/')
    .slice(1);
  // Segments before the first `**` line up with a row's; after it, nothing does.
  const aligned = written.indexOf('**') === -1 ? written.length : written.indexOf('**');
  return rows.some((row) => {
    if (pattern.method !== '*' && pattern.method !== row.method) return false;
    const template = row.path.split('/').slice(1);
    const below = template.at(-1) === '**';
    if (below) template.pop();
    const path = template.map((segment, i) => {
      const m = PLACEHOLDER.exec(segment);
      if (!m) return segment;
      const [, pre, post] = m as unknown as [string, string, string];
      const own = i < aligned ? written[i]!.replaceAll('*', 'x') : undefined;
      return own !== undefined &&
        own.length > pre.length + post.length &&
        own.startsWith(pre) &&
        own.endsWith(post)
        ? own
        : `${pre}x${post}`;
    });
    // A final `/**` stands for anything below: the rest of what the entry writes.
    if (below)
      path.push(
        ...written
          .slice(path.length)
          .filter((s) => s !== '**')
          .map((s) => s.replaceAll('*', 'x')),
      );
    return pattern.path.test(`/${path.join('/')}`);
  });
}

/** The catalog row closest to a mistyped entry (at most 3 edits), as `METHOD /path`; undefined when none is. */
function closestRow(entry: string, rows: readonly OperationRow[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 4;
  for (const row of rows) {
    const candidate = `${row.method} ${row.path}`;
    if (Math.abs(candidate.length - entry.length) >= bestDistance) continue;
    const d = editDistance(entry, candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}
