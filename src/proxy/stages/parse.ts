import { deny, isDenial } from '../../decision/reasons.ts';
import type { Stage } from '../context.ts';

/**
 * Decodes the body the vendor's way (form or JSON) within size and depth limits. A body the HTTP
 * layer already cut off is refused here, after authentication, so the answer is the vendor's.
 */
export const parse: Stage = (ctx, deps) => {
  if (ctx.call.bodyTooLarge)
    return deny('body_too_large', `The request body exceeds ${deps.parseLimits.maxBytes} bytes.`);
  const params = ctx.adapter!.parse(ctx.req!, ctx.call.body, deps.parseLimits);
  if (isDenial(params)) return params;
  ctx.params = params;
  return undefined;
};
