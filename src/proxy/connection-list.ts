// The header names a `Connection` header nominates: the one reading of that list.
import { trimOws } from '../http-whitespace.ts';

/**
 * The header names the `Connection` values nominate as hop-by-hop (RFC 9110 §7.6.1), lower case,
 * each element trimmed of HTTP whitespace only (spaces and tabs). The check refusing a nominated
 * header Keybrake reads, the replay record and the forwarder dropping nominated headers all read the
 * list here, so a header is dropped on the way exactly when the check saw it nominated: with
 * `String.trim` in one of them and not another, `Stripe-Account\xA0` could be judged as nominating
 * nothing and still drop the judged Stripe-Account header. It names no header: that one is kept.
 */
export function nominatedHeaders(values: string | readonly string[] | undefined): string[] {
  if (values === undefined) return [];
  const out: string[] = [];
  for (const value of typeof values === 'string' ? [values] : values) {
    for (const element of value.split(',')) {
      const name = trimOws(element).toLowerCase();
      if (name !== '') out.push(name);
    }
  }
  return out;
}
