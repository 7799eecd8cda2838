import { SegmentedMessage } from 'sms-segments-calculator';

/** How an SMS body is split on the wire: what Twilio bills per segment. */
export interface SmsSegments {
  readonly encoding: 'GSM-7' | 'UCS-2';
  readonly segments: number;
}

/** The longest body Twilio accepts, in UTF-16 units (what Keybrake counts before it refuses one). */
export const MAX_BODY_LENGTH = 1600;

/**
 * The most segments a text of `length` UTF-16 units can need, whatever it holds. A UCS-2 part carries
 * 67 units but never splits a surrogate pair, so every part but the last carries at least 66; a GSM-7
 * character takes at most two of a part's 153 septets, so GSM-7 needs fewer.
 */
export function maxSegments(length: number): number {
  return Math.max(1, Math.ceil(length / 66));
}

/**
 * The most segments a body Twilio accepts can need: 25 (800 emoji are 25 parts of 32 and 33). A
 * message whose text is not in the request (a Content template) is reserved at this bound. A
 * security tester found the bound at 24 (1600 / 67), below Keybrake's own count for 800 emoji.
 */
export const MAX_SEGMENTS = maxSegments(MAX_BODY_LENGTH);

/** Counts segments the way Twilio does (GSM-7 160/153, UCS-2 70/67, extended characters count twice). */
export function smsSegments(body: string): SmsSegments {
  const message = new SegmentedMessage(body);
  const encoding = message.encodingName === 'UCS-2' ? 'UCS-2' : 'GSM-7';
  return { encoding, segments: Math.max(1, message.segmentsCount) };
}
