import { type Denial, deny } from '../../decision/reasons.ts';
import { rewriteStringValues } from '../json-text.ts';
import { type Operation, WITHHELD } from '../types.ts';

/**
 * What of a webhook's `endpoint` the agent does not receive (the withhold stage, ADR 0007 §1): all
 * but its scheme and host. A URL's userinfo is withheld from every answer (url-userinfo.ts), since
 * with it the agent could forge Resend's events to the customer's server; but the same secret is
 * as often in the query (`https://hooks.acme.test/resend?token=…`) or the path (a Zapier catch hook
 * `https://hooks.zapier.com/hooks/catch/123456/<secret>/`, a Slack webhook): a receiver that does not
 * verify Resend's signature takes whoever knows the URL for Resend, and a probe (thirteenth round)
 * read both through `GET /webhooks`, a read every caps-only key has. Which part of a path is secret
 * Keybrake cannot tell, so an endpoint with anything after its host becomes
 * `https://host/withheld_by_keybrake` (the port kept, a userinfo as `withheld_by_keybrake@`);
 * `https://host` or `https://host/` alone stays as Resend wrote it. Which webhook points at which
 * receiver stays readable; where on it does not. A value that is no URL is withheld whole.
 *
 * The reads that answer an endpoint: the webhook list. One webhook's read (`GET /webhooks/{id}`)
 * answers its signing secret and is refused as sensitive, as are its create and update.
 */
const ENDPOINT_READS: ReadonlySet<string> = new Set(['resend.webhooks.list']);
const ENDPOINT = 'endpoint';

/**
 * The body of an answer as the agent gets it: the same Buffer for any other operation, an empty
 * answer or one whose endpoints are bare origins, else a copy with each `endpoint` string cut to its
 * origin (every other byte as Resend sent it). Such an answer that is not JSON is withheld whole.
 */
export function withholdWebhookEndpoints(body: Buffer, op?: Operation | null): Buffer | Denial {
  if (op == null || !ENDPOINT_READS.has(op.id) || body.length === 0) return body;
  const text = body.toString('utf8');
  try {
    JSON.parse(text);
  } catch {
    return deny(
      'credential_in_response',
      "The resend API's answer to a read of webhooks was not JSON, so Keybrake could not take the secrets of their endpoints out of it and withheld the answer.",
    );
  }
  const rewritten = rewriteStringValues(text, (raw, key, isKeyValue) => {
    if (key !== ENDPOINT || !isKeyValue) return undefined;
    const value = JSON.parse(raw) as string;
    const kept = originOnly(value);
    return kept === value ? undefined : kept;
  });
  return rewritten === text ? body : Buffer.from(rewritten, 'utf8');
}

/**
 * An endpoint as the agent may see it: unchanged when it is a bare origin (nothing after its host but
 * one `/`, read as a WHATWG parser, a webhook sender, reads it; its userinfo is the next rule's), else
 * its scheme, a userinfo marker, host and port, and `/withheld_by_keybrake` for the rest. Not a URL
 * with a host: the marker alone.
 */
function originOnly(endpoint: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return WITHHELD;
  }
  if (url.host === '') return WITHHELD;
  if (url.pathname === '/' && url.search === '' && url.hash === '') return endpoint;
  const userinfo = url.username !== '' || url.password !== '' ? `${WITHHELD}@` : '';
  return `${url.protocol}//${userinfo}${url.host}/${WITHHELD}`;
}
