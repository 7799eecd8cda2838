import { type Denial, deny, isDenial } from '../../decision/reasons.ts';
import type { Params } from '../types.ts';
import { withoutDataMaps } from './automation-data-maps.ts';
import { customHeadersDenial } from './custom-headers.ts';
import { fieldSpellingDenial } from './field-spellings.ts';
import { headerFieldsDenial } from './header-fields.ts';
import { addressList, UNSEEN_RECIPIENT, UNSEEN_SENDER } from './recipients.ts';

/** The step types of Resend's definition (AutomationStep) that send no email. */
const SILENT_STEPS: ReadonlySet<string> = new Set([
  'trigger',
  'delay',
  'wait_for_event',
  'condition',
  'contact_update',
  'contact_delete',
  'add_to_segment',
]);

/**
 * Every other `type` an automation definition holds in resend-node 6.38: a connection's
 * (AutomationConnectionType) and a condition rule's (ConditionRule). Any `type` outside these and
 * the step types is refused, whatever the object around it holds: a step spelt `SEND_EMAIL` with a
 * `Config` key, or `sendEmail` with a `configuration`, was stored unread (thirteenth round), since
 * only an object holding a key spelt exactly `config` counted as a step.
 */
const OTHER_TYPES: ReadonlySet<string> = new Set([
  'default',
  'condition_met',
  'condition_not_met',
  'timeout',
  'event_received',
  'rule',
  'and',
  'or',
]);

/**
 * The two names that make an object a step, read only as Resend spells them: `Config`, `CONFIG`,
 * `ｔｙｐｅ` or `type\u200b` beside them would be a step (or a step's settings) no rule read, were
 * Resend to match names loosely.
 */
const STEP_FIELDS: ReadonlySet<string> = new Set(['type', 'config']);

/** The steps whose data maps (template variables, contact properties) hold no step: automation-data-maps.ts. */
const DATA_STEPS: ReadonlySet<string> = new Set(['send_email', 'contact_update']);

/**
 * The `config` of every step of an automation definition that sends email, at whatever depth:
 * Resend's definition puts steps in `steps`, but one nested elsewhere (resend-mcp's tool input wraps
 * them in `workflow`) would send unchecked were Resend to read it there. A step is any object whose
 * `type` is `send_email`. Every object's `type` must be one Keybrake knows (a step's, a
 * connection's, a condition rule's), or it is refused, since Keybrake cannot tell whether it sends.
 * Not read: a send_email step's template `variables` and a contact_update step's `properties`,
 * whose keys are the merchant's names, not Resend's fields (a variable `TYPE` or a contact property
 * `type` was refused whatever the policy until the thirteenth round, probe legit13 finding 1); Resend
 * runs no step from there.
 */
function sendSteps(value: unknown, found: Params[] = []): Params[] | Denial {
  if (Array.isArray(value)) {
    for (const item of value) {
      const inner = sendSteps(item, found);
      if (isDenial(inner)) return inner;
    }
    return found;
  }
  if (typeof value !== 'object' || value === null) return found;
  const node = value as Params;
  const spelling = fieldSpellingDenial(node, STEP_FIELDS);
  if (spelling) return spelling;
  const type = node['type'];
  if (type === 'send_email') {
    const config = node['config'] ?? {};
    // Without a config it sends as one without `from` would: from its template.
    if (typeof config !== 'object' || Array.isArray(config)) {
      return deny('body_invalid', 'A send_email step must have a config object.');
    }
    // A step is an email stored for later: the spelling and header rules of an email apply to it,
    // or its `BCC`, `ｂｃｃ` or custom `Bcc:` header would be stored unread (twelfth round).
    const problem =
      fieldSpellingDenial(config) ??
      customHeadersDenial(config as Params) ??
      headerFieldsDenial(config as Params);
    if (problem) return problem;
    found.push(config as Params);
  } else if (
    type !== undefined &&
    type !== null &&
    !(typeof type === 'string' && (SILENT_STEPS.has(type) || OTHER_TYPES.has(type)))
  ) {
    return deny(
      'body_invalid',
      "An automation holds a `type` Keybrake does not know, so it cannot tell whether that step sends: Resend's step types are lower-case, such as send_email.",
    );
  }
  return sendSteps(Object.values(withoutDataMaps(node, DATA_STEPS)), found);
}

/**
 * The senders an automation definition stores: every send_email step's `from`, and `(unseen sender)`
 * for a step without one (Resend then sends from the step's template). An automation sends on its
 * triggers, outside any call Keybrake sees: a probe stored `from: "CEO <ceo@evil.test>"`, and every
 * email the automation sent came from it. A definition without steps (a rename, a status change)
 * stores none.
 */
export function automationSenders(params: Params): readonly string[] | Denial {
  const steps = sendSteps(params);
  if (isDenial(steps)) return steps;
  const senders: string[] = [];
  for (const config of steps) {
    const from = addressList(config['from']);
    if (!from)
      return deny(
        'body_invalid',
        "A send_email step's `from` must be a string: a@example.com or Name <a@example.com>.",
      );
    senders.push(...(from.length > 0 ? from : [UNSEEN_SENDER]));
  }
  return [...new Set(senders)];
}

/**
 * An automation update (`PATCH /automations/{id}`) without `steps` leaves the stored steps in force,
 * which the request does not show: a probe enabled the merchant's disabled win-back automation with
 * `{"status": "enabled"}`. Only a rename or a `status: "disabled"` cannot make stored steps send
 * (or send otherwise); anything else (`status`, `connections`, a field Keybrake does not know) may.
 */
function keepsStoredSteps(params: Params): boolean {
  if (replacesSteps(params['steps'])) return false;
  return Object.entries(params).some(
    ([key, value]) => key !== 'name' && !(key === 'status' && value === 'disabled') && value !== undefined,
  );
}

/**
 * Whether an update's `steps` is a definition that replaces the stored one: an array holding a
 * `trigger` step, as every automation starts with one. `[]`, `{}`, a string or steps without a
 * trigger replace nothing Keybrake can stand by: were Resend to ignore them rather than refuse
 * them, `{"status": "enabled", "steps": []}` would enable the stored send steps unread (thirteenth
 * round lead, fixes13r), so such an update is judged as one leaving the stored steps in force.
 */
function replacesSteps(steps: unknown): boolean {
  return (
    Array.isArray(steps) &&
    steps.some((step) => typeof step === 'object' && step !== null && (step as Params)['type'] === 'trigger')
  );
}

/** The senders of an automation update: its steps', or unseen when the stored steps stay in force. */
export function automationUpdateSenders(params: Params): readonly string[] | Denial {
  const senders = automationSenders(params);
  if (isDenial(senders) || !keepsStoredSteps(params)) return senders;
  return [...new Set([...senders, UNSEEN_SENDER])];
}

/**
 * The recipients an automation definition names. Resend's send_email step has no recipient field:
 * "every active Automation with a matching trigger will execute its workflow for that contact"
 * (Resend's automation docs), the contact of each event, and the merchant's own app sends those
 * events for every customer, outside any call Keybrake sees. So every send_email step names
 * `(unseen recipient)` (thirteenth round: such a step passed `allow.recipients` naming nobody, and
 * mailed whoever the app sent the trigger for); a `to`, `cc` or `bcc` a step names is read too, never
 * passed unchecked, should Resend come to honour them.
 */
export function automationRecipients(params: Params): readonly string[] | Denial {
  const steps = sendSteps(params);
  if (isDenial(steps)) return steps;
  const recipients: string[] = [];
  for (const config of steps) {
    recipients.push(UNSEEN_RECIPIENT);
    for (const field of ['to', 'cc', 'bcc']) {
      const list = addressList(config[field]);
      if (!list)
        return deny(
          'body_invalid',
          `A send_email step's \`${field}\` must be a string or an array of mailboxes.`,
        );
      recipients.push(...list);
    }
  }
  return [...new Set(recipients)];
}

/** The recipients of an automation update: its steps', or unseen when the stored steps stay in force. */
export function automationUpdateRecipients(params: Params): readonly string[] | Denial {
  const recipients = automationRecipients(params);
  if (isDenial(recipients) || !keepsStoredSteps(params)) return recipients;
  return [...new Set([...recipients, UNSEEN_RECIPIENT])];
}
