import { type Denial, deny } from '../../decision/reasons.ts';
import type { Params } from '../types.ts';
import { withoutDataMaps } from './automation-data-maps.ts';
import { fieldSpellingDenial } from './field-spellings.ts';

/** The automation writes whose steps Keybrake reads (a duplicate copies steps it does not show). */
const AUTOMATION_WRITES: ReadonlySet<string> = new Set([
  'resend.automations.create',
  'resend.automations.update',
]);

/**
 * A reference that reads the contact of the run, the only data scope Resend names besides `event.`
 * ("Variable references use dot-notation with one of these scopes: event.* … contact.*"): plain
 * lower-case `contact.` and a dotted path of letters, digits and `_`, nothing else.
 */
const CONTACT_REFERENCE = /^contact(?:\.[A-Za-z0-9_]+)+$/;

/** The names that make an object a reference (`{"var": …}`) or a condition rule (`{"field": …}`), in one spelling. */
const REFERENCE_FIELDS: ReadonlySet<string> = new Set(['var', 'field']);

/**
 * Why an automation create or update cannot be forwarded because a step other than send_email reads
 * the triggering event's payload; undefined otherwise.
 *
 * The merchant's app sends its own events (`password.reset` with the reset link and code as
 * payload), and every enabled automation on that event name runs on each, outside any call Keybrake
 * sees. A send_email step mails the run's contact, and is judged as mail to `(unseen recipient)`
 * (automations.ts). Every other step writes into records any key reads freely: a `contact_update`
 * with `{"var": "event.reset_url"}` copies the link into the customer's contact (thirteenth round:
 * a probe's silent automation passed both allowlists, and `GET /contacts` answered every customer's
 * link and code, the payload 8bbc4e0 withholds from a run read), and a `condition` or a
 * `wait_for_event` filter on `event.…` followed by a literal contact update, an `add_to_segment` or
 * a `contact_delete` leaks it one bit per branch. Keybrake cannot see the payload nor bound what a
 * tree of branches spells out, so such a step is refused whatever the policy: outside send_email
 * steps, a `var` reference and a rule's `field` must read the contact (`contact.…`), and no string may
 * hold a template expression (`{{`), which Resend might render from the event. The object of a
 * send_email step is left to the recipient rules (its `variables` fill the mail the contact gets).
 * The cost: an automation that enriches contacts from event data, or branches on it, is made with
 * the merchant's own key, not through Keybrake.
 */
export function automationEventDataDenial(operationId: string, params: Params): Denial | undefined {
  return AUTOMATION_WRITES.has(operationId) ? readsEventData(params) : undefined;
}

/** The fields of a send_email step's config written into a header the sent mail's reads answer. */
const SEND_ADDRESS_FIELDS: readonly string[] = ['from', 'reply_to'];

/**
 * The step whose data map is the mail's own: a send_email step's template `variables` may read the
 * event, and a key there (`type`, `TYPE`, a line item's `type`) is a variable's name, so nothing in
 * it is read as a step (thirteenth round, probe legit13 finding 1: `{"type": "order", "ORDER_ID":
 * {"var": "event.order_id"}}` was read as a step other than send_email reading the event, and refused). A
 * contact_update's `properties` stays read: its values are what the step copies into the contact.
 */
const SEND_STEP: ReadonlySet<string> = new Set(['send_email']);

const TEMPLATE_EXPRESSION =
  'holds a template expression ({{…}}), which Resend may fill from the triggering event: Keybrake does not forward steps that copy event data into records an agent can read.';

/**
 * The first reference to event data outside a send_email step, at any depth (steps may nest).
 * Inside a send_email step (`inSend`) references are the mail's own, but a step of another type
 * nested in it is read as any step, and the step's `from` and `reply_to` may hold no template
 * expression: the sender allowlist judges the address it reads, and `GET /emails` answers the
 * `from` of every sent email, so `{{{event.code}}} <bot@…>` would carry the code there, were Resend
 * to render it.
 *
 * Only an object no other typed object encloses is a send_email step (`inStep` once inside a step,
 * a rule or any typed object that is not send_email): a step is where Resend puts steps, not
 * wherever a `type` key is. A contact_update's `properties` is a map of the agent's own names, and
 * `{"type": "send_email", "code": {"var": "event.code"}}` there is an ordinary property `type`
 * (resend-node: string values), not a mail whose variables are free; read as a step, its siblings
 * went unread and the reset code and link were copied into every customer's contact (thirteenth
 * round, probe fixes13x finding 2). So inside a step every object is read strictly, whatever its
 * `type`.
 */
function readsEventData(value: unknown, inSend = false, inStep = false): Denial | undefined {
  if (typeof value === 'string') {
    return !inSend && value.includes('{{')
      ? deny('body_invalid', `An automation step other than send_email ${TEMPLATE_EXPRESSION}`)
      : undefined;
  }
  if (Array.isArray(value)) {
    for (const item of value) {
      const problem = readsEventData(item, inSend, inStep);
      if (problem) return problem;
    }
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const node = value as Params;
  const type = node['type'];
  if (type === 'send_email' && !inStep) {
    const config = node['config'];
    if (typeof config === 'object' && config !== null && !Array.isArray(config)) {
      for (const field of SEND_ADDRESS_FIELDS) {
        const text = JSON.stringify((config as Params)[field] ?? null);
        if (text.includes('{{')) {
          return deny('body_invalid', `A send_email step's \`${field}\` ${TEMPLATE_EXPRESSION}`);
        }
      }
    }
    return readsEventData(Object.values(withoutDataMaps(node, SEND_STEP)), true);
  }
  // Any other typed object (a step, a rule) nested in a send step is read as a step.
  const typed = type !== undefined && type !== null;
  const strict = !inSend || typed;
  if (!strict) return readsEventData(Object.values(node), true);
  const spelling = fieldSpellingDenial(node, REFERENCE_FIELDS);
  if (spelling) return spelling;
  for (const field of REFERENCE_FIELDS) {
    const reference = node[field];
    if (reference === undefined) continue;
    if (typeof reference !== 'string' || !CONTACT_REFERENCE.test(reference)) {
      return deny(
        'body_invalid',
        `An automation step other than send_email reads \`${field}\` from something other than the contact (only contact.… is read): a step that copies or branches on the triggering event's data (event.…) would put the merchant's event payload, a reset link or code, into records an agent can read.`,
      );
    }
  }
  return readsEventData(Object.values(node), false, inStep || typed);
}
