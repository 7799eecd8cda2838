import { type Denial, isDenial } from '../decision/reasons.ts';
import { type AnswerHead, WITHHELD } from './types.ts';
import { hostOfAuthority, type KeptHost, withheldUrlPaths } from './url-paths.ts';
import { withholdUrlUserinfo } from './url-userinfo.ts';

/**
 * What of a vendor answer's head the agent does not receive (the withhold stage, ADR 0007 §1,
 * sixteenth round): the path and query of every URL in a header value whose host is not one of the
 * vendor's API hosts, and every URL's userinfo. A leaf every vendor adapter's
 * `withholdFromAnswerHead` uses, each with its own hosts.
 *
 * Found by an adversarial probe (catalog16, finding 1): a Twilio Bulk Export day fetch answers 307
 * with the day's file, a pre-signed S3 URL, in `redirect_to` and in `Location`; the body's was cut
 * (webhook-urls.ts) while `Location` came back whole, and whoever holds that URL downloads every
 * message of the day from S3, with no key and outside Keybrake. The body's rules read fields; a
 * header names no field, so its URLs are judged by value alone, in every header, whatever its name:
 * `Location`, `Content-Location`, `Link` (`<url>; rel=…`), `Refresh` (`0; url=…`) and any the vendor
 * invents. A URL keeps its path only on the vendor's API hosts, which answer nothing without the
 * vendor's key (so only through Keybrake); anywhere else (a storage bucket, a CDN, a hosted page) its
 * path and query are what make it a capability, and become `/withheld_by_keybrake`. A network-path
 * reference (`//bucket.s3.amazonaws.com/…`, which a client resolves against Keybrake's scheme) is a
 * URL on that host too. A reference without a host (`/v1/…`) resolves against the address the agent
 * called, Keybrake's, and stays.
 *
 * The credential scan reads the head as the vendor sent it (forward.ts, before this): a header that
 * carries the upstream key withholds the whole answer whatever this keeps.
 */

/** A header value that may hold a URL or a network-path reference: a slash, a backslash or a percent. */
const MAY_HOLD_URL = /[/\\%]/;

/**
 * A network-path reference (`//host/…`, backslashes as a WHATWG parser takes them) where a URL
 * reference may start in a header: at the start, after a blank, `<` (a Link), `=` (a Refresh's
 * `url=`), a quote, `,` or `;`. Its authority, then its rest, as url-paths.ts reads them.
 */
const NETWORK_PATH_AT = /(^|[\s<>"'=,;])([/\\]{2,})([^\s"<>/?#\\]*)([^\s"<>]*)/g;

/**
 * The head as the agent gets it: the same object when nothing in it is withheld, else a copy with
 * each value rewritten; a Denial when a value holds a userinfo that cannot be taken out (url-userinfo.ts).
 */
export function withheldHeadUrls(head: AnswerHead, kept: KeptHost): AnswerHead | Denial {
  let out: Record<string, string | string[] | undefined> | undefined;
  // for…in rather than Object.entries: no array per header on the request path.
  for (const name in head) {
    const value = head[name];
    if (value === undefined) continue;
    let written: string | string[] | Denial;
    if (typeof value === 'string') {
      written = withheldValue(value, kept);
    } else {
      const values: string[] = [];
      for (const v of value) {
        const w = withheldValue(v, kept);
        if (isDenial(w)) return w;
        values.push(w);
      }
      written = values.every((w, i) => w === value[i]) ? value : values;
    }
    if (isDenial(written)) return written;
    if (written === value) continue;
    out ??= { ...head };
    out[name] = written;
  }
  return out ?? head;
}

/** One header value with its URLs' paths off `kept` hosts and every userinfo withheld. */
export function withheldValue(value: string, kept: KeptHost): string | Denial {
  if (!MAY_HOLD_URL.test(value)) return value;
  const paths = withheldUrlPaths(value, kept).replace(
    NETWORK_PATH_AT,
    (ref: string, before: string, slashes: string, authority: string, rest: string) =>
      rest === '' || rest === '/' || kept(hostOfAuthority(authority))
        ? ref
        : `${before}${slashes}${authority}/${WITHHELD}`,
  );
  // A header's bytes are latin1 characters (node's reading): written back as they came.
  const bytes = Buffer.from(paths, 'latin1');
  const userinfo = withholdUrlUserinfo(bytes);
  if (isDenial(userinfo)) return userinfo;
  return userinfo === bytes ? paths : userinfo.toString('latin1');
}
