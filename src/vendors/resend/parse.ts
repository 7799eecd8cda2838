import { type Denial, deny } from '../../decision/reasons.ts';
import type { Params, ParseLimits } from '../types.ts';

/** Where a top-level JSON array lands in Params (Params is an object; `/emails/batch` posts an array). */
export const ITEMS = '$items';

/**
 * Decodes a Resend JSON body within the depth and parameter limits. An empty body is `{}` (reads,
 * deletes). A top-level array is wrapped as `{ $items: [...] }`; scalars are refused.
 */
export function parseResend(body: Buffer, limits: ParseLimits): Params | Denial {
  if (body.length > limits.maxBytes) return deny('body_too_large');
  const text = body.toString('utf8');
  if (text.trim().length === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return deny('body_invalid', 'The request body is not valid JSON.');
  }
  const shape = measure(value);
  if (shape.depth > limits.maxDepth) return deny('body_invalid', 'The request body is nested too deeply.');
  if (shape.values > limits.maxParams) return deny('body_invalid', 'The request body has too many values.');
  if (Array.isArray(value)) return { [ITEMS]: value };
  if (typeof value === 'object' && value !== null) return value as Params;
  return deny('body_invalid', 'The request body must be a JSON object or array.');
}

/** Depth (a flat object is 1) and number of values, walked without recursion so no input can overflow the stack. */
function measure(root: unknown): { depth: number; values: number } {
  let depth = 0;
  let values = 0;
  const stack: [unknown, number][] = [[root, 1]];
  while (stack.length > 0) {
    const [value, level] = stack.pop()!;
    if (typeof value !== 'object' || value === null) continue;
    depth = Math.max(depth, level);
    const children = Array.isArray(value) ? value : Object.values(value);
    values += children.length;
    for (const child of children) stack.push([child, level + 1]);
  }
  return { depth, values };
}
