import type { IncomingHttpHeaders } from 'node:http';
import type { RemoteInstruction } from '../types.ts';

/**
 * `X-Twilio-Webhook-Enabled` (Chat and Conversations messages, participants, members): Twilio runs
 * the conversation's or channel's post-event webhooks for a REST write only when it is `true`, and
 * those include Studio flows (`Target=studio`, an address's `AutoCreation.Type=studio`) whose sends
 * are neither priced nor judged (twelfth round, finding 4). Keybrake cannot see what they do, as with
 * a TwiML application, so the header on is an instruction Keybrake cannot see (refused by the
 * authorize stage whatever the policy says). Off (`false`, or absent) is Twilio's default. Any value
 * but `false` is taken as on: how Twilio reads `1` or `TRUE` is not documented. headers.ts refuses
 * the header given twice. Pure: price stage.
 */
export const WEBHOOK_HEADER = 'x-twilio-webhook-enabled';

/** The instruction a write's `X-Twilio-Webhook-Enabled` gives; undefined when it is absent or `false`. */
export function webhookInstruction(headers: IncomingHttpHeaders): RemoteInstruction | undefined {
  const value = headers[WEBHOOK_HEADER];
  if (value === undefined) return undefined;
  const text = (Array.isArray(value) ? value.join(', ') : value).trim().toLowerCase();
  if (text === 'false') return undefined;
  return {
    kind: 'opaque',
    where: 'X-Twilio-Webhook-Enabled',
    what: "the conversation's or channel's webhooks and Studio flows (send the call without the header, or with false)",
  };
}
