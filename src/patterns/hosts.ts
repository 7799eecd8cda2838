import { PatternError } from './glob.ts';

/**
 * Host allowlists (`allow.twimlHosts`, ADR 0007 §7), compiled once per snapshot, and the one strict
 * reading of a URL's host the authorize stage matches them against.
 */

/** `twiml.example.com` (that host only) or `*.example.com` (any host below it, not itself). */
export interface HostPattern {
  readonly source: string;
  /** Lower-case host name; for a wildcard, the suffix after `*` (`.example.com`). */
  readonly host: string;
  readonly wildcard: boolean;
}

const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
/** At least two labels: a host Twilio fetches from the internet has a domain. */
const HOST_NAME = new RegExp(`^(?:${LABEL}\\.)+${LABEL}$`);

/** Compiles a host pattern; throws PatternError naming what is wrong. */
export function compileHostPattern(source: string): HostPattern {
  const wildcard = source.startsWith('*.');
  const host = (wildcard ? source.slice(2) : source).toLowerCase();
  if (host.length > 253 || !HOST_NAME.test(host)) {
    throw new PatternError(
      'must be a host name such as "twiml.example.com" or "*.example.com" (no scheme, port, path or other wildcard)',
    );
  }
  return { source, host: wildcard ? `.${host}` : host, wildcard };
}

/** Whether a lower-case host is allowed by any of the patterns. */
export function matchesHost(patterns: readonly HostPattern[], host: string): boolean {
  return patterns.some((p) =>
    p.wildcard ? host.endsWith(p.host) && host.length > p.host.length : host === p.host,
  );
}

// scheme://[userinfo@]host[:port][path, query or fragment], with nothing a parser could read two ways:
// no white space, backslash or control character anywhere, no `@` in the user information, and a host
// of letters, digits, dots and hyphens only (no IP literal in brackets, no percent-encoding).
const URL_SHAPE =
  /^(https?|wss?):\/\/(?:[A-Za-z0-9._~!$&'()*+,;=:%-]*@)?([A-Za-z0-9.-]+)(?::\d{1,5})?(?:[/?#][^\s\\]*)?$/;

/**
 * The lower-case host of an absolute `http`, `https`, `ws` or `wss` URL, read so that every URL parser
 * agrees on it; undefined for anything else (a relative URL, another scheme, user information that
 * hides the host, characters that parsers read differently). The WHATWG parser must read the same
 * host, so a host it would rewrite (`0x7f.1`, a trailing dot kept or not) is not accepted either.
 */
export function urlHost(url: string): string | undefined {
  const shape = URL_SHAPE.exec(url);
  if (!shape) return undefined;
  const host = shape[2]!.toLowerCase();
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if (parsed.protocol !== `${shape[1]!.toLowerCase()}:` || parsed.hostname !== host) return undefined;
  return host;
}
