import { type Denial, deny } from '../../decision/reasons.ts';
import type { Params } from '../types.ts';

/**
 * Transcription is billed per minute transcribed, which Keybrake does not price, so whatever would
 * turn it on for a call is refused (`price_unknown`, price stage), in TwiML attributes and in the
 * parameters of a call create or update alike.
 */

/**
 * A TwiML attribute or call parameter that turns transcription on: `transcribe` (any case) other than
 * `false`, and any other name about transcription whatever its value. Twilio's `<Record>` docs say a
 * `transcribeCallback` turns transcription on by itself; a tester had one forwarded, free, without
 * `transcribe` (fifth round).
 */
export function turnsOnTranscription(name: string, value: unknown): boolean {
  const lower = name.toLowerCase();
  if (!lower.includes('transcri')) return false;
  return lower !== 'transcribe' || typeof value !== 'string' || value.toLowerCase() !== 'false';
}

/**
 * `RecordingConfigurationId`: the configuration Twilio creates and processes a call's recording
 * with, which can include transcription; Twilio added it after the pinned definition, so the parser
 * does not know its spelling and any case of it counts.
 */
const RECORDING_CONFIGURATION = 'recordingconfigurationid';

/** Why a call create or update's parameters cannot be priced: one turns on transcription. */
export function callTranscriptionDenial(params: Params): Denial | undefined {
  for (const [name, value] of Object.entries(params)) {
    if (turnsOnTranscription(name, value) || name.toLowerCase() === RECORDING_CONFIGURATION) {
      return deny(
        'price_unknown',
        `Twilio parameter ${name.length > 64 ? `${name.slice(0, 64)}…` : name} may transcribe the call's recordings, billed per minute transcribed: Keybrake cannot price it.`,
      );
    }
  }
  return undefined;
}
