import type { Params } from '../types.ts';

/**
 * The maps of an automation step whose keys the merchant names, not Resend, by step type and path
 * from the step: a send_email step's template `variables` (resend-node 6.38
 * `Record<string, TemplateVariableValue>`: strings, numbers, `{var}`, records and arrays of records,
 * UPPER_CASE by Resend's convention) and a contact_update step's `properties` (the contact's own
 * property names). A key there is a variable or a property, so `{"TYPE": "order"}` or a line item
 * `{"type": "shirt"}` is no step's `type`: read as one, the automation was refused whatever the
 * policy (thirteenth round, probe legit13 finding 1). Read only as Resend spells the path (`config`,
 * `template`, `variables`, `properties`); a map under another spelling is read as before.
 */
const DATA_MAPS: ReadonlyMap<string, readonly (readonly string[])[]> = new Map([
  ['send_email', [['config', 'template', 'variables']]],
  ['contact_update', [['config', 'properties']]],
]);

/**
 * The step with the data maps of the given step types left out (a copy; the step is unchanged), for
 * the readers that look for steps, rules and their fields: what a data map holds is the merchant's
 * data, which those readers must not take for Resend's structure. A reader whose concern is the
 * data itself (the event references a contact_update copies: automation-event-data.ts) reads the
 * whole step.
 */
export function withoutDataMaps(step: Params, types: ReadonlySet<string>): Params {
  const type = step['type'];
  if (typeof type !== 'string' || !types.has(type)) return step;
  let result: unknown = step;
  for (const path of DATA_MAPS.get(type) ?? []) result = without(result, path);
  return result as Params;
}

/** `node` without the value at `path` (copied along the path), or `node` itself when the path is absent. */
function without(node: unknown, path: readonly string[]): unknown {
  const [head, ...rest] = path;
  if (head === undefined || typeof node !== 'object' || node === null || Array.isArray(node)) return node;
  if (!Object.hasOwn(node, head)) return node;
  const copy: Params = { ...(node as Params) };
  if (rest.length === 0) delete copy[head];
  else copy[head] = without(copy[head], rest);
  return copy;
}
