import type { Denial } from '../../decision/reasons.ts';
import { parseForm } from '../form.ts';
import type { Params, ParseLimits } from '../types.ts';

/**
 * The parameters of a Twilio call (parse stage): its form body, PascalCase keys, a list parameter
 * (`MediaUrl`) as repeated keys. Query strings are not parameters here: classify refuses them on writes
 * and reads the Lookup ones itself.
 */
export function parseTwilio(body: Buffer, limits: ParseLimits): Params | Denial {
  return parseForm(body.toString('utf8'), limits);
}
