import { templateKey } from '../patterns/glob.ts';
import { RESEND_OPERATIONS } from './resend/operations.ts';
import { STRIPE_OPERATIONS } from './stripe/operations.ts';
import { TWILIO_OPERATIONS } from './twilio/operations.ts';

let byId: Map<string, string> | undefined;

/**
 * The path template of a catalogued operation, placeholders written `{}` (`/v1/customers/{}`), by
 * its id; undefined for an operation the catalogs do not hold (`stripe.unknown`). An endpoint entry
 * written as a template admits only the operation whose template it is (the authorize stage).
 */
export function operationTemplate(id: string): string | undefined {
  if (!byId) {
    byId = new Map();
    for (const row of [...STRIPE_OPERATIONS, ...TWILIO_OPERATIONS, ...RESEND_OPERATIONS]) {
      byId.set(row.id, templateKey(row.path));
    }
  }
  return byId.get(id);
}
