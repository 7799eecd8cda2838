import { type Denial, deny, isDenial } from '../../decision/reasons.ts';
import { VENDORS, type VendorName } from '../../snapshot/types.ts';
import { TWILIO_API_HOSTS } from '../../vendors/twilio/operations.ts';
import { TWILIO_UPLOAD_HOST } from '../../vendors/twilio/uploads.ts';
import type { Stage } from '../context.ts';

/** What routing finds in a request target: which vendor, and the vendor-relative path the adapters see. */
export interface Route {
  readonly vendor: VendorName;
  /** Twilio sub host (`api`, `messaging`, …). */
  readonly subHost?: string;
  /** Canonical vendor path, always starting with `/`, no query. */
  readonly path: string;
  /** Raw query string without `?`. */
  readonly query: string;
}

/**
 * Twilio sub hosts are the API hosts Twilio's own definitions publish (ADR 0007 §8): any other is
 * `route_unknown` and reaches nothing, so the upstream pools are bounded by this list too. The upload
 * host is routed only to be refused with its reason (uploads.ts): it is never forwarded to.
 */
const TWILIO_SUB_HOSTS: ReadonlySet<string> = new Set([...TWILIO_API_HOSTS, TWILIO_UPLOAD_HOST]);
/** Twilio's REST versions live on api.twilio.com: `/twilio/2010-04-01/…` needs no sub host. */
const TWILIO_API_VERSION = /^\d{4}-\d{2}-\d{2}$/;

/** A percent-escape of an unreserved character (ALPHA, DIGIT, `-`, `.`, `_`, `~`). */
const ESCAPED_UNRESERVED = /%(?:3[0-9]|4[1-9A-Fa-f]|5[0-9Aa]|6[1-9A-Fa-f]|7[0-9Aa]|2[Dd]|5[Ff]|7[Ee])/;

/** Whether every `%` of the text begins an escape and the escapes together spell UTF-8. */
function decodesAsUtf8(text: string): boolean {
  try {
    decodeURIComponent(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * Splits and checks a request target. Anything that is not origin-form, or that a server further
 * along could read differently from us (dot segments, encoded slashes or backslashes), is refused:
 * policy must judge exactly the path the vendor will act on.
 */
export function canonicalTarget(rawUrl: string): { path: string; query: string } | Denial {
  if (!rawUrl.startsWith('/')) return deny('path_invalid', 'The request target must be an absolute path.');
  // A fragment is the client's, never sent: a server that drops it (a URL parser, a proxy in front
  // of the vendor) acts on the part before it, while we would judge the whole (a probe had
  // `DELETE /v1/customers/cus_1#/discount` judged as removing a discount and run as a deletion).
  if (rawUrl.includes('#')) return deny('path_invalid', 'The request target must not carry a fragment (#).');
  const q = rawUrl.indexOf('?');
  const path = q === -1 ? rawUrl : rawUrl.slice(0, q);
  const query = q === -1 ? '' : rawUrl.slice(q + 1);
  if (/%(2f|5c|2e|00)/i.test(path) || path.includes('\\')) {
    return deny('path_invalid', 'Encoded slashes, dots or backslashes are not allowed in the path.');
  }
  if (path.split('/').some((s) => s === '.' || s === '..')) {
    return deny('path_invalid', 'Dot segments are not allowed in the path.');
  }
  // `%73ecrets` is `secrets` to the vendor (RFC 3986 §6.2.2.2) but not to an operation table or an
  // endpoint entry: an escaped letter, digit, `-`, `.`, `_` or `~` has one canonical form, unescaped.
  if (ESCAPED_UNRESERVED.test(path)) {
    return deny('path_invalid', 'Percent-escaped letters, digits or - . _ ~ are not allowed in the path.');
  }
  // A `%` that does not begin two hex digits, or escapes that do not spell UTF-8 (`%FF`, a cut
  // `%E0%A4`, the overlong slash `%C0%AF`), has no one reading: the vendor, or a server in front of
  // it, may take it literally, refuse it or decode it to something else, while the operation table
  // and the allowlists would have judged the text as sent. Refused here, for every vendor and every
  // operation, not only where an adapter happens to decode a party id from the path (tenth round).
  if (path.includes('%') && !decodesAsUtf8(path)) {
    return deny(
      'path_invalid',
      'The path holds a % that is not a valid percent-escape (% and two hex digits, together spelling UTF-8).',
    );
  }
  return { path, query };
}

/**
 * A trailing-slash base URL (resend-node) doubles the slash after the prefix: a leading run of
 * slashes is folded; an empty segment anywhere else is refused.
 */
function vendorPath(rest: string): string | Denial {
  const path = rest.replace(/^\/{2,}/, '/') || '/';
  const segments = path.split('/');
  for (let i = 1; i < segments.length - 1; i++) {
    if (segments[i] === '') return deny('path_invalid', 'Empty path segments are not allowed.');
  }
  return path;
}

/** The vendor a router target's first segment names, however malformed the rest of it is. */
function prefixVendor(rawUrl: string): VendorName | null {
  const first = /^\/+([a-z]+)(?:[/?]|$)/.exec(rawUrl)?.[1];
  return first !== undefined && (VENDORS as readonly string[]).includes(first) ? (first as VendorName) : null;
}

/**
 * Finds the vendor: from the listener (a vendor port) or from the `/stripe`, `/twilio`, `/resend`
 * prefix. Twilio hosts map to `/twilio/<sub>/…`.
 */
export function resolveRoute(rawUrl: string, portVendor: VendorName | undefined): Route | Denial {
  const target = canonicalTarget(rawUrl);
  if (isDenial(target)) return target;
  let vendor = portVendor;
  let rest = target.path;
  if (vendor === undefined) {
    const first = rest.replace(/^\/+/, '').split('/', 1)[0] ?? '';
    if (!(VENDORS as readonly string[]).includes(first)) {
      // Echoed only when short: the segment is the caller's text, a pasted credential too.
      const shown = first.length <= 24 ? `/${first}` : 'this path';
      return deny('route_unknown', `No route for ${shown}: use /stripe, /twilio or /resend.`);
    }
    vendor = first as VendorName;
    rest = rest.replace(/^\/+/, '').slice(first.length);
  }
  const path = vendorPath(rest);
  if (typeof path !== 'string') return path;
  if (vendor !== 'twilio') return { vendor, path, query: target.query };
  const sub = path.split('/', 2)[1] ?? '';
  if (TWILIO_API_VERSION.test(sub)) return { vendor, subHost: 'api', path, query: target.query };
  if (!TWILIO_SUB_HOSTS.has(sub)) {
    // On the Twilio listener the path starts at the host; on the router, after /twilio.
    const form = portVendor === undefined ? '/twilio/<host>/<path>' : '/<host>/<path> on this listener';
    return deny(
      'route_unknown',
      `Twilio routes are ${form}, <host> one of the API hosts Twilio publishes (api, messaging, verify, …).`,
    );
  }
  return { vendor, subHost: sub, path: path.slice(sub.length + 1) || '/', query: target.query };
}

/** The first stage: the vendor and its adapter, and the request as the adapter will see it. */
export const route: Stage = (ctx, deps) => {
  const { call } = ctx;
  const r = resolveRoute(call.url, call.portVendor);
  if (isDenial(r)) {
    // Recorded as it came: audit takes the credentials Authorization presents out of it (ADR 0007 §1).
    ctx.path = call.url.split('?', 1)[0] ?? '';
    // Behind a vendor's prefix the refusal still speaks that vendor's format (and is counted for it).
    ctx.vendor ??= prefixVendor(call.url);
    return r;
  }
  ctx.vendor = r.vendor;
  ctx.path = r.path;
  const adapter = deps.vendors[r.vendor];
  if (!adapter) return deny('route_unknown', `Vendor ${r.vendor} is not enabled on this proxy.`);
  ctx.adapter = adapter;
  ctx.req = {
    method: call.method,
    path: r.path,
    query: r.query,
    headers: call.headers,
    ...(r.subHost !== undefined ? { subHost: r.subHost } : {}),
  };
  return undefined;
};
