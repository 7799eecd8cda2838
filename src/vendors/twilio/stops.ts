import type { Params } from '../types.ts';
import { single } from './fields.ts';

/**
 * Updates of a billed resource that set its status (price stage). Their rows are `money_unpriced`
 * (review.ts), so only an exact `allow.endpoints` entry admits one: resuming a paused recording or
 * restarting a stopped transcription starts again what Twilio bills per minute, and a glob or a
 * caps-only policy admits no unpriced money (sixth round: `Status=started` on a Video room
 * transcription and `Status=in-progress` on a call recording were forwarded as free writes). An
 * update that only pauses, stops or ends the resource moves nothing and stays a free write, so an
 * agent under a glob can still stop what it started. Any other value, one spelt otherwise (`Stopped`,
 * ` stopped`), or none at all is read as a (re)start: fail closed.
 */
interface Stop {
  /** The parameter that sets the status (`Status`; a Frontline user's `State`). */
  readonly field: string;
  /** Its values that only stop, pause or end what is billed, as Twilio's definition spells them. */
  readonly values: readonly string[];
}

const STOPPED: Stop = { field: 'Status', values: ['stopped'] };
const PAUSED_OR_STOPPED: Stop = { field: 'Status', values: ['paused', 'stopped'] };

const STOPS: ReadonlyMap<string, Stop> = new Map([
  ['twilio.api.update_call_recording', PAUSED_OR_STOPPED],
  ['twilio.api.update_conference_recording', PAUSED_OR_STOPPED],
  ['twilio.api.update_realtime_transcription', STOPPED],
  ['twilio.api.update_siprec', STOPPED],
  ['twilio.api.update_stream', STOPPED],
  ['twilio.video.v1.update_room_transcriptions', STOPPED],
  ['twilio.video.v1.update_room', { field: 'Status', values: ['completed'] }],
  ['twilio.video.v1.update_room_participant', { field: 'Status', values: ['disconnected'] }],
  ['twilio.proxy.v1.update_session', { field: 'Status', values: ['closed'] }],
  ['twilio.studio.v1.update_execution', { field: 'Status', values: ['ended'] }],
  ['twilio.studio.v2.update_execution', { field: 'Status', values: ['ended'] }],
  ['twilio.frontline_api.v1.update_user', { field: 'State', values: ['deactivated'] }],
]);

/** The operations whose status decides their class: each must be a `money_unpriced` row. */
export const STATUS_UPDATES: readonly string[] = [...STOPS.keys()];

/** Whether a call to one of these updates only stops, pauses or ends what Twilio bills: a free write. */
export function onlyStops(operationId: string, params: Params): boolean {
  const stop = STOPS.get(operationId);
  if (stop === undefined) return false;
  const value = single(params, stop.field);
  return value !== undefined && stop.values.includes(value);
}
