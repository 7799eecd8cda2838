import { SegmentedMessage } from 'sms-segments-calculator';

/** How an SMS body is split on the wire: what Twilio bills per segment. */
export interface SmsSegments {
  readonly encoding: 'GSM-7' | 'UCS-2';
  readonly segments: number;
}

/**
 * Longest body Twilio accepts is 1600 characters; as UCS-2 that is 24 segments (67 per part). A message
 * whose text is not in the request (a Content template) is reserved at this bound and settled later.
 */
export const MAX_SEGMENTS = 24;

/** Counts segments the way Twilio does (GSM-7 160/153, UCS-2 70/67, extended characters count twice). */
export function smsSegments(body: string): SmsSegments {
  const message = new SegmentedMessage(body);
  const encoding = message.encodingName === 'UCS-2' ? 'UCS-2' : 'GSM-7';
  return { encoding, segments: Math.max(1, message.segmentsCount) };
}
