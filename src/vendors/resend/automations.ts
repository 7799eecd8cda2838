import { type Denial, deny, isDenial } from '../../decision/reasons.ts';
import type { Params } from '../types.ts';
import { customHeadersDenial } from './custom-headers.ts';
import { fieldSpellingDenial } from './field-spellings.ts';
import { addressList, UNSEEN_SENDER } from './recipients.ts';

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
 * The `config` of every step of an automation definition that sends email, at whatever depth:
 * Resend's definition puts steps in `steps`, but one nested elsewhere (resend-mcp's tool input wraps
 * them in `workflow`) would send unchecked were Resend to read it there. A step is any object whose
 * `type` is `send_email`, or that holds a string `type` and a `config` (condition rules and
 * connections have a `type` but no `config`); one of a type Keybrake does not know is refused, since
 * it cannot tell whether it sends.
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
  const type = node['type'];
  const config = node['config'] ?? {};
  if (type === 'send_email') {
    // Without a config it sends as one without `from` would: from its template.
    if (typeof config !== 'object' || Array.isArray(config)) {
      return deny('body_invalid', 'A send_email step must have a config object.');
    }
    // A step is an email stored for later: the spelling and header rules of an email apply to it,
    // or its `BCC`, `ｂｃｃ` or custom `Bcc:` header would be stored unread (twelfth round).
    const problem = fieldSpellingDenial(config) ?? customHeadersDenial(config as Params);
    if (problem) return problem;
    found.push(config as Params);
  } else if (typeof type === 'string' && 'config' in node && !SILENT_STEPS.has(type)) {
    return deny('body_invalid', `Keybrake does not know the automation step type ${JSON.stringify(type)}.`);
  }
  return sendSteps(Object.values(node), found);
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
 * The recipients an automation definition names. Resend's send_email step has none (it emails the
 * contact of the event that runs it, checked when the event is sent), but one that names `to`, `cc`
 * or `bcc` is read, never passed unchecked: Resend may come to honour them.
 */
export function automationRecipients(params: Params): readonly string[] | Denial {
  const steps = sendSteps(params);
  if (isDenial(steps)) return steps;
  const recipients: string[] = [];
  for (const config of steps) {
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
