import { deny, isDenial } from '../../decision/reasons.ts';
import type { Stage } from '../context.ts';
import { checkHeaders, rawHeadersOf } from '../headers.ts';

/**
 * Reads the request one way (ADR 0007 §2): first the headers Keybrake judges it by (each once, none
 * nominated by Connection, no method override), then the body the vendor's way (form or JSON, its
 * content type, UTF-8, no parameter given twice) within size and depth limits. A body the HTTP layer
 * already cut off is refused here, after authentication, so the answer is the vendor's; unless the
 * adapter reads no body for this call, which the price stage then refuses for what it is. So is one
 * whose Content-Type the HTTP layer could not read as a media type (body_invalid, as a foreign type).
 */
export const parse: Stage = (ctx, deps) => {
  const { call } = ctx;
  const headers = checkHeaders(ctx.vendor!, rawHeadersOf(call.headers, call.rawHeaders));
  if (headers) return headers;
  if (call.bodyTooLarge && ctx.adapter!.readsBody?.(ctx.req!) !== false)
    return deny('body_too_large', `The request body exceeds ${deps.parseLimits.maxBytes} bytes.`);
  // Refused whatever the call: its body was never read, so no adapter may take it for an empty one.
  if (call.contentTypeUnreadable)
    return deny(
      'body_invalid',
      "The request's Content-Type is not a media type (type/subtype): send the content type this API takes.",
    );
  const params = ctx.adapter!.parse(ctx.req!, call.body, deps.parseLimits);
  if (isDenial(params)) return params;
  ctx.params = params;
  ctx.forwardsBody = ctx.adapter!.forwardsBody?.(ctx.req!, call.body) ?? true;
  return undefined;
};
