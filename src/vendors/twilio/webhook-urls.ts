import { isUtf8 } from 'node:buffer';
import { type Denial, deny } from '../../decision/reasons.ts';
import { rewriteStringValues } from '../json-text.ts';
import { withheldUrlPaths as withheldPaths } from '../url-paths.ts';

/**
 * What of a URL in a Twilio answer the agent does not receive (the withhold stage, ADR 0007 §1): the
 * path and query of every URL but Twilio's own. The Twilio twin of Resend's webhook-endpoints.ts
 * (fourteenth round, probe fixtwre14 finding 5). A number's `sms_url`, `voice_url`,
 * `status_callback`, a Messaging Service's `inbound_request_url`, a Conversations webhook's `url`, a
 * TaskRouter `event_callback_url` and the like point at the customer's receivers, and a receiver's
 * secret is as often in the query (`https://app.acme.test/twilio/sms?token=…`) or the path (a Zapier
 * catch hook `https://hooks.zapier.com/hooks/catch/123456/<secret>/`) as in the userinfo
 * (url-userinfo.ts): X-Twilio-Signature is the receiver's to check, and one that does not takes
 * whoever knows the URL for Twilio. `GET …/IncomingPhoneNumbers.json` is a read every caps-only key
 * has. Which part of a path is secret Keybrake cannot tell, so a URL with anything after its host
 * becomes its scheme, authority and `/withheld_by_keybrake`; a bare origin (`https://host` or
 * `https://host/`) stays. Which receiver a number points at stays readable; where on it does not.
 *
 * By value, not by field name, so a field Keybrake does not know (a new callback, a URL inside a
 * JSON-encoded `attributes`) is covered: every URL in every string of the answer, at any depth, but
 *   - one on Twilio's own hosts (`twilio.com` and its sub hosts): a resource's `url`, a page's
 *     `next_page_url`, an error's `more_info`, a recording's or media's address, which clients follow;
 *   - a message's `body` (inbound text a customer wrote, kept by message-bodies.ts; the account's own
 *     is withheld there whole), which may quote any link: a JSON answer's `body` value, and the text
 *     of an XML answer's `<Body>` element, the one element Twilio's 2010 API names so (a message's;
 *     fourteenth round, probe fixes14b finding 4: XML cut what JSON kept).
 * What a URL is, where it ends and how it is cut is url-paths.ts's, the leaf every vendor's answer
 * head uses too (sixteenth round). A URL in prose quoted in `'` loses its closing quote with its path.
 *
 * A JSON answer stays valid (each string holding such a URL written again, every other byte
 * Twilio's); XML (the 2010 API's answer to a path without `.json`) and other UTF-8 text are
 * rewritten in place. A body that is not UTF-8 cannot be rewritten without changing its other bytes:
 * one that holds such a URL is withheld whole.
 *
 * Not covered: a receiver whose secret is its host name (a Pipedream `https://<id>.m.pipedream.net`,
 * an ngrok tunnel): the host is what says which receiver a webhook points at, and stays.
 */

/** Twilio's own hosts: what its answers link to (resources, pages, errors, media). */
export function isTwilioHost(host: string): boolean {
  return host === 'twilio.com' || host.endsWith('.twilio.com');
}

/** `text` with the path, query and fragment of every URL not on Twilio's hosts withheld (url-paths.ts). */
export function withheldUrlPaths(text: string): string {
  return withheldPaths(text, isTwilioHost);
}

/** What a JSON string literal holding a URL holds: a `:`, escaped (`\u003a`) or percent-encoded. */
const MAY_HOLD_URL = /:|\\u|%3a/i;

/** The field whose string is a message's text: judged by message-bodies.ts, never cut here. */
const MESSAGE_TEXT = 'body';

/**
 * The body of a Twilio answer as the agent gets it: the same Buffer when no URL in it has anything
 * to withhold, else a copy with the path and query of each such URL withheld; a Denial for a body
 * that is not UTF-8 and holds one.
 */
export function withholdWebhookUrls(body: Buffer): Buffer | Denial {
  if (body.length === 0 || !(body.includes(':') || body.includes('%3A') || body.includes('%3a'))) {
    return body;
  }
  if (!isUtf8(body)) {
    const text = body.toString('latin1');
    return withheldUrlPaths(text) === text ? body : notUtf8();
  }
  const text = body.toString('utf8');
  let json = true;
  try {
    JSON.parse(text);
  } catch {
    json = false;
  }
  const rewritten = json
    ? withheldInJson(text)
    : XML_AT.test(text)
      ? withheldInXml(text)
      : withheldUrlPaths(text);
  return rewritten === text ? body : Buffer.from(rewritten, 'utf8');
}

/**
 * Valid JSON text with each string value (not a key, nor a message's `body`) that holds such a URL
 * written again, read with its escapes decoded (`https:\/\/…` hides nothing).
 */
function withheldInJson(text: string): string {
  return rewriteStringValues(text, (raw, key, isKeyValue) => {
    // A value of an object is its key's; an array's element is no message text.
    if ((key === MESSAGE_TEXT && isKeyValue) || !MAY_HOLD_URL.test(raw)) return undefined;
    const value = JSON.parse(raw) as string;
    const kept = withheldUrlPaths(value);
    return kept === value ? undefined : kept;
  });
}

/** An XML answer (the 2010 API's to a path without `.json`): its first mark, after a BOM or blanks, is `<`. */
const XML_AT = /^\uFEFF?\s*</;

/**
 * A message's text in an XML answer: a `<Body>` element, exactly so spelt and without attributes, and
 * its text up to its end tag. Twilio escapes a `<` in a text, so one inside is no message text of
 * Twilio's writing: such an element, or one spelt otherwise, is cut as any other text.
 */
const XML_MESSAGE_TEXT = /<Body>[^<]*<\/Body>/g;

/** XML text with the URLs outside a message's `<Body>` withheld, as JSON keeps a message's `body`. */
function withheldInXml(text: string): string {
  let out = '';
  let copied = 0;
  for (const match of text.matchAll(XML_MESSAGE_TEXT)) {
    out += withheldUrlPaths(text.slice(copied, match.index)) + match[0];
    copied = match.index + match[0].length;
  }
  return out + withheldUrlPaths(text.slice(copied));
}

function notUtf8(): Denial {
  return deny(
    'credential_in_response',
    "The twilio API's answer was not UTF-8 but held a URL, so Keybrake could not take the path and query of its webhooks out of it and withheld the answer.",
  );
}
