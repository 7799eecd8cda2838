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

/** The GSM 03.38 default alphabet (one septet each; the escape code itself is not a character). */
const GSM7_BASIC = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
    '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
);

/** The GSM 03.38 extension table: an escape and the character, two septets that stay in one part. */
const GSM7_EXTENSION = new Set('\f^{}\\[~]|€');

/** A part's capacity (septets or UTF-16 units) alone, and as one part of a concatenated message. */
const CAPACITY = { 'GSM-7': { single: 160, part: 153 }, 'UCS-2': { single: 70, part: 67 } } as const;

/**
 * The encoding a body needs and the indivisible pieces it is sent in, sized in the encoding's units:
 * GSM-7 if every character is in the default or extension table (an extension character is two
 * septets), else UCS-2 in UTF-16 units (a surrogate pair is one piece of two).
 */
function wireUnits(body: string): { encoding: SmsSegments['encoding']; sizes: number[] } {
  const septets: number[] = [];
  for (const char of body) {
    if (GSM7_BASIC.has(char)) septets.push(1);
    else if (GSM7_EXTENSION.has(char)) septets.push(2);
    else return { encoding: 'UCS-2', sizes: Array.from(body, (c) => c.length) };
  }
  return { encoding: 'GSM-7', sizes: septets };
}

/** A part's capacity in bits as `sms-segments-calculator` fills it: 140 octets, 6 of them a header once there are two. */
const PACKAGE_BITS = { single: 1120, part: 1072 } as const;

/**
 * Greedy packing into parts: one part if everything fits alone, else parts that never split a piece.
 * `appended` more pieces of `appendedSize` follow `sizes`; they are counted, never listed, so their
 * number costs nothing.
 */
function pack(
  sizes: readonly number[],
  capacity: { single: number; part: number },
  appended = 0,
  appendedSize = 1,
): number {
  const total = sizes.reduce((sum, size) => sum + size, 0) + appended * appendedSize;
  if (total <= capacity.single) return 1;
  let parts = 1;
  let used = 0;
  for (const size of sizes) {
    if (used + size > capacity.part) {
      parts++;
      used = 0;
    }
    used += size;
  }
  if (appended === 0) return parts;
  // A piece larger than a part overfills its own: no room is left there.
  const room = Math.max(0, Math.floor((capacity.part - used) / appendedSize));
  if (appended <= room) return parts;
  return parts + Math.ceil((appended - room) / Math.floor(capacity.part / appendedSize));
}

/**
 * Counts segments as a carrier must send them (GSM-7 160/153 septets, UCS-2 70/67 UTF-16 units): a
 * segment carries at most 140 octets, whatever the characters mean. `sms-segments-calculator` (Twilio's
 * own calculator) never splits a grapheme cluster, so it counted `a` and 1599 combining accents, one
 * cluster, as 2 segments where the wire needs 24 (a security tester sent it at 2 segments' price). The
 * count is the larger of the two: the package's may be higher when it moves a whole cluster to the
 * next part, and Twilio may do the same. A body longer than Twilio takes in a message (a TwiML `<Sms>`,
 * a Conversations message) is bounded by `maxSegments`, not counted: the package splits graphemes in
 * quadratic time.
 */
export function smsSegments(body: string): SmsSegments {
  const { encoding, sizes } = wireUnits(body);
  if (body.length > MAX_BODY_LENGTH) return { encoding, segments: maxSegments(body.length) };
  const packed = pack(sizes, CAPACITY[encoding]);
  return { encoding, segments: Math.max(packed, new SegmentedMessage(body).segmentsCount) };
}

/** A text's segments (`smsSegments`) alone and with characters appended (`smsSegmentsAppended`). */
export interface AppendedSegments {
  readonly alone: number;
  readonly appended: number;
}

/**
 * `smsSegments` of `body`, and of `body` followed by `appended` GSM-7 basic characters that are each
 * a grapheme of their own (the links MMS Converter appends), counted without building that text: the
 * package splits graphemes in quadratic time, and a tester's 998 `MediaUrl` made a 64 000-character
 * text that held the event loop 12 s. With them, the package's count is taken as its clusters packed
 * greedily into its parts, never below what it counts itself (it may overfill the part after the
 * header it adds). Over `MAX_BODY_LENGTH` both are bounded by `maxSegments`, as in `smsSegments`.
 */
export function smsSegmentsAppended(body: string, appended: number): AppendedSegments {
  if (body.length > MAX_BODY_LENGTH) {
    return { alone: maxSegments(body.length), appended: maxSegments(body.length + appended) };
  }
  const { encoding, sizes } = wireUnits(body);
  const capacity = CAPACITY[encoding];
  const clusters = new SegmentedMessage(body);
  const clusterBits = clusters.encodedChars.map((c) => c.sizeInBits());
  const appendedBits = clusters.encodingName === 'GSM-7' ? 7 : 16;
  return {
    alone: Math.max(pack(sizes, capacity), clusters.segmentsCount),
    appended: Math.max(
      pack(sizes, capacity, appended),
      clusters.segmentsCount,
      pack(clusterBits, PACKAGE_BITS, appended, appendedBits),
    ),
  };
}
