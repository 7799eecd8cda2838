import { graphemeClass, Prepend } from './grapheme-classes.ts';
import { graphemeLengths } from './graphemes.ts';

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
const GSM7_BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
  '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';

/** The GSM 03.38 extension table: an escape and the character, two septets that stay in one part. */
const GSM7_EXTENSION = '\f^{}\\[~]|€';

/**
 * The septets of each UTF-16 unit up to the last in either table (`€`), 0 for none: read at the
 * unit's index, as every character of a text is (a Set of strings took longer than the rest of the
 * count).
 */
const GSM7_SEPTETS = (() => {
  const units = (chars: string) => Array.from(chars, (char) => char.charCodeAt(0));
  const septets = new Uint8Array(Math.max(...units(GSM7_BASIC + GSM7_EXTENSION)) + 1);
  for (const unit of units(GSM7_BASIC)) septets[unit] = 1;
  for (const unit of units(GSM7_EXTENSION)) septets[unit] = 2;
  return septets;
})();

/** The septets of a UTF-16 unit in GSM-7: 1, 2 (an extension character), 0 (none). */
function gsm7Septets(unit: number): number {
  return GSM7_SEPTETS[unit] ?? 0;
}

/** A part's capacity (septets or UTF-16 units) alone, and as one part of a concatenated message. */
const CAPACITY = { 'GSM-7': { single: 160, part: 153 }, 'UCS-2': { single: 70, part: 67 } } as const;

/**
 * The encoding a body needs and the indivisible pieces it is sent in, sized in the encoding's units:
 * GSM-7 if every character is in the default or extension table (an extension character is two
 * septets), else UCS-2 in UTF-16 units (a surrogate pair is one piece of two).
 */
function wireUnits(body: string): { encoding: SmsSegments['encoding']; sizes: number[] } {
  const septets: number[] = [];
  for (let i = 0; i < body.length; i++) {
    const size = gsm7Septets(body.charCodeAt(i));
    if (size === 0) return { encoding: 'UCS-2', sizes: utf16Pieces(body) };
    septets.push(size);
  }
  return { encoding: 'GSM-7', sizes: septets };
}

/** The UTF-16 units of each code point of `body` (a lone surrogate is one). */
function utf16Pieces(body: string): number[] {
  const sizes: number[] = [];
  for (let i = 0; i < body.length; ) {
    const size = body.codePointAt(i)! > 0xffff ? 2 : 1;
    sizes.push(size);
    i += size;
  }
  return sizes;
}

/** A part's capacity in bits as `sms-segments-calculator` fills it: 140 octets, 6 of them a header once there are two. */
const PACKAGE_BITS = { single: 1120, part: 1072 } as const;

/** The header's bits, added to every part of a text in more than one. */
const HEADER_BITS = PACKAGE_BITS.single - PACKAGE_BITS.part;

/** A text as `sms-segments-calculator` encodes it: its encoding, and its clusters' sizes in bits. */
interface CalculatorText {
  readonly encoding: SmsSegments['encoding'];
  readonly bits: number[];
}

/**
 * The grapheme clusters of `body` as `sms-segments-calculator` 1.3.0 reads them, without it (its
 * grapheme split is quadratic): grapheme-splitter's clusters (`graphemeLengths`), a `\r\n` cut in
 * two; GSM-7 when every cluster is one GSM 03.38 character, 7 bits a septet (an extension character
 * two), else UCS-2, 16 bits per UTF-16 unit of the cluster.
 */
function calculatorText(body: string): CalculatorText {
  const units: number[] = [];
  let gsm = true;
  let at = 0;
  for (const length of graphemeLengths(body)) {
    if (length === 2 && body[at] === '\r' && body[at + 1] === '\n') units.push(1, 1);
    else {
      units.push(length);
      gsm &&= length === 1 && gsm7Septets(body.charCodeAt(at)) > 0;
    }
    at += length;
  }
  if (!gsm) return { encoding: 'UCS-2', bits: units.map((length) => 16 * length) };
  // Every cluster is one UTF-16 unit here.
  const bits = units.map((_, i) => 7 * gsm7Septets(body.charCodeAt(i)));
  return { encoding: 'GSM-7', bits };
}

/**
 * `sms-segments-calculator`'s `_buildSegments` over clusters of `bits`: a cluster that does not fit
 * what is left of a part opens the next, whatever its size (one larger than a part overfills its
 * own). The first time, the first part takes its header and the clusters at its end that no longer
 * fit move, in order, to the new part, before the cluster that opened it (which may overfill it).
 */
function calculatorParts(bits: readonly number[]): number {
  let parts = 1;
  let used = 0;
  for (let i = 0; i < bits.length; i++) {
    const size = bits[i]!;
    if (PACKAGE_BITS.single - used < size) {
      let moved = 0;
      if (parts === 1) {
        for (let j = i - 1, kept = used + HEADER_BITS; kept > PACKAGE_BITS.single; j--) {
          kept -= bits[j]!;
          moved += bits[j]!;
        }
      }
      parts++;
      used = HEADER_BITS + moved;
    }
    used += size;
  }
  return parts;
}

/** The segments `sms-segments-calculator` counts for `body` (`new SegmentedMessage(body).segmentsCount`). */
export function calculatorSegments(body: string): number {
  return calculatorParts(calculatorText(body).bits);
}

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
 * next part, and Twilio may do the same. The package's count is computed here (`calculatorSegments`),
 * in linear time; the package itself took 3 to 11 ms for a 1600-character body. A body longer than
 * Twilio takes in a message (a TwiML `<Sms>`, a Conversations message) is bounded by `maxSegments`,
 * not counted: the work stays that of a text Twilio accepts.
 */
export function smsSegments(body: string): SmsSegments {
  const { encoding, sizes } = wireUnits(body);
  if (body.length > MAX_BODY_LENGTH) return { encoding, segments: maxSegments(body.length) };
  const packed = pack(sizes, CAPACITY[encoding]);
  return { encoding, segments: Math.max(packed, calculatorSegments(body)) };
}

/** A text's segments (`smsSegments`) alone and with characters appended (`smsSegmentsAppended`). */
export interface AppendedSegments {
  readonly alone: number;
  readonly appended: number;
}

/** The last code point of `text` (a lone surrogate is one), or undefined when it is empty. */
function lastCodePoint(text: string): number | undefined {
  const beforeLast = text.length > 1 ? text.codePointAt(text.length - 2)! : 0;
  return beforeLast > 0xffff ? beforeLast : text.codePointAt(text.length - 1);
}

/**
 * `smsSegments` of `body`, and of `body` followed by `appended` GSM-7 basic characters (the links
 * MMS Converter appends), counted without building that text: a tester's 998 `MediaUrl` made a
 * 64 000-character text that held the event loop 12 s in the package's quadratic grapheme split.
 * With them, the package's count is taken as its clusters packed greedily into its parts, never below
 * what it counts itself (it may overfill the part after the header it adds). Each appended character
 * is a cluster of its own, but the first after a prepended sign (U+0600…, GB9b): the package keeps
 * that one in the body's last cluster, which may then move whole to the next part. Over
 * `MAX_BODY_LENGTH` both are bounded by `maxSegments`, as in `smsSegments`.
 */
export function smsSegmentsAppended(body: string, appended: number): AppendedSegments {
  if (body.length > MAX_BODY_LENGTH) {
    return { alone: maxSegments(body.length), appended: maxSegments(body.length + appended) };
  }
  const { encoding, sizes } = wireUnits(body);
  const capacity = CAPACITY[encoding];
  const clusters = calculatorText(body);
  const calculated = calculatorParts(clusters.bits);
  const appendedBits = clusters.encoding === 'GSM-7' ? 7 : 16;
  const last = lastCodePoint(body);
  const joined = appended > 0 && last !== undefined && graphemeClass(last) === Prepend ? 1 : 0;
  const bits = clusters.bits.map((size, i) =>
    i === clusters.bits.length - 1 ? size + joined * appendedBits : size,
  );
  return {
    alone: Math.max(pack(sizes, capacity), calculated),
    appended: Math.max(
      pack(sizes, capacity, appended),
      calculated,
      pack(bits, PACKAGE_BITS, appended - joined, appendedBits),
    ),
  };
}
