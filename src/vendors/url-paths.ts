import { WITHHELD } from './types.ts';

/**
 * The path, query and fragment of the URLs in a text, withheld unless the URL's host is one the
 * caller keeps (the withhold stage, ADR 0007 §1). A leaf: Twilio's answers run it over every string
 * with Twilio's own hosts kept (twilio/webhook-urls.ts, fourteenth round), and every vendor's answer
 * head runs it over every header value with the vendor's API hosts kept (answer-head.ts, sixteenth
 * round). A URL with anything after its host becomes its scheme, authority and
 * `/withheld_by_keybrake`; a bare origin (`https://host` or `https://host/`) stays.
 *
 * A URL is a scheme and `://` (`http`, `https`, `ws`, `wss` and `ftp` with any run of `/` and `\`, as
 * a WHATWG parser reads them) up to a blank, a double quote, `<` or `>`; its authority ends at `/`,
 * `?`, `#` or `\`. Not at a `'`: a URL may hold one raw (RFC 3986's sub-delims, which WHATWG leaves as
 * written in a path), and a cut stopped there kept the rest, token included (fifteenth round, probe
 * fixes14 finding 1: `…/o'brien-line/voice?token=…`); nor may one end a host that a userinfo follows
 * (`https://api.twilio.com'@evil.test/…` is evil.test's). The authority is kept as written: its
 * userinfo is url-userinfo.ts's, which runs after. So is one percent-encoded in a text (ENCODED_URL_AT).
 */

/**
 * Where a URL starts: a special scheme and its `:` and any run of slashes and backslashes, or any
 * other scheme and `://`, at the start of a word (so a long run of letters is scanned once) or right
 * after a `%XX` escape (an encoded `;` or `,` joining it to a URL before, sixteenth round). Then its
 * authority, and the rest up to what ends a URL in JSON text, XML or prose.
 */
const URL_AT =
  /(?:(?<![A-Za-z0-9+.-])|(?<=%[0-9A-Fa-f]{2}))(?:(?:https?|wss?|ftp):[/\\]+|[A-Za-z][A-Za-z0-9+.-]*:\/\/)([^\s"<>/?#\\]*)([^\s"<>]*)/giu;

/**
 * The same URL percent-encoded inside a text (a debugger alert's `alert_text`,
 * `url=https%3A%2F%2Fapp.acme.test%2Fsms%3Ftoken%3D…`), its `:` and slashes spelt either way, as a
 * quoting tool leaves them (`https://app.acme.test%2Fsms%3Ftoken…` too): the authority ends at `/`,
 * `?`, `#`, `\` or their escapes, the rest at `&` (the next parameter), a blank, a double quote, `<`
 * or `>` (not at a `'`, which `encodeURIComponent` leaves as it is).
 * Its rest becomes `%2Fwithheld_by_keybrake`.
 */
const ENCODED_URL_AT =
  /(?:(?<![A-Za-z0-9+.-])|(?<=%[0-9A-Fa-f]{2}))(?:https?|wss?|ftp)(?::|%3A)(?:%2F|%5C|[/\\])+((?:(?!%2F|%3F|%23|%5C)[^\s"<>&/?#\\])*)([^\s"<>&]*)/giu;

/** The rest of a URL either pass cut: the marker after the authority, and nothing else. */
const CUT_REST = new RegExp(`^(?:/|%2F)${WITHHELD}$`, 'i');

/** Whether a URL on this host (lower case, without its port; an IPv6 literal in its brackets) keeps its path. */
export type KeptHost = (host: string) => boolean;

/** The host of an authority as written (`user:pw@Host:443`, percent-encoded `@` and `:` read as such). */
export function hostOfAuthority(written: string): string {
  const authority = written.replace(/%40/gi, '@').replace(/%3A/gi, ':');
  const hostPort = authority.slice(authority.lastIndexOf('@') + 1).toLowerCase();
  return hostPort.startsWith('[') ? hostPort.replace(/\]:[0-9]*$/, ']') : hostPort.replace(/:[0-9]*$/, '');
}

/** `text` with the path, query and fragment of every URL whose host `kept` refuses withheld. */
export function withheldUrlPaths(text: string, kept: KeptHost): string {
  const plain = cutUrls(text, URL_AT, kept, (rest) => rest === '' || rest === '/', `/${WITHHELD}`);
  if (!plain.includes('%')) return plain;
  // A URL the first pass cut has the marker for its whole rest; one it kept as a bare origin, `/` or
  // nothing. Only that: a rest merely ending in the marker is an encoded URL run into a raw one the
  // first pass cut, its own token before it (fifteenth round, probe fixes15 finding 4).
  return cutUrls(
    plain,
    ENCODED_URL_AT,
    kept,
    (rest) => rest === '' || /^(?:\/|%2F)$/i.test(rest) || CUT_REST.test(rest),
    `%2F${WITHHELD}`,
  );
}

/**
 * `text` with the rest of every URL `pattern` finds (its authority, then its rest) replaced by
 * `marker`, unless its host is kept or the rest is (`bare`: nothing, or what a pass before left). The
 * rest of a URL on a kept host stays, but is read on for further URLs, each judged by the same rule
 * (sixteenth round, probe fixes16 finding 2): a rest runs to a blank, `"`, `<` or `>`, so a customer's
 * URL written right after one of Twilio's with `'`, `,` or `;` between
 * (`'https://api.twilio.com/x','https://app.acme.test/sms?token=…'` in an `attributes` string) was
 * kept whole as part of Twilio's, its token too.
 */
function cutUrls(
  text: string,
  pattern: RegExp,
  kept: KeptHost,
  bare: (rest: string) => boolean,
  marker: string,
): string {
  let out = '';
  let copied = 0;
  pattern.lastIndex = 0;
  for (let m = pattern.exec(text); m !== null; m = pattern.exec(text)) {
    const url = m[0];
    const authority = m[1] ?? '';
    const rest = m[2] ?? '';
    const restAt = m.index + url.length - rest.length;
    if (bare(rest)) continue;
    if (kept(hostOfAuthority(authority))) {
      // Read on from the end of its authority (always past where the match began).
      pattern.lastIndex = restAt;
      continue;
    }
    out += text.slice(copied, restAt) + marker;
    copied = m.index + url.length;
  }
  return copied === 0 ? text : out + text.slice(copied);
}
