import { type Denial, deny } from '../../decision/reasons.ts';
import { lenientSegment } from '../operation-table.ts';

/**
 * Stripe v2 operations that mint a credential or change who can act on the account: refused whatever
 * the policy says (price stage), as their v1 counterparts are (`sensitive` in the catalog). No v2
 * operation is in the catalog, so a `/v2/…` call is `stripe.unknown`, forwarded where a policy names it
 * exactly, and an adversarial probe (twelfth round, reveals) had each of these forwarded, their answers
 * handed over, while the v1 counterpart listed just as exactly was refused. From Stripe's definition
 * (stripe-node 23.1.0, API v2596, read 2026-12-02):
 *   - `POST /v2/core/account_links`: "a single-use URL that an account can use to access a
 *     Stripe-hosted flow for collecting or updating required information" (the connected account's
 *     payout bank account among it), as `POST /v1/account_links`;
 *   - `POST /v2/core/event_destinations`, its update and its `enable`: every later event of the
 *     account sent where the caller says (a webhook URL, an EventBridge account), past every answer
 *     Keybrake withholds, as `POST /v1/webhook_endpoints` and its update;
 *   - `POST /v2/billing/meter_event_session`: an `authentication_token` for the meter event stream,
 *     usage for any customer sent without the secret key, so outside Keybrake.
 * A v2 operation is not judged further: every other one stays `stripe.unknown` (an exact entry).
 */

/** Method and path templates (`{id}`: any one segment) of the refused operations, with why. */
const SENSITIVE_V2: ReadonlyArray<readonly [method: string, template: string, why: string]> = [
  ['POST', '/v2/core/account_links', 'a link into a connected account'],
  ['POST', '/v2/core/event_destinations', "sends the account's events where the caller says"],
  ['POST', '/v2/core/event_destinations/{id}', "redirects the account's events"],
  ['POST', '/v2/core/event_destinations/{id}/enable', "sends the account's events again"],
  ['POST', '/v2/billing/meter_event_session', 'mints an authentication token for the meter event stream'],
];

/**
 * The refusal of a v2 call that mints a credential or changes account access; undefined otherwise.
 * `path` is the canonical path without its query. Its segments are compared as a lenient router
 * might read them (percent-decoded, cut at `;`, trailing dots and blanks dropped, any case), and one
 * trailing slash is ignored: an exact policy entry names the path as written, so any spelling that
 * reaches Stripe must be the refused operation's.
 */
export function v2SensitiveDenial(method: string, path: string): Denial | undefined {
  // Every Stripe call passes here: its first segment is read alone first, so a v1 call (nearly every
  // call) costs one segment's reading, not its whole path's.
  const slash = path.indexOf('/', 1);
  if (lenientSegment(slash === -1 ? path.slice(1) : path.slice(1, slash)).toLowerCase() !== 'v2')
    return undefined;
  const segments = lenientSegments(path);
  for (const [m, template, why] of SENSITIVE_V2) {
    if (m !== method.toUpperCase()) continue;
    const parts = template.slice(1).split('/');
    if (parts.length !== segments.length) continue;
    if (parts.every((part, i) => (part === '{id}' ? segments[i] !== '' : part === segments[i]))) {
      return deny(
        'credential_operation',
        `${m} ${template} (${why}) reveals, mints or deletes a credential, or changes who can access the account: Keybrake never forwards it, whatever the policy says.`,
      );
    }
  }
  return undefined;
}

/** The path's segments as a lenient router might read them (lenientSegment, lower-cased), one trailing slash dropped. */
function lenientSegments(path: string): string[] {
  const trimmed = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
  return trimmed
    .slice(1)
    .split('/')
    .map((segment) => lenientSegment(segment).toLowerCase());
}
