import { templateKey } from '../patterns/glob.ts';
import { RESEND_OPERATIONS } from './resend/operations.ts';
import { STRIPE_OPERATIONS } from './stripe/operations.ts';
import { TWILIO_OPERATIONS } from './twilio/operations.ts';

interface Templates {
  /** Operation id → its path template, placeholders written `{}`. */
  readonly byId: Map<string, string>;
  /** Operation id → its path template as the catalog prints it, placeholders named (`{customer}`). */
  readonly namedById: Map<string, string>;
  /** `METHOD template` of the operations that share it with another (Twilio hosts: `/v1/Services/{}`). */
  readonly shared: Set<string>;
}

let templates: Templates | undefined;

function build(): Templates {
  const byId = new Map<string, string>();
  const namedById = new Map<string, string>();
  const seen = new Set<string>();
  const shared = new Set<string>();
  for (const row of [...STRIPE_OPERATIONS, ...TWILIO_OPERATIONS, ...RESEND_OPERATIONS]) {
    const template = templateKey(row.path);
    byId.set(row.id, template);
    namedById.set(row.id, row.path);
    const key = `${row.method} ${template}`;
    if (seen.has(key)) shared.add(key);
    seen.add(key);
  }
  return { byId, namedById, shared };
}

/**
 * The path template of a catalogued operation, placeholders written `{}` (`/v1/customers/{}`), by
 * its id; undefined for an operation the catalogs do not hold (`stripe.unknown`). An endpoint entry
 * written as a template admits only the operation whose template it is (the authorize stage).
 */
export function operationTemplate(id: string): string | undefined {
  templates ??= build();
  return templates.byId.get(id);
}

/**
 * The path template of a catalogued operation as `keybrake catalog` prints it, placeholders named
 * (`/v1/customers/{customer}`): what a refusal suggests an entry be written as. Undefined for an
 * operation the catalogs do not hold.
 */
export function operationPath(id: string): string | undefined {
  templates ??= build();
  return templates.namedById.get(id);
}

/**
 * Whether another catalogued operation has the same method and template: Twilio's hosts share paths
 * (`DELETE /v1/Services/{Sid}` deletes a Sync, Chat, Messaging… service), and an endpoint entry names
 * no host. Such a template cannot name one operation exactly.
 */
export function templateIsShared(method: string, template: string): boolean {
  templates ??= build();
  return templates.shared.has(`${method} ${template}`);
}
