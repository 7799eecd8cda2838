import { constants, inflateRawSync, inflateSync } from 'node:zlib';

/**
 * How much of an answer is inflated to tell zlib data from text that only starts like it. An answer
 * no longer than this is read whole; of a longer one, this much.
 */
const INFLATED_INPUT = 64 * 1024;
/** What the inflate may write: data that inflates past it without an error is compressed data. */
const MAX_OUTPUT = 256 * 1024;
/** Stands in for a preset dictionary Keybrake does not have: any back-reference into it is then valid. */
const ANY_DICTIONARY = Buffer.alloc(32 * 1024);
/** The zlib header's FDICT flag: a dictionary id (4 bytes) follows, then the deflate data. */
const FDICT = 0x20;

/**
 * A zlib header (RFC 1950 §2.2): deflate (CM 8), a window of at most 32 KiB (CINFO ≤ 7), and the
 * check bits that make the two bytes a multiple of 31. Every level and window a compressor may choose
 * writes one (`78 5E` at level 5, `18 95` with a 512-byte window), not only the three common ones;
 * so do 1 in 31 of the texts that start with `( 8 H X h x`.
 */
function isZlibHeader(body: Buffer): boolean {
  const cmf = body[0]!;
  return body.length >= 2 && (cmf & 0x0f) === 8 && cmf >> 4 <= 7 && ((cmf << 8) | body[1]!) % 31 === 0;
}

/**
 * Whether an answer is zlib data: a zlib header followed by deflate data that inflates without an
 * error. The header alone also took plain text (`80,apples` of a CSV, `x marks the spot`: sixth
 * round, MMS text media and Stripe file contents were withheld as compressed), which the deflate
 * check refuses at once. An answer read whole must be a complete stream (its end in the body); of a
 * longer one, the first 64 KiB must inflate without an error (Z_SYNC_FLUSH: running out of input is
 * no error). A stream with a preset dictionary is inflated raw, past its dictionary id, against a
 * dictionary of zeros, so it is recognised without the dictionary it names. Bounded: at most 64 KiB
 * in and 256 KiB out, the output cap counting as compressed data.
 */
export function isZlibStream(body: Buffer): boolean {
  if (!isZlibHeader(body)) return false;
  const whole = body.length <= INFLATED_INPUT;
  const input = whole ? body : body.subarray(0, INFLATED_INPUT);
  const options = {
    finishFlush: whole ? constants.Z_FINISH : constants.Z_SYNC_FLUSH,
    maxOutputLength: MAX_OUTPUT,
  };
  try {
    if (body[1]! & FDICT) inflateRawSync(input.subarray(6), { ...options, dictionary: ANY_DICTIONARY });
    else inflateSync(input, options);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
  }
}
