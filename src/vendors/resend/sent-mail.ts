import { type Denial, deny } from '../../decision/reasons.ts';
import { endOfLiteral, endOfValue, skipSpace } from '../json-text.ts';
import { type Operation, WITHHELD } from '../types.ts';

/**
 * What of an answer to a sent-mail read the agent does not receive (the withhold stage, ADR 0007 §1):
 * the content of the mail. `GET /emails` and `GET /emails/{email_id}` answer every email the Resend
 * team sent, by any key and by the merchant's own app, to anyone, whatever `allow.recipients` says:
 * password resets, magic links and one-time codes the app mails its customers. A probe (twelfth
 * round) read a customer's magic link through the quick start's own "sent mail only" policy. So the
 * body (`html`, `text`), the `subject` (where one-time codes often stand) and a sent attachment's
 * `download_url` (a public download of its content) are replaced by `withheld_by_keybrake`; who a
 * mail went to, when, and what became of it (`last_event`) stay. By name at any depth of these
 * answers alone: a list's `data`, one email.
 *
 * Webhook events (twelfth round, probe fixes12a): `GET /webhooks/{webhook_id}/events/{event_id}`
 * (resend-mcp's `get-webhook-event`) answers Resend's record of the event it posted, whose `payload`
 * is the sent mail's `subject` on every `email.*` event and, on `email.clicked`, `click.link`: the
 * whole URL the customer clicked, a reset or magic link with its token. The probe read both through
 * a policy that withheld them from `GET /emails/{email_id}`. So event answers withhold the mail
 * fields and `link` too, at any depth (the `inbox.*` events' email, draft and thread subjects, an
 * `email.received` subject), and so do the event list (today only ids, types and statuses) and an
 * event's delivery attempts, whose `response` is the merchant's endpoint's answer to the post (a
 * framework's validation error quotes the payload it got). Delivery diagnostics (`bounce`,
 * `failed`, `suppressed`), `tags` (the sender's choice) and the click's time, address and agent
 * stay.
 *
 * Automation runs (thirteenth round, probe resend13): `GET /automations/{id}/runs/{run_id}`
 * (resend-mcp's `get-automation-runs`, which prints every step's `output` and `error` to the agent)
 * answers what each step of a run produced, for runs of the merchant's own automations on the
 * events its app sends (`password.reset` with the link in its payload). Resend's definition says
 * only "the output produced by the step, if any" and "the error produced by the step, if any": a
 * trigger's output may be its event, payload and all, a send's the mail it sent, an error a quote
 * of the data it failed on. Keybrake cannot tell which keys of such an object are content, so each
 * step's `output` and `error` are withheld whole (any value but `null` becomes
 * `withheld_by_keybrake`); the step's key, type, status and times stay, as do the run's. The run
 * list (today ids, statuses and times) is read the same way.
 */

/** The fields whose string values carry a mail's content. */
const MAIL_CONTENT: readonly string[] = ['html', 'text', 'subject', 'download_url'];
/** In a webhook event's payload the link a recipient clicked as well (`email.clicked`). */
const EVENT_CONTENT: readonly string[] = [...MAIL_CONTENT, 'link'];

/**
 * The reads whose answers hold sent mail's content, and the fields withheld in each (the operations
 * of resend-node 6.38's `emails.get`, `list`, `attachments` and `webhooks.events`).
 */
const WITHHELD_FIELDS: ReadonlyMap<string, ReadonlySet<string>> = new Map([
  ['resend.emails.list', new Set(MAIL_CONTENT)],
  ['resend.emails.get', new Set(MAIL_CONTENT)],
  ['resend.emails.attachments.list', new Set(MAIL_CONTENT)],
  ['resend.emails.attachments.get', new Set(MAIL_CONTENT)],
  ['resend.webhooks.events.list', new Set(EVENT_CONTENT)],
  ['resend.webhooks.events.get', new Set(EVENT_CONTENT)],
  ['resend.webhooks.events.attempts.list', new Set([...EVENT_CONTENT, 'response'])],
]);

/**
 * The reads whose answers hold fields withheld whole, whatever their value (an object included):
 * an automation run step's `output` and `error`, resend-node 6.38's `automations.runs.get` and
 * `list`.
 */
const WITHHELD_VALUES: ReadonlyMap<string, ReadonlySet<string>> = new Map([
  ['resend.automations.runs.get', new Set(['output', 'error'])],
  ['resend.automations.runs.list', new Set(['output', 'error'])],
]);

const NONE: ReadonlySet<string> = new Set();

const QUOTED_MARKER = JSON.stringify(WITHHELD);

/**
 * The body of an answer as the agent gets it: the same Buffer for any other operation or an empty
 * answer, else a copy with each content field's string value withheld (every other byte as Resend
 * sent it). Such an answer that is not JSON is withheld whole: Keybrake cannot tell where its
 * content stands.
 */
export function withholdSentMail(body: Buffer, op?: Operation | null): Buffer | Denial {
  const fields = op == null ? undefined : WITHHELD_FIELDS.get(op.id);
  const whole = op == null ? undefined : WITHHELD_VALUES.get(op.id);
  if ((fields === undefined && whole === undefined) || body.length === 0) return body;
  const text = body.toString('utf8');
  try {
    JSON.parse(text);
  } catch {
    return deny(
      'credential_in_response',
      "The resend API's answer to a read of sent mail, of its webhook events or of an automation's runs was not JSON, so Keybrake could not take the mail's content out of it and withheld the answer.",
    );
  }
  const rewritten = withheldJson(text, fields ?? NONE, whole ?? NONE);
  return rewritten === text ? body : Buffer.from(rewritten, 'utf8');
}

/**
 * Valid JSON text with the string value of every field of `fields`, and any value but `null` of
 * every field of `whole`, replaced. It walks the string literals only (a literal followed by `:` is
 * a key, one preceded by `:` the value of the last key), and skips a value withheld whole, so
 * nothing else is re-serialised.
 */
function withheldJson(text: string, fields: ReadonlySet<string>, whole: ReadonlySet<string>): string {
  let out = '';
  let copied = 0;
  let key = '';
  for (let start = text.indexOf('"'); start !== -1; ) {
    let end = endOfLiteral(text, start);
    const colon = skipSpace(text, end, 1);
    if (text[colon] === ':') {
      key = JSON.parse(text.slice(start, end)) as string;
      if (whole.has(key)) {
        const valueStart = skipSpace(text, colon + 1, 1);
        end = endOfValue(text, valueStart);
        if (text.slice(valueStart, end) !== 'null') {
          out += text.slice(copied, valueStart) + QUOTED_MARKER;
          copied = end;
        }
      }
    } else if (fields.has(key) && text[skipSpace(text, start - 1, -1)] === ':') {
      out += text.slice(copied, start) + QUOTED_MARKER;
      copied = end;
    }
    start = text.indexOf('"', end);
  }
  return copied === 0 ? text : out + text.slice(copied);
}
